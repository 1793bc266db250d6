package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/mirror"
)

// TestVerifyAudit: "scrutin verify --audit" checks a booth's audit record
// against the verified record, and refuses one whose choices were changed;
// "--tracker" shows the cast ballot's code (spec §21).
func TestVerifyAudit(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	k, err := election.CredentialKey(f.F, f.Codes[0])
	if err != nil {
		t.Fatal(err)
	}
	audited, err := view.Encrypt(nil, k.PublicKey(), f.Choices(0, []int{2}, []int{1}))
	if err != nil {
		t.Fatal(err)
	}
	a, err := audited.Audit()
	if err != nil {
		t.Fatal(err)
	}
	cast, _ := view.Encrypt(nil, k.PublicKey(), f.Choices(0, []int{0}, []int{}))
	entry, _ := cast.Sign(nil, k)
	if _, err := f.Election.Cast(ctx, entry); err != nil {
		t.Fatal(err)
	}
	record := t.TempDir()
	if _, err := f.Election.Publish(ctx, mirror.Dir(record)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "audit.json")
	os.WriteFile(good, a.JSON(), 0o600)
	forged := filepath.Join(dir, "forged.json")
	os.WriteFile(forged, bytes.Replace(a.JSON(), []byte(`"choices":[[2],[1]`), []byte(`"choices":[[0],[1]`), 1), 0o600)

	verifyWith := func(args ...string) (string, int) {
		fs, run := verifyCommand()
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := run(&out, &errOut)
		return out.String() + errOut.String(), code
	}
	fp := hex.EncodeToString(f.F[:])
	out, code := verifyWith("--election", fp, "--audit", good, "--tracker", election.Tracker(entry), record)
	if code != exitOK || !strings.Contains(out, "checks. Ballot code "+a.Code) || !strings.Contains(out, "Party leader: Alan Turing") {
		t.Fatalf("an honest audit record: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "ballot code "+cast.Code()) {
		t.Errorf("the tracker's check does not show the ballot code %s:\n%s", cast.Code(), out)
	}
	out, code = verifyWith("--election", fp, "--audit", forged, record)
	if code != exitFailure || !strings.Contains(out, "DOES NOT CHECK") {
		t.Fatalf("a forged audit record: exit %d\n%s", code, out)
	}
}

// TestVerifyTrackerAsPrinted: a voter types the tracker as the receipt shows
// it (groups of four digits separated by spaces) and finds their ballot; a
// tracker that is not in the log makes the check fail (exit 1), since the
// voter's ballot is missing, even though the record itself is valid.
func TestVerifyTrackerAsPrinted(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	k, err := election.CredentialKey(f.F, f.Codes[0])
	if err != nil {
		t.Fatal(err)
	}
	cast, _ := view.Encrypt(nil, k.PublicKey(), f.Choices(0, []int{0}, []int{}))
	entry, _ := cast.Sign(nil, k)
	if _, err := f.Election.Cast(ctx, entry); err != nil {
		t.Fatal(err)
	}
	record := t.TempDir()
	if _, err := f.Election.Publish(ctx, mirror.Dir(record)); err != nil {
		t.Fatal(err)
	}
	verifyWith := func(args ...string) (string, int) {
		fs, run := verifyCommand()
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		code := run(&out, &errOut)
		return out.String() + errOut.String(), code
	}
	tracker := election.Tracker(entry)
	var groups []string
	for i := 0; i < len(tracker); i += 4 {
		groups = append(groups, strings.ToUpper(tracker[i:i+4]))
	}
	out, code := verifyWith("--tracker", strings.Join(groups, " "), record)
	if code != exitOK || !strings.Contains(out, "in the log at entry") {
		t.Fatalf("the tracker as the receipt prints it: exit %d\n%s", code, out)
	}
	missing := "ffff" + tracker[4:]
	out, code = verifyWith("--tracker", missing, record)
	if code != exitFailure || !strings.Contains(out, "NOT in the log") {
		t.Fatalf("a tracker not in the log: exit %d\n%s", code, out)
	}
}
