package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// twoElections serves two elections open for voting, "north" and "south",
// with the staff accounts of the first: their fixtures and the site's URL.
func twoElections(t testing.TB) (north, south *demo.Fixture, base string) {
	t.Helper()
	return twoElectionsSignIn(t, false, nil)
}

// twoElectionsSignIn is twoElections, with the voters' sign-in by e-mailed
// code if signIn: the elections share one data folder, store, registry and
// staff (demo.Options.Host). With wrap, the site is given wrap(the
// registry) instead.
func twoElectionsSignIn(t testing.TB, signIn bool, wrap func(web.Elections) web.Elections) (north, south *demo.Fixture, base string) {
	t.Helper()
	ctx := context.Background()
	north, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), ID: "north", Voters: 3, Workers: 2, Seed: 7, NoSignIn: !signIn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { north.Store.Close() })
	south, err = demo.Setup(ctx, demo.Options{Host: north, ID: "south", Voters: 3, Workers: 2, Seed: 8, NoSignIn: !signIn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { south.Store.Close() })
	if wrap == nil {
		url, stop, err := north.Serve("")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return north, south, url
	}
	site, err := web.New(web.Options{Elections: wrap(north.Registry), Accounts: north.Staff})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)
	return north, south, srv.URL
}

// send makes a request with the staff cookie (if any) and returns the
// response and its body.
func send(t testing.TB, method, u, contentType, body string, ck *http.Cookie) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if ck != nil {
		req.AddCookie(ck)
	}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func staffCookieOr(resp *http.Response, old *http.Cookie) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == web.StaffCookie {
			return c
		}
	}
	return old
}

// activate sets the password of an invited account and enrols an
// authenticator app: the session it returns passed its second step.
func activate(t testing.TB, base, token string) *http.Cookie {
	t.Helper()
	ck, _ := activateCodes(t, base, token)
	return ck
}

// activateCodes is activate, returning the account's recovery codes too.
func activateCodes(t testing.TB, base, token string) (*http.Cookie, []string) {
	t.Helper()
	form := "application/x-www-form-urlencoded"
	resp, _ := send(t, "POST", base+"/staff/invite", form, url.Values{"token": {token}, "password": {"green kettle over the hills"}}.Encode(), nil)
	ck := staffCookieOr(resp, nil)
	if ck == nil || resp.Header.Get("Location") != "/staff/enrol" {
		t.Fatalf("activating the invitation: %s to %s", resp.Status, resp.Header.Get("Location"))
	}
	_, page := send(t, "GET", base+"/staff/enrol", "", "", ck)
	secret := regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	if secret == nil {
		t.Fatalf("no authenticator secret on the enrolment page")
	}
	code, _ := totp.GenerateCode(secret[1], time.Now())
	resp, page = send(t, "POST", base+"/staff/enrol/totp", form, "code="+code, ck)
	if resp.StatusCode != 200 {
		t.Fatalf("enrolling the authenticator app: %s", resp.Status)
	}
	var codes []string
	for _, m := range regexp.MustCompile(`<li><code>([^<]+)</code></li>`).FindAllStringSubmatch(page, -1) {
		codes = append(codes, m[1])
	}
	return staffCookieOr(resp, ck), codes
}

// invite has the administrator invite someone with a role in the scope
// (an election's id, or "*"), and returns their session, second step done.
func invite(t testing.TB, base string, admin *http.Cookie, email string, role accounts.Role, scope string) *http.Cookie {
	t.Helper()
	ck, _ := inviteCodes(t, base, admin, email, role, scope)
	return ck
}

// inviteCodes is invite, returning the account's recovery codes too.
func inviteCodes(t testing.TB, base string, admin *http.Cookie, email string, role accounts.Role, scope string) (*http.Cookie, []string) {
	t.Helper()
	_, body := send(t, "POST", base+"/staff/people/invite", "application/x-www-form-urlencoded",
		url.Values{"email": {email}, "name": {"Someone"}, "role": {string(role)}, "scope": {scope}}.Encode(), admin)
	link := regexp.MustCompile(`/staff/invite\?token=([a-z0-9]+)`).FindStringSubmatch(body)
	if link == nil {
		t.Fatalf("no invitation link for %s in %s", email, scope)
	}
	return activateCodes(t, base, link[1])
}

func phaseAndSize(t testing.TB, f *demo.Fixture) string {
	var ph string
	f.Election.State(func(s *election.State) { ph = s.Phase.String() })
	n, err := f.Election.Size(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%s/%d", ph, n)
}

// TestElectionIsolation (issue 15): an officer of election north gets 404
// on every console page and officers' API route of election south, the
// same answer as for an election that does not exist, and nothing about
// south appears in what they see: the console's list, their pages, the
// people and the trail (which are for roles on every election).
func TestElectionIsolation(t *testing.T) {
	north, south, base := twoElections(t)
	ctx := context.Background()
	admin, err := north.StaffSession(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	olga := invite(t, base, admin, "olga@example.org", accounts.RoleOfficer, "north")
	aldo := invite(t, base, admin, "aldo@example.org", accounts.RoleAuditor, "north")
	before := phaseAndSize(t, south)

	form := "application/x-www-form-urlencoded"
	type request struct{ method, path, ctype, body string }
	var requests []request
	add := func(method, path, ctype, body string) {
		requests = append(requests, request{method, path, ctype, body})
	}
	add("GET", "/e/{id}/console", "", "")
	add("GET", "/e/{id}/console?done=open", "", "")
	add("GET", "/e/{id}/console/trail", "", "")
	for _, a := range []string{"manifest", "entry", "open", "close", "tally", "result", "nope"} {
		add("POST", "/e/{id}/console/"+a, form, "reason=Isolation+test")
	}
	for _, a := range []string{"entries", "close", "tally", "result", "nope"} {
		add("POST", "/api/e/{id}/admin/"+a, "application/json", `{"reason":"Isolation test"}`)
	}
	for who, ck := range map[string]*http.Cookie{"an officer of north": olga, "an auditor of north": aldo} {
		for _, rq := range requests {
			resp, body := send(t, rq.method, base+strings.ReplaceAll(rq.path, "{id}", "south"), rq.ctype, rq.body, ck)
			_, none := send(t, rq.method, base+strings.ReplaceAll(rq.path, "{id}", "no-such-election"), rq.ctype, rq.body, ck)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %s %s: %s, want 404", who, rq.method, rq.path, resp.Status)
			}
			if body != none {
				t.Errorf("%s: %s %s answers otherwise than for an election that does not exist:\n%.300s\n%.300s", who, rq.method, rq.path, body, none)
			}
			if strings.Contains(body, "south") {
				t.Errorf("%s: %s %s names the election", who, rq.method, rq.path)
			}
		}
	}
	if after := phaseAndSize(t, south); after != before {
		t.Fatalf("the refused requests changed south from %s to %s", before, after)
	}
	// The API itself (the registry's handler, without the site before it)
	// answers the officer of north about south as about no election.
	for _, id := range []string{"south", "no-such-election"} {
		req := httptest.NewRequest("POST", "/api/e/"+id+"/admin/close", strings.NewReader(`{"reason":"no"}`))
		req.AddCookie(olga)
		w := httptest.NewRecorder()
		north.Registry.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusNotFound || strings.TrimSpace(w.Body.String()) != `{"error":"not found"}` {
			t.Errorf("the API, for the officer of north, about %s: %d %s", id, w.Code, w.Body)
		}
	}

	// What they may see names north and never south.
	for who, ck := range map[string]*http.Cookie{"an officer of north": olga, "an auditor of north": aldo} {
		for _, p := range []string{"/console", "/e/north/console", "/e/north/console/trail", "/e/north/", "/e/north/board", "/staff/account", "/staff/people", "/staff/trail"} {
			resp, body := send(t, "GET", base+p, "", "", ck)
			if resp.StatusCode != 200 && resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: GET %s: %s", who, p, resp.Status)
			}
			if strings.Contains(body, "south") {
				t.Errorf("%s: GET %s names south: %.300s", who, p, body[strings.Index(body, "south")-min(200, strings.Index(body, "south")):])
			}
		}
		_, list := send(t, "GET", base+"/console", "", "", ck)
		if !strings.Contains(list, `href="/e/north/console"`) {
			t.Errorf("%s: the console does not list north", who)
		}
		if strings.Contains(list, "elections.create") || strings.Contains(list, `action="/console/create"`) {
			t.Errorf("%s: may create elections", who)
		}
	}
	// The officer runs north: its console and API act.
	if resp, body := send(t, "GET", base+"/e/north/console", "", "", olga); resp.StatusCode != 200 {
		t.Errorf("the officer's own console: %s", resp.Status)
	} else if m := regexp.MustCompile(`<input id="reason"[^>]*>`).FindString(body); m == "" || strings.Contains(m, "value=") {
		// The reason goes into the public log: the officer writes it
		// (a pre-filled "The voting period has ended." was published
		// by an early close).
		t.Errorf("the close reason is missing or pre-filled: %s", m)
	} else if !regexp.MustCompile(`id="console-turnout">\d+ of \d+ members \(\d`).MatchString(body) {
		t.Errorf("the console does not show the turnout as x of N members (y %%)")
	}
	resp, _ := send(t, "POST", base+"/e/north/console/close", form, "reason=The+end.&confirm=yes", olga)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/e/north/console?done=close" {
		t.Fatalf("the officer closes north: %s to %s", resp.Status, resp.Header.Get("Location"))
	}
	if resp, body := send(t, "POST", base+"/api/e/north/admin/tally", "application/json", "", olga); resp.StatusCode >= 300 {
		t.Errorf("the officer tallies north over the API: %s %s", resp.Status, body)
	}
	// Waiting for the trustees, the console says how many shares are in.
	if _, body := send(t, "GET", base+"/e/north/console", "", "", olga); !regexp.MustCompile(`id="wait-shares">[^<]*: 0 of the \d+ needed`).MatchString(body) {
		t.Errorf("the console does not count the decryption shares received:\n%s", body)
	}
	// The auditor reads north's console and acts on nothing.
	if resp, _ := send(t, "POST", base+"/e/north/console/result", form, "", aldo); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the auditor publishes north's result: %s, want 403", resp.Status)
	}
	if after := phaseAndSize(t, south); after != before {
		t.Fatalf("south changed from %s to %s", before, after)
	}
	// The auditor reads north's trail: the officer's actions, and nothing
	// of south (whose console the administrator used meanwhile).
	if resp, _ := send(t, "POST", base+"/e/south/console/close", form, "reason=South+ends.&confirm=yes", admin); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the administrator closes south: %s", resp.Status)
	}
	resp, northTrail := send(t, "GET", base+"/e/north/console/trail", "", "", aldo)
	if resp.StatusCode != 200 || !trailHas(northTrail, "close", "north") || !strings.Contains(northTrail, "olga@example.org") {
		t.Errorf("north's trail, for its auditor: %s %.1500s", resp.Status, northTrail)
	}
	if strings.Contains(northTrail, "south") || strings.Contains(northTrail, "signin") {
		t.Errorf("north's trail shows more than north: %.3000s", northTrail)
	}
	if resp, _ := send(t, "GET", base+"/e/north/console/trail", "", "", olga); resp.StatusCode != http.StatusForbidden {
		t.Errorf("north's trail, for its officer: %s, want 403", resp.Status)
	}

	// An administrator of every election sees both, and the trail says who
	// did what where.
	_, list := send(t, "GET", base+"/console", "", "", admin)
	for _, id := range []string{"north", "south"} {
		if !strings.Contains(list, `href="/e/`+id+`/console"`) {
			t.Errorf("the administrator's console does not list %s", id)
		}
	}
	if resp, _ := send(t, "GET", base+"/e/south/console", "", "", admin); resp.StatusCode != 200 {
		t.Errorf("the administrator's console of south: %s", resp.Status)
	}
	_, trail := send(t, "GET", base+"/staff/trail", "", "", admin)
	for _, want := range []string{"close", "api-tally"} {
		if !trailHas(trail, want, "north") {
			t.Errorf("the trail lacks %s in north", want)
		}
	}
}

// TestElectionPagesUnderBase: every link of an election's pages stays
// under its base (or goes to the server-wide pages), the scripts get the
// API and log bases from data attributes, and the server's home lists the
// public elections, newest first, with their status.
func TestElectionPagesUnderBase(t *testing.T) {
	north, _, base := twoElections(t)
	ctx := context.Background()
	admin, _ := north.StaffSession(ctx, base)
	resp, _ := send(t, "POST", base+"/e/south/console/close", "application/x-www-form-urlencoded", "reason=Done.&confirm=yes", admin)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("closing south: %s", resp.Status)
	}
	_, home := send(t, "GET", base+"/", "", "", nil)
	n, s := strings.Index(home, `href="/e/north/"`), strings.Index(home, `href="/e/south/"`)
	if n < 0 || s < 0 || s > n {
		t.Fatalf("the home page does not list south then north: %.2000s", home)
	}
	if !strings.Contains(home[n:], "Voting is open until") || !strings.Contains(home[n:], `<time datetime="`) {
		t.Errorf("north's status is not 'voting until' a time: %.500s", home[n:])
	}
	if !strings.Contains(home[s:n], "Voting is closed") {
		t.Errorf("south's status is not closed: %.500s", home[s:n])
	}
	req, _ := http.NewRequest("GET", base+"/", nil)
	req.Header.Set("Accept-Language", "fr")
	_, frHome := doBody(t, http.DefaultClient, req)
	if !strings.Contains(frHome, "Le vote est ouvert jusqu") || !regexp.MustCompile(`\d+ [a-zéû]+ \d{4} à \d+ h \d\d UTC`).MatchString(frHome) {
		t.Errorf("the French home does not say until when in French: %.1500s", frHome)
	}

	href := regexp.MustCompile(`(?:href|action|src)="([^"]*)"`)
	for _, p := range []string{"/", "/vote", "/ballots", "/board", "/results", "/verify", "/audit", "/console"} {
		ck := (*http.Cookie)(nil)
		if p == "/console" {
			ck = admin
		}
		resp, body := send(t, "GET", base+"/e/north"+p, "", "", ck)
		if resp.StatusCode != 200 {
			t.Fatalf("/e/north%s: %s", p, resp.Status)
		}
		for _, m := range href.FindAllStringSubmatch(body, -1) {
			u := m[1]
			if strings.HasPrefix(u, "/e/north/") || u == "/" || u == "/console" || u == "/lang" ||
				strings.HasPrefix(u, "/static/") || strings.HasPrefix(u, "/staff/") || u == "#main" {
				continue
			}
			t.Errorf("/e/north%s links to %q, outside the election's base", p, u)
		}
	}
	for p, attrs := range map[string][]string{
		"/vote":   {`data-api="/api/e/north"`, `data-base="/e/north"`},
		"/audit":  {`data-api="/api/e/north"`},
		"/verify": {`data-log="/e/north/log"`, "scrutin verify --election F " + base + "/e/north</code>"},
	} {
		_, body := send(t, "GET", base+"/e/north"+p, "", "", nil)
		for _, a := range attrs {
			if !strings.Contains(body, a) {
				t.Errorf("/e/north%s lacks %s", p, a)
			}
		}
	}
	// Unknown elections and addresses: 404, with nothing echoed.
	for _, p := range []string{"/e/nope/", "/e/nope/vote", "/e/NOPE/", "/e/" + strings.Repeat("a", 40) + "/", "/api/e/nope/election", "/e/nope/log/checkpoint"} {
		resp, body := send(t, "GET", base+p, "", "", nil)
		if resp.StatusCode != 404 || strings.Contains(strings.ToLower(body), "nope") {
			t.Errorf("GET %s: %s %.200s", p, resp.Status, body)
		}
	}
	if resp, _ := send(t, "GET", base+"/e/north", "", "", nil); resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/e/north/" {
		t.Errorf("/e/north: %s to %s", resp.Status, resp.Header.Get("Location"))
	}
}

// TestLegacyRolesByFingerprint: in the legacy election "main" (a
// single-election folder), a role recorded under the election's
// fingerprint (as roles were before elections had ids) still counts; in
// another election it does not.
func TestLegacyRolesByFingerprint(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 2, Seed: 7, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	var mu sync.Mutex
	sites := map[string]string{}
	for _, id := range []string{"main", "other"} {
		var site *web.Site
		api := f.Election.Handler(server.Options{NoSignIn: true,
			Officer: func(r *http.Request, action string) (func(string), error) { return site.Officer(id)(r, action) }})
		if site, err = web.New(web.Options{Elections: oneElection(id, f.Election, api), Accounts: f.Staff}); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(site)
		defer srv.Close()
		mu.Lock()
		sites[id] = srv.URL
		mu.Unlock()
	}
	// The administrator records a role under the fingerprint, as before.
	se, err := f.Staff.SignIn(f.StaffEmail, f.StaffPassword, accounts.Client{Addr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(f.StaffTOTP, time.Now())
	if err := f.Staff.VerifyTOTP(se, code); err != nil {
		t.Fatal(err)
	}
	token, err := f.Staff.Invite(se, "fiona@example.org", "Fiona", accounts.RoleOfficer, fmt.Sprintf("%x", f.F[:]), accounts.Client{Addr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	fiona := activate(t, sites["main"], token)
	if resp, _ := send(t, "GET", sites["main"]+"/e/main/console", "", "", fiona); resp.StatusCode != 200 {
		t.Errorf("a role under main's fingerprint: its console %s, want 200", resp.Status)
	}
	_, list := send(t, "GET", sites["main"]+"/console", "", "", fiona)
	if !strings.Contains(list, `href="/e/main/console"`) {
		t.Error("a role under main's fingerprint: the console does not list main")
	}
	resp, _ := send(t, "POST", sites["main"]+"/api/e/main/admin/close", "application/json", `{"reason":"Legacy roles."}`, fiona)
	if resp.StatusCode >= 300 {
		t.Errorf("a role under main's fingerprint: closing over the API %s", resp.Status)
	}
	if resp, _ := send(t, "GET", sites["other"]+"/e/other/console", "", "", fiona); resp.StatusCode != 404 {
		t.Errorf("a role under a fingerprint, in an election other than main: %s, want 404", resp.Status)
	}
}

// failing is elections of which one failed to load.
type failing struct {
	web.Elections
	id string
}

func (f failing) List() []web.Summary {
	list := f.Elections.List()
	for i := range list {
		if list[i].ID == f.id {
			list[i].Failed = "entry 3: a secret reason"
		}
	}
	return list
}

func (f failing) Election(ctx context.Context, id string) (*server.Election, error) {
	if id == f.id {
		return nil, fmt.Errorf("%w: entry 3: a secret reason", server.ErrFailed)
	}
	return f.Elections.Election(ctx, id)
}

// TestFailedElection: an election whose log failed to load answers 503 on
// its pages, without the reason, and shows as unavailable on the home
// page; the other serves.
func TestFailedElection(t *testing.T) {
	_, _, base := twoElectionsSignIn(t, false, func(e web.Elections) web.Elections { return failing{e, "south"} })
	for _, p := range []string{"/e/south/", "/e/south/vote", "/e/south/results"} {
		resp, body := send(t, "GET", base+p, "", "", nil)
		if resp.StatusCode != http.StatusServiceUnavailable || strings.Contains(body, "secret") || !strings.Contains(body, "cannot be shown right now") {
			t.Errorf("GET %s: %s %.300s", p, resp.Status, body)
		}
	}
	if resp, _ := send(t, "GET", base+"/e/north/vote", "", "", nil); resp.StatusCode != 200 {
		t.Errorf("the other election: %s", resp.Status)
	}
	_, home := send(t, "GET", base+"/", "", "", nil)
	s := strings.Index(home, `href="/e/south/"`)
	if s < 0 || !strings.Contains(home[s:], "Unavailable for now") || strings.Contains(home, "secret") {
		t.Errorf("the home page shows the failed election as %.300s", home[max(s, 0):])
	}
}

// TestCreateElection: someone with a role on every election creates one
// from the console with its id alone; it is theirs to set up, hidden from
// the public until its manifest is recorded; a bad or taken id is refused
// with a reason; an officer of one election may not create any.
func TestCreateElection(t *testing.T) {
	north, _, base := twoElections(t)
	admin, err := north.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	olga := invite(t, base, admin, "olga@example.org", accounts.RoleOfficer, "north")
	form := "application/x-www-form-urlencoded"
	_, list := send(t, "GET", base+"/console", "", "", admin)
	if !strings.Contains(list, `action="/console/create"`) {
		t.Fatal("the administrator of every election is not offered to create one")
	}
	resp, _ := send(t, "POST", base+"/console/create", form, "id=west", admin)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/e/west/console" {
		t.Fatalf("creating west: %s to %s", resp.Status, resp.Header.Get("Location"))
	}
	if resp, body := send(t, "GET", base+"/e/west/console", "", "", admin); resp.StatusCode != 200 || !strings.Contains(body, `id="manifest-file"`) ||
		!strings.Contains(body, "scrutin manifest new --election west") || strings.Contains(body, "MISSING:") {
		t.Errorf("west's console: %s, or no manifest form for west: %.3000s", resp.Status, body)
	}
	if _, list := send(t, "GET", base+"/console", "", "", admin); !strings.Contains(list, `href="/e/west/console"`) {
		t.Error("the console does not list west")
	}
	// Not public: absent from the home page, 404 to others, shown to staff.
	if _, home := send(t, "GET", base+"/", "", "", nil); strings.Contains(home, "west") {
		t.Error("the home page lists an election without a manifest")
	}
	for who, ck := range map[string]*http.Cookie{"a visitor": nil, "an officer of north": olga} {
		if resp, _ := send(t, "GET", base+"/e/west/", "", "", ck); resp.StatusCode != 404 {
			t.Errorf("%s: west's home %s, want 404", who, resp.Status)
		}
	}
	if resp, _ := send(t, "GET", base+"/e/west/", "", "", admin); resp.StatusCode != 200 {
		t.Errorf("the administrator: west's home %s", resp.Status)
	}
	for id, want := range map[string]string{"west": "already has this id", "West": "cannot be used", "-x": "cannot be used", strings.Repeat("a", 33): "cannot be used"} {
		resp, body := send(t, "POST", base+"/console/create", form, "id="+url.QueryEscape(id), admin)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("creating %q: %s, want 400 saying %q", id, resp.Status, want)
		}
	}
	if resp, _ := send(t, "POST", base+"/console/create", form, "id=east", olga); resp.StatusCode != http.StatusForbidden {
		t.Errorf("an officer of north creates an election: %s, want 403", resp.Status)
	}
	if _, list := send(t, "GET", base+"/console", "", "", olga); strings.Contains(list, `action="/console/create"`) || strings.Contains(list, "west") {
		t.Error("an officer of north is offered to create elections, or sees west")
	}
	_, trail := send(t, "GET", base+"/staff/trail", "", "", admin)
	if !trailHas(trail, "create", "west") || !strings.Contains(trail, "<strong>Created an election</strong>") {
		t.Error("the trail does not record the creation")
	}
}

// TestElectionAdministrator: an administrator of one election sees, on the
// people page, the staff with a role in it (with those roles only) and
// invites into it; of another election, nothing: its staff do not appear,
// and inviting into it is refused as into one that does not exist.
func TestElectionAdministrator(t *testing.T) {
	north, _, base := twoElections(t)
	admin, err := north.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	form := "application/x-www-form-urlencoded"
	nadia := invite(t, base, admin, "nadia@example.org", accounts.RoleAdmin, "north")
	invite(t, base, admin, "olga@example.org", accounts.RoleOfficer, "north")
	invite(t, base, admin, "sam@example.org", accounts.RoleOfficer, "south")
	if _, list := send(t, "GET", base+"/console", "", "", nadia); !strings.Contains(list, `href="/staff/people"`) {
		t.Error("the console does not link north's administrator to the people page")
	}
	resp, people := send(t, "GET", base+"/staff/people", "", "", nadia)
	if resp.StatusCode != 200 || !strings.Contains(people, "olga@example.org") || !strings.Contains(people, `<option value="north">`) {
		t.Fatalf("the people page of north's administrator: %s %.2000s", resp.Status, people)
	}
	for _, not := range []string{"south", "sam@example.org", `value="*"`} {
		if strings.Contains(people, not) {
			t.Errorf("the people page of north's administrator shows %q", not)
		}
	}
	answers := map[string]string{}
	for _, scope := range []string{"south", "no-such-election", "*"} {
		resp, body := send(t, "POST", base+"/staff/people/invite", form, url.Values{"email": {"eve@example.org"}, "name": {"Eve"}, "role": {"admin"}, "scope": {scope}}.Encode(), nadia)
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, "/staff/invite?token=") {
			t.Errorf("north's administrator invites into %s: %s", scope, resp.Status)
		}
		answers[scope] = body
	}
	if answers["south"] != answers["no-such-election"] {
		t.Error("inviting into south is refused otherwise than into an election that does not exist")
	}
	invite(t, base, nadia, "oscar@example.org", accounts.RoleOfficer, "north")
}

// TestSignInReturnsToConsole: someone sent to sign in from an election's
// console comes back to it after both steps; a "next" that is not an
// election's console or a staff page leads to the console's list.
func TestSignInReturnsToConsole(t *testing.T) {
	north, _, base := twoElections(t)
	admin, err := north.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	_, codes := inviteCodes(t, base, admin, "olga@example.org", accounts.RoleOfficer, "north")
	form := "application/x-www-form-urlencoded"
	signIn := func(next, code string) string {
		t.Helper()
		resp, page := send(t, "GET", base+"/staff/sign-in?next="+url.QueryEscape(next), "", "", nil)
		hidden := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(page)
		if resp.StatusCode != 200 || hidden == nil {
			t.Fatalf("the sign-in page: %s, next %v", resp.Status, hidden)
		}
		resp, _ = send(t, "POST", base+"/staff/sign-in", form, url.Values{"email": {"olga@example.org"}, "password": {"green kettle over the hills"}, "next": {hidden[1]}}.Encode(), nil)
		ck := staffCookieOr(resp, nil)
		verify, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || verify.Path != "/staff/verify" || ck == nil {
			t.Fatalf("after the password: %s to %s", resp.Status, resp.Header.Get("Location"))
		}
		_, page = send(t, "GET", base+verify.String(), "", "", ck)
		hidden = regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(page)
		resp, _ = send(t, "POST", base+"/staff/verify", form, url.Values{"recovery": {code}, "next": {hidden[1]}}.Encode(), ck)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("the second step: %s", resp.Status)
		}
		return resp.Header.Get("Location")
	}
	resp, _ := send(t, "GET", base+"/e/north/console", "", "", nil)
	next, _ := url.Parse(resp.Header.Get("Location"))
	if next.Path != "/staff/sign-in" || next.Query().Get("next") != "/e/north/console" {
		t.Fatalf("north's console, signed out: to %s", resp.Header.Get("Location"))
	}
	if got := signIn("/e/north/console", codes[0]); got != "/e/north/console" {
		t.Errorf("signed in from north's console: to %s", got)
	}
	for i, evil := range []string{"//evil.example/", "https://evil.example/e/north/console", "/e/north/console/../../../x", "/e/north/vote", "/\\evil.example"} {
		if got := signIn(evil, codes[1+i]); got != "/console" {
			t.Errorf("signed in with next %q: to %s", evil, got)
		}
	}
}

// trailHas reports whether a trail page shows the election action in the
// election (one event of the page, written in words).
func trailHas(page, action, election string) bool {
	for _, ev := range strings.Split(page, `<li id="event-`)[1:] {
		if strings.Contains(ev, `data-event="election.action `+action+`"`) && strings.Contains(ev, "<dd>"+election+"</dd>") {
			return true
		}
	}
	return false
}
