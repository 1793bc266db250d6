package web_test

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
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
