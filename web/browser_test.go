package web_test

// Browser tests: Debian's Chromium, headless, driven over the DevTools
// protocol (chromedp), against the real site on a loopback port. They skip
// when no Chromium is installed, unless SCRUTIN_REQUIRE_BROWSER is set (as
// .ci/run sets it). Screenshots of the main pages go to SCRUTIN_ARTIFACTS
// (default: a scrutin-screenshots folder in the temporary directory).

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
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/pquerna/otp/totp"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/browse"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

func chromium(tb testing.TB) string {
	for _, p := range []string{os.Getenv("SCRUTIN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("SCRUTIN_REQUIRE_BROWSER") != "" {
		tb.Fatal("no Chromium found, and SCRUTIN_REQUIRE_BROWSER is set (apt-get install chromium)")
	}
	tb.Skip("no Chromium found (apt-get install chromium); set SCRUTIN_REQUIRE_BROWSER to make this a failure")
	return ""
}

// browser starts a headless Chromium with a phone-sized window (360 px wide).
func browser(tb testing.TB) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(tb)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(tb.TempDir()),
		chromedp.WindowSize(360, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	// The first action starts the browser, with a context without timeout
	// (a timeout there would stop the browser).
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(360, 800)); err != nil {
		cancelC()
		cancelA()
		tb.Fatal(err)
	}
	ctx, cancelT := context.WithTimeout(ctx, browserTimeout)
	tb.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

func run(t testing.TB, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		fatal(t, ctx, what, err)
	}
}

// fatal fails the test with what the page shows of its state.
func fatal(t testing.TB, ctx context.Context, what string, err error) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	status, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`(document.getElementById("status")||{}).textContent||""`))
	errText, _ := chromedp.Run(sctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll(".error")).map(e=>e.textContent).join(" | ")`))
	t.Fatalf("%s: %v (booth status %q, errors %q)", what, err, status, errText)
}

// value runs an action that returns a value.
func value[T any](t testing.TB, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		fatal(t, ctx, what, err)
	}
	return v
}

func eval[T any](t testing.TB, ctx context.Context, js string) T {
	t.Helper()
	return value(t, ctx, js, chromedp.Evaluate[T](js))
}

func css(sel string) chromedp.CSS { return chromedp.CSS(sel) }

func screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("SCRUTIN_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "scrutin-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A page still laying out has no size yet: try again a little later.
	var png []byte
	var err error
	for range 20 {
		if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		fatal(t, ctx, "screenshot "+name, err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

func text(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(value(t, ctx, "read "+sel, chromedp.Text(css(sel))))
}

func ungroup(s string) string { return strings.Join(strings.Fields(s), "") }

// signIn goes through the booth's first two steps for voter v.
func signIn(t testing.TB, ctx context.Context, f *demo.Fixture, base string, v int) {
	t.Helper()
	signInAt(t, ctx, f, base+el, v)
}

// signInAt signs voter v in at the booth of the election whose pages are
// at eurl.
func signInAt(t testing.TB, ctx context.Context, f *demo.Fixture, eurl string, v int) {
	t.Helper()
	email := f.Emails[v]
	n := f.Mail.Count(email)
	run(t, ctx, "open the booth", chromedp.Navigate(eurl+"/vote"), chromedp.WaitVisible(css("#step-signin")),
		chromedp.SendKeys(css("#email"), email), chromedp.Click(css("#form-email button")),
		chromedp.WaitVisible(css("#form-code")))
	code, err := f.Mail.WaitCode(ctx, email, n)
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "sign in", chromedp.SendKeys(css("#code"), code), chromedp.Click(css("#form-code button")),
		chromedp.WaitVisible(css("#step-credential")),
		chromedp.SendKeys(css("#credential"), f.Codes[v]), chromedp.Click(css("#form-credential button")),
		chromedp.WaitVisible(css("#step-ballot")))
}

// choose ticks the choices (nil: a contest the voter does not answer) and
// goes to the review step; it returns the ballot code shown.
func choose(t testing.TB, ctx context.Context, choices [][]int) string {
	t.Helper()
	for c, ch := range choices {
		for _, o := range ch {
			run(t, ctx, "choose", chromedp.Click(css(fmt.Sprintf("#c%do%d", c, o))))
		}
	}
	run(t, ctx, "review", chromedp.Click(css("#form-ballot button[type=submit]")), chromedp.WaitVisible(css("#step-review")))
	code := value(t, ctx, "ballot code", chromedp.Poll[string](`document.getElementById("ballot-code").textContent`))
	return ungroup(code)
}

// cast casts the encryption under review; it returns the tracker and the
// ballot code of the receipt.
func cast(t testing.TB, ctx context.Context) (tracker, code string) {
	t.Helper()
	run(t, ctx, "cast", chromedp.Click(css("#cast")), chromedp.WaitVisible(css("#step-receipt")))
	return ungroup(text(t, ctx, "#receipt-tracker")), ungroup(text(t, ctx, "#receipt-code"))
}

func trackerStatus(t testing.TB, ctx context.Context, base, tracker string) string {
	t.Helper()
	return trackerStatusAt(t, ctx, base+el, tracker)
}

func trackerStatusAt(t testing.TB, ctx context.Context, eurl, tracker string) string {
	t.Helper()
	run(t, ctx, "open the tracker page", chromedp.Navigate(eurl+"/ballots/"+tracker), chromedp.WaitVisible(css("#tracker-status")))
	return text(t, ctx, "#tracker-status")
}

// TestBrowserVoter: a voter audits an encryption, casts a fresh one, checks
// the tracker, then votes again; the booth enforces the contests' rules.
func TestBrowserVoter(t *testing.T) {
	ctx := browser(t)
	f, base := newDemo(t, 12)
	v := 0
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })

	run(t, ctx, "home", chromedp.Navigate(base+el+"/"), chromedp.WaitVisible(css("main")))
	screenshot(t, ctx, "home")
	signIn(t, ctx, f, base, v)
	screenshot(t, ctx, "booth-ballot")

	// The rules as the voter fills it in: one choice at most in the
	// leader contest (radio buttons: a second choice replaces the first),
	// and at least one before going on.
	run(t, ctx, "max rule", chromedp.Click(css("#c0o0")), chromedp.Click(css("#c0o1")))
	if eval[bool](t, ctx, `document.getElementById("c0o0").checked`) {
		t.Error("two choices are possible in a contest of at most one")
	}
	run(t, ctx, "min rule", chromedp.Click(css("#clear-0")), chromedp.Click(css("#form-ballot button[type=submit]")))
	status := value(t, ctx, "min rule message", chromedp.Poll[string](`document.getElementById("status").textContent`))
	ballotVisible := eval[bool](t, ctx, `!document.getElementById("step-ballot").hidden`)
	if !ballotVisible || !strings.Contains(status, "at least 1") {
		t.Errorf("an empty required contest went through (status %q)", status)
	}

	// Audit (spec §21.3): the record opens the encryption whose code was
	// shown, to the choices made; it checks here, in Go, as on another
	// device.
	choices := f.Choices(v, []int{1}, []int{0})
	auditedCode := choose(t, ctx, choices)
	screenshot(t, ctx, "booth-review")
	run(t, ctx, "audit", chromedp.Click(css("#audit")), chromedp.WaitVisible(css("#step-audit")))
	record := value(t, ctx, "audit record", chromedp.Value(css("#audit-record")))
	if got := text(t, ctx, "#audit-result"); !strings.Contains(got, "checked") {
		t.Errorf("the booth's own audit check says %q", got)
	}
	screenshot(t, ctx, "booth-audit")
	a, err := election.ParseAudit([]byte(record))
	if err != nil {
		t.Fatal(err)
	}
	if err := view.CheckAudit(a); err != nil {
		t.Fatalf("the audit record does not check: %v", err)
	}
	if a.Code != auditedCode {
		t.Errorf("the audit record's code %s is not the code shown %s", a.Code, auditedCode)
	}
	if fmt.Sprint(a.Choices[0]) != "[1]" || fmt.Sprint(a.Choices[1]) != "[0]" {
		t.Errorf("the audit record opens to %v, the voter chose %v", a.Choices, choices)
	}
	// The audit page checks it too, and refuses it once changed.
	run(t, ctx, "audit page", chromedp.Navigate(base+el+"/audit"), chromedp.WaitEnabled(css("#run-audit")),
		chromedp.SetValue(css("#record"), record), chromedp.Click(css("#run-audit")),
		chromedp.WaitVisible(css("#audit-out p.ok")))
	screenshot(t, ctx, "audit-page")
	forged := strings.Replace(record, `"choices":[[1],[0]`, `"choices":[[2],[0]`, 1)
	if forged == record {
		t.Fatalf("could not forge the record %s", record)
	}
	run(t, ctx, "audit page, forged", chromedp.SetValue(css("#record"), forged), chromedp.Click(css("#run-audit")),
		chromedp.WaitVisible(css("#audit-out p.error")))

	// Back in the booth: the audited encryption is gone; encrypt afresh
	// and cast.
	signIn(t, ctx, f, base, v)
	code := choose(t, ctx, choices)
	if code == auditedCode {
		t.Fatal("the fresh encryption has the audited one's code")
	}
	tracker, receiptCode := cast(t, ctx)
	screenshot(t, ctx, "booth-receipt")
	if receiptCode != code {
		t.Errorf("the receipt's ballot code %s is not the one shown before casting, %s", receiptCode, code)
	}
	if _, counted, found := findTracker(f, tracker); !found || !counted {
		t.Fatalf("tracker %s: found %v, counted %v", tracker, found, counted)
	}
	if st := trackerStatus(t, ctx, base, tracker); !strings.Contains(st, "it counts") {
		t.Errorf("the tracker page says %q", st)
	}
	screenshot(t, ctx, "tracker")

	// Re-voting: the later ballot counts, the earlier shows as replaced.
	signIn(t, ctx, f, base, v)
	choose(t, ctx, f.Choices(v, []int{2}, []int{}))
	tracker2, _ := cast(t, ctx)
	if st := trackerStatus(t, ctx, base, tracker); !strings.Contains(st, "voted again") {
		t.Errorf("the first tracker's page says %q after a re-vote", st)
	}
	if st := trackerStatus(t, ctx, base, tracker2); !strings.Contains(st, "it counts") {
		t.Errorf("the second tracker's page says %q", st)
	}
	run(t, ctx, "ballots", chromedp.Navigate(base+el+"/ballots"), chromedp.WaitVisible(css("table")))
	screenshot(t, ctx, "ballots")
	run(t, ctx, "board", chromedp.Navigate(base+el+"/board"), chromedp.WaitVisible(css("pre.checkpoint")))
	screenshot(t, ctx, "board")
	// No page is wider than the 360-px screen.
	for _, p := range []string{"/", el + "/", el + "/vote", el + "/ballots", el + "/board", el + "/results", el + "/verify", el + "/ballots/" + tracker2} {
		run(t, ctx, "open "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(css("main")))
		if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
			t.Errorf("%s scrolls sideways on a 360-px screen", p)
		}
	}
}

func findTracker(f *demo.Fixture, tracker string) (idx int64, counted, found bool) {
	f.Election.State(func(s *election.State) { idx, counted, found = s.FindTracker(tracker) })
	return
}

// TestBrowserKeyboardOnly: a voter casts with the keyboard alone, and the
// focus is always visible where it should be.
func TestBrowserKeyboardOnly(t *testing.T) {
	ctx := browser(t)
	f, base := newDemo(t, 6)
	v := 1
	email := f.Emails[v]
	n := f.Mail.Count(email)
	focused := func() string {
		return eval[string](t, ctx, `document.activeElement ? document.activeElement.id : ""`)
	}
	// tabTo presses Tab until the element has the focus.
	tabTo := func(id string) {
		t.Helper()
		for range 40 {
			if focused() == id {
				return
			}
			run(t, ctx, "tab", chromedp.KeyEvent("\t"))
		}
		t.Fatalf("Tab never reaches #%s", id)
	}
	run(t, ctx, "open the booth", chromedp.Navigate(base+el+"/vote"), chromedp.WaitVisible(css("#step-signin")))
	if focused() != "email" {
		t.Fatalf("the booth opens with the focus on %q, not the e-mail field", focused())
	}
	run(t, ctx, "e-mail", chromedp.KeyEvent(email+"\r"), chromedp.WaitVisible(css("#form-code")))
	code, err := f.Mail.WaitCode(ctx, email, n)
	if err != nil {
		t.Fatal(err)
	}
	tabTo("code")
	run(t, ctx, "code", chromedp.KeyEvent(code+"\r"), chromedp.WaitVisible(css("#step-credential")))
	tabTo("credential")
	run(t, ctx, "credential", chromedp.KeyEvent(f.Codes[v]+"\r"), chromedp.WaitVisible(css("#step-ballot")))
	// Each contest is of one choice: radio buttons, which Tab enters at
	// the first and the arrow keys move through, choosing.
	choices := f.Choices(v, []int{2}, []int{1})
	for c, ch := range choices {
		for _, o := range ch {
			tabTo(fmt.Sprintf("c%do0", c))
			run(t, ctx, "space", chromedp.KeyEvent(" "))
			for range o {
				run(t, ctx, "arrow", chromedp.KeyEvent(kb.ArrowDown))
			}
			if id := focused(); id != fmt.Sprintf("c%do%d", c, o) || !eval[bool](t, ctx, `document.activeElement.checked`) {
				t.Fatalf("the arrow keys reach %q, not option %d of contest %d", id, o, c)
			}
		}
	}
	// The focus ring is drawn.
	outline := eval[string](t, ctx, `getComputedStyle(document.activeElement).outlineStyle`)
	if outline == "none" || outline == "" {
		t.Errorf("the focused option has no visible outline (%q)", outline)
	}
	review := eval[string](t, ctx, `(() => { const b = document.querySelector("#form-ballot button[type=submit]"); b.id = "review-button"; return b.id })()`)
	tabTo(review)
	run(t, ctx, "review", chromedp.KeyEvent("\r"), chromedp.WaitVisible(css("#step-review")))
	value(t, ctx, "code shown", chromedp.Poll[string](`document.getElementById("ballot-code").textContent`))
	if focused() != "cast" {
		t.Fatalf("after review the focus is on %q, not the cast button", focused())
	}
	run(t, ctx, "cast", chromedp.KeyEvent("\r"), chromedp.WaitVisible(css("#step-receipt")))
	if focused() != "receipt-title" {
		t.Errorf("after casting the focus is on %q, not the receipt's heading", focused())
	}
	tracker := ungroup(text(t, ctx, "#receipt-tracker"))
	if _, counted, found := findTracker(f, tracker); !found || !counted {
		t.Fatalf("the keyboard-cast ballot %s: found %v, counted %v", tracker, found, counted)
	}
}

// TestBrowserOfficer runs an election from its creation to its published
// result through the console, with voters in the browser; then the
// in-browser verifier finds it valid, and finds a tampered copy invalid.
func TestBrowserOfficer(t *testing.T) {
	ctx := browser(t)
	bg := context.Background()
	f, err := demo.Prepare(bg, demo.Options{Dir: t.TempDir(), Voters: 8, Workers: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Store.Close() })
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	files := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(files, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	m, _ := json.MarshalIndent(f.Manifest, "", "  ")
	manifestFile := write("manifest.json", m)
	report, _ := json.Marshal(f.Report)
	reportFile := write("roll-report.json", report)
	rollFile := write("roll.entry", f.RollEntry)

	// done waits for the console to report the action done.
	done := func(action string) {
		t.Helper()
		waitFor(t, ctx, action, `new URLSearchParams(location.search).get("done") === "`+action+`" && document.querySelector("main div.ok") !== null`)
	}
	// The console sends the officer to sign in: password, then the code of
	// the authenticator app.
	run(t, ctx, "console", chromedp.Navigate(base+el+"/console"), chromedp.WaitVisible(css("#password")))
	screenshot(t, ctx, "staff-sign-in")
	run(t, ctx, "sign in", chromedp.SendKeys(css("#email"), f.StaffEmail), chromedp.SendKeys(css("#password"), f.StaffPassword),
		chromedp.Submit(css("#password")), chromedp.WaitVisible(css("#code")))
	screenshot(t, ctx, "staff-second-step")
	code, _ := totp.GenerateCode(f.StaffTOTP, time.Now())
	// Signed in, the officer is back at the election's console.
	run(t, ctx, "second step", chromedp.SendKeys(css("#code"), code), chromedp.Submit(css("#code")),
		chromedp.WaitVisible(css("#manifest-file")))
	run(t, ctx, "manifest", chromedp.SetUploadFiles(css("#manifest-file"), []string{manifestFile}), chromedp.Submit(css("#manifest-file")))
	done("manifest")

	// The trustees run their ceremony (scrutin trustee deal, check, finish).
	if err := f.Ceremony(bg); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "roll", chromedp.Navigate(base+el+"/console"), chromedp.WaitVisible(css("#entry-file")),
		chromedp.SetUploadFiles(css("#entry-file"), []string{rollFile}),
		chromedp.SetUploadFiles(css("#report-file"), []string{reportFile}), chromedp.Submit(css("#entry-file")))
	done("entry")
	if got := text(t, ctx, "main"); !strings.Contains(got, fmt.Sprintf("%d members eligible", f.Report.Eligible)) {
		t.Errorf("the console does not show the eligibility report: %.300s", got)
	}
	for i, e := range f.CredentialEntries {
		p := write(fmt.Sprintf("credentials-%d.entry", i+1), e)
		run(t, ctx, "credentials", chromedp.Navigate(base+el+"/console"), chromedp.SetUploadFiles(css("#entry-file"), []string{p}), chromedp.Submit(css("#entry-file")))
		done("entry")
	}
	screenshot(t, ctx, "console-setup")
	// A bad upload is refused with a reason, and nothing is recorded.
	size, _ := f.Election.Size(bg)
	run(t, ctx, "bad entry", chromedp.SetUploadFiles(css("#entry-file"), []string{manifestFile}), chromedp.Submit(css("#entry-file")),
		chromedp.WaitVisible(css("main div.error")))
	if after, _ := f.Election.Size(bg); after != size {
		t.Errorf("a refused upload changed the log from %d to %d entries", size, after)
	}
	run(t, ctx, "open", chromedp.Navigate(base+el+"/console"), chromedp.Click(css("#open-voting")), chromedp.WaitVisible(css("#confirm-action")))
	screenshot(t, ctx, "console-confirm-open")
	run(t, ctx, "confirm open", chromedp.Click(css("#confirm-action")))
	done("open")

	// Two members vote in the browser, then everyone over the API.
	bctx := ctx
	signIn(t, bctx, f, base, 2)
	choose(t, bctx, f.Choices(2, []int{0}, []int{1}))
	cast(t, bctx)
	want, err := f.Vote(bg, base)
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "turnout", chromedp.Navigate(base+el+"/results"), chromedp.WaitVisible(css("svg.turnout")))
	screenshot(t, ctx, "turnout")

	run(t, ctx, "close", chromedp.Navigate(base+el+"/console"), chromedp.SendKeys(css("#reason"), "The voting period has ended."), chromedp.Click(css("#close-voting")), chromedp.WaitVisible(css("#confirm-action")))
	screenshot(t, ctx, "console-confirm-close")
	run(t, ctx, "confirm close", chromedp.Click(css("#confirm-action")))
	done("close")
	run(t, ctx, "tally", chromedp.Click(css("#tally")), chromedp.WaitVisible(css("#confirm-action")), chromedp.Click(css("#confirm-action")))
	done("tally")
	waiting := func() bool {
		return value(t, ctx, "waiting for shares", chromedp.Evaluate[bool](`!!document.getElementById("wait-shares")`))
	}
	if !waiting() {
		t.Error("the console, tallied, does not say it waits for the trustees' shares")
	}
	if err := f.Decrypt(bg); err != nil { // the trustees (scrutin trustee decrypt)
		t.Fatal(err)
	}
	run(t, ctx, "console with the shares", chromedp.Navigate(base+el+"/console"), chromedp.WaitVisible(css("#publish")))
	if waiting() {
		t.Error("the console still says it waits for the trustees' shares beside the button that publishes the result")
	}
	run(t, ctx, "publish", chromedp.Click(css("#publish")), chromedp.WaitVisible(css("#confirm-action")), chromedp.Click(css("#confirm-action")))
	done("result")
	screenshot(t, ctx, "console-decided")
	var result *election.Result
	f.Election.State(func(s *election.State) { result = s.Result })
	if result == nil {
		t.Fatal("no result after publishing")
	}
	if err := demo.Check(result, want); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "results", chromedp.Navigate(base+el+"/results"), chromedp.WaitVisible(css("table.result")))
	screenshot(t, ctx, "results")
	if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Error("the results page scrolls sideways on a 360-px screen")
	}
	page := text(t, ctx, "main")
	for o, n := range want[0] {
		name := f.Manifest.Contests[0].Options[o].Title["en"]
		if !regexp.MustCompile(regexp.QuoteMeta(name) + `(\s+✓[\s\x{a0}]+Winner)?\s+` + fmt.Sprint(n) + `\b`).MatchString(page) {
			t.Errorf("the results page does not show %s with %d votes: %.400s", name, n, page)
		}
	}

	// The verifier in the browser: valid here...
	verdict := verifyInBrowser(t, ctx, base)
	if !strings.HasPrefix(verdict, "VALID") {
		t.Fatalf("the in-browser verifier says %q of an honest election", verdict)
	}
	screenshot(t, ctx, "verify-valid")
	// ... and invalid through a proxy that changes one byte of one ballot in
	// the published log.
	target, _ := url.Parse(base)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(r *http.Response) error {
		if !strings.HasPrefix(r.Request.URL.Path, el+"/log/tile/entries/") {
			return nil
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		if i := bytes.Index(b, []byte(`"selections":["`)); i >= 0 {
			j := i + len(`"selections":["`) + 5
			if b[j] == 'A' {
				b[j] = 'B'
			} else {
				b[j] = 'A'
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.ContentLength = int64(len(b))
		r.Header.Set("Content-Length", fmt.Sprint(len(b)))
		return nil
	}
	tampered := httptest.NewServer(proxy)
	t.Cleanup(tampered.Close)
	verdict = verifyInBrowser(t, ctx, tampered.URL)
	if !strings.HasPrefix(verdict, "INVALID") {
		t.Fatalf("the in-browser verifier says %q of a tampered log", verdict)
	}
	screenshot(t, ctx, "verify-invalid")
	if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Error("the verifier's report scrolls sideways on a 360-px screen")
	}
}

// waitFor waits until the expression is true, across page loads.
func waitFor(t testing.TB, ctx context.Context, what, js string) {
	t.Helper()
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			fatal(t, ctx, what, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func verifyInBrowser(t testing.TB, ctx context.Context, base string) string {
	t.Helper()
	run(t, ctx, "verify "+base, chromedp.Navigate(base+el+"/verify"), chromedp.WaitEnabled(css("#run-verify")),
		chromedp.Click(css("#run-verify")), chromedp.WaitVisible(css("#verify-report")))
	return text(t, ctx, "#verify-verdict")
}

// TestBrowserNoNewCode (issue 13, defect 6): when strangers have used up an
// address's letters, the booth says no code was sent and when to ask again,
// and the voter signs in with the long form of the latest letter.
func TestBrowserNoNewCode(t *testing.T) {
	ctx := browser(t)
	f, base := newDemo(t, 3)
	v := 2
	email := f.Emails[v]
	for range 2 {
		resp, err := http.Post(base+"/api"+el+"/sign-in", "application/json", strings.NewReader(`{"email":"`+email+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := f.Mail.WaitCode(ctx, email, 1); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "open the booth", chromedp.Navigate(base+el+"/vote"), chromedp.WaitVisible(css("#step-signin")),
		chromedp.SendKeys(css("#email"), email), chromedp.Click(css("#form-email button")),
		chromedp.WaitVisible(css("#form-code")))
	status := value(t, ctx, "status", chromedp.Poll[string](`(() => { const s = document.getElementById("status"); return s.classList.contains("error") ? s.textContent : null; })()`))
	if !strings.Contains(status, "No new code was sent") || !strings.Contains(status, "16 digits") {
		t.Fatalf("the booth says %q", status)
	}
	if f.Mail.Count(email) != 2 {
		t.Fatalf("%d letters", f.Mail.Count(email))
	}
	if help := text(t, ctx, "#no-code summary"); !strings.Contains(help, "No code") {
		t.Fatalf("no help for a missing code: %q", help)
	}
	run(t, ctx, "open the help", chromedp.Click(css("#no-code summary")))
	screenshot(t, ctx, "booth-no-new-code")
	letters := f.Mail.Letters(email)
	long := regexp.MustCompile(`\b[0-9]{8} [0-9]{8}\b`).FindString(letters[len(letters)-1])
	if long == "" {
		t.Fatal("no 16-digit code in the letter")
	}
	run(t, ctx, "sign in with the long form", chromedp.SendKeys(css("#code"), long), chromedp.Click(css("#form-code button")),
		chromedp.WaitVisible(css("#step-credential")))
}

// TestBrowserVerifierWaitsWhenTold: the in-browser verifier reads the log's
// tiles within its client's budget (a tile read from the store counts): told
// to wait (429 or 503 with Retry-After), it waits and asks again rather than
// failing.
func TestBrowserVerifierWaitsWhenTold(t *testing.T) {
	ctx := browser(t)
	f, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 7, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	gate := browse.New(browse.Limits{PerClient: 2, Burst: 12})
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, f.Election, f.Election.Handler(server.Options{NoSignIn: true})), Browse: gate})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	defer srv.Close()
	if _, err := f.Vote(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "open the verifier", chromedp.Navigate(srv.URL+el+"/verify"), chromedp.WaitEnabled(css("#run-verify")))
	// The browser's budget is spent: its first tiles are refused.
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "127.0.0.1:1"
	for ok := true; ok; ok, _ = gate.Allow(r, 1) {
	}
	run(t, ctx, "verify", chromedp.Click(css("#run-verify")), chromedp.WaitVisible(css("#verify-report")))
	if verdict := text(t, ctx, "#verify-verdict"); !strings.HasPrefix(verdict, "VALID") {
		t.Fatalf("the in-browser verifier, told to wait, says %q", verdict)
	}
}

// TestBrowserTwoElections (issue 15): two elections open at once on one
// server; a member on the roll of both votes in each, and each ballot is in
// its own election only; an officer of one signs in, sees only that one in
// the console, runs it, and gets 404 on the other's console and officers'
// API.
func TestBrowserTwoElections(t *testing.T) {
	ctx := browser(t)
	bg := context.Background()
	north, south, base := twoElectionsSignIn(t, true, nil)
	if north.Emails[0] != south.Emails[0] {
		t.Fatalf("voter 0 is not the same member in both elections: %s, %s", north.Emails[0], south.Emails[0])
	}
	run(t, ctx, "the server's home", chromedp.Navigate(base+"/"), chromedp.WaitVisible(css("ul.elections")))
	screenshot(t, ctx, "elections-home")
	if got := text(t, ctx, "ul.elections"); !strings.Contains(got, "north") || !strings.Contains(got, "south") || !strings.Contains(got, "Voting is open until") {
		t.Errorf("the home page lists %q", got)
	}

	// The member votes in both.
	trackers := map[string]string{}
	for _, x := range []struct {
		id string
		f  *demo.Fixture
	}{{"north", north}, {"south", south}} {
		eurl := base + "/e/" + x.id
		signInAt(t, ctx, x.f, eurl, 0)
		choose(t, ctx, x.f.Choices(0, []int{1}, []int{0}))
		tracker, _ := cast(t, ctx)
		trackers[x.id] = tracker
		if _, counted, found := findTracker(x.f, tracker); !found || !counted {
			t.Fatalf("%s: tracker %s found %v, counted %v", x.id, tracker, found, counted)
		}
		if st := trackerStatusAt(t, ctx, eurl, tracker); !strings.Contains(st, "it counts") {
			t.Errorf("%s: the tracker page says %q", x.id, st)
		}
	}
	if trackers["north"] == trackers["south"] {
		t.Fatal("the two ballots have one tracker")
	}
	if _, _, found := findTracker(south, trackers["north"]); found {
		t.Error("north's ballot is in south")
	}
	if st := trackerStatusAt(t, ctx, base+"/e/south", trackers["north"]); strings.Contains(st, "it counts") {
		t.Errorf("south's tracker page finds north's ballot: %q", st)
	}

	// An officer of north signs in (password, then a recovery code).
	admin, err := north.StaffSession(bg, base)
	if err != nil {
		t.Fatal(err)
	}
	_, codes := inviteCodes(t, base, admin, "olga@example.org", accounts.RoleOfficer, "north")
	if len(codes) == 0 {
		t.Fatal("no recovery codes")
	}
	run(t, ctx, "staff sign-in", chromedp.Navigate(base+"/console"), chromedp.WaitVisible(css("#password")),
		chromedp.SendKeys(css("#email"), "olga@example.org"), chromedp.SendKeys(css("#password"), "green kettle over the hills"),
		chromedp.Submit(css("#password")), chromedp.WaitVisible(css("details summary")), chromedp.Click(css("details summary")),
		chromedp.SendKeys(css("#recovery"), codes[0]), chromedp.Submit(css("#recovery")),
		chromedp.WaitVisible(css("#console-elections")))
	screenshot(t, ctx, "console-elections")
	if got := text(t, ctx, "main"); !strings.Contains(got, "north") || strings.Contains(got, "south") {
		t.Errorf("the officer's console lists %q", got)
	}
	run(t, ctx, "south's console", chromedp.Navigate(base+"/e/south/console"), chromedp.WaitVisible(css("main h1")))
	if got := text(t, ctx, "main"); !strings.Contains(got, "no such page") || strings.Contains(got, "south") {
		t.Errorf("south's console shows the officer of north %q", got)
	}
	status := value(t, ctx, "south's API", chromedp.Evaluate[float64](`fetch("/api/e/south/admin/close", {method: "POST", headers: {"Content-Type": "application/json"}, body: '{"reason":"no"}'}).then(r => r.status)`, chromedp.EvalAwaitPromise))
	if status != 404 {
		t.Errorf("south's officers' API answers the officer of north %v, want 404", status)
	}
	run(t, ctx, "close north", chromedp.Navigate(base+"/e/north/console"), chromedp.SendKeys(css("#reason"), "North closes."), chromedp.Click(css("#close-voting")),
		chromedp.WaitVisible(css("#confirm-action")), chromedp.Click(css("#confirm-action")))
	waitFor(t, ctx, "closed", `new URLSearchParams(location.search).get("done") === "close"`)
	if got := phaseAndSize(t, north); !strings.HasPrefix(got, "closed/") {
		t.Errorf("north is %s after the officer closed it", got)
	}
	if got := phaseAndSize(t, south); !strings.HasPrefix(got, "voting/") {
		t.Errorf("south is %s: the officer of north changed it", got)
	}
}

// browserTimeout bounds each browser's test (SCRUTIN_BROWSER_TIMEOUT, for
// debugging).
var browserTimeout = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("SCRUTIN_BROWSER_TIMEOUT")); err == nil {
		return d
	}
	return 4 * time.Minute
}()
