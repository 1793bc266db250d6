package store

// Review of the many-elections store (branch el-store): failing tests
// first, then the fixes.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// enteredGate holds every commit until its gate opens, and says when one
// is held.
type enteredGate struct {
	backend
	entered chan struct{}
	gate    chan struct{}
}

func (g *enteredGate) appendBatch(ctx context.Context, entries []item) ([]int64, []error, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.gate
	return g.backend.appendBatch(ctx, entries)
}

// TestReviewDBCloseWaitsForALogBeingClosed: a log whose Close is draining
// its queued appends is forgotten by its DB (so that Log opens a new one);
// DB.Close must still wait for that drain before closing the database, or
// appends queued before either Close fail on a closed database.
func TestReviewDBCloseWaitsForALogBeingClosed(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			db := mustOpenDB(t, loc)
			g := &enteredGate{entered: make(chan struct{}, 1), gate: make(chan struct{})}
			db.wrap = func(id string, b backend) backend { g.backend = b; return g }
			s := mustLog(t, db, "e")
			queued := make(chan error, 1)
			go func() { _, err := s.Append(ctx, entriesN("queued", 1)); queued <- err }()
			<-g.entered
			logClosed := make(chan error, 1)
			go func() { logClosed <- s.Close() }()
			waitFor(t, "the log to close", func() bool {
				s := s.(*groupStore)
				s.mu.RLock()
				defer s.mu.RUnlock()
				return s.closed
			})
			time.Sleep(20 * time.Millisecond) // the log is forgotten by the DB
			dbClosed := make(chan error, 1)
			go func() { dbClosed <- db.Close() }()
			select {
			case err := <-dbClosed:
				dbClosed <- err
				t.Errorf("DB.Close returned (%v) while a log still had a commit to make", err)
			case <-time.After(100 * time.Millisecond):
			}
			close(g.gate)
			if err := <-queued; err != nil {
				t.Fatalf("an append queued before the log and the DB closed: %v", err)
			}
			<-logClosed
			<-dbClosed
			db = mustOpenDB(t, loc)
			if n := checkAgainstMemory(t, mustLog(t, db, "e")); n != 1 {
				t.Fatalf("%d entries, want 1", n)
			}
		})
	}
}

// TestReviewSecondCloseWaits: Store.Close "waits for pending appends";
// a second caller of Close (a server unloading an election as the DB
// closes) must not return before the first one's drain is over.
func TestReviewSecondCloseWaits(t *testing.T) {
	db := mustOpenDB(t, t.TempDir())
	g := &enteredGate{entered: make(chan struct{}, 1), gate: make(chan struct{})}
	db.wrap = func(id string, b backend) backend { g.backend = b; return g }
	s := mustLog(t, db, "e")
	queued := make(chan error, 1)
	go func() { _, err := s.Append(ctx, entriesN("queued", 1)); queued <- err }()
	<-g.entered
	go s.Close()
	waitFor(t, "the log to close", func() bool {
		s := s.(*groupStore)
		s.mu.RLock()
		defer s.mu.RUnlock()
		return s.closed
	})
	second := make(chan error, 1)
	go func() { second <- s.Close() }()
	returned := false
	select {
	case <-second:
		returned = true
		t.Error("a second Close returned before the queued append was committed")
	case <-time.After(100 * time.Millisecond):
	}
	close(g.gate)
	if err := <-queued; err != nil {
		t.Fatal(err)
	}
	if !returned {
		<-second
	}
}

// TestReviewWitnessKeysBothDatabasesHold: a witness key one database
// cannot hold (PostgreSQL's text takes neither a NUL nor invalid UTF-8,
// SQLite takes both) is refused by the store at once, on both, in plain
// words, rather than stored by one and refused by the other after every
// retry.
func TestReviewWitnessKeysBothDatabasesHold(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			db := mustOpenDB(t, bc.location(t))
			if err := db.Create(ctx, "e", nil); err != nil {
				t.Fatal(err)
			}
			for _, w := range []string{"w\x00+abc+def", "w\xff+abc+def", "w\t+abc+def"} {
				start := time.Now()
				if err := db.Create(ctx, "f", []string{w}); err == nil || !strings.Contains(err.Error(), "witness key") {
					t.Errorf("creating with the witness key %q: %v", w, err)
				}
				if err := db.SetWitnesses(ctx, "e", []string{w}); err == nil || !strings.Contains(err.Error(), "witness key") {
					t.Errorf("setting the witness key %q: %v", w, err)
				}
				if d := time.Since(start); d > 500*time.Millisecond {
					t.Errorf("refusing %q took %v", w, d)
				}
			}
		})
	}
}

// TestReviewPostgresLockedElectionsDoNotStarveOthers: in PostgreSQL an
// election's committer waits for its head row's lock on a pooled
// connection. With as many elections' heads locked by another process
// (one stopped mid-commit, say) as the pool has connections, every
// connection waits on a lock, and the appends of every other election
// wait for a connection: one election's held lock must hold up that
// election only.
func TestReviewPostgresLockedElectionsDoNotStarveOthers(t *testing.T) {
	loc := postgresLocation(t)
	db := mustOpenDB(t, loc)
	pool := db.d.(*postgresDB).pool
	locked := int(pool.Config().MaxConns)
	var held []Store
	for i := range locked {
		held = append(held, mustLog(t, db, fmt.Sprintf("held-%d", i)))
	}
	free := mustLog(t, db, "free")
	other, err := pgx.Connect(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT size FROM head WHERE election LIKE 'held-%' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	heldDone := make(chan error, locked)
	for _, s := range held {
		go func() { _, err := s.Append(ctx, entriesN("held", 1)); heldDone <- err }()
	}
	time.Sleep(300 * time.Millisecond) // every held committer waits on its lock
	freeDone := make(chan error, 1)
	go func() { _, err := free.Append(ctx, entriesN("free", 1)); freeDone <- err }()
	select {
	case err := <-freeDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Error("an append to an election whose head nobody holds waited 5 s for the others' locks")
	}
	tx.Rollback(ctx)
	for range held {
		if err := <-heldDone; err != nil {
			t.Fatalf("an append held by another process's lock: %v", err)
		}
	}
	if t.Failed() {
		<-freeDone
	}
	for _, s := range append(held, free) {
		if n := checkAgainstMemory(t, s); n != 1 {
			t.Fatalf("%d entries", n)
		}
	}
}

// TestReviewV1MigratedByTwoAtOnce: processes opening one version 1
// database at once migrate it once: every one opens it, and the log of
// "main" is the version 1 log, whole.
func TestReviewV1MigratedByTwoAtOnce(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			l := &v1Log{entries: entriesN("v1", 2000), checkpoints: map[int64][]byte{2000: []byte("note 2000")}}
			buildV1(t, bc, loc, l)
			const n = 3
			dbs := make([]*DB, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { dbs[i], errs[i] = Open(ctx, loc) })
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("open %d: %v", i, err)
				}
				t.Cleanup(func() { dbs[i].Close() })
			}
			for _, db := range dbs {
				es, err := db.Elections(ctx)
				if err != nil || len(es) != 1 || es[0].ID != "main" || es[0].Size != 2000 {
					t.Fatalf("elections: %+v %v", es, err)
				}
				s, err := db.Log(ctx, "main")
				if err != nil {
					t.Fatal(err)
				}
				checkV1(t, db, s, l)
			}
		})
	}
}

// TestReviewReadsAfterDBCloseSayClosed: a log's reads after its DB closed
// (a request served as the server shuts down) fail at once with
// ErrClosed, not after every retry with the driver's words.
func TestReviewReadsAfterDBCloseSayClosed(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			db := mustOpenDB(t, bc.location(t))
			s := mustLog(t, db, "e")
			if _, err := s.Append(ctx, entriesN("e", 3)); err != nil {
				t.Fatal(err)
			}
			db.Close()
			start := time.Now()
			if _, err := s.Size(ctx); !errors.Is(err, ErrClosed) {
				t.Errorf("size: %v", err)
			}
			if _, err := s.ReadEntries(ctx, 0, 1); !errors.Is(err, ErrClosed) {
				t.Errorf("entries: %v", err)
			}
			if _, err := s.ReadHashes(ctx, []int64{0}); !errors.Is(err, ErrClosed) {
				t.Errorf("hashes: %v", err)
			}
			if _, _, err := s.LatestCheckpoint(ctx); !errors.Is(err, ErrClosed) {
				t.Errorf("checkpoint: %v", err)
			}
			if err := s.SaveCheckpoint(ctx, 3, []byte("note")); !errors.Is(err, ErrClosed) {
				t.Errorf("saving a checkpoint: %v", err)
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("the reads took %v", d)
			}
		})
	}
}

// TestReviewPostgresTableLockIsWaitedFor: an append waits (up to
// commitTimeout) for a lock another session holds on a table it writes
// to (an operator's LOCK TABLE, a pg_repack, a slow index build), as it
// did before appends bounded their lock waits (lock_timeout): the bound
// gives the connection back, it must not fail the appends.
func TestReviewPostgresTableLockIsWaitedFor(t *testing.T) {
	loc := postgresLocation(t)
	db := mustOpenDB(t, loc)
	s := mustLog(t, db, "e")
	other, err := pgx.Connect(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE entries IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := s.Append(ctx, entriesN("e", 1)); done <- err }()
	time.Sleep(4 * time.Second)
	tx.Rollback(ctx)
	if err := <-done; err != nil {
		t.Fatalf("an append that waited 4 s for a table lock: %v", err)
	}
	if n := checkAgainstMemory(t, s); n != 1 {
		t.Fatalf("%d entries", n)
	}
}
