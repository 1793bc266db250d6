package web_test

// Review findings: each test fails on the code as reviewed and passes once
// the problem it names is fixed.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// TestReviewLangRedirectTab: /lang's "back" check refuses "//host" but not
// "/\t/host": browsers strip tabs from URLs, so the Location "/\t/evil"
// sends the visitor to //evil (an open redirect; CrossOriginProtection makes
// it hard to reach from another site today, but the check is wrong).
func TestReviewLangRedirectTab(t *testing.T) {
	_, base := newDemo(t, 2)
	for _, back := range []string{"/\t/evil.example/", "/\t\t/evil.example/"} {
		req, _ := http.NewRequest("POST", base+"/lang", strings.NewReader(url.Values{"lang": {"fr"}, "back": {back}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultTransport.RoundTrip(req) // the raw Location, as a browser gets it
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		// What a browser makes of it (WHATWG URL: tab and newlines removed).
		browser := strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(loc)
		if strings.HasPrefix(browser, "//") || strings.HasPrefix(browser, "/\\") {
			t.Errorf("back=%q redirects to Location %q, which a browser follows to %q (another site)", back, loc, browser)
		}
	}
}

// TestReviewTrackerPageEchoesText: the tracker page shows whatever text the
// URL holds as "the tracker", on the election's own site, under the
// official layout: /ballots/<any sentence> is a ready-made spoofed notice.
// Only a 64-hex-digit tracker should be shown.
func TestReviewTrackerPageEchoesText(t *testing.T) {
	_, base := newDemo(t, 2)
	msg := "VOTING MOVED: cast again at evil.example"
	_, body := get(t, http.DefaultClient, base+el+"/ballots/"+url.PathEscape(msg))
	if strings.Contains(strings.ToLower(body), strings.ToLower(msg)) {
		t.Errorf("the tracker page repeats the URL's text %q as the tracker", msg)
	}
}

// countingStore counts the store writes that checkpoints cause.
type countingStore struct {
	store.Store
	saves atomic.Int64
}

func (s *countingStore) SaveCheckpoint(ctx context.Context, size int64, signed []byte) error {
	s.saves.Add(1)
	return s.Store.SaveCheckpoint(ctx, size, signed)
}

// TestReviewTileReadsWrite: every GET /log/tile/… (even of a path that is no
// tile) writes the checkpoint to the store (h.e.Checkpoint →
// SaveCheckpoint, an INSERT … ON CONFLICT DO UPDATE), before the path is even
// parsed. The public log is meant to be cheap static files (T7); here any
// visitor turns reads into database writes that queue with ballots.
func TestReviewTileReadsWrite(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Store.Close() })
	seed := f.LogSeed()
	cs := &countingStore{Store: f.Store}
	e, err := server.Open(ctx, cs, seed)
	if err != nil {
		t.Fatal(err)
	}
	h := e.Handler(server.Options{})
	for i := range 50 {
		path := el + "/log/tile/entries/000.p/1"
		if i%2 == 1 {
			path = el + "/log/tile/not-a-tile"
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
	}
	if n := cs.saves.Load(); n > 1 {
		t.Errorf("50 reads of the public log, none of which grew it, made %d checkpoint writes to the store", n)
	}
}

// TestReviewBoothTrustsReceipt: the booth shows the server's receipt as it
// comes: it neither compares its tracker with the tracker of the ballot it
// signed (cast returns it) nor checks its inclusion proof against the
// checkpoint. A server (or anything between) that drops the ballot and
// answers with the right code but another tracker makes the voter believe
// they voted (T3), and the receipt they save names a ballot that is not
// theirs.
func TestReviewBoothTrustsReceipt(t *testing.T) {
	ctx := browser(t)
	f, base := newDemo(t, 4)
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	fake := strings.Repeat("ab", 32)
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.Method != "POST" || r.Request.URL.Path != "/api"+el+"/ballots" {
			return nil
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		var rc map[string]any
		if err := json.Unmarshal(b, &rc); err != nil {
			return err
		}
		rc["tracker"] = fake // keeps the code the voter saw
		b, _ = json.Marshal(rc)
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.Header.Set("Content-Length", fmt.Sprint(len(b)))
		return nil
	}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)

	signIn(t, ctx, f, ps.URL, 0)
	choose(t, ctx, f.Choices(0, []int{1}, []int{0}))
	run(t, ctx, "cast", chromedp.Click(css("#cast")))
	waitFor(t, ctx, "a receipt or an error", `!document.getElementById("step-receipt").hidden || document.getElementById("status").classList.contains("error")`)
	if shown := ungroup(eval[string](t, ctx, `document.getElementById("step-receipt").hidden ? "" : document.getElementById("receipt-tracker").textContent`)); shown == fake {
		t.Errorf("the booth shows as the voter's receipt the tracker %s, which is not the ballot it signed", shown)
	}
}
