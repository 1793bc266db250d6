package web_test

// Adversarial review of many elections on one server (issue 15): what a
// visitor, or a staff member of one election only, learns of another.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// sameAsNone checks that a request about election id answers exactly as
// the same request about an election that does not exist: status,
// headers that matter and body (with the id replaced).
func sameAsNone(t *testing.T, who, base, method, path, ctype, body, id string, ck *http.Cookie) {
	t.Helper()
	r1, b1 := send(t, method, base+strings.ReplaceAll(path, "{id}", id), ctype, body, ck)
	r2, b2 := send(t, method, base+strings.ReplaceAll(path, "{id}", "no-such-election"), ctype, body, ck)
	if r1.StatusCode != r2.StatusCode || strings.ReplaceAll(b1, id, "no-such-election") != b2 {
		t.Errorf("%s: %s %s: %s %.200q, but for no election: %s %.200q", who, method, path, r1.Status, b1, r2.Status, b2)
		return
	}
	for _, h := range []string{"Content-Type", "Cache-Control", "Content-Security-Policy", "Location"} {
		if a, b := r1.Header.Get(h), strings.ReplaceAll(r2.Header.Get(h), "no-such-election", id); a != b {
			t.Errorf("%s: %s %s: %s %q, but for no election %q", who, method, path, h, a, b)
		}
	}
}

// hiddenRoutes are the API and log routes of an election, by method, path
// (with {id}), content type and body.
var hiddenRoutes = [][4]string{
	{"GET", "/api/e/{id}/election", "", ""},
	{"GET", "/api/e/{id}/checkpoint", "", ""},
	{"GET", "/e/{id}/log/checkpoint", "", ""},
	{"GET", "/e/{id}/log/tile/0/000", "", ""},
	{"POST", "/api/e/{id}/sign-in", "application/json", `{"email":"a@example.org"}`},
	{"POST", "/api/e/{id}/ballots", "application/json", `{}`},
	{"GET", "/api/e/{id}/ballots/" + strings.Repeat("a", 64), "", ""},
	{"GET", "/api/e/{id}/credentials/" + strings.Repeat("a", 64), "", ""},
	{"POST", "/api/e/{id}/admin/close", "application/json", `{"reason":"no"}`},
	{"POST", "/api/e/{id}/admin/entries", "application/octet-stream", `x`},
	{"POST", "/api/e/{id}/ceremony", "application/octet-stream", `x`},
	{"POST", "/api/e/{id}/decryptions", "application/octet-stream", `x`},
	{"POST", "/api/e/{id}/cosignatures", "text/plain", `x`},
	{"GET", "/e/{id}/", "", ""},
	{"GET", "/e/{id}/vote", "", ""},
	{"GET", "/e/{id}/trustee", "", ""}, // answered alike for every id until the manifest (spec §22.3)
	{"GET", "/e/{id}/console", "", ""},
}

// TestUnpublishedElectionHiddenFromAPI: an election created but without a
// manifest yet is not public (spec §22.4: "before that only its staff
// see it", §22.3: "a server does not say which ids exist beyond those it
// lists publicly"). Its API and its log answer a visitor, and a staff
// member of another election, exactly as for an election that does not
// exist; its own staff reach its officers' routes.
func TestUnpublishedElectionHiddenFromAPI(t *testing.T) {
	north, _, base := twoElections(t)
	admin, err := north.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	olga := invite(t, base, admin, "olga@example.org", accounts.RoleOfficer, "north")
	if resp, _ := send(t, "POST", base+"/console/create", "application/x-www-form-urlencoded", "id=west", admin); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("creating west: %s", resp.Status)
	}
	for who, ck := range map[string]*http.Cookie{"a visitor": nil, "an officer of north": olga} {
		for _, rq := range hiddenRoutes {
			sameAsNone(t, who, base, rq[0], rq[1], rq[2], rq[3], "west", ck)
		}
	}
	// Its public API (what a booth reads) does not exist before the
	// manifest, even for its staff, who set it up in the console; its
	// officers' routes answer them (here: a refused entry, not 404).
	if resp, body := send(t, "GET", base+"/api/e/west/election", "", "", admin); resp.StatusCode != http.StatusNotFound {
		t.Errorf("west's public API, for its administrator: %s %s", resp.Status, body)
	}
	if resp, body := send(t, "POST", base+"/api/e/west/admin/entries", "application/octet-stream", "not an entry", admin); resp.StatusCode == http.StatusNotFound || resp.StatusCode/100 == 2 {
		t.Errorf("west's officers' API, for its administrator: %s %s", resp.Status, body)
	}
	// A public election's API answers anyone.
	if resp, _ := send(t, "GET", base+"/api/e/north/election", "", "", nil); resp.StatusCode != 200 {
		t.Errorf("north's API, for a visitor: %s", resp.Status)
	}
}

// hidden is elections of which one failed to load before its manifest
// was known (it is not public).
type hidden struct{ failing }

func (h hidden) List() []web.Summary {
	list := h.failing.List()
	for i := range list {
		if list[i].ID == h.id {
			list[i].Public = false
		}
	}
	return list
}

// TestFailedElectionHidden: a staff member without a role in an election
// that failed to load gets 404 on its console, as for one that does not
// exist (not "unavailable", which says it exists); an election that
// failed before it was public is hidden from visitors too. Its own staff
// are told it is unavailable.
func TestFailedElectionHidden(t *testing.T) {
	n, _, base := twoElectionsSignIn(t, false, func(e web.Elections) web.Elections { return failing{e, "south"} })
	admin, err := n.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	olga := invite(t, base, admin, "olga@example.org", accounts.RoleOfficer, "north")
	for _, p := range []string{"/e/{id}/console", "/e/{id}/console/trail"} {
		sameAsNone(t, "an officer of north", base, "GET", p, "", "", "south", olga)
	}
	if resp, _ := send(t, "GET", base+"/e/south/console", "", "", admin); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("the failed election's console, for its administrator: %s, want 503", resp.Status)
	}

	_, _, base = twoElectionsSignIn(t, false, func(e web.Elections) web.Elections { return hidden{failing{e, "south"}} })
	for _, rq := range hiddenRoutes {
		sameAsNone(t, "a visitor", base, rq[0], rq[1], rq[2], rq[3], "south", nil)
	}
}

// TestMetricsNameOnlyListedElections: /metrics, which anyone may read,
// names no election that is not public yet (spec §22.3: a server does not
// say which ids exist beyond those it lists publicly).
func TestMetricsNameOnlyListedElections(t *testing.T) {
	north, _, base := twoElections(t)
	admin, err := north.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := send(t, "POST", base+"/console/create", "application/x-www-form-urlencoded", "id=west", admin); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("creating west: %s", resp.Status)
	}
	_, metrics := send(t, "GET", base+"/metrics", "", "", nil)
	if !strings.Contains(metrics, `election="north"`) {
		t.Errorf("/metrics has no series of north: %.500s", metrics)
	}
	if strings.Contains(metrics, "west") {
		t.Errorf("/metrics names west, which is not public")
	}
}

// TestLegacyAdministratorByFingerprint: in the legacy election "main", an
// administrator whose role was recorded under the election's fingerprint
// (as roles were before elections had ids) still manages its staff: the
// people page lists them, and their invitations into main give a role
// that opens main's console.
func TestLegacyAdministratorByFingerprint(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 2, Seed: 7, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	var site *web.Site
	api := f.Election.Handler(server.Options{NoSignIn: true,
		Officer: func(r *http.Request, action string) (func(string), error) { return site.Officer("main")(r, action) }})
	if site, err = web.New(web.Options{Elections: oneElection("main", f.Election, api), Accounts: f.Staff}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	defer srv.Close()
	base := srv.URL
	se, err := f.Staff.SignIn(f.StaffEmail, f.StaffPassword, accounts.Client{Addr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(f.StaffTOTP, time.Now())
	if err := f.Staff.VerifyTOTP(se, code); err != nil {
		t.Fatal(err)
	}
	fp := fmt.Sprintf("%x", f.F[:])
	c := accounts.Client{Addr: "127.0.0.1"}
	token, err := f.Staff.Invite(se, "lea@example.org", "Léa", accounts.RoleAdmin, fp, c)
	if err != nil {
		t.Fatal(err)
	}
	lea := activate(t, base, token)
	if _, err := f.Staff.Invite(se, "omar@example.org", "Omar", accounts.RoleOfficer, fp, c); err != nil {
		t.Fatal(err)
	}
	if _, list := send(t, "GET", base+"/console", "", "", lea); !strings.Contains(list, `href="/staff/people"`) {
		t.Error("the console does not lead main's administrator to the people page")
	}
	resp, people := send(t, "GET", base+"/staff/people", "", "", lea)
	if resp.StatusCode != 200 || !strings.Contains(people, "omar@example.org") || !strings.Contains(people, `<option value="main">`) {
		t.Fatalf("the people page of main's administrator (role under its fingerprint): %s %.1500s", resp.Status, people)
	}
	paul := invite(t, base, lea, "paul@example.org", accounts.RoleOfficer, "main")
	if resp, _ := send(t, "GET", base+"/e/main/console", "", "", paul); resp.StatusCode != 200 {
		t.Errorf("an officer invited into main by its legacy administrator: main's console %s", resp.Status)
	}
}
