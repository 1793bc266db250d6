package server_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// failAfterCheck is a node's log whose next AppendLocked runs the node's
// check (which applies the entry to the node's state) and then fails as a
// transaction whose connection dropped before the commit: nothing is
// appended. Before it returns, meanwhile calls what another node does
// once the log's lock is free.
type failAfterCheck struct {
	store.Store
	armed     atomic.Bool
	meanwhile func()
}

func (s *failAfterCheck) AppendLocked(ctx context.Context, check func(ctx context.Context, size int64) ([][]byte, error)) (int64, error) {
	if !s.armed.Swap(false) {
		return s.Store.AppendLocked(ctx, check)
	}
	size, _, err := s.Store.Head(ctx)
	if err != nil {
		return 0, err
	}
	if _, err := check(ctx, size); err != nil {
		return 0, err
	}
	s.meanwhile()
	return 0, fmt.Errorf("%w: connection reset before the commit", store.ErrNotAppended)
}

// TestOfficerAppendRolledBackWhileOthersAppend: a node's trustee entry is
// checked (applied to its state) under the log's lock, but its transaction
// fails and appends nothing; another node appends two entries at once.
// The node must not follow them on top of the entry it applied but never
// stored (its state and tree would then be off the log, and the reload
// that follows would find "a fork" and stop the election for good): it
// recovers, and its state is the log's.
func TestOfficerAppendRolledBackWhileOthersAppend(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	f := fixture(t, master, "main", 4)
	loc := postgresLocation(t)
	dir := t.TempDir()
	open := func(i int, wrap func(store.Store) store.Store) *server.Election {
		db, err := store.Open(ctx, loc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if i == 0 {
			if err := db.Create(ctx, "main", nil); err != nil {
				t.Fatal(err)
			}
		}
		st, err := db.Log(ctx, "main")
		if err != nil {
			t.Fatal(err)
		}
		e, err := server.OpenWith(ctx, wrap(st), f.LogSeed(), server.OpenOptions{CheckpointFile: filepath.Join(dir, fmt.Sprint(i)), Joining: true})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	var fac *failAfterCheck
	a := open(0, func(st store.Store) store.Store { fac = &failAfterCheck{Store: st}; return fac })
	b := open(1, func(st store.Store) store.Store { return st })
	n, _ := f.Store.Size(ctx)
	es, err := f.Store.ReadEntries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	k := -1
	for i := range es {
		if i+2 < len(es) && es[i][0] == election.TypeCeremony && es[i+1][0] == election.TypeCeremony && es[i+2][0] == election.TypeCeremony {
			k = i
			break
		}
	}
	if k < 0 {
		t.Fatal("no three ceremony messages in a row in the fixture's log")
	}
	for _, entry := range es[:k] {
		if _, err := a.Append(ctx, entry); err != nil {
			t.Fatal(err)
		}
	}
	size := func(e *server.Election) (n int64) {
		e.State(func(s *election.State) { n = s.Size })
		return n
	}
	fac.meanwhile = func() {
		// Trustees post to another node meanwhile.
		for _, entry := range es[k+1 : k+3] {
			if _, err := b.Append(ctx, entry); err != nil {
				t.Error(err)
			}
		}
		// Room for node a's follower to run (it must not apply them
		// on top of the entry it has not stored).
		deadline := time.Now().Add(time.Second)
		for size(a) < int64(k+2) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	fac.armed.Store(true)
	if _, err := a.Append(ctx, es[k]); err == nil {
		t.Fatal("the failed append succeeded")
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, herr := a.Health()
		if herr == nil && size(a) == int64(k+2) {
			break
		}
		if a.Err() != nil {
			t.Fatalf("the node stopped for good: %v", a.Err())
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not recover: %v (state of %d entries)", herr, size(a))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Its state and tree are the log's: the entry it could not store is
	// appended now, after those of the other node.
	if _, err := a.Append(ctx, es[k]); err != nil {
		t.Fatalf("the entry, sent again: %v", err)
	}
	if _, _, err := a.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRegistryLoadsAsAnotherNodeRecordsTheManifest: a node (a Registry
// sharing the database) loads an election being set up just as another
// node records its manifest, which the loading node's follower applies
// while the election's API is being made (without it). The API must be
// made again with the manifest (the options of a public election: the
// voters' sign-in list, …), not left as it was until the next officer
// entry.
func TestRegistryLoadsAsAnotherNodeRecordsTheManifest(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	f := fixture(t, master, "main", 2)
	loc := postgresLocation(t)
	dbA, err := store.Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dbA.Close() })
	if err := dbA.Create(ctx, "main", nil); err != nil {
		t.Fatal(err)
	}
	dbB, err := store.Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dbB.Close() })
	stB, err := dbB.Log(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	b, err := server.OpenWith(ctx, stB, f.LogSeed(), server.OpenOptions{CheckpointFile: filepath.Join(t.TempDir(), "b"), Joining: true})
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := f.Store.ReadEntries(ctx, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var withManifest atomic.Int32
	var first atomic.Bool
	r, err := server.OpenRegistry(ctx, server.RegistryOptions{DB: dbA, MasterSeed: master, CheckpointDir: t.TempDir(), Shared: true,
		Handler: func(id string, e *server.Election) server.Options {
			var m bool
			e.State(func(s *election.State) { m = s.Manifest != nil })
			if m {
				withManifest.Add(1)
			} else if !first.Swap(true) {
				// The other node records the manifest now, and this
				// node's follower applies it.
				if _, err := b.Append(ctx, manifest[0]); err != nil {
					t.Error(err)
				}
				deadline := time.Now().Add(3 * time.Second)
				for !m && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
					e.State(func(s *election.State) { m = s.Manifest != nil })
				}
				if !m {
					t.Error("the follower did not apply the manifest")
				}
			}
			return server.Options{NoSignIn: true}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.Election(ctx, "main"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for withManifest.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the election's API was not made again with its manifest, which the node follows")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
