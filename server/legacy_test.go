package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// copyDir copies the files of src (not its folders) into a new folder.
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestLegacyFolder: a data folder made by scrutin demo before elections
// had ids (testdata/legacy/voting) opens as election "main": its log key is the
// master seed itself, its checkpoint file moves to checkpoints/main (so the
// rollback check still holds), its sign-in list to elections/main/, and it
// takes a ballot at its new address.
func TestLegacyFolder(t *testing.T) {
	ctx := context.Background()
	dir := copyDir(t, "../testdata/legacy/voting")
	oldCheckpoint, _ := os.ReadFile(filepath.Join(dir, server.CheckpointFile))
	if err := server.MoveLegacyFiles(dir, filepath.Join(dir, server.CheckpointDir)); err != nil {
		t.Fatal(err)
	}
	if err := server.MoveLegacyFiles(dir, filepath.Join(dir, server.CheckpointDir)); err != nil { // twice: nothing to do
		t.Fatal(err)
	}
	for _, f := range []string{server.CheckpointFile, server.SignInListFile, server.SignInKeyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s is still in the data folder", f)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, server.CheckpointDir, server.LegacyID)); !bytes.Equal(b, oldCheckpoint) {
		t.Fatal("the checkpoint file did not move to checkpoints/main")
	}
	if _, voters, err := server.LoadSignInList(server.ElectionDir(dir, server.LegacyID)); err != nil || len(voters) != 6 {
		t.Fatalf("the sign-in list in elections/main: %d voters, %v", len(voters), err)
	}
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	seed, err := os.ReadFile(filepath.Join(dir, "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	r := openRegistry(t, db, seed, filepath.Join(dir, server.CheckpointDir))
	defer r.Close()
	l := r.List()
	if len(l) != 1 || l[0].ID != server.LegacyID || l[0].Failed != "" || l[0].Phase != election.PhaseVoting {
		t.Fatalf("List: %+v", l)
	}
	e, err := r.Election(ctx, server.LegacyID)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	// A ballot of the first member, at the new address.
	f := e.Fingerprint()
	b, _ := os.ReadFile(filepath.Join(dir, "credentials.csv"))
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	k, err := election.CredentialKey(f, rows[1][3])
	if err != nil {
		t.Fatal(err)
	}
	var view *election.Election
	var choices [][]int
	e.State(func(s *election.State) {
		view, _ = s.Voter()
		mask, ok := s.Eligibility(k.PublicKey())
		if !ok {
			t.Fatal("the first member's credential is not published")
		}
		for c, ct := range s.Manifest.Contests {
			switch {
			case mask&(1<<c) == 0:
				choices = append(choices, nil)
			case ct.Min > 0:
				choices = append(choices, []int{0})
			default:
				choices = append(choices, []int{})
			}
		}
	})
	entry, err := view.NewBallot(nil, k, choices)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL+"/api/e/main/ballots", "application/json", bytes.NewReader(entry[1:]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("a ballot to main: %s %s", resp.Status, body)
	}
	// The receipt verifies under the log key of the manifest: the legacy
	// election kept the master seed.
	if code, body := get(t, srv.URL+"/e/main/log/checkpoint"); code != 200 || bytes.Equal(body, oldCheckpoint) {
		t.Fatalf("main's checkpoint: %d %s", code, body)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, server.CheckpointDir, server.LegacyID)); bytes.Equal(b, oldCheckpoint) {
		t.Fatal("the checkpoint file in checkpoints/main is not kept up to date")
	}
}

// TestLegacyCheckpointMovesAtStart: OpenRegistry itself moves the legacy
// checkpoint file of a legacy election beside its checkpoint folder, and a
// checkpoint file in both places is refused (the election fails, not the
// server).
func TestLegacyCheckpointMovesAtStart(t *testing.T) {
	ctx := context.Background()
	dir := copyDir(t, "../testdata/legacy/voting")
	seed, _ := os.ReadFile(filepath.Join(dir, "log.key"))
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r := openRegistry(t, db, seed, filepath.Join(dir, server.CheckpointDir))
	if _, err := r.Election(ctx, server.LegacyID); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := os.Stat(filepath.Join(dir, server.CheckpointDir, server.LegacyID)); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, server.CheckpointFile), []byte("an old copy"), 0o600)
	r = openRegistry(t, db, seed, filepath.Join(dir, server.CheckpointDir))
	defer r.Close()
	if l := r.List(); len(l) != 1 || l[0].Failed == "" {
		t.Fatalf("with two checkpoint files: %+v", l)
	}
}
