package web_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/softkey"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// TestPasskeyOverHTTP: an administrator enrols a passkey through the
// site's JSON endpoints (as web/static/staff.js does) and uses it as the
// second step; the same authenticator answering for a look-alike origin is
// refused, and that session can do nothing.
func TestPasskeyOverHTTP(t *testing.T) {
	fx, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 1, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fx.Store.Close()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	staff, err := accounts.Open(accounts.Options{Dir: t.TempDir(), RPID: "localhost", RPOrigins: []string{base}})
	if err != nil {
		t.Fatal(err)
	}
	defer staff.Close()
	var site *web.Site
	api := fx.Election.Handler(server.Options{NoSignIn: true, Officer: func(r *http.Request, action string) (func(string), error) {
		return site.Officer(demo.ElectionID)(r, action)
	}})
	if site, err = web.New(web.Options{Elections: oneElection(demo.ElectionID, fx.Election, api), Accounts: staff}); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = site
	srv.Start()
	defer srv.Close()

	link, _, err := staff.SetupLink("", base)
	if err != nil {
		t.Fatal(err)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cookie := func(resp *http.Response) *http.Cookie {
		for _, c := range resp.Cookies() {
			if c.Name == web.StaffCookie {
				return c
			}
		}
		t.Fatalf("no session cookie (%s)", resp.Status)
		return nil
	}
	u, _ := url.Parse(link)
	const pw = "a long and quiet river"
	resp, err := noRedirect.PostForm(base+"/setup", url.Values{"token": {u.Query().Get("token")}, "email": {"ada@example.org"}, "name": {"Ada"}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := cookie(resp)
	var last *http.Response
	post := func(ck *http.Cookie, path string, body []byte) (int, []byte) {
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.AddCookie(ck)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		last = resp
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	key := softkey.New(t, base, "localhost")
	st, opts := post(ck, "/staff/passkey/register", nil)
	if st != 200 {
		t.Fatalf("register: %d %s", st, opts)
	}
	st, b := post(ck, "/staff/passkey/register-finish", key.Create(t, opts))
	if st != 200 || !strings.Contains(string(b), `"recovery":[`) {
		t.Fatalf("register-finish: %d %s", st, b)
	}
	// Sign in again: password, then the passkey.
	signIn := func() *http.Cookie {
		resp, err := noRedirect.PostForm(base+"/staff/sign-in", url.Values{"email": {"ada@example.org"}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Location") != "/staff/verify" {
			t.Fatalf("after the password: %s", resp.Header.Get("Location"))
		}
		return cookie(resp)
	}
	canAct := func(ck *http.Cookie) bool {
		req, _ := http.NewRequest("GET", base+"/staff/account", nil)
		req.AddCookie(ck)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	s1 := signIn()
	_, opts = post(s1, "/staff/passkey/login", nil)
	if st, b := post(s1, "/staff/passkey/login-finish", key.Get(t, opts)); st != 200 {
		t.Fatalf("the passkey: %d %s", st, b)
	}
	if canAct(s1) {
		t.Fatal("the session id from before the second step can act: it was not changed")
	}
	if !canAct(cookie(last)) {
		t.Fatal("the passkey's session cannot act")
	}
	// A phishing site on another origin relays the challenge.
	phished := *key
	phished.Origin = "https://vote-example.org"
	s2 := signIn()
	_, opts = post(s2, "/staff/passkey/login", nil)
	if st, _ := post(s2, "/staff/passkey/login-finish", phished.Get(t, opts)); st != 400 {
		t.Fatalf("an assertion for another origin: %d", st)
	}
	if canAct(s2) {
		t.Fatal("the phished session can act")
	}
	// A half-signed-in session cannot enrol another factor to skip the
	// second step.
	if st, _ := post(s2, "/staff/passkey/register", nil); st != 400 {
		t.Fatalf("a half session began enrolling a passkey: %d", st)
	}
}

// TestStaffLimitsBehindProxy: behind a trusted reverse proxy, the staff
// sign-in limits count each client the proxy names, so one guesser does
// not lock everyone out.
func TestStaffLimitsBehindProxy(t *testing.T) {
	fx, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 1, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fx.Store.Close()
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, fx.Election, nil), Accounts: fx.Staff, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	signIn := func(client, password string) int {
		req := httptest.NewRequest("POST", "/staff/sign-in", strings.NewReader(url.Values{"email": {fx.StaffEmail}, "password": {password}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = "127.0.0.1:4444"
		req.Header.Set("X-Forwarded-For", "192.0.2.200, "+client)
		w := httptest.NewRecorder()
		site.ServeHTTP(w, req)
		return w.Code
	}
	for range 12 {
		signIn("203.0.113.1", "not the password at all")
	}
	if code := signIn("203.0.113.1", fx.StaffPassword); code != http.StatusTooManyRequests {
		t.Errorf("the guesser, through the proxy: %d, want 429", code)
	}
	if code := signIn("198.51.100.20", fx.StaffPassword); code != http.StatusSeeOther {
		t.Errorf("the officer, through the same proxy: %d, want 303", code)
	}
}
