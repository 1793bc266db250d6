package demo

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/store"
)

// TestReviewDemoStaffInItsDatabase (finding "demo staff in the wrong
// database"): a demo on PostgreSQL made its administrator in the SQLite
// database of its folder, where `scrutin serve --db` never looks: the
// server on that PostgreSQL had no account (and offered a setup link),
// and the administrator printed by the demo could not sign in.
func TestReviewDemoStaffInItsDatabase(t *testing.T) {
	db := postgresURL(t)
	f, err := Prepare(ctx, Options{Dir: t.TempDir(), DB: db, Voters: 3, Seed: 1, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, err := store.OpenShared(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := accounts.Open(accounts.Options{Dir: t.TempDir(), KeyFile: filepath.Join(f.Opts.Dir, accounts.KeyFile), Shared: st})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Empty() {
		t.Fatal("the demo's administrator is not in the demo's PostgreSQL database")
	}
}
