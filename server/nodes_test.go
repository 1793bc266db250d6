package server_test

// Several nodes on one database (issue 18): each node's state follows what
// the others append, and no node appends an entry against a stale state
// (a ballot after a close).

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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
	// it starts as a new node does, verifying every entry.
	i := len(ns.nodes)
	e, err := server.OpenWith(ctx, st, ns.f.LogSeed(), server.OpenOptions{CheckpointFile: filepath.Join(ns.dir, fmt.Sprintf("node%d.checkpoint", i)), AcceptRollback: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.dbs, ns.sts, ns.nodes = append(ns.dbs, db), append(ns.sts, st), append(ns.nodes, e)
	return e
}

// newNodes sets up an election with voting open, recorded through node 0
// of n nodes on a fresh PostgreSQL schema (the others are opened after).
func newNodes(t testing.TB, n, voters int) *nodes {
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
		// Each node signs a checkpoint of the whole log: the same one.
		c, _, err := e.Checkpoint(ctx)
		if err != nil {
			t.Fatalf("node %d: checkpoint: %v", i, err)
		}
		if c.Size != n {
			t.Errorf("node %d signs a checkpoint of %d entries, want %d", i, c.Size, n)
		}
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
