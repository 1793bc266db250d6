package web_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // America/New_York, on any machine

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/election"
)

// mobileProfile throttles the page as a mid-range phone on a slow mobile
// network: Chromium's network emulation (1.6 Mbit/s down, 750 kbit/s up,
// 150 ms latency, DevTools' "Slow 4G") and its CPU throttling (4×).
func mobileProfile(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		c := &network.Conditions{Latency: 150, DownloadThroughput: 1.6e6 / 8, UploadThroughput: 750e3 / 8}
		rate := 4.0
		if !on {
			c = &network.Conditions{DownloadThroughput: -1, UploadThroughput: -1}
			rate = 1
		}
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		if _, err := cdp.Call(ctx, t, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{MatchedNetworkConditions: []*network.Conditions{c}}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, emulation.SetCPUThrottlingRate, emulation.SetCPUThrottlingRateParams{Rate: rate})
		return err
	})
}

// TestBrowserBoothTimeToUsable (issue 17): on a throttled phone, the booth
// shows its first step at once and loads the WebAssembly module meanwhile.
// It logs the time to usable (the e-mail field ready) and to the module
// loaded, recorded in docs/performance.md.
func TestBrowserBoothTimeToUsable(t *testing.T) {
	ctx := browser(t)
	_, base := newDemo(t, 3)
	run(t, ctx, "throttle", mobileProfile(true))
	start := time.Now()
	run(t, ctx, "open the booth", chromedp.Navigate(base+el+"/vote"))
	run(t, ctx, "first step", chromedp.WaitVisible(css("#step-signin")), chromedp.WaitEnabled(css("#email")))
	usable := time.Since(start)
	loaded := eval[bool](t, ctx, `typeof window.scrutin === "object"`)
	waitFor(t, ctx, "the module", `typeof window.scrutin === "object"`)
	module := time.Since(start)
	run(t, ctx, "unthrottle", mobileProfile(false))
	t.Logf("throttled phone (Slow 4G, CPU 4×): the booth's first step usable after %v, the module loaded after %v", usable.Round(10*time.Millisecond), module.Round(10*time.Millisecond))
	if loaded {
		t.Errorf("the booth showed its first step only once the module had loaded (%v)", usable)
	}
	if usable > 3*time.Second {
		t.Errorf("the booth's first step took %v to be usable on a throttled phone", usable)
	}
}

// TestBrowserBoothForReaders (issue 17): no technical line, no gap under
// the heading, a choose-one contest is radio buttons with a way to clear
// the choice (by keyboard too), the review writes each question and its
// answer without doubled punctuation, and the audit page takes the file
// the booth saves.
func TestBrowserBoothForReaders(t *testing.T) {
	ctx := browser(t)
	f, base := newDemo(t, 4)
	v := 0
	run(t, ctx, "open the booth", chromedp.Navigate(base+el+"/vote"), chromedp.WaitVisible(css("#step-signin")))
	waitFor(t, ctx, "the module", `typeof window.scrutin === "object"`)
	if st := text(t, ctx, "#status"); strings.Contains(st, "ready") {
		t.Errorf("the booth shows the technical line %q", st)
	}
	gap := eval[float64](t, ctx, `document.getElementById("step-signin").getBoundingClientRect().top - document.querySelector("main h1").getBoundingClientRect().bottom`)
	if gap > 48 {
		t.Errorf("%.0f px of empty space under the heading", gap)
	}
	signIn(t, ctx, f, base, v)
	for _, id := range []string{"c0o0", "c1o0"} {
		if typ := eval[string](t, ctx, `document.getElementById("`+id+`").type`); typ != "radio" {
			t.Errorf("a choose-one contest's option %s is a %s, not a radio button", id, typ)
		}
	}
	run(t, ctx, "choose", chromedp.Click(css("#c0o0")), chromedp.Click(css("#c0o1")))
	if eval[bool](t, ctx, `document.getElementById("c0o0").checked || !document.getElementById("c0o1").checked`) {
		t.Error("choosing another option of a choose-one contest does not move the choice")
	}
	if eval[bool](t, ctx, `Array.from(document.querySelectorAll("#contest-0 input")).some(i => i.disabled)`) {
		t.Error("an option of a choose-one contest is greyed out")
	}
	// Clearing, with the keyboard.
	run(t, ctx, "focus clear", chromedp.Focus(css("#clear-0")), chromedp.KeyEvent(" "))
	if eval[bool](t, ctx, `Array.from(document.querySelectorAll("#contest-0 input")).some(i => i.checked)`) {
		t.Error("the clear control does not clear the choice")
	}
	screenshot(t, ctx, "booth-ballot-radio")
	run(t, ctx, "choose", chromedp.Click(css("#c0o1")), chromedp.Click(css("#c1o0")))
	run(t, ctx, "review", chromedp.Click(css("#form-ballot button[type=submit]")), chromedp.WaitVisible(css("#step-review")))
	review := text(t, ctx, "#review-list")
	if strings.Contains(review, "?:") || !strings.Contains(review, "Adopt the new statutes?") || !strings.Contains(review, "Yes") {
		t.Errorf("the review reads %q", review)
	}
	// The audit page takes the record as the booth saves it: a file.
	run(t, ctx, "audit", chromedp.Click(css("#audit")), chromedp.WaitVisible(css("#step-audit")))
	record := value(t, ctx, "audit record", chromedp.Value(css("#audit-record")))
	file := filepath.Join(t.TempDir(), "scrutin-audit.json")
	if err := os.WriteFile(file, []byte(record), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "audit page", chromedp.Navigate(base+el+"/audit"), chromedp.WaitEnabled(css("#run-audit")),
		chromedp.SetUploadFiles(css("#record-file"), []string{file}), chromedp.Click(css("#run-audit")),
		chromedp.WaitVisible(css("#audit-out p.ok")))
	screenshot(t, ctx, "audit-page-file")
}

// TestBrowserBoothErrorsForPeople (issue 17): a wrong sign-in code and a
// malformed address are told in the reader's language, in sentences that
// say what to do, not as the server's raw, lower-case error.
func TestBrowserBoothErrorsForPeople(t *testing.T) {
	ctx := browser(t)
	f, base := newDemo(t, 3)
	want := map[string][2]string{
		"en": {"This code is not right", "ask for a new code"},
		"fr": {"Ce code n'est pas le bon", "demandez un nouveau code"},
	}
	for _, lang := range []string{"en", "fr"} {
		run(t, ctx, "language", chromedp.Navigate(base+el+"/vote"), chromedp.WaitVisible(css("#step-signin")))
		if eval[string](t, ctx, `document.documentElement.lang`) != lang {
			run(t, ctx, "switch language", chromedp.Click(css("form.lang button")))
			waitFor(t, ctx, "the page in "+lang, `document.documentElement.lang === "`+lang+`" && !document.getElementById("step-signin").hidden`)
		}
		email := f.Emails[map[string]int{"en": 1, "fr": 2}[lang]]
		n := f.Mail.Count(email)
		run(t, ctx, "ask for a code", chromedp.SendKeys(css("#email"), email), chromedp.Click(css("#form-email button")), chromedp.WaitVisible(css("#form-code")))
		if _, err := f.Mail.WaitCode(ctx, email, n); err != nil {
			t.Fatal(err)
		}
		run(t, ctx, "a wrong code", chromedp.SendKeys(css("#code"), "00000000"), chromedp.Click(css("#form-code button")))
		status := value(t, ctx, "status", chromedp.Poll[string](`(() => { const s = document.getElementById("status"); return s.classList.contains("error") ? s.textContent : null; })()`))
		for _, w := range want[lang] {
			if !strings.Contains(status, w) {
				t.Errorf("a wrong code (%s) is told %q, without %q", lang, status, w)
			}
		}
		if strings.Contains(status, "Something went wrong") || strings.Contains(status, "this code is wrong") {
			t.Errorf("a wrong code (%s) is told in the server's words: %q", lang, status)
		}
		screenshot(t, ctx, "booth-wrong-code-"+lang)
	}
}

// lineBreaksInHex reports the hex codes (code.hex) on the page that break
// inside a group of four.
const lineBreaksInHex = `(() => {
  const bad = [];
  for (const el of document.querySelectorAll(".hex")) {
    const node = el.firstChild;
    if (!node || node.nodeType !== 3) continue;
    const text = node.textContent;
    for (let i = 0; i < text.length; i += 5) {
      const r = document.createRange();
      r.setStart(node, i);
      r.setEnd(node, Math.min(text.length, i + 4));
      const tops = new Set(Array.from(r.getClientRects()).map((b) => Math.round(b.top)));
      if (tops.size > 1) bad.push(text.slice(i, i + 4));
    }
  }
  return bad.join(" ");
})()`

// TestBrowserResultsOnPhone (issue 17): the published result on a 360-px
// phone in each language: numbers on one line, no sideways scroll, hex
// codes broken only between groups; the verifier, after VALID, shows what
// it checked and the result it recomputed beside the published one.
func TestBrowserResultsOnPhone(t *testing.T) {
	ctx := browser(t)
	f, base := newDemo(t, 12)
	bg := context.Background()
	if _, err := f.Vote(bg, base); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Finish(bg); err != nil {
		t.Fatal(err)
	}
	script := os.Getenv("SCRUTIN_AXE")
	var axeJS string
	if script != "" {
		b, err := os.ReadFile(script)
		if err != nil {
			t.Fatal(err)
		}
		axeJS = string(b)
	}
	run(t, ctx, "home", chromedp.Navigate(base+el+"/"), chromedp.WaitVisible(css("main")))
	for _, lang := range []string{"en", "fr"} {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/lang", {method: "POST", body: new URLSearchParams({lang: "`+lang+`", back: "/"})}).then(r => r.ok)`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		run(t, ctx, "results", chromedp.Navigate(base+el+"/results"), chromedp.WaitVisible(css("table.result")))
		if got := eval[string](t, ctx, `document.documentElement.lang`); got != lang {
			t.Fatalf("the results are in %q, not %q", got, lang)
		}
		screenshot(t, ctx, "results-decided-360-"+lang)
		wrapped := eval[string](t, ctx, `Array.from(document.querySelectorAll("td.num")).filter(td => { const r = document.createRange(); r.selectNodeContents(td); return new Set(Array.from(r.getClientRects()).map(b => Math.round(b.top))).size > 1 }).map(td => td.textContent).join(" | ")`)
		if wrapped != "" {
			t.Errorf("%s: numbers wrap on a 360-px phone: %s", lang, wrapped)
		}
		if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
			t.Errorf("%s: the results page scrolls sideways on a 360-px screen", lang)
		}
		if bad := eval[string](t, ctx, lineBreaksInHex); bad != "" {
			t.Errorf("%s: the results page breaks hex groups: %s", lang, bad)
		}
		if axeJS != "" {
			checkAxe(t, ctx, axeJS, lang+" results (decided)")
		}
		// Printed, the page is the declaration of the result: no menus,
		// no buttons, its heading.
		run(t, ctx, "print", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
			return err
		}))
		shown := eval[string](t, ctx, `["header nav", ".lang", "a.button", ".declaration", "table.result"].map(s => { const e = document.querySelector(s); return s + "=" + (e && getComputedStyle(e).display !== "none") }).join(" ")`)
		if shown != "header nav=false .lang=false a.button=false .declaration=true table.result=true" {
			t.Errorf("%s: printed, the results show %s", lang, shown)
		}
		screenshot(t, ctx, "results-print-"+lang)
		run(t, ctx, "screen", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
			return err
		}))
		// A tracker's page: the tracker and ballot code break between groups.
		_, list := get(t, http.DefaultClient, base+el+"/ballots")
		i := strings.Index(list, `href="`+el+`/ballots/`)
		tracker := list[i+len(`href="`+el+`/ballots/`) : i+len(`href="`+el+`/ballots/`)+64]
		run(t, ctx, "tracker", chromedp.Navigate(base+el+"/ballots/"+tracker), chromedp.WaitVisible(css("#tracker-status")))
		if bad := eval[string](t, ctx, lineBreaksInHex); bad != "" {
			t.Errorf("%s: the tracker page breaks hex groups: %s", lang, bad)
		}
		screenshot(t, ctx, "tracker-360-"+lang)
		// The verifier, given the fingerprint as announced (grouped).
		fp := eval[string](t, ctx, `document.querySelector("footer .fp").textContent`)
		run(t, ctx, "verify", chromedp.Navigate(base+el+"/verify"), chromedp.WaitEnabled(css("#run-verify")),
			chromedp.SendKeys(css("#fingerprint"), fp), chromedp.Click(css("#run-verify")), chromedp.WaitVisible(css("#verify-report")),
			chromedp.WaitVisible(css("#verify-result table")))
		details := text(t, ctx, "#verify-details")
		if want := map[string]string{"en": "What was checked", "fr": "Ce qui a été vérifié"}[lang]; !strings.Contains(details, want) {
			t.Errorf("%s: the verifier does not say what it checked: %q", lang, details)
		}
		if want := map[string]string{"en": "whose fingerprint you typed", "fr": "dont vous avez tapé l'empreinte"}[lang]; !strings.Contains(details, want) {
			t.Errorf("%s: the verifier does not say it checked the fingerprint typed: %q", lang, details)
		}
		rows := eval[float64](t, ctx, `document.querySelectorAll("#verify-result tbody tr").length`)
		bad := eval[float64](t, ctx, `document.querySelectorAll("#verify-result td.error").length`)
		if rows < 5 || bad != 0 {
			t.Errorf("%s: the recomputed result: %v rows, %v differing: %s", lang, rows, bad, text(t, ctx, "#verify-result"))
		}
		if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
			t.Errorf("%s: the verifier's report scrolls sideways on a 360-px screen", lang)
		}
		screenshot(t, ctx, "verify-result-360-"+lang)
		if axeJS != "" {
			checkAxe(t, ctx, axeJS, lang+" verify (valid)")
		}
	}
}

// TestBrowserLocalTimes (issue 17): where scripts run, times are written in
// the reader's own time zone, naming it; the UTC instant stays in the
// <time datetime> attribute.
func TestBrowserLocalTimes(t *testing.T) {
	ctx := browser(t)
	f, base := newDemo(t, 3)
	run(t, ctx, "zone", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "America/New_York"})
		return err
	}))
	run(t, ctx, "home", chromedp.Navigate(base+el+"/"), chromedp.WaitVisible(css("main")))
	got := eval[string](t, ctx, `Array.from(document.querySelectorAll("main time")).map(t => t.getAttribute("datetime") + " " + t.textContent).join(" | ")`)
	// The window opens at 09:00 UTC on the 1st of a month: 04:00 in New
	// York in winter (EST), 05:00 in summer (EDT).
	opens, _ := time.Parse(election.TimeFormat, f.Manifest.Window.Opens)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	local := opens.In(ny)
	zone, _ := local.Zone()
	if !strings.Contains(got, f.Manifest.Window.Opens) || !strings.Contains(got, local.Format("15:04")) || !strings.Contains(got, zone) {
		t.Errorf("the window in New York reads %q", got)
	}
}

// TestBrowserVerifierBadFingerprint (issue 17): a mistyped fingerprint is
// told in words, before anything is downloaded.
func TestBrowserVerifierBadFingerprint(t *testing.T) {
	ctx := browser(t)
	_, base := newDemo(t, 3)
	run(t, ctx, "verify", chromedp.Navigate(base+el+"/verify"), chromedp.WaitEnabled(css("#run-verify")),
		chromedp.SendKeys(css("#fingerprint"), "abcd 1234"), chromedp.Click(css("#run-verify")))
	status := value(t, ctx, "status", chromedp.Poll[string](`(() => { const s = document.getElementById("verify-status"); return s.classList.contains("error") ? s.textContent : null; })()`))
	if !strings.Contains(status, "64 digits") {
		t.Errorf("a mistyped fingerprint is told %q", status)
	}
}
