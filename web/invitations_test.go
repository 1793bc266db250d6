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
	"github.com/scrutin/scrutin/internal/demo"
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

// invitationsSite is a served election without a manifest, and an
// officer's session.
func invitationsSite(t *testing.T, noMail bool) (f *demo.Fixture, base, id string, admin *http.Cookie) {
	t.Helper()
	ctx := context.Background()
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, NoSignIn: true, NoConsoleMail: noMail})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	id = "board-2027"
	if _, err := f.Registry.Create(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	if admin, err = f.StaffSession(ctx, base); err != nil {
		t.Fatal(err)
	}
	return f, base, id, admin
}

func postIdentity(t *testing.T, base, id, token string, s *crypto.TrusteeSecrets, name string) (int, string) {
	t.Helper()
	ident, _ := json.Marshal(crypto.Trustee{Name: name, Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	body, _ := json.Marshal(map[string]any{"invitation": token, "identity": json.RawMessage(ident)})
	resp, b := send(t, "POST", base+"/api/e/"+id+"/trustee-identities", "application/json", string(body), nil)
	return resp.StatusCode, b
}

// TestInvitationLinkWithoutMail: on a server without mail, the console
// shows the invitation link once (and the trail says no e-mail was sent);
// inviting again replaces the link and the identity; a removed
// invitation's link no longer works.
func TestInvitationLinkWithoutMail(t *testing.T) {
	f, base, id, admin := invitationsSite(t, true)
	console := base + "/e/" + id + "/console"
	form := "application/x-www-form-urlencoded"
	resp, body := send(t, "GET", console, "", "", admin)
	if resp.StatusCode != 200 || !strings.Contains(body, "Mail is not set up on this server") {
		t.Fatalf("console without mail: %s", resp.Status)
	}
	resp, body = send(t, "POST", console+"/trustees/preview", form, "name=Ada&email=ada%40example.org", admin)
	if resp.StatusCode != 200 || !strings.Contains(body, "Make the invitation link") {
		t.Fatalf("preview: %s", resp.Status)
	}
	linkRE := regexp.MustCompile(`<div class="ok" role="status" id="invite-link">.*?<code>([^<]*)#invite=([A-Za-z0-9_-]{43})</code>`)
	invite := func(v string) string {
		t.Helper()
		resp, body := send(t, "POST", console+"/trustees/invite", form, v, admin)
		m := linkRE.FindStringSubmatch(strings.ReplaceAll(body, "\n", " "))
		if resp.StatusCode != 200 || m == nil || m[1] != base+"/e/"+id+"/trustee" {
			t.Fatalf("invite %s: %s, link %q", v, resp.Status, m)
		}
		return m[2]
	}
	tok := invite("name=Ada&email=ada%40example.org")
	if f.Mail.Count("ada@example.org") != 0 {
		t.Fatal("a letter was sent")
	}
	if _, body := send(t, "GET", console, "", "", admin); strings.Contains(body, tok) {
		t.Fatal("the link is shown again")
	}
	s1, _ := crypto.NewTrusteeSecrets(nil)
	if st, body := postIdentity(t, base, id, tok, s1, "Ada"); st != http.StatusCreated {
		t.Fatalf("identity: %d %s", st, body)
	}
	// Invited again: the old link is refused, the new one replaces the
	// identity.
	tok2 := invite("invitation=1")
	s2, _ := crypto.NewTrusteeSecrets(nil)
	if st, _ := postIdentity(t, base, id, tok, s2, "Ada"); st != http.StatusForbidden {
		t.Fatalf("the old link after inviting again: %d", st)
	}
	if _, body := send(t, "GET", console, "", "", admin); strings.Contains(body, "Identity received") {
		t.Fatal("the replaced identity is still shown as received")
	}
	if st, body := postIdentity(t, base, id, tok2, s2, "Ada"); st != http.StatusCreated {
		t.Fatalf("identity with the new link: %d %s", st, body)
	}
	fp := (&crypto.Trustee{Name: "Ada", Signing: s2.Signing.PublicKey(), Encryption: s2.Encryption.PublicKey()}).Fingerprint()
	if _, body := send(t, "GET", console, "", "", admin); !strings.Contains(body, fmt.Sprintf("%x", fp[:2])) {
		t.Fatal("the console does not show the new identity's fingerprint")
	}
	// The roster, made, is up to date until the trustees change.
	_, shown := send(t, "GET", console, "", "", admin)
	if resp, body := send(t, "POST", console+"/trustees/roster", form, rosterForm(t, shown, "1", "Board 2027").Encode(), admin); resp.StatusCode != 200 || !strings.Contains(body, `id="roster-made"`) || strings.Contains(body, `id="roster-stale"`) {
		t.Fatalf("make the roster: %s", resp.Status)
	}
	// Removed: the link no longer works.
	tok3 := invite("name=Bob&email=bob%40example.org")
	if _, body := send(t, "GET", console, "", "", admin); !strings.Contains(body, `id="roster-stale"`) {
		t.Fatal("the roster is not said to be out of date after a new invitation")
	}
	if resp, _ := send(t, "POST", console+"/trustees/remove", form, "invitation=2", admin); resp.StatusCode != 200 {
		t.Fatalf("remove: %s", resp.Status)
	}
	s3, _ := crypto.NewTrusteeSecrets(nil)
	if st, _ := postIdentity(t, base, id, tok3, s3, "Bob"); st != http.StatusForbidden {
		t.Fatalf("a removed invitation's link: %d", st)
	}
	if _, body := send(t, "GET", console, "", "", admin); strings.Contains(body, `id="roster-stale"`) {
		t.Fatal("the roster is said to be out of date once the trustees are as it was made")
	}
	// The trail says what was done, with no token.
	_, trail := send(t, "GET", console+"/trail", "", "", admin)
	for _, tk := range []string{tok, tok2, tok3} {
		if strings.Contains(trail, tk) {
			t.Fatal("a token is in the trail")
		}
	}
	if !strings.Contains(trail, "trustees-invite") || !strings.Contains(trail, "trustees-remove") || !strings.Contains(trail, "link shown to copy") {
		t.Fatalf("the trail lacks the invitations:\n%s", trail)
	}
	// Someone without a session cannot invite.
	if resp, _ := send(t, "POST", console+"/trustees/invite", form, "name=Eve&email=eve%40example.org", nil); resp.StatusCode == 200 {
		t.Fatal("an invitation without a session")
	}
}

// TestIdentityAPILimits: the identity API takes a client's requests at the
// sign-in's rate; beyond its burst, 429 with Retry-After.
func TestIdentityAPILimits(t *testing.T) {
	_, base, id, _ := invitationsSite(t, true)
	s, _ := crypto.NewTrusteeSecrets(nil)
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		st, body := postIdentity(t, base, id, "x", s, "Ada")
		switch st {
		case http.StatusForbidden:
		case http.StatusTooManyRequests:
			limited = i >= 15
			if !limited {
				t.Fatalf("limited after %d requests", i)
			}
		default:
			t.Fatalf("request %d: %d %s", i, st, body)
		}
	}
	if !limited {
		t.Fatal("40 requests in a row are not limited")
	}
}
