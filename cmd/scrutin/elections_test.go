package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func getURL(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDemoElections: "scrutin demo --elections 2" runs two elections at
// once; "scrutin election list" lists them; "scrutin serve" serves both,
// and one made meanwhile by "scrutin election new"; "scrutin verify" takes
// an election's address.
func TestDemoElections(t *testing.T) {
	bin := buildScrutin(t)
	dir := t.TempDir()
	r := runScrutin(t, bin, "demo", "--voters", "4", "--elections", "2", "--dir", dir, "--json")
	if r.status != 0 {
		t.Fatalf("demo --elections 2: %d %s", r.status, r.stderr)
	}
	var sum struct {
		Elections []struct {
			ID          string
			Fingerprint string
			Result      struct{ Contests []struct{ Counts []int } }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || len(sum.Elections) != 2 || sum.Elections[0].ID != "demo" || sum.Elections[1].ID != "demo-2" || sum.Elections[0].Fingerprint == sum.Elections[1].Fingerprint {
		t.Fatalf("demo --json: %v %s", err, r.stdout)
	}
	for _, id := range []string{"demo", "demo-2"} {
		for _, f := range []string{"elections/" + id + "/credentials.csv", "elections/" + id + "/voters.sealed", "checkpoints/" + id} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
	}
	r = runScrutin(t, bin, "election", "list", "--dir", dir)
	if r.status != 0 || !strings.Contains(r.stdout, "demo-2") || strings.Count(r.stdout, "decided") != 2 {
		t.Fatalf("election list: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "election", "new", "--dir", dir, "--id", "demo"); r.status == 0 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("election new with a taken id: %d %s", r.status, r.stderr)
	}
	if r := runScrutin(t, bin, "election", "new", "--dir", dir, "--id", "Bad_Id"); r.status == 0 {
		t.Fatal("election new with a bad id")
	}

	url, stop := startServeURL(t, bin, "--dir", dir, "--sign-in", "off")
	defer stop()
	for i, e := range sum.Elections {
		st, body := getURL(t, url+"/api/e/"+e.ID+"/election")
		if st != 200 || !strings.Contains(body, e.Fingerprint) || strings.Contains(body, sum.Elections[1-i].Fingerprint) {
			t.Fatalf("/api/e/%s/election: %d %s", e.ID, st, body)
		}
		r := runScrutin(t, bin, "verify", "--election", e.Fingerprint, url+"/e/"+e.ID)
		if r.status != 0 || !strings.Contains(r.stdout, "VALID") {
			t.Fatalf("verify %s/e/%s: %d %s%s", url, e.ID, r.status, r.stdout, r.stderr)
		}
	}
	// Another election's fingerprint: refused.
	if r := runScrutin(t, bin, "verify", "--election", sum.Elections[0].Fingerprint, url+"/e/demo-2"); r.status == 0 {
		t.Fatal("demo-2's record verified as demo's")
	}
	if st, body := getURL(t, url+"/api/e/nope/election"); st != 404 || strings.Contains(body, "nope") {
		t.Fatalf("an unknown election: %d %s", st, body)
	}
	// An election made while the server runs is served at once (the
	// server reads its catalogue again at most once a second).
	if r := runScrutin(t, bin, "election", "new", "--dir", dir, "--id", "board-2028"); r.status != 0 {
		t.Fatalf("election new: %d %s", r.status, r.stderr)
	}
	time.Sleep(time.Second)
	// Not public until its manifest is recorded: its API answers as for
	// an unknown id (spec §22.3).
	if st, body := getURL(t, url+"/api/e/board-2028/election"); st != http.StatusNotFound || strings.Contains(body, "board-2028") {
		t.Fatalf("a new election: %d %s", st, body)
	}
	if st, body := getURL(t, url+"/healthz"); st != 200 || strings.Contains(body, "elections") {
		t.Fatalf("/healthz: %d %s", st, body)
	}
}

// TestServeLegacyFolder: a data folder made by "scrutin demo" before
// elections had ids is served as election "main".
func TestServeLegacyFolder(t *testing.T) {
	bin := buildScrutin(t)
	dir := t.TempDir()
	src := "../../testdata/legacy/voting"
	es, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		b, _ := os.ReadFile(filepath.Join(src, e.Name()))
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600)
	}
	url, stop := startServeURL(t, bin, "--dir", dir, "--sign-in", "off")
	if st, body := getURL(t, url+"/api/e/main/election"); st != 200 || !strings.Contains(body, `"phase":"voting"`) {
		t.Fatalf("main: %d %s", st, body)
	}
	if r := runScrutin(t, bin, "verify", url+"/e/main"); r.status != 0 {
		t.Fatalf("verify main: %s%s", r.stdout, r.stderr)
	}
	stop()
	for _, f := range []string{"checkpoints/main", "elections/main/voters.sealed", "elections/main/voters.key"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// The witnesses its server had with "serve --witness" are given again.
	wdir := t.TempDir()
	if r := runScrutin(t, bin, "witness", "init", "--name", "observers.example/w", "--dir", wdir); r.status != 0 {
		t.Fatal(r.stderr)
	}
	key, _ := os.ReadFile(filepath.Join(wdir, witnessPubFile))
	if r := runScrutin(t, bin, "election", "witnesses", "--dir", dir, "--id", "main", "--witness", strings.TrimSpace(string(key))); r.status != 0 {
		t.Fatalf("election witnesses: %s", r.stderr)
	}
	if r := runScrutin(t, bin, "election", "witnesses", "--dir", dir, "--id", "nope"); r.status == 0 {
		t.Fatal("witnesses set for an election that does not exist")
	}
	r := runScrutin(t, bin, "election", "list", "--dir", dir)
	if !strings.Contains(r.stdout, "main (legacy)") || !strings.Contains(r.stdout, "voting") || !regexp.MustCompile(`voting\s+\d+\s+1\s`).MatchString(r.stdout) {
		t.Fatalf("election list: %s", r.stdout)
	}
}
