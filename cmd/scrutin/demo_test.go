package main

import (
	"encoding/json"
	"os"
	"path/filepath"
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
	if sum.Roll.Eligible != 30 || len(sum.Result.Contests) != 2 {
		t.Fatalf("summary: %+v", sum)
	}
	for _, f := range []string{"credentials.csv", "roll-report.json", "log.key", "scrutin.db"} {
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
	// The same data folder cannot hold a second election.
	if r := runScrutin(t, bin, "demo", "--voters", "3", "--dir", dir); r.status == 0 {
		t.Fatal("a second demo in the same folder was accepted")
	}
}
