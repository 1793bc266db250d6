package selftest

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	var lines []string
	const n = 12
	rep, err := Run(Options{Ballots: n, Seed: 7, Progress: func(l string) { lines = append(lines, l) }})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !rep.OK || rep.Error != "" || rep.Step != "" {
		t.Errorf("report: OK %v, Error %q, Step %q; want a passing report", rep.OK, rep.Error, rep.Step)
	}
	if rep.Ballots != n || rep.Options != 3 || rep.Selections != 3*n || rep.Seed != 7 {
		t.Errorf("report: %d ballots, %d options, %d selections, seed %d; want %d, 3, %d, 7",
			rep.Ballots, rep.Options, rep.Selections, rep.Seed, n, 3*n)
	}
	// Per ballot: 3 selection proofs, 1 total proof, 1 signature.
	if rep.BatchItems != 5*n {
		t.Errorf("BatchItems = %d, want %d", rep.BatchItems, 5*n)
	}
	var sum uint64
	for _, c := range rep.Expected {
		sum += c
	}
	if len(rep.Expected) != 3 || sum != n {
		t.Errorf("Expected = %v, want 3 counts adding up to %d", rep.Expected, n)
	}
	if !slices.Equal(rep.Tally, rep.Expected) {
		t.Errorf("Tally = %v, want %v", rep.Tally, rep.Expected)
	}
	b, o := rep.TamperedBallot, rep.TamperedOption
	if b < 0 || b >= n || o < 0 || o >= 3 {
		t.Fatalf("tampered ballot %d option %d out of range", b, o)
	}
	// Items are added ballot by ballot: 4 contest items, then the signature.
	if want := []int{5*b + o, 5*b + 4}; !slices.Equal(rep.BadItems, want) {
		t.Errorf("BadItems = %v, want %v", rep.BadItems, want)
	}
	if rep.EncryptionPerBallot <= 0 || rep.VerificationPerSelection <= 0 || rep.Total <= 0 {
		t.Errorf("timings not filled in: %+v", rep)
	}
	if len(lines) != 6 {
		t.Errorf("got %d progress lines, want 6:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if rep.VectorCases < 100 {
		t.Errorf("only %d test-vector cases checked", rep.VectorCases)
	}

	// The same seed gives the same votes; keys and randomness differ.
	again, err := Run(Options{Ballots: n, Seed: 7})
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if !slices.Equal(again.Expected, rep.Expected) {
		t.Errorf("seed 7 gave votes %v then %v", rep.Expected, again.Expected)
	}
}

func TestRunJSON(t *testing.T) {
	rep, err := Run(Options{Ballots: MinBallots})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if rep.Seed != DefaultSeed {
		t.Errorf("Seed = %d, want the default %d", rep.Seed, DefaultSeed)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ok", "ballots", "tally", "expected", "bad_items", "encryption_per_ballot_ns", "verification_per_selection_ns"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, b)
		}
	}
	if m["ok"] != true {
		t.Errorf("JSON ok = %v, want true", m["ok"])
	}
}

func TestRunBadOptions(t *testing.T) {
	for _, n := range []int{-1, 1, MaxBallots + 1} {
		rep, err := Run(Options{Ballots: n})
		var e *Error
		if !errors.As(err, &e) || e.Step != "check the options" {
			t.Errorf("Run(Ballots: %d) = %v, want an *Error from checking the options", n, err)
			continue
		}
		if rep == nil || rep.OK || rep.Error == "" {
			t.Errorf("Run(Ballots: %d) report = %+v, want a failed report with the error", n, rep)
		}
	}
}
