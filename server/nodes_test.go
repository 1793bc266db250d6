package server_test

// Several nodes on one database (issue 18): each node's state follows what
// the others append, and no node appends an entry against a stale state
// (a ballot after a close).

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
	"github.com/scrutin/scrutin/verify"
)

// nodes is an election run by several nodes, each with its own
// connection pool on one PostgreSQL database (as separate processes
// would) and its own checkpoint file.
type nodes struct {
	f     *demo.Fixture
	loc   string
	id    string
	dbs   []*store.DB
	sts   []store.Store
	nodes []*server.Election
	dir   string
}

// openNode opens one more node on the election's database.
func (ns *nodes) openNode(t testing.TB) *server.Election {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, ns.loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := db.Log(ctx, ns.id)
	if err != nil {
		t.Fatal(err)
	}
	// A node joining a log others wrote has no checkpoint of its own yet:
	// it verifies every entry.
	i := len(ns.nodes)
	e, err := server.OpenWith(ctx, st, ns.f.LogSeed(), server.OpenOptions{CheckpointFile: filepath.Join(ns.dir, fmt.Sprintf("node%d.checkpoint", i)), Joining: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.dbs, ns.sts, ns.nodes = append(ns.dbs, db), append(ns.sts, st), append(ns.nodes, e)
	return e
}

// newNodes sets up an election with voting open, recorded through node 0
// of n nodes on a fresh PostgreSQL schema (the others are opened after).
func newNodes(t testing.TB, n, voters int) *nodes {
	return setupNodes(t, n, voters, false)
}

// setupNodes is newNodes; with before, every node is open before the
// setup is recorded, and follows it.
func setupNodes(t testing.TB, n, voters int, before bool) *nodes {
	t.Helper()
	ctx := context.Background()
	master := masterSeed()
	ns := &nodes{f: fixture(t, master, "main", voters), loc: postgresLocation(t), id: "main", dir: t.TempDir()}
	db, err := store.Open(ctx, ns.loc)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Create(ctx, ns.id, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if before {
		for range n {
			ns.openNode(t)
		}
		record(t, ns.f, ns.nodes[0])
		ns.waitFollowed(t)
		return ns
	}
	ns.openNode(t)
	record(t, ns.f, ns.nodes[0])
	for range n - 1 {
		ns.openNode(t)
	}
	return ns
}

// ballot makes voter i's ballot (choosing option leader).
func (ns *nodes) ballot(t testing.TB, i, leader int) []byte {
	t.Helper()
	var view *election.Election
	ns.nodes[0].State(func(s *election.State) { view, _ = s.Voter() })
	if view == nil {
		t.Fatal("voting is not open on node 0")
	}
	k, err := election.CredentialKey(ns.f.F, ns.f.Codes[i])
	if err != nil {
		t.Fatal(err)
	}
	entry, err := view.NewBallot(nil, k, ns.f.Choices(i, []int{leader}, []int{}))
	if err != nil {
		t.Fatal(err)
	}
	return entry
}

// verifyStored verifies the stored log with package verify, under a
// checkpoint of its whole length signed with the log key, and returns
// the report.
func (ns *nodes) verifyStored(t testing.TB) *verify.Report {
	t.Helper()
	ctx := context.Background()
	st := ns.sts[0]
	n, err := st.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := board.TreeHash(ctx, st, n)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := election.LogSigner(ns.f.F, ns.f.LogSeed())
	if err != nil {
		t.Fatal(err)
	}
	c := board.Checkpoint{Origin: board.Origin(ns.f.F), Size: n, Hash: h}
	signed, err := board.Sign(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	files := &board.MemFiles{}
	if err := board.Publish(ctx, st, 0, c, signed, files); err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Record(ctx, files, verify.Options{Election: &ns.f.F, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// waitFollowed waits (up to a few seconds) until every node has applied
// the whole stored log.
func (ns *nodes) waitFollowed(t testing.TB) int64 {
	t.Helper()
	ctx := context.Background()
	n, err := ns.sts[0].Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i, e := range ns.nodes {
		for {
			var size int64
			e.State(func(s *election.State) { size = s.Size })
			if size == n {
				break
			}
			if time.Now().After(deadline) {
				_, herr := e.Health()
				t.Fatalf("node %d applied %d of the %d stored entries (health: %v)", i, size, n, herr)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return n
}

// TestNodesFollowEachOther: ballots cast round-robin on three nodes get
// their receipts, and every node's state holds every ballot, in log
// order, as a fresh replay of the log does.
func TestNodesFollowEachOther(t *testing.T) {
	const voters = 12
	ns := newNodes(t, 3, voters)
	ctx := context.Background()
	var receipts []*server.Receipt
	for i := range voters {
		e := ns.nodes[i%3]
		r, err := e.Cast(ctx, ns.ballot(t, i, i%2))
		if err != nil {
			t.Fatalf("ballot %d on node %d: %v", i, i%3, err)
		}
		receipts = append(receipts, r)
	}
	n := ns.waitFollowed(t)
	fresh := ns.openNode(t)
	var signeds []string
	for i, e := range ns.nodes {
		var ballots int
		var found []bool
		e.State(func(s *election.State) {
			ballots = s.Ballots
			for _, r := range receipts {
				idx, counted, ok := s.FindTracker(r.Tracker)
				found = append(found, ok && counted && idx == r.Index)
			}
		})
		if ballots != voters {
			t.Errorf("node %d holds %d ballots, want %d", i, ballots, voters)
		}
		for k, ok := range found {
			if !ok {
				t.Errorf("node %d does not find ballot %d (tracker %s at %d)", i, k, receipts[k].Tracker, receipts[k].Index)
			}
		}
		// Each node signs a checkpoint of the whole log, and saves it in
		// the store: the same bytes.
		c, signed, err := e.Checkpoint(ctx)
		if err != nil {
			t.Fatalf("node %d: checkpoint: %v", i, err)
		}
		if c.Size != n {
			t.Errorf("node %d signs a checkpoint of %d entries, want %d", i, c.Size, n)
		}
		signeds = append(signeds, string(signed))
	}
	for i, sg := range signeds {
		if sg != signeds[0] {
			t.Errorf("nodes 0 and %d sign checkpoints of %d entries that differ:\n%s\n%s", i, n, signeds[0], sg)
		}
	}
	if size, latest, err := ns.sts[2].LatestCheckpoint(ctx); err != nil || size != n || string(latest) != signeds[0] {
		t.Errorf("the store's latest checkpoint: %d, %v; want the nodes' of %d", size, err, n)
	}
	_ = fresh
	if rep := ns.verifyStored(t); !rep.OK || rep.Ballots != voters {
		t.Fatalf("stored record: %d ballots, failures %+v", rep.Ballots, rep.Failures)
	}
}

// TestNoBallotAfterCloseOnAnotherNode: once one node has closed voting, a
// ballot sent to another node (which has not seen the close yet) is
// refused, and the stored record verifies, and replays at a restart.
func TestNoBallotAfterCloseOnAnotherNode(t *testing.T) {
	ns := newNodes(t, 2, 4)
	ctx := context.Background()
	a, b := ns.nodes[0], ns.nodes[1]
	if _, err := b.Cast(ctx, ns.ballot(t, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Append(ctx, (&election.Close{At: election.Now(time.Now()), Reason: "test"}).Entry()); err != nil {
		t.Fatalf("close on node A: %v", err)
	}
	r, err := b.Cast(ctx, ns.ballot(t, 1, 1))
	if err == nil {
		t.Errorf("node B accepted a ballot after node A closed voting: receipt at index %d", r.Index)
	} else if !errors.Is(err, server.ErrRefused) {
		t.Errorf("node B's answer to a ballot after the close: %v, want a refusal", err)
	}
	if rep := ns.verifyStored(t); !rep.OK {
		t.Fatalf("stored record: %+v", rep.Failures)
	}
	ns.openNode(t) // a restart replays the log
	ns.waitFollowed(t)
}

// TestHammerCloseAgainstBallots: on three nodes (open before the setup,
// which they follow), ballots cast concurrently on every node, some sent
// to two nodes at once and some re-votes, race a close on one of them,
// round after round (bounded in time). Every time: the stored record
// verifies (package verify), every ballot that got a receipt is in the log
// exactly once, at its receipt's index, before the close, and every node's
// state is that of a fresh replay of the log.
func TestHammerCloseAgainstBallots(t *testing.T) {
	budget := 40 * time.Second
	if testing.Short() {
		budget = 5 * time.Second
	}
	start := time.Now()
	for round := 0; round < 2 || time.Since(start) < budget; round++ {
		// A subtest a round, so that each round's connections are closed
		// at its end.
		if !t.Run(fmt.Sprint(round), func(t *testing.T) { hammerRound(t, round) }) {
			return
		}
	}
}

func hammerRound(t *testing.T, round int) {
	const voters, casters = 24, 3
	ns := setupNodes(t, 3, voters, true)
	ctx := context.Background()
	type job struct {
		entry []byte
		node  int
	}
	var jobs []job
	for i := range voters {
		b := ns.ballot(t, i, i%2)
		jobs = append(jobs, job{b, rand.IntN(3)})
		switch i % 4 {
		case 1: // the same ballot, sent to another node too
			jobs = append(jobs, job{b, (jobs[len(jobs)-1].node + 1) % 3})
		case 2: // a re-vote
			jobs = append(jobs, job{ns.ballot(t, i, 1-i%2), rand.IntN(3)})
		}
	}
	rand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	var mu sync.Mutex
	var receipts []*server.Receipt
	queue := make(chan job)
	var wg sync.WaitGroup
	for range 3 * casters {
		wg.Go(func() {
			for j := range queue {
				r, err := ns.nodes[j.node].Cast(ctx, j.entry)
				switch {
				case err == nil:
					if r.Tracker != election.Tracker(j.entry) {
						t.Errorf("a receipt for tracker %s, of a ballot whose tracker is %s", r.Tracker, election.Tracker(j.entry))
					}
					mu.Lock()
					receipts = append(receipts, r)
					mu.Unlock()
				case errors.Is(err, server.ErrRefused), errors.Is(err, server.ErrBusy):
				default:
					t.Errorf("node %d: %v", j.node, err)
				}
			}
		})
	}
	closer := round % 3
	closed := make(chan int64, 1)
	go func() {
		time.Sleep(time.Duration(20+rand.IntN(100)) * time.Millisecond)
		for {
			i, err := ns.nodes[closer].Append(ctx, (&election.Close{At: election.Now(time.Now()), Reason: "hammer"}).Entry())
			if errors.Is(err, server.ErrBusy) {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			if err != nil {
				t.Errorf("round %d: close on node %d: %v", round, closer, err)
				i = -1
			}
			closed <- i
			return
		}
	}()
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()
	closeAt := <-closed
	if t.Failed() {
		t.FailNow()
	}

	rep := ns.verifyStored(t)
	if !rep.OK || rep.Phase != election.PhaseClosed.String() {
		t.Fatalf("round %d: the stored record (phase %s): %+v", round, rep.Phase, rep.Failures)
	}
	n := ns.waitFollowed(t)
	entries, err := ns.sts[0].ReadEntries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	at := make(map[string][]int64)
	for i, entry := range entries {
		if entry[0] == election.TypeBallot {
			at[election.Tracker(entry)] = append(at[election.Tracker(entry)], int64(i))
		}
	}
	for _, r := range receipts {
		if idx := at[r.Tracker]; len(idx) != 1 || idx[0] != r.Index || r.Index > closeAt {
			t.Fatalf("round %d: the ballot of a receipt at %d (close at %d) is in the log at %v", round, r.Index, closeAt, idx)
		}
	}
	fresh := ns.openNode(t)
	var want election.State
	fresh.State(func(s *election.State) { want = *s })
	wantCP, _, err := fresh.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range ns.nodes[:3] {
		var got election.State
		var found int
		e.State(func(s *election.State) {
			got = *s
			for _, r := range receipts {
				if idx, _, ok := s.FindTracker(r.Tracker); ok && idx == r.Index {
					found++
				}
			}
		})
		if got.Size != want.Size || got.Ballots != want.Ballots || got.Voted() != want.Voted() || got.Phase != want.Phase || got.ClosedAt != want.ClosedAt {
			t.Fatalf("round %d: node %d holds %d entries, %d ballots of %d voters, phase %s closed at %d; a replay: %d, %d of %d, %s at %d",
				round, i, got.Size, got.Ballots, got.Voted(), got.Phase, got.ClosedAt, want.Size, want.Ballots, want.Voted(), want.Phase, want.ClosedAt)
		}
		if found != len(receipts) {
			t.Fatalf("round %d: node %d finds %d of the %d ballots with receipts", round, i, found, len(receipts))
		}
		cp, _, err := e.Checkpoint(ctx)
		if err != nil || cp != wantCP {
			t.Fatalf("round %d: node %d signs %+v (%v), a replay %+v", round, i, cp, err, wantCP)
		}
	}
	t.Logf("round %d: %d receipts, close at %d by node %d, %d entries", round, len(receipts), closeAt, closer, n)
}

// TestSQLiteSecondWriter: on SQLite (one node), another process appending
// to the log (a "scrutin" command; here a second handle on the database)
// is followed, and a close it appended stops the node's ballots at once:
// its append moved the log's mark, so a ballot checked before is refused
// by the store, checked again, and refused.
func TestSQLiteSecondWriter(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	f := fixture(t, master, "main", 4)
	dir := t.TempDir()
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Create(ctx, "main", nil); err != nil {
		t.Fatal(err)
	}
	st, err := db.Log(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	e, err := server.OpenWith(ctx, st, f.LogSeed(), server.OpenOptions{CheckpointFile: filepath.Join(dir, "cp")})
	if err != nil {
		t.Fatal(err)
	}
	record(t, f, e)
	ns := &nodes{f: f, nodes: []*server.Election{e}, sts: []store.Store{st}}
	if _, err := e.Cast(ctx, ns.ballot(t, 0, 0)); err != nil {
		t.Fatal(err)
	}
	other, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	appendRaw(t, other, "main", (&election.Close{At: election.Now(time.Now()), Reason: "by another process"}).Entry())
	if r, err := e.Cast(ctx, ns.ballot(t, 1, 1)); !errors.Is(err, election.ErrNotOpen) {
		t.Fatalf("a ballot after another process closed voting: %+v, %v", r, err)
	}
	ns.waitFollowed(t)
	if rep := ns.verifyStored(t); !rep.OK {
		t.Fatalf("stored record: %+v", rep.Failures)
	}
}
