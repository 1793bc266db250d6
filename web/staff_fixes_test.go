package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// passkeySite is a site where passkeys are available (a relying party
// named), with a fresh first administrator signed in by password (no
// second factor yet): the site's address and the session's cookie.
func passkeySite(t *testing.T) (base string, ck *http.Cookie, client *http.Client) {
	t.Helper()
	base, link := passkeyServer(t, "127.0.0.1")
	client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, _ := url.Parse(link)
	resp, err := client.PostForm(base+"/setup", url.Values{"token": {u.Query().Get("token")}, "email": {"ada@example.org"}, "name": {"Ada"}, "password": {staffPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return base, staffCookieOr(resp, nil), client
}

// passkeyServer serves a site whose passkeys are for localhost, reached
// at host (a browser's passkeys need the name localhost), and returns its
// address and the setup link.
func passkeyServer(t *testing.T, host string) (base, link string) {
	t.Helper()
	fx, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 1, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fx.Store.Close() })
	srv := httptest.NewUnstartedServer(nil)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	base = "http://" + net.JoinHostPort(host, port)
	staff, err := accounts.Open(accounts.Options{Dir: t.TempDir(), RPID: "localhost", RPOrigins: []string{base}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { staff.Close() })
	var site *web.Site
	api := fx.Election.Handler(server.Options{NoSignIn: true, Officer: func(r *http.Request, action string) (func(string), error) {
		return site.Officer(demo.ElectionID)(r, action)
	}})
	if site, err = web.New(web.Options{Elections: oneElection(demo.ElectionID, fx.Election, api), Accounts: staff}); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = site
	srv.Start()
	t.Cleanup(srv.Close)
	link, _, err = staff.SetupLink("", base)
	if err != nil {
		t.Fatal(err)
	}
	return base, link
}

const staffPass = "a long and quiet river"

func do(t *testing.T, c *http.Client, method, u string, form url.Values, ck *http.Cookie) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if ck != nil {
		req.AddCookie(ck)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var totpSecret = regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`)

// TestTOTPOnlyNotOfferedPasskey (issue 17): an account with only an
// authenticator app, on a server where passkeys are available, is not
// offered "Use my passkey" after a wrong code.
func TestTOTPOnlyNotOfferedPasskey(t *testing.T) {
	base, ck, c := passkeySite(t)
	_, page := do(t, c, "GET", base+"/staff/enrol", nil, ck)
	m := totpSecret.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no TOTP secret on the enrol page:\n%s", page)
	}
	code, _ := totp.GenerateCode(m[1], time.Now())
	resp, page := do(t, c, "POST", base+"/staff/enrol/totp", url.Values{"code": {code}}, ck)
	if resp.StatusCode != 200 || !strings.Contains(page, `id="recovery-codes"`) || !strings.Contains(page, `id="print-codes"`) || !strings.Contains(page, "recovery codes of the staff account ada@example.org") {
		t.Fatalf("enrolling the app: %s\n%s", resp.Status, page)
	}
	// Sign in again: the password, then a wrong code.
	resp, _ = do(t, c, "POST", base+"/staff/sign-in", url.Values{"email": {"ada@example.org"}, "password": {staffPass}}, nil)
	ck = staffCookieOr(resp, nil)
	_, page = do(t, c, "GET", base+"/staff/verify", nil, ck)
	if strings.Contains(page, "passkey-button") {
		t.Error("the second step offers a passkey to an account without one")
	}
	resp, page = do(t, c, "POST", base+"/staff/verify", url.Values{"code": {"000000"}}, ck)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong code: %s", resp.Status)
	}
	if strings.Contains(page, "passkey-button") {
		t.Error("after a wrong code, an account without a passkey is offered one")
	}
	if !strings.Contains(page, `id="code"`) {
		t.Error("after a wrong code, the code's box is gone")
	}
}

// TestBrowserPasskeyEnrolCodes (issue 17): once a passkey is added, the
// enrol page shows the recovery codes alone (no "Add a passkey", no app
// form around them), with a print button that prints the codes alone and
// a download of them as a text file.
func TestBrowserPasskeyEnrolCodes(t *testing.T) {
	ctx := browser(t)
	_, link := passkeyServer(t, "localhost")
	run(t, ctx, "authenticator", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if _, err := cdp.Call(ctx, tg, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true,
			HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
		return err
	}))
	run(t, ctx, "setup", chromedp.Navigate(link), chromedp.WaitVisible(css("#password")),
		chromedp.SendKeys(css("#name"), "Ada"), chromedp.SendKeys(css("#email"), "ada@example.org"), chromedp.SendKeys(css("#password"), staffPass),
		chromedp.Submit(css("#password")), chromedp.WaitVisible(css("#passkey-button")))
	run(t, ctx, "add a passkey", chromedp.Click(css("#passkey-button")), chromedp.WaitVisible(css("#passkey-recovery")), chromedp.WaitVisible(css("#print-codes")))
	visible := func(sel string) bool {
		return eval[bool](t, ctx, `(() => { const e = document.querySelector(`+strconv.Quote(sel)+`); return !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden"; })()`)
	}
	for _, sel := range []string{"#passkey-button", "#code", "#totp-secret"} {
		if visible(sel) {
			t.Errorf("after the passkey is added, %s is still shown", sel)
		}
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#passkey-codes code").length`); n < 8 {
		t.Fatalf("%d recovery codes shown", n)
	}
	if script := os.Getenv("SCRUTIN_AXE"); script != "" {
		checkAxe(t, ctx, axe(t), "enrol: the passkey's recovery codes")
	}
	screenshot(t, ctx, "staff-passkey-codes-en")
	// The download is the codes, one a line, under a heading.
	text := value(t, ctx, "download", chromedp.Evaluate[string](`new Promise(resolve => {
		const orig = URL.createObjectURL;
		URL.createObjectURL = (b) => { b.text().then(resolve); return orig(b); };
		document.getElementById("download-codes").click();
	})`, chromedp.EvalAwaitPromise))
	codes := eval[string](t, ctx, `Array.from(document.querySelectorAll("#passkey-codes code"), c => c.textContent).join("\n")`)
	if !strings.Contains(text, "ada@example.org") || !strings.HasSuffix(text, "\n\n"+codes+"\n") {
		t.Errorf("the downloaded file: %q (codes %q)", text, codes)
	}
	// Printed: the codes and their heading only.
	run(t, ctx, "print", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"})
		return err
	}))
	for sel, want := range map[string]bool{"h1": false, "header nav": false, "#passkey-recovery > p": false, "#print-codes": false, "#passkey-codes code": true, "#codes-sheet .print-only": true} {
		if got := visible(sel); got != want {
			t.Errorf("printed, %s shown: %v, want %v", sel, got, want)
		}
	}
	screenshot(t, ctx, "staff-passkey-codes-print")
}

// TestTrailSaysWhichEntry (issue 17): the trail says which entry a console
// "entry" recorded (its kind and its number in the log), in words.
func TestTrailSaysWhichEntry(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 1, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Store.Close() })
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := f.StaffSession(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := uploadFile(t, base+el+"/console/entry", "file", f.RollEntry, admin)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("recording the roll: %s %.300s", resp.Status, body)
	}
	var size int64
	f.Election.State(func(st *election.State) { size = st.Size })
	_, trail := send(t, "GET", base+el+"/console/trail", "", "", admin)
	for _, want := range []string{"<strong>Recorded an entry</strong>", "<dt>Entry</dt><dd>the roll</dd>", "<dt>Entry number in the log</dt><dd>" + strconv.FormatInt(size-1, 10) + "</dd>"} {
		if !strings.Contains(trail, want) {
			t.Errorf("the trail lacks %q", want)
		}
	}
	if strings.Contains(trail, "=&#34;") {
		t.Error("the trail shows raw key=\"value\" pairs")
	}
}

// TestStaffInvitationMailed (issue 17): on a server that sends mail, a
// staff invitation is e-mailed to the person, in both languages, with a
// link that works; the people page says so, and names roles in words.
func TestStaffInvitationMailed(t *testing.T) {
	f, base := newDemo(t, 2)
	admin, err := f.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	resp, page := send(t, "POST", base+"/staff/people/invite", "application/x-www-form-urlencoded",
		url.Values{"email": {"Olga@Example.org"}, "name": {"Olga"}, "role": {"officer"}, "scope": {demo.ElectionID}}.Encode(), admin)
	if resp.StatusCode != 200 || !strings.Contains(page, "The invitation is e-mailed to olga@example.org.") {
		t.Fatalf("inviting: %s\n%s", resp.Status, page)
	}
	if !strings.Contains(page, `<option value="officer">returning officer</option>`) {
		t.Error("the role drop-down does not name roles in words")
	}
	letters := f.Mail.Letters("olga@example.org")
	if len(letters) != 1 {
		t.Fatalf("%d letters to the invitee", len(letters))
	}
	m := regexp.MustCompile(`/staff/invite\?token=([a-z0-9]+)`).FindStringSubmatch(letters[0])
	if m == nil || !strings.Contains(letters[0], "Hello Olga,") || !strings.Contains(letters[0], "Bonjour Olga,") || !strings.Contains(letters[0], "as returning officer (demo)") || strings.Contains(letters[0], "%!") {
		t.Fatalf("the invitation letter:\n%s", letters[0])
	}
	if resp, _ := send(t, "GET", base+"/staff/invite?token="+m[1], "", "", nil); resp.StatusCode != 200 {
		t.Errorf("the mailed link: %s", resp.Status)
	}
}
