package web_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scrutin/scrutin/web"
)

// TestBrowserTrusteeKeystoreDefaultWorkFactor makes and opens a keystore
// on the trustee page at the work factor of production (scrypt, log2 N =
// 18: 256 MiB of memory), which the page must afford in the browser.
func TestBrowserTrusteeKeystoreDefaultWorkFactor(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt at its production cost")
	}
	srv := httptest.NewServer(must(web.New(web.Options{Elections: manyElections{}})))
	defer srv.Close()
	p := newPageTrustee(t, "Dee")
	u := srv.URL + "/e/board-2027/trustee"
	start := time.Now()
	keystore, _ := p.makeIdentity(t, u)
	made := time.Since(start)
	start = time.Now()
	p.open(t, u, keystore, p.pass)
	// Opened, the page reads the log (this server has none).
	p.waitStep(t, "The officer has not recorded this election yet")
	opened := time.Since(start)
	t.Logf("work factor 18 in the browser: made and saved in %v, opened in %v", made.Round(time.Millisecond), opened.Round(time.Millisecond))
}
