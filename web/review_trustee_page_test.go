package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/web"
)

// TestBrowserTrusteeOwnFingerprint: the fingerprint a trustee reads to the
// officer on the phone is the one the page computes from the identity it
// made, not the one the server answers: a server that received (or
// stored) another identity and answers with its fingerprint is caught by
// the page, which says so and shows its own.
func TestBrowserTrusteeOwnFingerprint(t *testing.T) {
	web.SetTrusteeWorkFactor(10)
	t.Cleanup(func() { web.SetTrusteeWorkFactor(0) })
	const lie = "0123456789abcdef0123456789abcdef"
	site := must(web.New(web.Options{Elections: manyElections{}}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/trustee-identities") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"fingerprint":"` + lie + `"}`))
			return
		}
		site.ServeHTTP(w, r)
	}))
	defer srv.Close()
	p := newPageTrustee(t, "Bea")
	_, identity := p.makeIdentity(t, srv.URL+"/e/board-2027/trustee#invite=abcdefghijklmnopqrstuv")
	pub, err := trustee.ReadPublicIdentity(identity)
	if err != nil {
		t.Fatal(err)
	}
	fp := pub.Fingerprint()
	own := trustee.GroupHex(fp[:])
	got := value(t, p.ctx, "the invitation's answer", chromedp.Poll[string](`(e => e.hidden || e.textContent.includes("…") ? null : e.textContent)(document.getElementById("invite-result"))`))
	if strings.Contains(got, "has received your public identity") {
		t.Errorf("the page repeats the server's fingerprint as the identity's: %q", got)
	}
	if !strings.Contains(got, own) {
		t.Errorf("the page does not show the identity's own fingerprint %s: %q", own, got)
	}
	if shown := text(t, p.ctx, "#identity-fingerprint"); !strings.Contains(shown, own) {
		t.Errorf("the page shows the identity's fingerprint as %q, not %s", shown, own)
	}
	if isErr := eval[bool](t, p.ctx, `document.getElementById("invite-result").className === "error"`); !isErr {
		t.Errorf("a fingerprint that differs is not shown as an error: %q", got)
	}
}

// TestBrowserTrusteeTwoTabsDealOnce: a trustee with the page open in two
// tabs deals once. While one tab makes and keeps its dealing, the other
// waits for it and sends that dealing, never one of its own: two
// dealings signed by one trustee are equivocation, and exclude it (spec
// §13.3). The test is the first tab: it holds the page's lock on the
// dealing, keeps a dealing made in Go, and lets go.
func TestBrowserTrusteeTwoTabsDealOnce(t *testing.T) {
	web.SetTrusteeWorkFactor(10)
	t.Cleanup(func() { web.SetTrusteeWorkFactor(0) })
	ctx := context.Background()
	kf, pub, err := trustee.NewKeystoreFile(nil, "Bea")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := crypto.NewTrusteeSecrets(nil)
	roster := &crypto.Roster{Label: "Board 2027", Threshold: 1, Trustees: []crypto.Trustee{*pub, {Name: "Ada", Signing: other.Signing.PublicKey(), Encryption: other.Encryption.PublicKey()}}}
	roster.ID, _ = crypto.NewCeremonyID(nil)
	p := newPageTrustee(t, "Bea")
	keystore := filepath.Join(t.TempDir(), "bea.age")
	sealed, _ := kf.Seal(p.pass, 10)
	os.WriteFile(keystore, sealed, 0o600)
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 1, Seed: 5, NoSignIn: true, Roster: roster, ID: "board-2027"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	secrets, _ := kf.Secrets()
	kept, err := crypto.Deal(nil, &f.Manifest.Roster, 1, secrets)
	if err != nil {
		t.Fatal(err)
	}
	page := base + "/e/board-2027/trustee"

	// The first tab holds the lock, as a tab making its dealing does.
	first, cancel := chromedp.NewContext(p.ctx)
	defer cancel()
	run(t, first, "the first tab", chromedp.Navigate(page), chromedp.WaitEnabled(css("#open-go")))
	if _, err := chromedp.Run(first, chromedp.Evaluate[bool](`new Promise(ok => navigator.locks.request("scrutin-trustee-deal:/e/board-2027/log", () => { ok(true); return new Promise(r => { window.letGo = r; }); }))`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	// The second tab opens the keystore; the dealing is due.
	p.open(t, page, keystore, p.pass)
	time.Sleep(3 * time.Second)
	js := fmt.Sprintf(`localStorage.setItem("scrutin-trustee:/e/board-2027/log:dealing:1", %q); window.letGo(); true`, base64.StdEncoding.EncodeToString(kept))
	if _, err := chromedp.Run(first, chromedp.Evaluate[bool](js)); err != nil {
		t.Fatal(err)
	}
	p.waitStep(t, "Waiting for the other trustees to deal")
	var dealings [][]byte
	f.Election.State(func(s *election.State) {
		for _, m := range s.CeremonyMessages() {
			if m[0] == 1 {
				dealings = append(dealings, m)
			}
		}
	})
	if len(dealings) != 1 || !bytes.Equal(dealings[0], kept) {
		t.Fatalf("the log holds %d dealing(s) of Bea; the one kept by the other tab: %v", len(dealings), len(dealings) == 1 && bytes.Equal(dealings[0], kept))
	}
}
