package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/credauth"
	"github.com/scrutin/scrutin/roll"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// TestBrowserOfficerWholeJob (issue 17 §3) is the returning officer's
// whole job in headless Chromium on a 360-px phone in Paris: the election
// made with the form, a messy roll imported in the console, the
// credential authority's files recorded in the console, voting opened
// (confirmed), extended with a reason, a reminder previewed and sent, a
// lost credential's replacement recorded, voting closed with a reason,
// tallied and published (each confirmed), and the declaration of the
// result printed and downloaded as CSV and JSON. Every page is checked
// (360 px, catalog, axe-core with SCRUTIN_AXE) and saved in English and
// French. Done outside the browser, as in life: the trustees' ceremony and
// decryption (in Go, as their programs do), the credential authority's
// offline step (the Go code of scrutin credentials generate/replace) and
// the operator's import of the sign-in list.
func TestBrowserOfficerWholeJob(t *testing.T) {
	ctx := browser(t)
	script := ""
	if os.Getenv("SCRUTIN_AXE") != "" {
		script = axe(t)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "zone", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Paris"})
		return err
	}))
	// page checks the page shown, reloaded in each language, and saves
	// it; it leaves it in English.
	page := func(name string) {
		t.Helper()
		for _, lang := range []string{"en", "fr"} {
			setLang(t, ctx, lang)
			run(t, ctx, "reload "+name, chromedp.Reload())
			waitFor(t, ctx, name+" in "+lang, `document.readyState === "complete" && document.documentElement.lang === "`+lang+`"`)
			if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
				screenshot(t, ctx, "officer-"+name+"-too-wide-"+lang)
				t.Errorf("%s (%s) is wider than a 360-px screen", name, lang)
			}
			if strings.Contains(eval[string](t, ctx, `document.body.innerText`), "MISSING") {
				t.Errorf("%s (%s) lacks a catalog text", name, lang)
			}
			if script != "" {
				checkAxe(t, ctx, script, name+" ("+lang+")")
			}
			screenshot(t, ctx, "officer-"+name+"-360-"+lang)
		}
		setLang(t, ctx, "en")
		run(t, ctx, "reload "+name, chromedp.Reload())
		waitFor(t, ctx, name+" in en", `document.readyState === "complete" && document.documentElement.lang === "en"`)
	}
	// A page that answers a form cannot be reloaded: shown checks it in
	// the language it is shown in.
	shown := func(name, lang string) {
		t.Helper()
		waitFor(t, ctx, name+" in "+lang, `document.readyState === "complete" && document.documentElement.lang === "`+lang+`"`)
		if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
			t.Errorf("%s (%s) is wider than a 360-px screen", name, lang)
		}
		if strings.Contains(eval[string](t, ctx, `document.body.innerText`), "MISSING") {
			t.Errorf("%s (%s) lacks a catalog text", name, lang)
		}
		if script != "" {
			checkAxe(t, ctx, script, name+" ("+lang+")")
		}
		screenshot(t, ctx, "officer-"+name+"-360-"+lang)
	}
	// confirm reaches a confirmation page by reach, in English then
	// French, and confirms (from the French page).
	confirm := func(name string, reach func()) {
		t.Helper()
		for _, lang := range []string{"en", "fr"} {
			setLang(t, ctx, lang)
			reach()
			shown(name, lang)
		}
		setLang(t, ctx, "en")
		run(t, ctx, "confirm "+name, chromedp.Click(css("#confirm-action")))
	}

	// The site, with mail; the three trustees' identities are in (their
	// secrets kept for the ceremony).
	fx, base, id, admin := invitationsSite(t, false)
	secrets := map[string]*crypto.TrusteeSecrets{}
	for _, n := range []string{"Ada", "Bo", "Cy"} {
		s, err := crypto.NewTrusteeSecrets(nil)
		if err != nil {
			t.Fatal(err)
		}
		secrets[n] = s
		b, _ := json.Marshal(crypto.Trustee{Name: n, Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
		if resp, body := uploadFile(t, base+"/e/"+id+"/console/trustees/upload", "identity", b, admin); resp.StatusCode != 200 {
			t.Fatalf("upload %s: %s %s", n, resp.Status, body)
		}
	}
	e, err := fx.Registry.Election(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	staffSignIn(t, ctx, base, admin, "ada@example.org")
	el := base + "/e/" + id
	console := func() {
		t.Helper()
		run(t, ctx, "console", chromedp.Navigate(el+"/console"), chromedp.WaitVisible(css("#console-phase")))
	}

	// 1. The election, with the form.
	console()
	page("console-new")
	run(t, ctx, "form", chromedp.Click(css("#create-form")), chromedp.WaitVisible(css("#manifest-form")))
	page("form")
	opens := time.Now().In(paris).Add(72*time.Hour).Format("2006-01-02") + "T09:00"
	closes := time.Now().In(paris).Add(10*24*time.Hour).Format("2006-01-02") + "T21:00"
	run(t, ctx, "fill the election", chromedp.SendKeys(css("#f-title-en"), "Local 42 ballot"), chromedp.SendKeys(css("#f-title-fr"), "Scrutin de la section 42"),
		chromedp.SendKeys(css("#f-desc-en"), "A strike, and the executive committee."), chromedp.SendKeys(css("#f-desc-fr"), "Une grève, et le bureau."),
		chromedp.SendKeys(css("#f-c0-title-en"), "Strike in 2027?"), chromedp.SendKeys(css("#f-c0-title-fr"), "Grève en 2027 ?"),
		chromedp.Click(css("#add-contest")), chromedp.WaitVisible(css("#contest-1")),
		chromedp.Click(css("#f-c1-kind-upto")),
		chromedp.SendKeys(css("#f-c1-title-en"), "Executive committee"), chromedp.SendKeys(css("#f-c1-title-fr"), "Bureau"),
		chromedp.SendKeys(css("#f-c1-options-en"), "Ann\nBen\nCleo\nDan"), chromedp.SendKeys(css("#f-c1-options-fr"), "Ann\nBen\nCléo\nDan"),
		chromedp.SetValue(css("#f-c1-k"), "2"), chromedp.Click(css("#f-c1-blank")),
		chromedp.SetValue(css("#f-opens"), opens), chromedp.SetValue(css("#f-closes"), closes),
		chromedp.SetValue(css("#f-threshold"), "2"),
		chromedp.Click(css("#review-manifest")), chromedp.WaitVisible(css("#review-en")))
	shown("review", "en")
	setLang(t, ctx, "fr")
	run(t, ctx, "edit, in French", chromedp.Click(css("#edit-manifest")), chromedp.WaitVisible(css("#manifest-form")), chromedp.Click(css("#review-manifest")))
	waitFor(t, ctx, "the review in French", `document.documentElement.lang === "fr" && !!document.getElementById("review-fr")`)
	shown("review", "fr")
	setLang(t, ctx, "en")
	run(t, ctx, "record", chromedp.Click(css("#record-manifest")), chromedp.WaitVisible(css("#import-roll")))
	page("console-recorded")

	// 2. The roll, messy, imported in the console.
	csv := filepath.Join(t.TempDir(), "members.csv")
	if err := os.WriteFile(csv, []byte(messyRoll), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "roll", chromedp.Click(css("#import-roll")), chromedp.WaitVisible(css("#roll-csv")))
	page("roll-upload")
	run(t, ctx, "upload", chromedp.SetUploadFiles(css("#roll-csv"), []string{csv}), chromedp.Click(css("#roll-read")), chromedp.WaitVisible(css("#roll-map")),
		chromedp.SetValue(css("#map-id"), "No"), chromedp.SetValue(css("#map-groups"), "Branch"), chromedp.SetValue(css("#rule-statuses"), "active"),
		chromedp.Click(css("#roll-check")), chromedp.WaitVisible(css("#roll-report")))
	shown("roll-report", "en")
	setLang(t, ctx, "fr")
	run(t, ctx, "check, in French", chromedp.Click(css("#roll-check")))
	shown("roll-report", "fr")
	setLang(t, ctx, "en")
	run(t, ctx, "record the roll", chromedp.Click(css("#roll-record")), chromedp.WaitVisible(css("#roll-done")))
	shown("roll-done", "en")
	// The roll the console hands back goes to the credential authority.
	href := eval[string](t, ctx, `document.getElementById("roll-download").getAttribute("href")`)
	rb, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(href, "data:application/json;base64,"))
	if err != nil {
		t.Fatal(err)
	}
	var rl roll.Roll
	if err := json.Unmarshal(rb, &rl); err != nil {
		t.Fatal(err)
	}
	if len(rl.Members) != 2 {
		t.Fatalf("the roll has %d members, not the 2 eligible", len(rl.Members))
	}

	// 3. The trustees make the election key (in Go, as their programs do).
	var m *election.Manifest
	var fp crypto.Fingerprint
	e.State(func(s *election.State) { m, fp = s.Manifest, s.Fingerprint })
	r := &m.Roster
	appendMsg := func(typ byte, b []byte) {
		t.Helper()
		if _, err := e.Append(bg, append([]byte{typ}, b...)); err != nil {
			t.Fatal(err)
		}
	}
	secret := func(j int) *crypto.TrusteeSecrets { return secrets[r.Trustees[j-1].Name] }
	var dealings [][]byte
	for j := 1; j <= r.N(); j++ {
		d, err := crypto.Deal(nil, r, j, secret(j))
		if err != nil {
			t.Fatal(err)
		}
		dealings = append(dealings, d)
		appendMsg(election.TypeCeremony, d)
	}
	for j := 1; j <= r.N(); j++ {
		c, err := crypto.Complain(nil, r, j, secret(j), dealings)
		if err != nil {
			t.Fatal(err)
		}
		appendMsg(election.TypeCeremony, c)
	}
	var out *crypto.Outcome
	e.State(func(s *election.State) { out = s.Ceremony })
	for j := 1; j <= r.N(); j++ {
		share, err := out.Share(r, j, secret(j))
		if err != nil {
			t.Fatal(err)
		}
		c, err := out.Confirm(nil, r, j, secret(j), share)
		if err != nil {
			t.Fatal(err)
		}
		appendMsg(election.TypeCeremony, c)
	}

	// 4. The credential authority, offline (scrutin credentials
	// generate's code); the operator imports the sign-in list; the
	// officer records the authority's files in the console.
	issued, err := credauth.Generate(&rl, fp, nil)
	if err != nil {
		t.Fatal(err)
	}
	var list bytes.Buffer
	if err := credauth.SignInList(&list, issued); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(server.ElectionDir(fx.Opts.Dir, id), 0o700)
	if _, err := server.ImportSignInList(server.ElectionDir(fx.Opts.Dir, id), &list); err != nil {
		t.Fatal(err)
	}
	authSecret, authEntry, err := credauth.NewAuthority(nil)
	if err != nil {
		t.Fatal(err)
	}
	authority, err := credauth.ParseAuthority(authSecret)
	if err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	for i, b := range append(credauth.Entries(issued, m.Groups()), authEntry) {
		p := filepath.Join(files, "file-"+string(rune('a'+i))+".entry")
		os.WriteFile(p, b, 0o600)
		console()
		run(t, ctx, "record "+p, chromedp.SetUploadFiles(css("#entry-file"), []string{p}), chromedp.Submit(css("#entry-file")), chromedp.WaitVisible(css("#console-phase")))
	}

	// 5. Open, confirmed.
	console()
	page("console-ready")
	confirm("confirm-open", func() {
		console()
		run(t, ctx, "open", chromedp.Click(css("#open-voting")), chromedp.WaitVisible(css("#confirm-action")))
	})
	waitFor(t, ctx, "opened", `new URLSearchParams(location.search).get("done") === "open"`)
	page("console-voting")

	// 6. Extend by a day, with a reason.
	planned := e.Ends()
	newEnd := planned.Add(24 * time.Hour)
	const reason = "The voting service was unreachable from 14:00 to 17:30."
	run(t, ctx, "extend", chromedp.SetValue(css("#extend-closes"), newEnd.In(paris).Format("2006-01-02T15:04")),
		chromedp.SendKeys(css("#extend-reason"), reason), chromedp.Click(css("#extend-confirm")), chromedp.Click(css("#extend-voting")))
	waitFor(t, ctx, "extended", `new URLSearchParams(location.search).get("done") === "extend"`)
	if got := e.Ends(); !got.Equal(newEnd) {
		t.Fatalf("the end in force is %v, want %v", got, newEnd)
	}
	page("console-extended")

	// 7. A reminder, previewed then sent: it gives the end in force.
	run(t, ctx, "members", chromedp.Click(css("#members-link")), chromedp.WaitVisible(css("#preview-reminder")))
	page("members")
	run(t, ctx, "preview", chromedp.Click(css("#preview-reminder")), chromedp.WaitVisible(css("#mail-send")))
	if got := text(t, ctx, "#mail-body"); !strings.Contains(got, whenLetter("en", newEnd)) {
		t.Errorf("the reminder does not give the end in force %q: %q", whenLetter("en", newEnd), got)
	}
	shown("reminder-preview", "en")
	setLang(t, ctx, "fr")
	run(t, ctx, "members (fr)", chromedp.Navigate(el+"/console/members"), chromedp.WaitVisible(css("#preview-reminder")), chromedp.Click(css("#preview-reminder")), chromedp.WaitVisible(css("#mail-send")))
	shown("reminder-preview", "fr")
	setLang(t, ctx, "en")
	run(t, ctx, "send", chromedp.Click(css("#mail-send")), chromedp.WaitVisible(css("#sends-list li")))
	page("reminder-sent")

	// 8. A member lost their letter: the authority's replacement,
	// recorded in the console with a confirmation.
	_, replacement, err := credauth.Replace(issued, rl.Members[1].ID, fp, authority, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rp := filepath.Join(files, "replacement-1.entry")
	os.WriteFile(rp, replacement, 0o600)
	console()
	run(t, ctx, "replace", chromedp.SetUploadFiles(css("#replace-file"), []string{rp}), chromedp.Click(css("#replace-confirm")),
		chromedp.Click(css("#record-replacement")), chromedp.WaitVisible(css("#console-replacements")))
	page("console-replaced")

	// 9. Close early, with the officer's reason; confirmed.
	reach := func() {
		console()
		run(t, ctx, "close", chromedp.SendKeys(css("#reason"), "The union's meeting decided to close early."), chromedp.Click(css("#close-voting")),
			chromedp.WaitVisible(css("#confirm-action")))
	}
	reach()
	if got := eval[string](t, ctx, `Array.from(document.querySelectorAll("#confirm-what time")).map(e => e.getAttribute("datetime")).join(" ")`); got != newEnd.UTC().Format(time.RFC3339) {
		t.Errorf("the confirmation before closing gives %q, not the end in force %s", got, newEnd.UTC().Format(time.RFC3339))
	}
	confirm("confirm-close", reach)
	waitFor(t, ctx, "closed", `new URLSearchParams(location.search).get("done") === "close"`)

	// 10. Tally, confirmed; the trustees decrypt; publish, confirmed.
	confirm("confirm-tally", func() {
		console()
		run(t, ctx, "tally", chromedp.Click(css("#tally")), chromedp.WaitVisible(css("#confirm-action")))
	})
	waitFor(t, ctx, "tallied", `new URLSearchParams(location.search).get("done") === "tally"`)
	page("console-tallied")
	var cts []*crypto.Ciphertext
	e.State(func(s *election.State) { out, cts = s.Ceremony, s.TallyCiphertexts() })
	for _, j := range []int{1, 3} {
		share, err := out.Share(r, j, secret(j))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := out.DecryptShare(nil, r, j, secret(j), share, cts)
		if err != nil {
			t.Fatal(err)
		}
		appendMsg(election.TypeDecryption, msg)
	}
	confirm("confirm-publish", func() {
		console()
		run(t, ctx, "publish", chromedp.Click(css("#publish")), chromedp.WaitVisible(css("#confirm-action")))
	})
	waitFor(t, ctx, "published", `new URLSearchParams(location.search).get("done") === "result"`)
	page("console-published")

	// 11. The declaration: printed, and downloaded as CSV and JSON.
	run(t, ctx, "results", chromedp.Navigate(el+"/results"), chromedp.WaitVisible(css("#turnout")))
	page("results")
	if got := text(t, ctx, "#turnout"); !strings.Contains(got, "of 2") {
		t.Errorf("the turnout: %q", got)
	}
	for _, u := range []string{"results.csv", "results.json"} {
		got := value(t, ctx, u, chromedp.Evaluate[string](`fetch("`+el+`/`+u+`").then(r => r.headers.get("Content-Disposition") + "|" + r.headers.get("Content-Type"))`, chromedp.EvalAwaitPromise))
		if !strings.Contains(got, "attachment") {
			t.Errorf("%s is not a download: %q", u, got)
		}
	}
	run(t, ctx, "print", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	if !eval[bool](t, ctx, `getComputedStyle(document.querySelector(".declaration")).display !== "none"`) {
		t.Error("the printed page has no declaration of the result")
	}
	screenshot(t, ctx, "officer-results-print-360-en")
}

// whenLetter is how pages and letters write a time, in lang.
func whenLetter(lang string, t time.Time) string { return web.When(lang, t) }
