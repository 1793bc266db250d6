package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/trustee"
)

// TestTrusteesOnline is the acceptance test of issue 16's command line:
// three trustees, each a separate scrutin process with its own keystore,
// run the ceremony through a running server given only the election's
// address (no file moved by hand, no curl), each round waiting for the
// others; voters vote; two trustees decrypt through the server after
// seeing what they decrypt (one declines first, and nothing is sent); the
// officer publishes the result, which is the votes cast.
func TestTrusteesOnline(t *testing.T) {
	bin := buildScrutin(t)
	root := t.TempDir()
	const n = 3
	keystore := func(j int) string { return filepath.Join(root, fmt.Sprintf("trustee%d", j)) }
	passfile := func(j int) string { return filepath.Join(root, fmt.Sprintf("pass%d", j)) }
	var ids []string
	for j := 1; j <= n; j++ {
		os.WriteFile(passfile(j), []byte(fmt.Sprintf("correct horse battery staple %d\n", j)), 0o600)
		if r := runScrutin(t, bin, "trustee", "init", "--name", fmt.Sprintf("Trustee %d", j), "--dir", keystore(j), "--passphrase-file", passfile(j), "--work-factor", "10"); r.status != 0 {
			t.Fatalf("init: %s", r.stderr)
		}
		ids = append(ids, filepath.Join(keystore(j), trustee.IdentityPublicFile))
	}
	// The officer assembles the roster and records the manifest.
	rosterDir := filepath.Join(root, "roster")
	if r := runScrutin(t, bin, append([]string{"trustee", "roster", "--ceremony", rosterDir, "--label", "Online 2027", "--threshold", "2"}, ids...)...); r.status != 0 {
		t.Fatalf("roster: %s", r.stderr)
	}
	roster, err := trustee.Ceremony{Dir: rosterDir}.Roster()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 8, NoSignIn: true, Roster: roster, ID: "online-2027"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	address := url + "/e/online-2027"
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	as := func(j int, args ...string) []string {
		return append(args, "--election", address, "--dir", keystore(j), "--passphrase-file", passfile(j))
	}

	// Trustee 1 deals first; with --wait 0 its check says whom it waits
	// for and sends nothing. Another identity, or both --election and
	// --ceremony, are refused.
	if r := runScrutin(t, bin, as(1, "trustee", "deal")...); r.status != 0 || !strings.Contains(r.stdout, "trustee 1 (Trustee 1) dealt") {
		t.Fatalf("deal: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, as(1, "trustee", "check", "--wait", "0")...); r.status != 1 || !strings.Contains(r.stderr, "still waiting for the dealings of trustee(s) 2 (Trustee 2), 3 (Trustee 3)") {
		t.Fatalf("check --wait 0: %d %s%s", r.status, r.stdout, r.stderr)
	}
	stranger := filepath.Join(root, "stranger")
	runScrutin(t, bin, "trustee", "init", "--name", "Stranger", "--dir", stranger, "--passphrase-file", passfile(1), "--work-factor", "10")
	if r := runScrutin(t, bin, "trustee", "deal", "--election", address, "--dir", stranger, "--passphrase-file", passfile(1)); r.status != 1 || !strings.Contains(r.stderr, "is not on the roster") {
		t.Fatalf("deal by a stranger: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, as(2, "trustee", "deal", "--ceremony", rosterDir)...); r.status != 1 || !strings.Contains(r.stderr, "not both") {
		t.Fatalf("deal with --election and --ceremony: %d %s%s", r.status, r.stdout, r.stderr)
	}

	// Each trustee runs its three rounds on its own, at once: each round
	// waits for the one before to be complete.
	var wg sync.WaitGroup
	outs := make([]string, n+1)
	errs := make([]error, n+1)
	for j := 1; j <= n; j++ {
		wg.Go(func() {
			for _, step := range [][]string{{"trustee", "deal"}, {"trustee", "check", "--wait", "2m"}, {"trustee", "finish", "--wait", "2m", "--work-factor", "10"}} {
				r := runScrutinNoFatal(bin, as(j, step...)...)
				outs[j] += r.stdout + r.stderr
				if r.status != 0 {
					errs[j] = fmt.Errorf("scrutin %s: status %d", strings.Join(step, " "), r.status)
					return
				}
			}
		})
	}
	wg.Wait()
	for j := 1; j <= n; j++ {
		if errs[j] != nil || !strings.Contains(outs[j], "the ceremony is complete") {
			t.Fatalf("trustee %d: %v\n%s", j, errs[j], outs[j])
		}
	}
	// Dealing again changes nothing (a second dealing would be
	// equivocation).
	if r := runScrutin(t, bin, as(1, "trustee", "deal")...); r.status != 0 || !strings.Contains(r.stdout, "already dealt") {
		t.Fatalf("deal again: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "trustee", "status", "--election", address); r.status != 0 || !strings.Contains(r.stdout, "complete: true") {
		t.Fatalf("status: %d %s%s", r.status, r.stdout, r.stderr)
	}

	// An air-gapped trustee's folder: the roster and the ceremony, as
	// recorded; the ceremony replays complete from it.
	gap := filepath.Join(root, "air-gapped")
	if r := runScrutin(t, bin, "trustee", "export", "--election", address, "--out", gap); r.status != 0 || !strings.Contains(r.stdout, "9 ceremony messages") {
		t.Fatalf("export: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "trustee", "status", "--ceremony", gap); r.status != 0 || !strings.Contains(r.stdout, "complete: true") {
		t.Fatalf("status of the exported ceremony: %d %s%s", r.status, r.stdout, r.stderr)
	}
	// A message posted again is not appended again: the server gives the
	// index of the entry that holds it.
	dealing1 := filepath.Join(gap, "dealing-1.msg")
	if r := runScrutin(t, bin, "trustee", "post", "--to", address, dealing1); r.status != 0 || !strings.Contains(r.stdout, "entry ") {
		t.Fatalf("a dealing posted again: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "trustee", "export", "--election", address, "--out", gap); r.status != 0 || !strings.Contains(r.stdout, "9 ceremony messages") {
		t.Fatalf("export after a dealing posted again: %d %s%s", r.status, r.stdout, r.stderr)
	}

	if err := f.OpenVoting(ctx); err != nil {
		t.Fatal(err)
	}
	// Each trustee's keystore keeps the last checkpoint it verified; a
	// server that then shows it a log not extending that one (here: a
	// checkpoint signed with the election's log key over another tree) is
	// caught.
	seen, _ := filepath.Glob(filepath.Join(keystore(3), "seen-*.checkpoint"))
	if len(seen) != 1 {
		t.Fatalf("trustee 3's keystore keeps %d checkpoints", len(seen))
	}
	signer, err := election.LogSigner(f.F, f.LogSeed())
	if err != nil {
		t.Fatal(err)
	}
	size, _ := f.Store.Size(ctx)
	forked, err := board.Sign(board.Checkpoint{Origin: board.Origin(f.F), Size: size, Hash: tlog.Hash{1}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(seen[0])
	os.WriteFile(seen[0], forked, 0o644)
	if r := runScrutin(t, bin, as(3, "trustee", "finish")...); r.status != 1 || !strings.Contains(r.stderr, "does not extend the one this trustee saw before") {
		t.Fatalf("a log that does not extend the trustee's checkpoint: %d %s%s", r.status, r.stdout, r.stderr)
	}
	os.WriteFile(seen[0], good, 0o644)
	// The air-gapped trustee's folder, likewise, keeps the last checkpoint
	// export verified (the keystore is not on line): a server showing the
	// exporter another log, hence perhaps another tally, is caught.
	gapSeen := filepath.Join(gap, "seen.checkpoint")
	gapGood, err := os.ReadFile(gapSeen)
	if err != nil {
		t.Fatalf("the export folder keeps no checkpoint: %v", err)
	}
	os.WriteFile(gapSeen, forked, 0o644)
	if r := runScrutin(t, bin, "trustee", "export", "--election", address, "--out", gap); r.status != 1 || !strings.Contains(r.stderr, "does not extend the one") {
		t.Fatalf("export of a log that does not extend the folder's checkpoint: %d %s%s", r.status, r.stdout, r.stderr)
	}
	os.WriteFile(gapSeen, gapGood, 0o644)

	// Once voting is open, finishing again only says the ceremony is
	// complete; dealing anew is refused.
	if r := runScrutin(t, bin, as(2, "trustee", "finish")...); r.status != 0 || !strings.Contains(r.stdout, "already confirmed") || !strings.Contains(r.stdout, "the ceremony is complete") {
		t.Fatalf("finish again: %d %s%s", r.status, r.stdout, r.stderr)
	}
	// Before the tally, there is nothing to decrypt.
	if r := runScrutin(t, bin, as(1, "trustee", "decrypt", "--yes")...); r.status != 1 || !strings.Contains(r.stderr, "no tally yet") {
		t.Fatalf("decrypt while voting: %d %s%s", r.status, r.stdout, r.stderr)
	}
	want, err := f.Vote(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CloseAndTally(ctx); err != nil {
		t.Fatal(err)
	}

	// Trustee 2 is shown the election and declines: nothing is sent.
	cmd := exec.Command(bin, as(2, "trustee", "decrypt")...)
	cmd.Stdin = strings.NewReader("n\n")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	// What it is shown counts right: the voters are those on the roll, not
	// the senders of the ballots (a voter may cast several).
	if err := cmd.Run(); err == nil || !strings.Contains(out.String(), "counted ballots") || !strings.Contains(out.String(), "8 voters on the roll") || strings.Contains(out.String(), "cast by") || !strings.Contains(out.String(), f.Manifest.Title["en"]) || !strings.Contains(errb.String(), "nothing was sent") {
		t.Fatalf("declined decryption: %v\n%s%s", err, out.String(), errb.String())
	}
	if r := runScrutin(t, bin, "trustee", "status", "--election", address); !strings.Contains(r.stdout, "(0 of the 2 needed)") {
		t.Fatalf("status after a declined decryption: %s", r.stdout)
	}
	// Trustee 1 confirms by typing yes; trustee 3 gives --yes.
	cmd = exec.Command(bin, as(1, "trustee", "decrypt")...)
	cmd.Stdin = strings.NewReader("yes\n")
	out.Reset()
	errb.Reset()
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "posted its decryption shares") {
		t.Fatalf("decrypt, trustee 1: %v\n%s%s", err, out.String(), errb.String())
	}
	if r := runScrutin(t, bin, as(3, "trustee", "decrypt", "--yes")...); r.status != 0 {
		t.Fatalf("decrypt, trustee 3: %s%s", r.stdout, r.stderr)
	}
	// Trustee 2, air-gapped, decrypts the tally of the exported log,
	// verified again off line, and its shares are posted.
	if r := runScrutin(t, bin, "trustee", "export", "--election", address, "--out", gap); r.status != 0 || !strings.Contains(r.stdout, "--tally "+filepath.Join(gap, "log")) {
		t.Fatalf("export of the log with its tally: %d %s%s", r.status, r.stdout, r.stderr)
	}
	// A log changed on its way to the air-gapped computer is refused
	// there: the trustee decrypts only the tally of a record it verified.
	forged := filepath.Join(t.TempDir(), "log")
	copyTree(t, filepath.Join(gap, "log"), forged)
	var bundles []string
	filepath.WalkDir(filepath.Join(forged, "tile", "entries"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			bundles = append(bundles, p)
		}
		return nil
	})
	if len(bundles) == 0 {
		t.Fatal("the exported log has no entry bundle")
	}
	for _, p := range bundles { // a byte of the last entries (the tally's and the shares')
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-3] ^= 1
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r := runScrutin(t, bin, "trustee", "decrypt", "--ceremony", gap, "--tally", forged, "--out", t.TempDir(), "--dir", keystore(2), "--passphrase-file", passfile(2)); r.status == 0 {
		t.Fatalf("air-gapped decrypt of a changed log: %s%s", r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "trustee", "decrypt", "--ceremony", gap, "--tally", filepath.Join(gap, "log"), "--out", gap, "--dir", keystore(2), "--passphrase-file", passfile(2)); r.status != 0 {
		t.Fatalf("air-gapped decrypt: %s%s", r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "trustee", "post", "--to", address, filepath.Join(gap, "decryption-2.msg")); r.status != 0 {
		t.Fatalf("post of the air-gapped shares: %s%s", r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "trustee", "status", "--election", address); !strings.Contains(r.stdout, "decryption shares recorded from trustees [1 2 3] (3 of the 2 needed)") {
		t.Fatalf("status after decryption: %s", r.stdout)
	}
	res, err := f.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := demo.Check(res, want); err != nil {
		t.Fatal(err)
	}
	// Anyone combines the decryption shares of the verified log, with no
	// folder and no file: the same counts.
	r := runScrutin(t, bin, "trustee", "combine", "--election", address, "--json")
	var combined struct {
		Results []uint64 `json:"results"`
		Valid   []int    `json:"valid"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &combined); r.status != 0 || err != nil {
		t.Fatalf("combine --election: %d %v %s%s", r.status, err, r.stdout, r.stderr)
	}
	var counts []uint64
	for _, c := range res.Contests {
		counts = append(counts, c.Counts...)
	}
	if !slices.Equal(combined.Results, counts) || !slices.Equal(combined.Valid, []int{1, 2, 3}) {
		t.Fatalf("combine --election: %v from %v, the result says %v", combined.Results, combined.Valid, counts)
	}
	if r := runScrutin(t, bin, "trustee", "combine", "--election", address); r.status != 0 || !strings.Contains(r.stdout, "decrypted with trustees") {
		t.Fatalf("combine --election: %s%s", r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "trustee", "combine", "--election", address, "--ceremony", gap); r.status != 2 {
		t.Fatalf("combine with --election and --ceremony: %d %s", r.status, r.stderr)
	}
	if r := runScrutin(t, bin, "verify", address); r.status != 0 || !strings.Contains(r.stdout, "VALID") {
		t.Fatalf("verify: %s%s", r.stdout, r.stderr)
	}
}

// copyTree copies the files under src into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
