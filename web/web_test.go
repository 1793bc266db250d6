package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/web"
)

// el is the demo election's pages' base path.
const el = "/e/" + demo.ElectionID

// newDemo sets up an election open for voting, served by the web site on a
// loopback port: its fixture and the site's URL (the election's pages are
// under URL + el).
func newDemo(t testing.TB, voters int) (*demo.Fixture, string) {
	t.Helper()
	f, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: voters, Workers: 4, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Store.Close() })
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return f, url
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestPagesInBothLanguages renders every public page in English and French:
// no missing catalog string, the page's language declared, a strict CSP
// without inline script, and the security headers.
func TestPagesInBothLanguages(t *testing.T) {
	f, base := newDemo(t, 20)
	// A ballot, so that the lists and the tracker page have one.
	ctx := context.Background()
	if _, err := f.Vote(ctx, base); err != nil {
		t.Fatal(err)
	}
	_, list := get(t, http.DefaultClient, base+el+"/ballots")
	i := strings.Index(list, `href="`+el+`/ballots/`)
	if i < 0 {
		t.Fatal("the list of ballots links to no tracker")
	}
	tracker := list[i+len(`href="`+el+`/ballots/`) : i+len(`href="`+el+`/ballots/`)+64]
	pages := []string{"/", el + "/", el + "/vote", el + "/ballots", el + "/ballots/" + tracker, el + "/board", el + "/results", el + "/verify", el + "/audit", "/staff/sign-in"}
	for _, lang := range []string{"en", "fr"} {
		for _, p := range pages {
			resp, body := get(t, http.DefaultClient, base+p, "Accept-Language", lang)
			if resp.StatusCode != 200 {
				t.Errorf("%s (%s): %s", p, lang, resp.Status)
			}
			if strings.Contains(body, "MISSING:") {
				i := strings.Index(body, "MISSING:")
				t.Errorf("%s (%s): a string is missing from the catalog: %.60s", p, lang, body[i:])
			}
			if !strings.Contains(body, `<html lang="`+lang+`">`) {
				t.Errorf("%s: not in %s", p, lang)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval';") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("%s: weak CSP %q", p, csp)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
				t.Errorf("%s: inline script or style, which the CSP would block", p)
			}
			for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"} {
				if resp.Header.Get(h) == "" {
					t.Errorf("%s: no %s header", p, h)
				}
			}
		}
	}
	// The French catalog is French.
	_, body := get(t, http.DefaultClient, base+el+"/", "Accept-Language", "fr-BE,fr;q=0.9,en;q=0.5")
	if !strings.Contains(body, "Comment voter") {
		t.Error("the home page in French lacks its French heading")
	}
	resp, _ := get(t, http.DefaultClient, base+el+"/ballots/"+strings.Repeat("0", 64))
	if resp.StatusCode != 404 {
		t.Errorf("an unknown tracker: %s, want 404", resp.Status)
	}
}

// TestLanguageIsRemembered: the choice is kept in a cookie, and the form
// cannot send the visitor elsewhere.
func TestLanguageIsRemembered(t *testing.T) {
	_, base := newDemo(t, 3)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.PostForm(base+"/lang", url.Values{"lang": {"fr"}, "back": {"//evil.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Host != strings.TrimPrefix(base, "http://") || resp.Request.URL.Path != "/" {
		t.Errorf("the language form went to %s", resp.Request.URL)
	}
	_, body := get(t, c, base+el+"/board", "Accept-Language", "en")
	if !strings.Contains(body, `<html lang="fr">`) {
		t.Error("the chosen language was not remembered")
	}
	resp, err = c.PostForm(base+"/lang", url.Values{"lang": {"de"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("an unknown language: %s", resp.Status)
	}
}

// TestCrossOriginRefused: a state-changing request from another origin is
// refused (CSRF), on the console and on the API alike.
func TestCrossOriginRefused(t *testing.T) {
	f, base := newDemo(t, 3)
	// Even with a live staff session's cookie (as a browser would send it).
	staff, err := f.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/staff/sign-in", el + "/console/open", el + "/console/close", "/console/create", "/staff/people/invite", "/api" + el + "/admin/close", "/lang", "/api" + el + "/ballots", "/api" + el + "/sign-in", "/setup"} {
		req, _ := http.NewRequest("POST", base+p, strings.NewReader("email="+f.StaffEmail+"&password="+f.StaffPassword))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(staff)
		req.Header.Set("Origin", "https://evil.example")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s from another origin: %s, want 403", p, resp.Status)
		}
		if cookies := resp.Cookies(); len(cookies) > 0 {
			t.Errorf("POST %s from another origin set a cookie", p)
		}
	}
	f.Election.State(func(s *election.State) {
		if s.Phase.String() != "voting" {
			t.Errorf("cross-origin requests changed the election: %s", s.Phase)
		}
	})
}

// TestStaffEndpointsNeedSecondFactor: every staff page, console action and
// officers' API call is refused without a session, with a session that
// passed only its password, and for an account that has not enrolled a
// second factor; with both steps, the officer acts, and the action is in
// the audit trail.
func TestStaffEndpointsNeedSecondFactor(t *testing.T) {
	f, base := newDemo(t, 3)
	ctx := context.Background()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	pages := []string{"/console", el + "/console", "/e/no-such-election/console", "/staff/account", "/staff/people", "/staff/trail", el + "/console/form", el + "/console/roll"}
	actions := []string{el + "/console/form", el + "/console/roll", el + "/console/open", el + "/console/close", el + "/console/tally", el + "/console/result", el + "/console/manifest", el + "/console/entry",
		"/console/create", "/staff/people/invite", "/staff/people/role", "/staff/recovery", "/staff/sessions/revoke"}
	api := []string{"/api" + el + "/admin/close", "/api" + el + "/admin/tally", "/api" + el + "/admin/result", "/api" + el + "/admin/entries"}
	refused := func(who string, ck *http.Cookie, wantLocation string) {
		t.Helper()
		do := func(method, path string) *http.Response {
			req, _ := http.NewRequest(method, base+path, strings.NewReader("reason=x&email=eve@example.org&name=Eve&role=admin"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if ck != nil {
				req.AddCookie(ck)
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		for _, p := range pages {
			resp := do("GET", p)
			loc, next, _ := strings.Cut(resp.Header.Get("Location"), "?")
			if resp.StatusCode != http.StatusSeeOther || loc != wantLocation {
				t.Errorf("%s: GET %s: %s to %q, want a redirect to %s", who, p, resp.Status, resp.Header.Get("Location"), wantLocation)
			}
			// From an election's console, the way back once signed in.
			if wantNext := ""; wantLocation != "/staff/enrol" && strings.HasPrefix(p, "/e/") {
				wantNext = "next=" + url.QueryEscape(p)
				if next != wantNext {
					t.Errorf("%s: GET %s: to %q, want %s", who, p, resp.Header.Get("Location"), wantNext)
				}
			} else if next != "" {
				t.Errorf("%s: GET %s: to %q", who, p, resp.Header.Get("Location"))
			}
		}
		for _, p := range actions {
			if resp := do("POST", p); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != wantLocation {
				t.Errorf("%s: POST %s: %s to %q, want a redirect to %s", who, p, resp.Status, resp.Header.Get("Location"), wantLocation)
			}
		}
		for _, p := range api {
			if resp := do("POST", p); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: POST %s: %s, want 401", who, p, resp.Status)
			}
		}
	}
	phase := func() string {
		var ph string
		f.Election.State(func(s *election.State) { ph = s.Phase.String() })
		return ph
	}
	refused("no session", nil, "/staff/sign-in")
	refused("a forged session", &http.Cookie{Name: web.StaffCookie, Value: "forged"}, "/staff/sign-in")

	// The password alone.
	resp, err := noRedirect.PostForm(base+"/staff/sign-in", url.Values{"email": {f.StaffEmail}, "password": {f.StaffPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var half *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == web.StaffCookie {
			half = ck
		}
	}
	if half == nil || !half.HttpOnly || !half.Secure || half.SameSite != http.SameSiteStrictMode || resp.Header.Get("Location") != "/staff/verify" {
		t.Fatalf("after the password: %s to %s, cookie %+v", resp.Status, resp.Header.Get("Location"), half)
	}
	refused("a session past its password only", half, "/staff/verify")

	// An invited officer who set a password but enrolled no second factor.
	admin, err := f.StaffSession(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+"/staff/people/invite", strings.NewReader(url.Values{"email": {"olga@example.org"}, "name": {"Olga Officer"}, "role": {"officer"}, "scope": {demo.ElectionID}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(admin)
	_, body := doBody(t, noRedirect, req)
	link := regexp.MustCompile(`/staff/invite\?token=[a-z0-9]+`).FindString(body)
	if link == "" {
		t.Fatalf("no invitation link in the people page")
	}
	resp, err = noRedirect.PostForm(base+"/staff/invite", url.Values{"token": {strings.TrimPrefix(link, "/staff/invite?token=")}, "password": {"blue tractor under the rain"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var olga *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == web.StaffCookie {
			olga = ck
		}
	}
	if olga == nil || resp.Header.Get("Location") != "/staff/enrol" {
		t.Fatalf("the invitation: %s to %s", resp.Status, resp.Header.Get("Location"))
	}
	refused("an account without a second factor", olga, "/staff/enrol")
	if phase() != "voting" {
		t.Fatalf("the refusals changed the election: %s", phase())
	}

	// Both steps: the officer closes voting, and the trail says so.
	req, _ = http.NewRequest("POST", base+el+"/console/close", strings.NewReader("reason=The+end.&confirm=yes"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(admin)
	resp, _ = doBody(t, noRedirect, req)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != el+"/console?done=close" || phase() != "closed" {
		t.Fatalf("closing from the console: %s %s, phase %s", resp.Status, resp.Header.Get("Location"), phase())
	}
	req, _ = http.NewRequest("GET", base+"/staff/trail", nil)
	req.AddCookie(admin)
	_, body = doBody(t, noRedirect, req)
	// In words (issue 17), with the events' names for those who search them.
	for _, want := range []string{`data-event="election.action close"`, "<strong>Closed voting</strong>", "<dt>Result</dt><dd>done</dd>", `data-event="signin.ok"`, "account.invite", "account.activate"} {
		if !strings.Contains(body, want) {
			t.Errorf("the audit trail lacks %q", want)
		}
	}
}

func doBody(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestWasmServed: the module is served gzipped as application/wasm, and is
// the build of the current sources (run go generate ./web after a change).
func TestWasmServed(t *testing.T) {
	_, base := newDemo(t, 2)
	tr := &http.Transport{DisableCompression: true}
	req, _ := http.NewRequest("GET", base+"/static/scrutin.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("Content-Type") != "application/wasm" || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("the module is served as %q, %q", resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	if !bytes.HasPrefix(raw, []byte("\x00asm")) {
		t.Fatal("the module is not WebAssembly")
	}
	if resp, _ := get(t, http.DefaultClient, base+"/static/scrutin.wasm.gz"); resp.StatusCode != 404 {
		t.Error("the raw .gz file is served")
	}
}

// TestWasmUpToDate rebuilds the module and compares it with the embedded
// one, with the Go version that built it (another toolchain builds other
// bytes from the same sources).
func TestWasmUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the WebAssembly module")
	}
	want, err := os.ReadFile(filepath.Join("static", "scrutin.wasm.go-version"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(want)) != runtime.Version() {
		t.Skipf("the module was built by %s, this is %s: cannot compare", strings.TrimSpace(string(want)), runtime.Version())
	}
	dir := t.TempDir()
	for _, m := range []struct{ name, tags string }{{"scrutin.wasm", ""}, {"scrutin-trustee.wasm", "trustee"}} {
		out := filepath.Join(dir, m.name)
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-tags="+m.tags, "-o", out, "./wasm")
		cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
		fresh, _ := os.ReadFile(out)
		gz, _ := os.ReadFile(filepath.Join("static", m.name+".gz"))
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		embedded, _ := io.ReadAll(zr)
		if !bytes.Equal(fresh, embedded) {
			t.Fatalf("static/%s.gz is not the build of the current sources: run go generate ./web and commit it", m.name)
		}
	}
}
