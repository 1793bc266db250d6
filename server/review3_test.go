package server_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// dropStore fails the next Append without appending anything: as a commit
// the database rolled back (an unknown outcome to the caller), or, with
// notAppended, as an append that never reached the store.
type dropStore struct {
	store.Store
	failNext    atomic.Bool
	notAppended bool
}

func (s *dropStore) Append(ctx context.Context, entries [][]byte) (int64, error) {
	if s.failNext.CompareAndSwap(true, false) {
		if s.notAppended {
			return 0, store.ErrNotAppended
		}
		return 0, errors.New("failed to commit: connection reset")
	}
	return s.Store.Append(ctx, entries)
}

func (s *dropStore) AppendFenced(ctx context.Context, entries [][]byte, f store.Fence) (int64, error) {
	if s.failNext.Load() {
		return s.Append(ctx, entries) // fails
	}
	return s.Store.AppendFenced(ctx, entries, f)
}

func (s *dropStore) AppendLocked(ctx context.Context, check func(context.Context, int64) ([][]byte, error)) (int64, error) {
	if s.failNext.CompareAndSwap(true, false) {
		// The check runs (the entry is checked against the state), and
		// then the commit fails.
		_, err := s.Store.AppendLocked(ctx, func(ctx context.Context, size int64) ([][]byte, error) {
			if _, err := check(ctx, size); err != nil {
				return nil, err
			}
			if s.notAppended {
				return nil, store.ErrNotAppended
			}
			return nil, errors.New("failed to commit: connection reset")
		})
		return 0, err
	}
	return s.Store.AppendLocked(ctx, check)
}

// TestOfficerAppendNotStoredRecovers: an officer's entry (here the close)
// that the store did not take is a passing store failure: the node reloads
// the log and takes entries again, rather than stopping for good as if the
// store had lost acknowledged entries (the state held the entry before the
// store was asked, and recovery compared the reloaded log with that).
func TestOfficerAppendNotStoredRecovers(t *testing.T) {
	for _, notAppended := range []bool{false, true} {
		t.Run(map[bool]string{false: "rolled-back-commit", true: "not-appended"}[notAppended], func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 4, Workers: 2, NoSignIn: true})
			if err != nil {
				t.Fatal(err)
			}
			defer f.Store.Close()
			seed := f.LogSeed()
			ds := &dropStore{Store: f.Store, notAppended: notAppended}
			e, err := server.OpenWith(ctx, ds, seed, server.OpenOptions{CheckpointFile: f.CheckpointFile()})
			if err != nil {
				t.Fatal(err)
			}
			cast(t, f, e, 0, 0)
			ds.failNext.Store(true)
			closeEntry := (&election.Close{At: election.Now(time.Now()), Reason: "closed by the test"}).Entry()
			if _, err := e.Append(ctx, closeEntry); err == nil {
				t.Fatal("an entry the store did not take was acknowledged")
			}
			waitTakingEntries(t, e, "the node stopped for good after a passing store failure")
			// The state is the log's: the close was not stored, voting is open.
			n, _ := f.Store.Size(ctx)
			var size int64
			var phase election.Phase
			e.State(func(s *election.State) { size, phase = s.Size, s.Phase })
			if size != n || phase != election.PhaseVoting {
				t.Fatalf("after recovery the state has %d entries (%s), the log %d", size, phase, n)
			}
			cast(t, f, e, 1, 0)
			if _, err := e.Append(ctx, closeEntry); err != nil {
				t.Fatalf("the close again: %v", err)
			}
		})
	}
}

// TestChangedHashesStopTheNode: a store whose hashes were changed under
// the node (the database was tampered with) makes it refuse to sign, and
// stop for good so that the process exits and an operator looks, rather
// than say "recovering" for ever while no recovery runs.
func TestChangedHashesStopTheNode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	cast(t, f, f.Election, 0, 0)
	db, err := sql.Open("sqlite", filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE hashes SET hash = zeroblob(32)"); err != nil {
		t.Fatal(err)
	}
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	k, _ := election.CredentialKey(f.F, f.Codes[1])
	entry, err := view.NewBallot(nil, k, f.Choices(1, []int{1}, []int{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Election.Cast(ctx, entry); err == nil {
		t.Fatal("a receipt over changed hashes")
	}
	select {
	case <-f.Election.Stopped():
	case <-time.After(15 * time.Second):
		recovering, err := f.Election.Health()
		t.Fatalf("the node did not stop for good (recovering %v: %v)", recovering, err)
	}
	if f.Election.Err() == nil {
		t.Fatal("stopped without a reason")
	}
}

// TestAcceptRollbackOnce: accepting a rollback is a choice made once: the
// node saves a checkpoint of the log it accepted at once, so that a restart
// without the choice (the process restarted before any ballot) opens the
// same log rather than refusing it as if the checkpoint file were lost.
func TestAcceptRollbackOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	seed := f.LogSeed()
	cpFile := f.CheckpointFile()
	backup, _ := f.Store.Size(ctx)
	cast(t, f, f.Election, 0, 0)
	restored := copyPrefix(t, f.Store, backup, t.TempDir())
	defer restored.Close()
	open := func(accept bool) error {
		_, err := server.OpenWith(ctx, restored, seed, server.OpenOptions{CheckpointFile: cpFile, AcceptRollback: accept})
		return err
	}
	if err := open(false); !errors.Is(err, server.ErrRolledBack) {
		t.Fatalf("the rolled-back log: %v", err)
	}
	if err := open(true); err != nil {
		t.Fatalf("accepting the rollback: %v", err)
	}
	if err := open(false); err != nil {
		t.Fatalf("the accepted log, opened again without the choice: %v", err)
	}
}

// chaosStore fails one append in every few: half of the failed ones were
// stored anyway (a commit whose acknowledgement was lost), half not.
type chaosStore struct {
	store.Store
	calls atomic.Int64
}

func (s *chaosStore) Append(ctx context.Context, entries [][]byte) (int64, error) {
	switch s.calls.Add(1) % 7 {
	case 3:
		return 0, errors.New("failed to commit: connection reset")
	case 5:
		if _, err := s.Store.Append(ctx, entries); err != nil {
			return 0, err
		}
		return 0, errors.New("failed to commit: acknowledgement lost")
	}
	return s.Store.Append(ctx, entries)
}

// TestConcurrentCastsThroughStoreFailures: voters cast concurrently, each
// ballot sent twice at once and retried until it has a receipt, while the
// store fails now and then (stored or not). Nothing wedges; the node ends
// taking entries with the state of the log; every receipt's ballot is in
// the log exactly once, at its index.
func TestConcurrentCastsThroughStoreFailures(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const voters = 24
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: voters, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	seed := f.LogSeed()
	cs := &chaosStore{Store: f.Store}
	e, err := server.OpenWith(ctx, cs, seed, server.OpenOptions{CheckpointFile: f.CheckpointFile()})
	if err != nil {
		t.Fatal(err)
	}
	var view *election.Election
	e.State(func(s *election.State) { view, _ = s.Voter() })
	ballots := make([][]byte, voters)
	for v := range voters {
		k, _ := election.CredentialKey(f.F, f.Codes[v])
		if ballots[v], err = view.NewBallot(nil, k, f.Choices(v, []int{v % 3}, []int{v % 2})); err != nil {
			t.Fatal(err)
		}
	}
	receipts := make([]*server.Receipt, 2*voters)
	errs := make(chan error, 2*voters)
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for i := range 2 * voters {
			wg.Go(func() {
				for tctx.Err() == nil {
					r, err := e.Cast(tctx, ballots[i/2])
					if err == nil {
						receipts[i] = r
						return
					}
					if errors.Is(err, server.ErrRefused) && !errors.Is(err, election.ErrReplay) {
						errs <- fmt.Errorf("ballot %d refused: %v", i/2, err)
						return
					}
					select {
					case <-e.Stopped():
						errs <- fmt.Errorf("stopped: %v", e.Err())
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
				errs <- fmt.Errorf("ballot %d: no receipt in time", i/2)
			})
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("casting wedged")
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n, _ := f.Store.Size(ctx)
	entries, err := f.Store.ReadEntries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, en := range entries {
		if len(en) > 0 && en[0] == election.TypeBallot {
			seen[election.Tracker(en)]++
		}
	}
	for i, r := range receipts {
		if r == nil {
			continue
		}
		if got := seen[r.Tracker]; got != 1 {
			t.Errorf("receipt %d: its ballot is %d times in the log", i, got)
		}
		if string(entries[r.Index]) != string(ballots[i/2]) {
			t.Errorf("receipt %d: entry %d is not its ballot", i, r.Index)
		}
	}
	waitTakingEntries(t, e, "the node stopped for good")
	var size int64
	e.State(func(s *election.State) { size = s.Size })
	if size != n {
		t.Fatalf("the state has %d entries, the log %d", size, n)
	}
	t.Logf("%d entries, %d appends", n, cs.calls.Load())
}

// TestRecoveryTrustsWhatTheNodeApplied: recovery after a store failure
// replays the log as a restart does: the entries the node already applied
// (verified by it, or trusted under a checkpoint it signed) are not
// verified again once the recomputed tree shows they are the same, and the
// rest are verified in parallel. Verifying every ballot again, one at a
// time, holds the gate for minutes on a large log (about 300 s for 100,000
// ballots on this machine, docs/performance.md) and never ends within the
// reload's 10 minutes past about 500,000: the node would stay "recovering"
// for ever. Here the log holds a ballot whose proof does not verify, under
// a checkpoint signed with the node's key (standing for "verified once"):
// the node opens on it, and must recover on it too, not stop for good.
func TestRecoveryTrustsWhatTheNodeApplied(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	seed := f.LogSeed()
	cpFile := f.CheckpointFile()
	cast(t, f, f.Election, 0, 0)
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	k, _ := election.CredentialKey(f.F, f.Codes[1])
	entry, err := view.NewBallot(nil, k, f.Choices(1, []int{1}, []int{}))
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(entry, []byte(`"proofs":["`)) + len(`"proofs":["`) + 8
	bad := bytes.Clone(entry)
	bad[i] = map[bool]byte{true: 'B', false: 'A'}[bad[i] == 'A']
	if _, err := view.Prepare(bad); err == nil {
		t.Fatal("the changed ballot verifies")
	}
	if _, err := f.Store.Append(ctx, [][]byte{bad}); err != nil {
		t.Fatal(err)
	}
	n, _ := f.Store.Size(ctx)
	h, err := board.TreeHash(ctx, f.Store, n)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := election.LogSigner(f.F, seed)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := board.Sign(board.Checkpoint{Origin: board.Origin(f.F), Size: n, Hash: h}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cpFile, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	ds := &dropStore{Store: f.Store}
	e, err := server.OpenWith(ctx, ds, seed, server.OpenOptions{CheckpointFile: cpFile})
	if err != nil {
		t.Fatal(err)
	}
	ds.failNext.Store(true)
	k2, _ := election.CredentialKey(f.F, f.Codes[2])
	b2, err := view.NewBallot(nil, k2, f.Choices(2, []int{1}, []int{}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Cast(ctx, b2); err == nil {
		t.Fatal("a ballot the store did not take was acknowledged")
	}
	waitTakingEntries(t, e, "recovery verified again what the node had applied")
	cast(t, f, e, 2, 0)
}

// BenchmarkReload times one recovery (the log reloaded after a store
// failure) of a log of $SCRUTIN_RELOAD_BALLOTS ballots (default 1,000),
// each encrypted afresh (the replay rule, spec §18.5), cast through the
// node:
//
//	go test ./server -run '^$' -bench Reload -benchtime 3x
func BenchmarkReload(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("SCRUTIN_RELOAD_BALLOTS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	dir := b.TempDir()
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 50, Workers: 2, NoSignIn: true})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Store.Close()
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	var wg sync.WaitGroup
	var failed atomic.Value
	next := atomic.Int64{}
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				k, _ := election.CredentialKey(f.F, f.Codes[i%50])
				entry, err := view.NewBallot(nil, k, f.Choices(i%50, []int{i % 3}, []int{i % 2}))
				if err == nil {
					_, err = f.Election.Cast(ctx, entry)
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := cpuTime()
	for range b.N {
		if err := f.Election.Reload(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/reload")
}

// TestEntryAppendedByAnotherNode: another node on the same database (the
// deployment of DESIGN.md, "nodes follow the log") appends a ballot this
// node did not apply. This node's next ballot lands after it: the node
// must notice the gap no ballot of its own will fill, and reload the log,
// rather than wait for ever for it (holding the checkpoint lock, so that
// no voter gets a receipt again, while /healthz says all is well).
func TestEntryAppendedByAnotherNode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	seed := f.LogSeed()
	other, err := server.OpenWith(ctx, f.Store, seed, server.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cast(t, f, other, 0, 0)
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	k, _ := election.CredentialKey(f.F, f.Codes[1])
	entry, err := view.NewBallot(nil, k, f.Choices(1, []int{1}, []int{}))
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := f.Election.Cast(cctx, entry)
	if cctx.Err() != nil {
		t.Fatalf("the node waited for an entry of its own that does not exist: %v", err)
	}
	if err != nil {
		// Its ballot is stored; the node reloads the log, then gives its
		// receipt on a lookup.
		waitTakingEntries(t, f.Election, fmt.Sprintf("the node stopped for good (cast: %v)", err))
		if r, err = f.Election.Receipt(ctx, r0Index(t, f, entry), election.Tracker(entry)); err != nil {
			t.Fatal(err)
		}
	}
	var size int64
	f.Election.State(func(s *election.State) { size = s.Size })
	if n, _ := f.Store.Size(ctx); size != n || r.Index != n-1 {
		t.Fatalf("the state has %d entries, the log %d; the receipt is at %d", size, n, r.Index)
	}
	cast(t, f, f.Election, 2, 0)
}

// r0Index is the index of entry in f's log.
func r0Index(t *testing.T, f *demo.Fixture, entry []byte) int64 {
	t.Helper()
	n, _ := f.Store.Size(context.Background())
	es, err := f.Store.ReadEntries(context.Background(), 0, n)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range es {
		if bytes.Equal(e, entry) {
			return int64(i)
		}
	}
	t.Fatal("the entry is not in the log")
	return 0
}

// TestOldCosignatureAfterRestart: cosigned checkpoints are public, and
// anyone may post one. After a restart, posting an older one must not
// replace the latest cosigned checkpoint kept beside the checkpoint file
// (which OpenWith checks the log against): the protection the witnesses
// give against a rolled-back database would go back with it.
func TestOldCosignatureAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	seed := f.LogSeed()
	cpFile := f.CheckpointFile()
	ws, wv := newWitness(t, "observers.example/w1")
	lv, _ := note.NewVerifier(f.LogKey)
	cosign := func(e *server.Election) []byte {
		_, signed, err := e.Checkpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, n, err := board.Open(signed, lv.Name(), lv, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		c, err := note.Sign(n, ws)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	f.Election.SetWitnesses([]note.Verifier{wv})
	cast(t, f, f.Election, 0, 0)
	old := cosign(f.Election)
	if _, err := f.Election.AddCosignature(ctx, old); err != nil {
		t.Fatal(err)
	}
	cast(t, f, f.Election, 1, 0)
	if _, err := f.Election.AddCosignature(ctx, cosign(f.Election)); err != nil {
		t.Fatal(err)
	}
	latest, _ := os.ReadFile(cpFile + server.WitnessedSuffix)

	e, err := server.OpenWith(ctx, f.Store, seed, server.OpenOptions{CheckpointFile: cpFile})
	if err != nil {
		t.Fatal(err)
	}
	e.SetWitnesses([]note.Verifier{wv})
	e.AddCosignature(ctx, old) // accepted or not, it must not go back
	if now, _ := os.ReadFile(cpFile + server.WitnessedSuffix); string(now) != string(latest) {
		t.Fatalf("an older cosigned checkpoint replaced the latest:\n%s\nnow:\n%s", latest, now)
	}
}

// blockStore holds every append until release is closed.
type blockStore struct {
	store.Store
	entered chan struct{}
	release chan struct{}
}

func (s *blockStore) Append(ctx context.Context, entries [][]byte) (int64, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.Append(ctx, entries)
}

func (s *blockStore) AppendFenced(ctx context.Context, entries [][]byte, f store.Fence) (int64, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.AppendFenced(ctx, entries, f)
}

// TestSecondCopyLeaves: a client that leaves while a first copy of its
// ballot is being appended appended nothing itself: its answer is "not
// stored by this request, try again" (ErrBusy), not a store failure (which
// the server logs as an error and reports as "may or may not be stored").
func TestSecondCopyLeaves(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	seed := f.LogSeed()
	bs := &blockStore{Store: f.Store, entered: make(chan struct{}, 1), release: make(chan struct{})}
	e, err := server.OpenWith(ctx, bs, seed, server.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var view *election.Election
	e.State(func(s *election.State) { view, _ = s.Voter() })
	k, _ := election.CredentialKey(f.F, f.Codes[0])
	entry, err := view.NewBallot(nil, k, f.Choices(0, []int{1}, []int{}))
	if err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := e.Cast(ctx, entry)
		first <- err
	}()
	<-bs.entered
	cctx, cancel := context.WithCancel(ctx)
	second := make(chan error, 1)
	go func() {
		_, err := e.Cast(cctx, entry)
		second <- err
	}()
	time.Sleep(100 * time.Millisecond) // the second copy waits for the first
	cancel()
	err = <-second
	close(bs.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, server.ErrBusy) {
		t.Fatalf("the second copy, whose client left: %v", err)
	}
}

// waitTakingEntries waits (up to 10 s) until the node takes entries again
// after a store failure; it fails the test, saying stopped, if the node
// stops for good meanwhile.
func waitTakingEntries(t *testing.T, e *server.Election, stopped string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-e.Stopped():
			t.Fatalf("%s: %v", stopped, e.Err())
		default:
		}
		_, err := e.Health()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not recover: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
