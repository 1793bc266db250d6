package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/trustee"
)

// TestSeenFileSpellings: the checkpoint a trustee's keystore remembers for
// an election is found again whatever spelling of the election's address
// the trustee types next time (host in capitals, the scheme's default
// port, a trailing dot, a page under the address), so that a server
// cannot show another log to a command given the same address spelt
// otherwise; another election, host or port is another file.
func TestSeenFileSpellings(t *testing.T) {
	seen := func(u string) string { return (&trusteeFlags{dir: "ks", election: u}).seenFile() }
	want := seen("https://vote.example.org/e/city-2027")
	for _, u := range []string{
		"https://vote.example.org/e/city-2027/",
		"https://VOTE.Example.ORG/e/city-2027",
		"HTTPS://vote.example.org/e/city-2027",
		"https://vote.example.org:443/e/city-2027",
		"https://vote.example.org./e/city-2027",
		"https://vote.example.org/e/city-2027/results",
	} {
		if got := seen(u); got != want {
			t.Errorf("%s: %s, not %s", u, got, want)
		}
	}
	for _, u := range []string{
		"https://vote.example.org/e/city-2028",
		"https://vote.example.net/e/city-2027",
		"https://vote.example.org:8443/e/city-2027",
	} {
		if seen(u) == want {
			t.Errorf("%s: the same file as another election's", u)
		}
	}
}

// TestOutboxDealingRace: two deal commands of one trustee run at once (two
// terminals, a retry while the first hangs) must post the same dealing:
// two different ones would be equivocation, for which the trustee is
// disqualified (spec §13.2). The first dealing kept wins; the others are
// dropped.
func TestOutboxDealingRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox-x", "dealing-1.msg")
	const n = 8
	got := make([][]byte, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for k := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			msg, err := outboxDealing(path, func() ([]byte, error) { return []byte(fmt.Sprintf("dealing made by command %d", k)), nil })
			if err != nil {
				t.Error(err)
			}
			got[k] = msg
		}()
	}
	close(start)
	wg.Wait()
	kept, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, m := range got {
		if !bytes.Equal(m, kept) {
			t.Errorf("command %d posts %q, the outbox keeps %q", k, m, kept)
		}
	}
	again, err := outboxDealing(path, func() ([]byte, error) { return []byte("a later dealing"), nil })
	if err != nil || !bytes.Equal(again, kept) {
		t.Fatalf("a later command: %q %v", again, err)
	}
}

// TestRememberConcurrentCommand: a command that waits (finish, check)
// keeps writing the checkpoint it verified into the keystore; if another
// command of the same trustee wrote one meanwhile, the log must extend
// that one too, rather than the waiting command overwriting it unchecked
// (a server showing the two commands two forks would go unnoticed, and the
// keystore would forget the checkpoint the other command saw).
func TestRememberConcurrentCommand(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, NoSignIn: true, ID: "remember"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	address := url + "/e/remember"
	rep, err := readElection(ctx, address, "")
	if err != nil {
		t.Fatal(err)
	}
	o := &onlineSession{t: &trusteeFlags{dir: t.TempDir(), election: address}, rep: rep}
	if err := o.remember(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.refresh(ctx); err != nil {
		t.Fatalf("a poll with nobody else writing: %v", err)
	}
	// Another command of the trustee verified (it says) a log of the same
	// size and another hash: the waiting command's next poll is shown the
	// log it was shown before, which does not extend that one.
	signer, err := election.LogSigner(f.F, f.LogSeed())
	if err != nil {
		t.Fatal(err)
	}
	size, _ := f.Store.Size(ctx)
	forked, err := board.Sign(board.Checkpoint{Origin: board.Origin(f.F), Size: size, Hash: tlog.Hash{1}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(o.t.seenFile(), forked, 0o644)
	if err := o.refresh(ctx); err == nil || !strings.Contains(err.Error(), "does not extend") {
		t.Fatalf("a poll after another command saw another log: %v", err)
	}
	if b, _ := os.ReadFile(o.t.seenFile()); !bytes.Equal(b, forked) {
		t.Fatal("the other command's checkpoint was overwritten")
	}
}

// TestAirGappedDealingKept: an air-gapped trustee whose dealing did not
// reach the log (a post lost, a server hiding it) and who deals again in a
// fresh export of the ceremony must write the same dealing, not a new one,
// which would be equivocation (spec §13.2): the keystore keeps its dealing,
// as on line; and a trustee who dealt on line, then off line, likewise.
func TestAirGappedDealingKept(t *testing.T) {
	bin := buildScrutin(t)
	root := t.TempDir()
	ks, pass := filepath.Join(root, "ks"), filepath.Join(root, "pass")
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	if r := runScrutin(t, bin, "trustee", "init", "--name", "T1", "--dir", ks, "--passphrase-file", pass, "--work-factor", "10"); r.status != 0 {
		t.Fatalf("init: %s", r.stderr)
	}
	first, second := filepath.Join(root, "export1"), filepath.Join(root, "export2")
	if r := runScrutin(t, bin, "trustee", "roster", "--ceremony", first, "--label", "kept", "--threshold", "1", filepath.Join(ks, trustee.IdentityPublicFile)); r.status != 0 {
		t.Fatalf("roster: %s", r.stderr)
	}
	os.MkdirAll(second, 0o700)
	roster, _ := os.ReadFile(filepath.Join(first, "roster.json"))
	os.WriteFile(filepath.Join(second, "roster.json"), roster, 0o644)
	for _, dir := range []string{first, second} {
		if r := runScrutin(t, bin, "trustee", "deal", "--ceremony", dir, "--dir", ks, "--passphrase-file", pass); r.status != 0 {
			t.Fatalf("deal in %s: %s", dir, r.stderr)
		}
	}
	a, _ := os.ReadFile(filepath.Join(first, "dealing-1.msg"))
	b, _ := os.ReadFile(filepath.Join(second, "dealing-1.msg"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("two different dealings (%d and %d bytes): equivocation", len(a), len(b))
	}
}

// TestWaitRoundCompleteCeremony: once the ceremony is complete (t
// trustees confirmed), a late trustee's check or finish does not wait for
// the dealings or checks of trustees who will never send them: nothing
// they send could change the key.
func TestWaitRoundCompleteCeremony(t *testing.T) {
	ctx := context.Background()
	var secrets []*crypto.TrusteeSecrets
	id, _ := crypto.NewCeremonyID(nil)
	roster := &crypto.Roster{Label: "late", ID: id, Threshold: 2}
	for j := 1; j <= 3; j++ {
		s, _ := crypto.NewTrusteeSecrets(nil)
		secrets = append(secrets, s)
		roster.Trustees = append(roster.Trustees, crypto.Trustee{Name: fmt.Sprintf("T%d", j), Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	}
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, NoSignIn: true, Roster: roster, ID: "late"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	appendMsg := func(m []byte) {
		t.Helper()
		if _, err := f.Election.Append(ctx, append([]byte{election.TypeCeremony}, m...)); err != nil {
			t.Fatal(err)
		}
	}
	var dealings [][]byte
	for j := 1; j <= 2; j++ {
		d, _ := crypto.Deal(nil, roster, j, secrets[j-1])
		dealings = append(dealings, d)
		appendMsg(d)
	}
	for j := 1; j <= 2; j++ {
		c, _ := crypto.Complain(nil, roster, j, secrets[j-1], dealings)
		appendMsg(c)
	}
	var out *crypto.Outcome
	f.Election.State(func(s *election.State) { out = s.Ceremony })
	for j := 1; j <= 2; j++ {
		share, _ := out.Share(roster, j, secrets[j-1])
		c, _ := out.Confirm(nil, roster, j, secrets[j-1], share)
		appendMsg(c)
	}
	rep, err := readElection(ctx, url+"/e/late", "")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.State.Ceremony.Complete {
		t.Fatal("the ceremony is not complete")
	}
	var stdout strings.Builder
	o := &onlineSession{t: &trusteeFlags{dir: t.TempDir(), election: url + "/e/late", wait: time.Hour}, stdout: &stdout, rep: rep, r: &rep.Manifest.Roster, self: 3}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, typ := range []byte{1, 2} {
		if miss, err := o.waitRound(wctx, typ); err != nil || len(miss) != 0 {
			t.Fatalf("round %d: waits for %v (%v)\n%s", typ, miss, err, stdout.String())
		}
	}
}
