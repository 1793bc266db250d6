package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoCommand runs the README's main command, small, and checks its
// record with "scrutin log check".
func TestDemoCommand(t *testing.T) {
	bin := buildScrutin(t)
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "record")
	r := runScrutin(t, bin, "demo", "--voters", "30", "--dir", dir, "--out", out, "--json")
	if r.status != 0 {
		t.Fatalf("demo: %d %s", r.status, r.stderr)
	}
	var sum struct {
		LogKey   string `json:"log_key"`
		Result   struct{ Contests []struct{ Counts []int } }
		Expected [][]int `json:"expected"`
		Roll     struct{ Eligible int }
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil {
		t.Fatalf("demo --json: %v\n%s", err, r.stdout)
	}
	if sum.Roll.Eligible != 30 || len(sum.Result.Contests) != 3 {
		t.Fatalf("summary: %+v", sum)
	}
	for _, f := range []string{"elections/demo/credentials.csv", "elections/demo/roll-report.json", "log.key", "scrutin.db", "checkpoints/demo"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if f != "scrutin.db" && fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v", f, fi.Mode())
		}
	}
	if r := runScrutin(t, bin, "log", "check", "--log", out, "--log-key", sum.LogKey); r.status != 0 {
		t.Fatalf("log check of the demo's record: %s", r.stderr)
	}
	// The universal verifier accepts the record, and finds a voter's
	// ballot; one changed byte makes it fail.
	var fp struct{ Fingerprint string }
	json.Unmarshal([]byte(r.stdout), &fp)
	if r := runScrutin(t, bin, "verify", "--election", fp.Fingerprint, out); r.status != 0 || !strings.Contains(r.stdout, "VALID") {
		t.Fatalf("verify: %d %s%s", r.status, r.stdout, r.stderr)
	}
	rj := runScrutin(t, bin, "verify", "--json", out)
	var vr struct {
		OK         bool
		Selections int
	}
	json.Unmarshal([]byte(rj.stdout), &vr)
	if !vr.OK || vr.Selections < 150 {
		t.Fatalf("verify --json: %s", rj.stdout)
	}
	bundle := filepath.Join(out, "tile", "entries", "000.p")
	entries, _ := os.ReadDir(bundle)
	if len(entries) == 0 {
		t.Fatal("no partial entry bundle")
	}
	path := filepath.Join(bundle, entries[0].Name())
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 1
	os.WriteFile(path, data, 0o644)
	if r := runScrutin(t, bin, "verify", "--election", fp.Fingerprint, out); r.status != 1 || !strings.Contains(r.stdout, "INVALID") {
		t.Fatalf("verify of a tampered record: %d %s", r.status, r.stdout)
	}
	// The same data folder cannot hold a second election.
	if r := runScrutin(t, bin, "demo", "--voters", "3", "--dir", dir); r.status == 0 {
		t.Fatal("a second demo in the same folder was accepted")
	}
}
