package web_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/internal/demo"
)

// staffSignIn signs a new administrator in, in the browser.
func staffSignIn(t *testing.T, ctx context.Context, base string, admin *http.Cookie, email string) {
	t.Helper()
	_, codes := inviteCodes(t, base, admin, email, accounts.RoleAdmin, accounts.AllElections)
	run(t, ctx, "staff sign-in", chromedp.Navigate(base+"/staff/sign-in"), chromedp.WaitVisible(css("#password")),
		chromedp.SendKeys(css("#email"), email), chromedp.SendKeys(css("#password"), "green kettle over the hills"),
		chromedp.Submit(css("#password")), chromedp.WaitVisible(css("details summary")), chromedp.Click(css("details summary")),
		chromedp.SendKeys(css("#recovery"), codes[0]), chromedp.Submit(css("#recovery")),
		chromedp.WaitVisible(css("#console-elections")))
}

func setLang(t *testing.T, ctx context.Context, lang string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/lang", {method: "POST", body: new URLSearchParams({lang: "`+lang+`", back: "/"})}).then(r => r.ok)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserConsoleForms (issue 17) is the officer, on a 360-px phone in
// Paris, creating an election with the form (a yes/no and a "choose 2 of
// 4" question), told of a wrong number next to the field, reading the
// plain-words explanation in English and French, recording it; then
// importing a messy roll (extra columns, bad rows, the columns chosen),
// reading the report, recording it; and, on a ready election, the
// confirmation before voting opens. Every page passes axe-core's WCAG 2.1
// AA rules (when SCRUTIN_AXE is set), none is wider than the phone, and
// each is saved as a screenshot in both languages.
func TestBrowserConsoleForms(t *testing.T) {
	ctx := browser(t)
	script := ""
	if os.Getenv("SCRUTIN_AXE") != "" {
		script = axe(t)
	}
	check := func(page string) {
		t.Helper()
		if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
			screenshot(t, ctx, "console-forms-too-wide")
			t.Errorf("%s is wider than a 360-px screen", page)
		}
		if strings.Contains(eval[string](t, ctx, `document.body.innerText`), "MISSING") {
			t.Errorf("%s lacks a catalog text", page)
		}
		if script != "" {
			checkAxe(t, ctx, script, page)
		}
	}
	run(t, ctx, "zone", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Paris"})
		return err
	}))
	fx, base, id, admin := formSite(t)
	staffSignIn(t, ctx, base, admin, "ada@example.org")
	el := base + "/e/" + id

	// The form, from the console.
	run(t, ctx, "console", chromedp.Navigate(el+"/console"), chromedp.WaitVisible(css("#create-form")), chromedp.Click(css("#create-form")),
		chromedp.WaitVisible(css("#manifest-form")))
	if z := eval[string](t, ctx, `document.getElementById("f-zone").value + "|" + document.getElementById("browser-zone").textContent`); z != "Europe/Paris|Europe/Paris" {
		t.Errorf("the zone of the form is %q, not the browser's", z)
	}
	check("manifest form")
	screenshot(t, ctx, "console-form-360-en")
	opens := time.Now().Add(72*time.Hour).Format("2006-01-02") + "T09:00"
	closes := time.Now().Add(10*24*time.Hour).Format("2006-01-02") + "T21:00"
	run(t, ctx, "fill the election", chromedp.SendKeys(css("#f-title-en"), "Local 42 ballot"), chromedp.SendKeys(css("#f-title-fr"), "Scrutin de la section 42"),
		chromedp.SendKeys(css("#f-desc-en"), "A strike, and the executive committee."), chromedp.SendKeys(css("#f-desc-fr"), "Une grève, et le bureau."),
		chromedp.SendKeys(css("#f-c0-title-en"), "Strike in 2027?"), chromedp.SendKeys(css("#f-c0-title-fr"), "Grève en 2027 ?"),
		chromedp.Click(css("#add-contest")), chromedp.WaitVisible(css("#contest-1")))
	if got := eval[string](t, ctx, `document.getElementById("f-title-fr").value + "|" + document.getElementById("f-c0-title-en").value`); got != "Scrutin de la section 42|Strike in 2027?" {
		t.Fatalf("adding a question lost what was typed: %q", got)
	}
	run(t, ctx, "fill the committee", chromedp.Click(css("#f-c1-kind-upto")),
		chromedp.SendKeys(css("#f-c1-title-en"), "Executive committee"), chromedp.SendKeys(css("#f-c1-title-fr"), "Bureau"),
		chromedp.SendKeys(css("#f-c1-options-en"), "Ann\nBen\nCleo\nDan"), chromedp.SendKeys(css("#f-c1-options-fr"), "Ann\nBen\nCléo\nDan"),
		chromedp.SendKeys(css("#f-c1-k"), "5"), chromedp.Click(css("#f-c1-blank")),
		chromedp.SetValue(css("#f-opens"), opens), chromedp.SetValue(css("#f-closes"), closes),
		chromedp.SetValue(css("#f-threshold"), "2"),
		chromedp.Click(css("#review-manifest")), chromedp.WaitVisible(css("#f-c1-k-err")))
	if got := text(t, ctx, "#f-c1-k-err"); !strings.Contains(got, "up to 5 of only 4") {
		t.Errorf("the error at k: %q", got)
	}
	if got := eval[string](t, ctx, `document.getElementById("f-c1-options-fr").value + "|" + document.getElementById("f-opens").value`); got != "Ann\nBen\nCléo\nDan|"+opens {
		t.Errorf("the error lost what was typed: %q", got)
	}
	check("manifest form with an error")
	screenshot(t, ctx, "console-form-error-360-en")
	run(t, ctx, "fix k", chromedp.SetValue(css("#f-c1-k"), "2"), chromedp.Click(css("#review-manifest")), chromedp.WaitVisible(css("#review-en")))
	if got := text(t, ctx, "#review-en"); !strings.Contains(got, "Members choose up to 2 of 4. A blank answer is allowed.") || !strings.Contains(got, "Members answer yes or no. An answer is required.") {
		t.Errorf("the explanation: %q", got)
	}
	if got := text(t, ctx, "#review-fr"); !strings.Contains(got, "Les membres choisissent jusqu'à 2 options sur 4.") {
		t.Errorf("the explanation in French: %q", got)
	}
	if got := text(t, ctx, "#review-window"); !strings.Contains(got, "09:00 (Europe/Paris)") {
		t.Errorf("the window: %q", got)
	}
	check("manifest review")
	screenshot(t, ctx, "console-review-360-en")
	setLang(t, ctx, "fr")
	run(t, ctx, "edit, in French", chromedp.Click(css("#edit-manifest")), chromedp.WaitVisible(css("#manifest-form")))
	check("manifest form (fr)")
	screenshot(t, ctx, "console-form-360-fr")
	run(t, ctx, "review, in French", chromedp.Click(css("#review-manifest")))
	waitFor(t, ctx, "the review in French", `document.documentElement.lang === "fr" && !!document.getElementById("review-fr")`)
	if got := text(t, ctx, "#review-window"); !strings.Contains(got, "à 9 h 00 (Europe/Paris)") {
		t.Errorf("the window, in French: %q", got)
	}
	check("manifest review (fr)")
	screenshot(t, ctx, "console-review-360-fr")
	setLang(t, ctx, "en")
	run(t, ctx, "record", chromedp.Click(css("#record-manifest")), chromedp.WaitVisible(css("#import-roll")))
	if got := text(t, ctx, "#console-window"); !strings.Contains(got, "CET") && !strings.Contains(got, "CEST") && !strings.Contains(got, "GMT+") {
		t.Errorf("the console's window is not in the reader's zone: %q", got)
	}
	screenshot(t, ctx, "console-recorded-360-en")

	// The roll.
	csv := filepath.Join(t.TempDir(), "members.csv")
	if err := os.WriteFile(csv, []byte(messyRoll), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "roll", chromedp.Click(css("#import-roll")), chromedp.WaitVisible(css("#roll-csv")))
	check("roll upload")
	screenshot(t, ctx, "console-roll-upload-360-en")
	run(t, ctx, "upload", chromedp.SetUploadFiles(css("#roll-csv"), []string{csv}), chromedp.Click(css("#roll-read")), chromedp.WaitVisible(css("#roll-map")))
	check("roll mapping")
	screenshot(t, ctx, "console-roll-map-360-en")
	run(t, ctx, "no member number", chromedp.SetValue(css("#map-id"), ""), chromedp.SetValue(css("#rule-statuses"), "active"),
		chromedp.Click(css("#roll-check")), chromedp.WaitVisible(css("#map-id-err")))
	check("roll mapping with an error")
	run(t, ctx, "map and check", chromedp.SetValue(css("#map-id"), "No"), chromedp.SetValue(css("#map-groups"), "Branch"),
		chromedp.Click(css("#roll-check")), chromedp.WaitVisible(css("#roll-report")))
	if got := text(t, ctx, "#roll-summary"); got != "7 rows read: 2 members may vote; 5 rows refused or to look at, below." {
		t.Errorf("the report: %q", got)
	}
	check("roll report")
	screenshot(t, ctx, "console-roll-report-360-en")
	setLang(t, ctx, "fr")
	run(t, ctx, "check, in French", chromedp.Click(css("#roll-check")))
	waitFor(t, ctx, "the report in French", `document.documentElement.lang === "fr" && !!document.getElementById("roll-report")`)
	check("roll report (fr)")
	screenshot(t, ctx, "console-roll-report-360-fr")
	setLang(t, ctx, "en")
	run(t, ctx, "record the roll", chromedp.Click(css("#roll-record")))
	waitFor(t, ctx, "the roll recorded", `document.documentElement.lang === "en" && !!document.getElementById("roll-done")`)
	check("roll recorded")
	screenshot(t, ctx, "console-roll-done-360-en")
	e, err := fx.Registry.Election(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := e.Size(context.Background()); n != 2 {
		t.Errorf("the log has %d entries, not the manifest and the roll", n)
	}

	// The confirmation before voting opens, on an election ready to open.
	f2, err := demo.Prepare(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 30, Workers: 2, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f2.Store.Close() })
	bg := context.Background()
	if err := f2.RecordManifest(bg); err != nil {
		t.Fatal(err)
	}
	if err := f2.Ceremony(bg); err != nil {
		t.Fatal(err)
	}
	for _, e := range append([][]byte{f2.RollEntry}, f2.CredentialEntries...) {
		if _, err := f2.Election.Append(bg, e); err != nil {
			t.Fatal(err)
		}
	}
	base2, stop, err := f2.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	admin2, err := f2.StaffSession(context.Background(), base2)
	if err != nil {
		t.Fatal(err)
	}
	staffSignIn(t, ctx, base2, admin2, "olga@example.org")
	for _, lang := range []string{"en", "fr"} {
		setLang(t, ctx, lang)
		run(t, ctx, "open", chromedp.Navigate(base2+"/e/"+demo.ElectionID+"/console"), chromedp.WaitVisible(css("#open-voting")), chromedp.Click(css("#open-voting")),
			chromedp.WaitVisible(css("#confirm-action")))
		want := map[string]string{"en": "Voting opens now for the 30 members on the roll.", "fr": "Le vote s'ouvre maintenant pour les 30 membres de la liste électorale."}[lang]
		if got := text(t, ctx, "#confirm-what"); !strings.Contains(got, want) {
			t.Errorf("the confirmation (%s): %q", lang, got)
		}
		check("confirm open (" + lang + ")")
		screenshot(t, ctx, "console-confirm-open-360-"+lang)
		if lang == "en" {
			// Cancel, by keyboard: nothing happens.
			run(t, ctx, "cancel", chromedp.Focus(css("#confirm-cancel")), chromedp.KeyEvent("\r"), chromedp.WaitVisible(css("#open-voting")))
			if got := phaseAndSize(t, f2); !strings.HasPrefix(got, "setup/") {
				t.Fatalf("cancelling opened voting: %s", got)
			}
		}
	}
	run(t, ctx, "confirm by keyboard", chromedp.Focus(css("#confirm-action")), chromedp.KeyEvent("\r"))
	waitFor(t, ctx, "opened", `new URLSearchParams(location.search).get("done") === "open"`)
	if got := phaseAndSize(t, f2); !strings.HasPrefix(got, "voting/") {
		t.Errorf("confirmed, the election is %s", got)
	}
}
