package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

var sendIDField = regexp.MustCompile(`name="send" value="([^"]+)"`)

// TestTellMembers: the officer previews the "voting is open" letter (both
// languages, link, dates, fingerprint, the number of recipients), sends
// it (twice at once: nobody gets two copies), then a reminder that goes
// only to those who have not voted, counted and written to the trail.
func TestTellMembers(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 6, Workers: 2, Seed: 5, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Store.Close() })
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	admin, err := f.StaffSession(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, sendID string) string {
		t.Helper()
		resp, body := send(t, "POST", base+el+"/console/members/"+path, "application/x-www-form-urlencoded", url.Values{"send": {sendID}}.Encode(), admin)
		if resp.StatusCode == 303 {
			_, body = send(t, "GET", base+el+"/console/members", "", "", admin)
		} else if resp.StatusCode != 200 {
			t.Fatalf("POST %s %s: %s\n%s", path, sendID, resp.Status, body)
		}
		return body
	}
	for _, v := range []int{0, 1} {
		if err := f.CastAs(ctx, base, v); err != nil {
			t.Fatal(err)
		}
	}
	n := len(f.Emails)
	// addresses are the members' addresses, once each (members may share
	// one), of the members not in skip.
	addresses := func(skip ...int) []string {
		var out []string
		for i, e := range f.Emails {
			if !slices.Contains(skip, i) && !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
		return out
	}
	all := addresses()
	_, page := send(t, "GET", base+el+"/console/members", "", "", admin)
	for _, want := range []string{fmt.Sprintf(`id="mail-members">%d<`, n), fmt.Sprintf(`id="mail-not-voted">%d<`, n-2), `id="preview-open"`, `id="preview-reminder"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the members page lacks %q", want)
		}
	}

	// The preview is the exact letter, in both languages.
	body := post("preview", "new-open")
	fp := fmt.Sprintf("%x", f.F[:])
	grouped := fp[:4] + " " + fp[4:8]
	link := base + el + "/vote"
	for _, want := range []string{fmt.Sprintf("It goes to %d addresses", len(all)), "Voting is open in", "Le vote est ouvert pour", link, grouped,
		"Voting opened on ", " and closes on ", "Le vote a ouvert le ", " et ferme le ", " UTC", f.Manifest.Title.In("fr")} {
		if !strings.Contains(body, want) {
			t.Errorf("the preview lacks %q", want)
		}
	}
	m := sendIDField.FindStringSubmatch(body[strings.Index(body, `id="mail-preview"`):])
	if m == nil || m[1] != "open" {
		t.Fatalf("the preview's form sends %v, not the open send", m)
	}
	// Two clicks at once.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { post("send", "open") })
	}
	wg.Wait()
	page = waitSends(t, base, admin, "open")
	if !strings.Contains(page, fmt.Sprintf("sent %d, failed 0", len(all))) {
		t.Errorf("the members page does not count the send:\n%s", page)
	}
	letters := map[string]int{}
	check := func(when string) {
		t.Helper()
		for _, e := range all {
			if c := f.Mail.Count(e); c != letters[e] {
				t.Errorf("%s: %s got %d letters, want %d", when, e, c, letters[e])
			}
		}
	}
	for _, e := range all {
		letters[e] = 1
	}
	check("the open letter")
	letter := f.Mail.Letters(all[len(all)-1])[0]
	if !strings.Contains(letter, "Vote here: "+link+"\r\n") || !strings.Contains(letter, "Votez ici : "+link) || !strings.Contains(letter, grouped) {
		t.Errorf("the letter lacks the link or the fingerprint:\n%s", letter)
	}
	if strings.Contains(letter, "%!") {
		t.Errorf("the letter has a formatting error:\n%s", letter)
	}
	// Once sent, it is not offered again, and sending it again mails nobody.
	if _, page = send(t, "GET", base+el+"/console/members", "", "", admin); strings.Contains(page, `id="preview-open"`) {
		t.Error("the open letter is offered again")
	}
	if body := post("preview", "open"); !strings.Contains(body, "Nobody is left to send it to.") || strings.Contains(body, `id="mail-send"`) {
		t.Error("the open letter can be sent again")
	}
	post("send", "open")
	check("the open letter sent again")

	// A reminder: only to those who have not voted, also in French.
	body = post("preview", "new-reminder")
	if want := addresses(0, 1); !strings.Contains(body, fmt.Sprintf("It goes to %d addresses", len(want))) || !strings.Contains(body, "You have not voted yet") || !strings.Contains(body, "Vous n&#39;avez pas encore voté") {
		t.Errorf("the reminder's preview is wrong (%d addresses):\n%s", len(want), body)
	}
	m = sendIDField.FindStringSubmatch(body[strings.Index(body, `id="mail-preview"`):])
	if m == nil || !strings.HasPrefix(m[1], "r-") {
		t.Fatalf("the reminder's preview has no send id: %v", m)
	}
	rid := m[1]
	// Member 2 votes after the preview: the reminder skips them. The
	// sending stopped while the last member's letter was going (a
	// restart): it is not sent again.
	if err := f.CastAs(ctx, base, 2); err != nil {
		t.Fatal(err)
	}
	key, _, err := server.LoadSignInList(f.Dir())
	if err != nil {
		t.Fatal(err)
	}
	lost := f.Emails[n-1]
	if ok, err := f.DB.Shared().ClaimMail(ctx, f.ID, rid, web.MailAddr(key, lost), time.Now()); err != nil || !ok {
		t.Fatal(ok, err)
	}
	post("send", rid)
	page = waitSends(t, base, admin, rid)
	reminded := 0
	for _, e := range addresses(0, 1, 2) {
		if e != lost {
			letters[e]++
			reminded++
		}
	}
	if !strings.Contains(page, fmt.Sprintf("sent %d, failed 0", reminded)) || !strings.Contains(page, "1 not known") {
		t.Errorf("the reminder is not counted (%d sent):\n%s", reminded, page)
	}
	check("the reminder")
	if l := f.Mail.Letters(f.Emails[n-2]); !strings.Contains(l[len(l)-1], "You have not voted yet") {
		t.Errorf("the reminder is not the one previewed:\n%s", l[len(l)-1])
	}
	post("send", rid) // again: nobody
	check("the reminder sent again")

	// The staff trail has each send, started and ended, with its counts.
	_, trail := send(t, "GET", base+el+"/console/trail", "", "", admin)
	for _, want := range []string{"mail-open", "mail-reminder", "mail-done", rid} {
		if !strings.Contains(trail, want) {
			t.Errorf("the trail lacks %q", want)
		}
	}

	// After voting closes, nothing more is sent.
	if _, err := f.Election.Append(ctx, (&election.Close{At: election.Now(time.Now()), Reason: "test"}).Entry()); err != nil {
		t.Fatal(err)
	}
	resp, body := send(t, "POST", base+el+"/console/members/preview", "application/x-www-form-urlencoded", "send=new-reminder", admin)
	if resp.StatusCode != 400 || !strings.Contains(body, "only while voting is open") {
		t.Errorf("a reminder after the close: %s", resp.Status)
	}
}

// waitSends waits until this node no longer sends the send, and returns
// the members page.
func waitSends(t *testing.T, base string, admin *http.Cookie, id string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, page := send(t, "GET", base+el+"/console/members", "", "", admin)
		row := page[strings.Index(page, `id="send-`+id+`"`)+1:]
		if i := strings.Index(page, `id="send-`+id+`"`); i >= 0 && !strings.Contains(row[:strings.Index(row, "</li>")], "Sending now") {
			return page
		}
		if time.Now().After(deadline) {
			t.Fatalf("the send %s did not end:\n%s", id, page)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestBrowserTellMembers: the officer tells members in the browser, in
// English then French, on a 360-px screen: the page, the preview and the
// counts pass axe-core's checks and fit the screen.
func TestBrowserTellMembers(t *testing.T) {
	ctx := browser(t)
	bg := context.Background()
	f, err := demo.Setup(bg, demo.Options{Dir: t.TempDir(), Voters: 5, Workers: 2, Seed: 9, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Store.Close() })
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if err := f.CastAs(bg, base, 0); err != nil {
		t.Fatal(err)
	}
	script := ""
	if os.Getenv("SCRUTIN_AXE") != "" {
		script = axe(t)
	}
	check := func(page, shot string) {
		t.Helper()
		if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
			screenshot(t, ctx, shot+"-too-wide")
			t.Errorf("%s is wider than a 360-px screen", page)
		}
		if script != "" {
			checkAxe(t, ctx, script, page)
		}
		screenshot(t, ctx, shot)
	}
	members := base + el + "/console/members"
	run(t, ctx, "console", chromedp.Navigate(base+el+"/console"), chromedp.WaitVisible(css("#password")),
		chromedp.SendKeys(css("#email"), f.StaffEmail), chromedp.SendKeys(css("#password"), f.StaffPassword),
		chromedp.Submit(css("#password")), chromedp.WaitVisible(css("#code")))
	code, _ := totp.GenerateCode(f.StaffTOTP, time.Now())
	run(t, ctx, "second step", chromedp.SendKeys(css("#code"), code), chromedp.Submit(css("#code")), chromedp.WaitVisible(css("#members-link")))
	run(t, ctx, "members page", chromedp.Click(css("#members-link")), chromedp.WaitVisible(css("#preview-open")))
	check("tell members", "members-en")
	run(t, ctx, "preview", chromedp.Click(css("#preview-open")), chromedp.WaitVisible(css("#mail-send")))
	if got := text(t, ctx, "#mail-body"); !strings.Contains(got, "Voting is open in") || !strings.Contains(got, "Le vote est ouvert pour") {
		t.Errorf("the preview: %q", got)
	}
	check("tell members: the preview", "members-preview-en")
	run(t, ctx, "send", chromedp.Click(css("#mail-send")), chromedp.WaitVisible(css("#send-open")))
	n := len(addressesOf(f.Emails))
	if got := text(t, ctx, "#send-open .mail-count"); got != fmt.Sprintf("sent %d, failed 0", n) {
		t.Errorf("the count: %q", got)
	}
	check("tell members: sent", "members-sent-en")

	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/lang", {method: "POST", body: new URLSearchParams({lang: "fr", back: "/"})}).then(r => r.ok)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "members page (fr)", chromedp.Navigate(members), chromedp.WaitVisible(css("#preview-reminder")))
	check("tell members (fr)", "members-fr")
	run(t, ctx, "reminder (fr)", chromedp.Click(css("#preview-reminder")), chromedp.WaitVisible(css("#mail-send")))
	check("tell members (fr): the reminder's preview", "members-preview-fr")
	run(t, ctx, "send (fr)", chromedp.Click(css("#mail-send")), chromedp.WaitVisible(css("#sends-list li:nth-child(2)")))
	if got := text(t, ctx, "#sends-list li:first-child .mail-count"); !strings.HasPrefix(got, "envoyés : ") || !strings.HasSuffix(got, "échecs : 0") {
		t.Errorf("the reminder's count (fr): %q", got)
	}
	check("tell members (fr): sent", "members-sent-fr")

	// The trail says it in words, addresses unbroken on a phone.
	for _, lang := range []string{"fr", "en"} {
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/lang", {method: "POST", body: new URLSearchParams({lang: "`+lang+`", back: "/"})}).then(r => r.ok)`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		// The people page too: its drop-downs styled as the other fields.
		run(t, ctx, "people", chromedp.Navigate(base+"/staff/people"), chromedp.WaitVisible(css("#invite-role")))
		if w := eval[bool](t, ctx, `(() => { const s = getComputedStyle(document.getElementById("invite-role")); return s.borderTopWidth === "2px" && parseFloat(s.minHeight) >= 44; })()`); !w {
			t.Errorf("%s: the people page's drop-downs are not styled as the other fields", lang)
		}
		if bad := eval[string](t, ctx, `Array.from(document.querySelectorAll(".people .address")).filter(e => e.getClientRects().length > 1 || e.getBoundingClientRect().height > 40).map(e => e.textContent).join(", ")`); bad != "" {
			t.Errorf("%s: the people page breaks addresses: %s", lang, bad)
		}
		check("people ("+lang+")", "people-"+lang)
		for _, u := range []string{base + el + "/console/trail", base + "/staff/trail"} {
			run(t, ctx, "trail", chromedp.Navigate(u), chromedp.WaitVisible(css("#trail")))
			name := "trail-election-" + lang
			if strings.HasPrefix(u, base+"/staff") {
				name = "trail-" + lang
			}
			// An address is never broken inside a word's letters: its
			// box is at most as many lines as it has breakable parts.
			if bad := eval[string](t, ctx, `Array.from(document.querySelectorAll(".trail .address")).filter(e => e.getClientRects().length > 2).map(e => e.textContent).join(", ")`); bad != "" {
				t.Errorf("%s: addresses broken: %s", name, bad)
			}
			check(name, name)
		}
	}
	if got := text(t, ctx, "#trail li:first-child .trail-what"); got != "Finished a send to members" {
		t.Errorf("the election's trail's last event: %q", got)
	}
}

func addressesOf(emails []string) []string {
	var out []string
	for _, e := range emails {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}
