package server_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/pgtest"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// storeCase makes fresh, empty store locations of one kind.
type storeCase struct {
	name     string
	location func(t testing.TB) string
}

func storeCases() []storeCase {
	return []storeCase{
		{"sqlite", func(t testing.TB) string { return t.TempDir() }},
		{"postgres", postgresLocation},
	}
}

// postgresLocation makes a schema of its own for the test on
// $SCRUTIN_TEST_POSTGRES (or the local server) and returns a URL that uses
// it; without a server the test is skipped, except in CI
// ($SCRUTIN_REQUIRE_POSTGRES), where it fails.
func postgresLocation(t testing.TB) string {
	t.Helper()
	return pgtest.Schema(t, "scrutin_server")
}

// cast casts a ballot of voter i (choosing option leader) through the
// server, as the API does, and returns its receipt.
func cast(t testing.TB, f *demo.Fixture, e *server.Election, i, leader int) *server.Receipt {
	t.Helper()
	var view *election.Election
	e.State(func(s *election.State) { view, _ = s.Voter() })
	k, err := election.CredentialKey(f.F, f.Codes[i])
	if err != nil {
		t.Fatal(err)
	}
	entry, err := view.NewBallot(nil, k, f.Choices(i, []int{leader}, []int{}))
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Cast(context.Background(), entry)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// copyPrefix makes a new store at loc holding the first n entries of st:
// what restoring a backup made at size n gives.
func copyPrefix(t testing.TB, st store.Store, n int64, loc string) store.Store {
	t.Helper()
	ctx := context.Background()
	dst, err := store.OpenLog(ctx, loc, "main")
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.ReadEntries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Append(ctx, es); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestOpenRefusesRolledBackLog: a store rolled back (restored from a
// backup) under a server that signed a larger checkpoint is refused at
// Open, as is a forked log of any size, a missing checkpoint file and one
// signed by another key; the operator's explicit choice starts it anyway,
// keeping the old checkpoint aside.
func TestOpenRefusesRolledBackLog(t *testing.T) {
	for _, sc := range storeCases() {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			o := demo.Options{Dir: dir, Voters: 8, Workers: 2, NoSignIn: true}
			if sc.name == "postgres" {
				o.DB = sc.location(t)
			}
			f, err := demo.Setup(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Store.Close()
			cpFile := f.CheckpointFile()
			seed := f.LogSeed()
			cast(t, f, f.Election, 0, 0)
			backup, err := f.Store.Size(ctx) // the backup is made here
			if err != nil {
				t.Fatal(err)
			}
			var last *server.Receipt
			for i := 1; i < 4; i++ {
				last = cast(t, f, f.Election, i, 1)
			}
			n, _ := f.Store.Size(ctx)
			open := func(st store.Store, accept bool) (*server.Election, error) {
				return server.OpenWith(ctx, st, seed, server.OpenOptions{CheckpointFile: cpFile, AcceptRollback: accept})
			}

			// The log as it is: it opens, and its entries up to the receipt
			// are those the saved checkpoint names.
			if _, err := open(f.Store, false); err != nil {
				t.Fatalf("the log as the server left it: %v", err)
			}
			if !strings.Contains(last.Checkpoint, fmt.Sprintf("\n%d\n", n)) {
				t.Fatalf("the last receipt's checkpoint is not of the whole log (%d entries): %q", n, last.Checkpoint)
			}

			// Restored from the backup: shorter than the signed checkpoint.
			restored := copyPrefix(t, f.Store, backup, sc.location(t))
			defer restored.Close()
			_, err = open(restored, false)
			var rb *server.RollbackError
			if !errors.Is(err, server.ErrRolledBack) || !errors.As(err, &rb) || rb.Saved != n || rb.Stored != backup {
				t.Fatalf("a log restored from a backup of %d entries, under a checkpoint of %d: %v", backup, n, err)
			}
			t.Logf("refused: %v", err)

			// Restored and cast on, past the checkpoint's size: a fork.
			forked := copyPrefix(t, f.Store, backup, sc.location(t))
			defer forked.Close()
			fe, err := server.Open(ctx, forked, seed)
			if err != nil {
				t.Fatal(err)
			}
			for i := 4; i < 8; i++ {
				cast(t, f, fe, i, 2)
			}
			if m, _ := forked.Size(ctx); m <= n {
				t.Fatalf("the forked log has %d entries, not more than %d", m, n)
			}
			if _, err := open(forked, false); !errors.Is(err, server.ErrRolledBack) || !strings.Contains(err.Error(), "forked") {
				t.Fatalf("a forked log longer than the checkpoint: %v", err)
			}

			// A checkpoint file signed with another key, or none at all.
			saved, _ := os.ReadFile(cpFile)
			other := make([]byte, 32)
			rand.Read(other)
			if _, err := server.OpenWith(ctx, f.Store, other, server.OpenOptions{CheckpointFile: cpFile}); err == nil {
				t.Fatal("a server with another log key opened the log")
			}
			os.Remove(cpFile)
			if _, err := open(f.Store, false); !errors.Is(err, server.ErrRolledBack) {
				t.Fatalf("no checkpoint file, %d entries: %v", n, err)
			}
			os.WriteFile(cpFile, saved, 0o600)

			// The operator's explicit choice: it starts, on the rolled-back
			// log, the old checkpoint kept aside, and the next checkpoint
			// it signs is of the new log.
			e, err := open(restored, true)
			if err != nil {
				t.Fatalf("accepting the rollback: %v", err)
			}
			aside, _ := filepath.Glob(cpFile + ".rolled-back-*")
			if len(aside) != 1 {
				t.Fatalf("the old checkpoint was not kept aside: %v", aside)
			}
			if b, _ := os.ReadFile(aside[0]); string(b) != string(saved) {
				t.Fatal("the checkpoint kept aside is not the old one")
			}
			cast(t, f, e, 5, 0)
			if _, err := open(restored, false); err != nil {
				t.Fatalf("the accepted log, cast on: %v", err)
			}
		})
	}
}

// TestStartingHealth: while a server loads, every request, /healthz
// included, gets 503 "starting"; then the real handler answers.
func TestStartingHealth(t *testing.T) {
	sw := new(server.Switch)
	srv := httptest.NewServer(sw)
	defer srv.Close()
	get := func() (int, string) {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Fatalf("while loading: %d %s", code, body)
	}
	sw.Set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	if code, body := get(); code != http.StatusOK || body != "ok" {
		t.Fatalf("once loaded: %d %s", code, body)
	}
}

// TestOpenRefusesSubstitutedBallot: a valid ballot substituted for another
// in the database (a full replay would accept it) is caught at Open, since
// the tree is recomputed from the stored entries and compared with the
// checkpoint the server signed.
func TestOpenRefusesSubstitutedBallot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 6, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	seed := f.LogSeed()
	var first *server.Receipt
	for i := range 3 {
		r := cast(t, f, f.Election, i, 0)
		if first == nil {
			first = r
		}
	}
	// Voter 0's second ballot, valid, never cast.
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	k, _ := election.CredentialKey(f.F, f.Codes[0])
	other, err := view.NewBallot(nil, k, f.Choices(0, []int{2}, []int{}))
	if err != nil {
		t.Fatal(err)
	}
	f.Store.Close()
	f.Staff.Close()
	db, err := sql.Open("sqlite", filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	if res, err := db.Exec("UPDATE entries SET data = ? WHERE election = ? AND idx = ?", other, f.ID, first.Index); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("%d entries changed", n)
	}
	db.Close()
	st, err := store.OpenLog(ctx, dir, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Without the checkpoint file, only the stored hashes (which whoever
	// substituted the entry could rewrite as well) disagree.
	if _, err := server.Open(ctx, st, seed); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("a substituted ballot under the old hashes: %v", err)
	}
	_, err = server.OpenWith(ctx, st, seed, server.OpenOptions{CheckpointFile: f.CheckpointFile()})
	if !errors.Is(err, server.ErrRolledBack) || !strings.Contains(err.Error(), "forked") {
		t.Fatalf("a substituted ballot: %v", err)
	}
}

// TestCheckpointOnlyOfVerifiedEntries: a server signs only the tree it
// computed from the entries it verified; when the store's hashes are
// changed under it, it refuses to sign (and to give receipts) rather than
// vouch for them.
func TestCheckpointOnlyOfVerifiedEntries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	cast(t, f, f.Election, 0, 0)
	saved, _ := os.ReadFile(f.CheckpointFile())
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
	if r, err := f.Election.Cast(ctx, entry); err == nil || !strings.Contains(err.Error(), "changed under the server") {
		t.Fatalf("a receipt over changed hashes: %v, %v", r, err)
	}
	if now, _ := os.ReadFile(f.CheckpointFile()); string(now) != string(saved) {
		t.Fatal("a checkpoint over changed hashes was saved")
	}
}

// TestOpenNamesWitnesses: the cosignatures a server received are kept
// beside its checkpoint file; a restored log that does not extend the
// cosigned checkpoint is refused, naming the witnesses that will refuse it.
func TestOpenNamesWitnesses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	f, err := demo.Setup(ctx, demo.Options{Dir: dir, Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	seed := f.LogSeed()
	ws, wv := newWitness(t, "observers.example/w1")
	f.Election.SetWitnesses([]note.Verifier{wv})
	backup, _ := f.Store.Size(ctx)
	cast(t, f, f.Election, 0, 0)
	_, signed, err := f.Election.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	lv, _ := note.NewVerifier(f.LogKey)
	_, n, err := board.Open(signed, lv.Name(), lv, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	cosigned, err := note.Sign(n, ws)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Election.AddCosignature(ctx, cosigned); err != nil {
		t.Fatal(err)
	}
	cpFile := f.CheckpointFile()
	kept, err := os.ReadFile(cpFile + server.WitnessedSuffix)
	if err != nil || !strings.Contains(string(kept), "— observers.example/w1 ") {
		t.Fatalf("the cosigned checkpoint was not kept: %v %q", err, kept)
	}

	restored := copyPrefix(t, f.Store, backup, t.TempDir())
	defer restored.Close()
	_, err = server.OpenWith(ctx, restored, seed, server.OpenOptions{CheckpointFile: cpFile})
	if !errors.Is(err, server.ErrRolledBack) || !strings.Contains(err.Error(), "witnesses observers.example/w1 cosigned") {
		t.Fatalf("a restored log under a cosigned checkpoint: %v", err)
	}
	// Even with the server's own checkpoint file gone.
	os.Remove(cpFile)
	_, err = server.OpenWith(ctx, f.Store, seed, server.OpenOptions{CheckpointFile: cpFile})
	if !errors.Is(err, server.ErrRolledBack) {
		t.Fatalf("no checkpoint file: %v", err)
	}
	// Accepting the rollback sets the cosigned checkpoint aside too.
	if _, err := server.OpenWith(ctx, restored, seed, server.OpenOptions{CheckpointFile: cpFile, AcceptRollback: true}); err != nil {
		t.Fatal(err)
	}
	if aside, _ := filepath.Glob(cpFile + server.WitnessedSuffix + ".rolled-back-*"); len(aside) != 1 {
		t.Fatalf("the cosigned checkpoint was not kept aside: %v", aside)
	}
}
