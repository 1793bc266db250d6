package server_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/scrutin/scrutin/server"
)

// decidedRegistry makes a registry holding one decided election "done".
func decidedRegistry(t *testing.T, cpDir string) (*server.Registry, server.Catalogue, []byte) {
	t.Helper()
	ctx := context.Background()
	master := masterSeed()
	c := newCatalogue(t)
	r := openRegistry(t, c, master, cpDir)
	f := fixture(t, master, "done", 2)
	e, err := r.Create(ctx, "done", nil)
	if err != nil {
		t.Fatal(err)
	}
	record(t, f, e)
	f.Election = e
	if _, err := f.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	return r, c, master
}

// TestRegistryUnloadLeavesNothing: loading and unloading a decided
// election again and again leaves no goroutine behind (each one kept the
// unloaded election, its whole state, reachable until the server stopped).
func TestRegistryUnloadLeavesNothing(t *testing.T) {
	ctx := context.Background()
	r, _, _ := decidedRegistry(t, filepath.Join(t.TempDir(), "checkpoints"))
	defer r.Close()
	cycle := func() {
		if _, err := r.Election(ctx, "done"); err != nil {
			t.Fatal(err)
		}
		if n := server.UnloadIdle(r, time.Now().Add(2*server.IdleUnload)); n != 1 {
			t.Fatalf("%d elections unloaded; want 1", n)
		}
	}
	cycle()
	time.Sleep(10 * time.Millisecond)
	before := runtime.NumGoroutine()
	for range 20 {
		cycle()
	}
	time.Sleep(10 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("%d goroutines after 20 loads and unloads, %d before", after, before)
	}
}
