package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// passkeySite is a site where passkeys are available (a relying party
// named), with a fresh first administrator signed in by password (no
// second factor yet): the site's address and the session's cookie.
func passkeySite(t *testing.T) (base string, ck *http.Cookie, client *http.Client) {
	t.Helper()
	fx, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 1, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fx.Store.Close() })
	srv := httptest.NewUnstartedServer(nil)
	base = "http://" + srv.Listener.Addr().String()
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
	link, _, err := staff.SetupLink("", base)
	if err != nil {
		t.Fatal(err)
	}
	client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, _ := url.Parse(link)
	resp, err := client.PostForm(base+"/setup", url.Values{"token": {u.Query().Get("token")}, "email": {"ada@example.org"}, "name": {"Ada"}, "password": {staffPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return base, staffCookieOr(resp, nil), client
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
	if resp.StatusCode != 200 || !strings.Contains(page, `id="recovery-codes"`) {
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
