package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/crypto"
)

// TestBrowserTrusteeInvitations is the officer inviting trustees in the
// console, on a 360-px phone, in English and French: the form, the
// preview, the list with the fingerprints, the threshold and the roster;
// every state passes axe-core's WCAG 2.1 AA rules (when SCRUTIN_AXE is
// set) and nothing is wider than the screen.
func TestBrowserTrusteeInvitations(t *testing.T) {
	ctx := browser(t)
	script := ""
	f, base := newDemo(t, 4)
	const id = "board-2027"
	if _, err := f.Registry.Create(context.Background(), id, nil); err != nil {
		t.Fatal(err)
	}
	admin, err := f.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	_, codes := inviteCodes(t, base, admin, "ada@example.org", accounts.RoleAdmin, accounts.AllElections)
	run(t, ctx, "staff sign-in", chromedp.Navigate(base+"/staff/sign-in"), chromedp.WaitVisible(css("#password")),
		chromedp.SendKeys(css("#email"), "ada@example.org"), chromedp.SendKeys(css("#password"), "green kettle over the hills"),
		chromedp.Submit(css("#password")), chromedp.WaitVisible(css("details summary")), chromedp.Click(css("details summary")),
		chromedp.SendKeys(css("#recovery"), codes[0]), chromedp.Submit(css("#recovery")),
		chromedp.WaitVisible(css("#console-elections")))
	check := func(page string) {
		t.Helper()
		if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
			screenshot(t, ctx, "invitations-too-wide")
			t.Fatalf("%s is wider than a 360-px screen", page)
		}
		if script != "" {
			checkAxe(t, ctx, script, page)
		}
	}
	if os.Getenv("SCRUTIN_AXE") != "" {
		script = axe(t)
	}
	console := base + "/e/" + id + "/console"
	names := []string{"Ada Lovelace", "Bo Diddley", "Cy Twombly"}
	emails := []string{"ada.l@example.org", "bo@example.org", "cy@example.org"}
	linkRE := regexp.MustCompile(`#invite=([A-Za-z0-9_-]{43})`)
	var secrets []*crypto.TrusteeSecrets
	for i, name := range names {
		run(t, ctx, "console", chromedp.Navigate(console), chromedp.WaitVisible(css("#invite-form")))
		if i == 0 {
			check("console: no trustee yet")
		}
		run(t, ctx, "preview", chromedp.SendKeys(css("#t-name"), name), chromedp.SendKeys(css("#t-email"), emails[i]),
			chromedp.Submit(css("#t-email")), chromedp.WaitVisible(css("#send-invitation")))
		if i == 0 {
			check("console: the invitation's preview")
			screenshot(t, ctx, "invitations-preview-en")
		}
		run(t, ctx, "send", chromedp.Click(css("#send-invitation")), chromedp.WaitVisible(css(fmt.Sprintf("#invitation-%d", i+1))))
		letters := f.Mail.Letters(emails[i])
		if len(letters) != 1 {
			t.Fatalf("%d letters to %s", len(letters), emails[i])
		}
		m := linkRE.FindStringSubmatch(letters[0])
		if m == nil {
			t.Fatalf("no link in the letter:\n%s", letters[0])
		}
		s, _ := crypto.NewTrusteeSecrets(nil)
		secrets = append(secrets, s)
		ident, _ := json.Marshal(crypto.Trustee{Name: name, Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
		body, _ := json.Marshal(map[string]any{"invitation": m[1], "identity": json.RawMessage(ident)})
		resp, err := http.Post(base+"/api/e/"+id+"/trustee-identities", "application/json", bytes.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("identity %d: %v %v", i, resp.Status, err)
		}
		resp.Body.Close()
	}
	run(t, ctx, "console", chromedp.Navigate(console), chromedp.WaitVisible(css("#make-roster")))
	check("console: every identity received")
	screenshot(t, ctx, "invitations-received-en")
	run(t, ctx, "make the roster", chromedp.SetValue(css("#threshold"), "2"), chromedp.Click(css("#make-roster")), chromedp.WaitVisible(css("#roster-made")))
	if cmd := text(t, ctx, "#manifest-command"); cmd != "scrutin manifest new --dir DIR --election "+id+" --roster roster.json --out manifest.json" {
		t.Fatalf("the next command: %q", cmd)
	}
	if got := text(t, ctx, "#roster-made p"); !strings.Contains(got, "any 2 of 3") {
		t.Fatalf("the roster made: %q", got)
	}
	check("console: the roster made")
	screenshot(t, ctx, "invitations-roster-en")
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/lang", {method: "POST", body: new URLSearchParams({lang: "fr", back: "/"})}).then(r => r.ok)`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "console in French", chromedp.Navigate(console), chromedp.WaitVisible(css("#roster-made")))
	if got := text(t, ctx, "#roster-made p"); !strings.Contains(got, "2 garants quelconques sur 3") {
		t.Fatalf("the roster made, in French: %q", got)
	}
	check("console (fr): the roster made")
	screenshot(t, ctx, "invitations-roster-fr")
	run(t, ctx, "preview in French", chromedp.SendKeys(css("#t-name"), "Dee"), chromedp.SendKeys(css("#t-email"), "dee@example.org"),
		chromedp.Submit(css("#t-email")), chromedp.WaitVisible(css("#send-invitation")))
	check("console (fr): the invitation's preview")
}
