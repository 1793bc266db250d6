package web_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/browse"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// tenOptions returns a view of the demo election changed to one contest of
// ten options, any number of which may be chosen: a ballot of ten
// selections (ten range proofs and a total proof), and its JSON as
// GET /api/election gives it.
func tenOptions(b *testing.B) (*election.Election, string, string) {
	f, _ := newDemo(b, 1)
	m := *f.Manifest
	t := func(s string) election.Text { return election.Text{"en": s, "fr": s} }
	ct := election.Contest{ID: "board", Min: 0, Max: 10, Title: t("Board")}
	for i := range 10 {
		ct.Options = append(ct.Options, election.Option{ID: fmt.Sprintf("o%d", i), Title: t(fmt.Sprintf("Option %d", i))})
	}
	m.Contests = []election.Contest{ct}
	fp, err := m.Fingerprint()
	if err != nil {
		b.Fatal(err)
	}
	sk, _ := crypto.GenerateKey(nil)
	key, _ := sk.PublicKey().MarshalText()
	js, _ := json.Marshal(map[string]any{"manifest": &m, "fingerprint": hex.EncodeToString(fp[:]), "election_key": string(key)})
	code, _ := election.NewCode(nil)
	return &election.Election{Manifest: &m, Fingerprint: fp, Key: sk.PublicKey()}, string(js), code
}

var fiveOfTen = [][]int{{0, 2, 4, 6, 8}}

// BenchmarkBrowserEncrypt10 encrypts a ten-selection ballot in headless
// Chromium with the booth's WebAssembly module: the time the voter waits
// between "review" and the ballot code (target: at most 100 ms).
func BenchmarkBrowserEncrypt10(b *testing.B) {
	_, js, code := tenOptions(b)
	_, base := newDemo(b, 1)
	ctx := browser(b)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+el+"/audit"), chromedp.WaitEnabled(css("#run-audit"))); err != nil {
		b.Fatal(err)
	}
	ch, _ := json.Marshal(fiveOfTen)
	expr := fmt.Sprintf(`(() => { const t0 = performance.now(); const r = JSON.parse(scrutin.encrypt(%q, %q, %q)); if (r.error) throw new Error(r.error); return performance.now() - t0; })()`, js, code, ch)
	run := func() float64 {
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[float64](expr))
		if err != nil {
			b.Fatal(err)
		}
		return ms
	}
	run() // warm up
	total := 0.0
	b.ResetTimer()
	for range b.N {
		total += run()
	}
	b.ReportMetric(total/float64(b.N), "ms/ballot-in-browser")
}

// BenchmarkNativeEncrypt10 is the same encryption in native Go, for the
// ratio.
func BenchmarkNativeEncrypt10(b *testing.B) {
	view, _, code := tenOptions(b)
	k, err := election.CredentialKey(view.Fingerprint, code)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := view.Encrypt(nil, k.PublicKey(), fiveOfTen); err != nil {
			b.Fatal(err)
		}
	}
}

// manyElections is a server's list of n public elections (no election
// behind them: the home page reads only the list).
type manyElections struct{ list []web.Summary }

func (m manyElections) List() []web.Summary { return m.list }
func (m manyElections) Election(context.Context, string) (*server.Election, error) {
	return nil, web.ErrNoElection
}
func (m manyElections) Create(context.Context, string, []string) (*server.Election, error) {
	return nil, web.ErrNoElection
}
func (m manyElections) Handler() http.Handler { return http.NotFoundHandler() }

// BenchmarkServerHome1000 renders the server's home page listing 1,000
// public elections (a union's ballots over the years).
func BenchmarkServerHome1000(b *testing.B) {
	var m manyElections
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1000 {
		m.list = append(m.list, web.Summary{ID: fmt.Sprintf("ballot-%04d", 1000-i), Created: t0.Add(-time.Duration(i) * time.Hour),
			Title: election.Text{"en": fmt.Sprintf("Ballot %d", 1000-i), "fr": fmt.Sprintf("Scrutin %d", 1000-i)},
			Phase: election.Phase(i % 6), Closes: t0.Add(time.Duration(i) * time.Hour), Ballots: i, Public: i%6 != 0})
	}
	site, err := web.New(web.Options{Elections: m, Browse: browse.New(browse.Limits{})})
	if err != nil {
		b.Fatal(err)
	}
	var size int
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		site.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
		size = w.Body.Len()
	}
	b.ReportMetric(float64(size)/1024, "KiB/page")
}
