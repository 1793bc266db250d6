package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

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
