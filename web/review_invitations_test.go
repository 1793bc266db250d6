package web_test

// Adversarial review of the trustees' invitations (issue 16, deliverable
// 3): what the officer confirms by phone must be what the roster, and then
// the manifest, hold.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/server"
)

// uploadFile posts one file as multipart form data, with the staff cookie.
func uploadFile(t *testing.T, u, field string, data []byte, ck *http.Cookie) (*http.Response, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	fw, _ := w.CreateFormFile(field, field+".json")
	fw.Write(data)
	w.Close()
	return send(t, "POST", u, w.FormDataContentType(), b.String(), ck)
}

// identityJSON is a fresh trustee identity as identity.json holds it.
func identityJSON(t *testing.T, name string) []byte {
	t.Helper()
	s, err := crypto.NewTrusteeSecrets(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(crypto.Trustee{Name: name, Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	return b
}

var formRE = regexp.MustCompile(`(?s)<form method="post" action="[^"]*/console/trustees/roster" id="roster-form">(.*?)</form>`)
var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// rosterForm returns the roster form's values as the console page shows
// them (its hidden fields), with the threshold and label chosen.
func rosterForm(t *testing.T, page, threshold, label string) url.Values {
	t.Helper()
	m := formRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the console offers no roster form")
	}
	v := url.Values{"threshold": {threshold}, "label": {label}}
	for _, h := range hiddenRE.FindAllStringSubmatch(m[1], -1) {
		v.Add(h[1], html.UnescapeString(h[2]))
	}
	return v
}

// manifestWith is a manifest of the election id served by f, with roster r.
func manifestWith(t *testing.T, f *demo.Fixture, id string, r *crypto.Roster) []byte {
	t.Helper()
	master, _, err := atrest.LoadOrCreateKey(filepath.Join(f.Opts.Dir, demo.LogKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	seed := server.LogSeed(master, id, false)
	tx := func(s string) election.Text { return election.Text{"en": s, "fr": s} }
	opens := time.Now().UTC().Add(24 * time.Hour).Truncate(time.Hour)
	m := &election.Manifest{
		Contests: []election.Contest{{ID: "motion", Min: 0, Max: 1, Title: tx("Motion?"), Options: []election.Option{
			{ID: "yes", Title: tx("Yes")}, {ID: "no", Title: tx("No")}}}},
		Description: tx("A board election."),
		LogKey:      election.Bytes(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)),
		Roster:      *r,
		Title:       tx("Board 2027"),
		Window:      election.Window{Opens: opens.Format(election.TimeFormat), Closes: opens.Add(48 * time.Hour).Format(election.TimeFormat)},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReviewRosterIsWhatTheConsoleShowed: the officer reads the console's
// fingerprints to the trustees on the phone, then presses "Make the
// roster". If, meanwhile, another staff member (or whoever holds an
// officer's session) swaps a trustee for an identity of their own under
// the same name, the roster must not be made from identities the officer
// was never shown.
func TestReviewRosterIsWhatTheConsoleShowed(t *testing.T) {
	f, base, id, admin := invitationsSite(t, true)
	console := base + "/e/" + id + "/console"
	for _, name := range []string{"Ada", "Bob"} {
		if resp, body := uploadFile(t, console+"/trustees/upload", "identity", identityJSON(t, name), admin); resp.StatusCode != 200 {
			t.Fatalf("upload %s: %s %s", name, resp.Status, body)
		}
	}
	_, shown := send(t, "GET", console, "", "", admin)
	form := rosterForm(t, shown, "2", "Board 2027")
	// Meanwhile: Bob is removed and replaced by Mallory's identity, named
	// Bob.
	if resp, _ := send(t, "POST", console+"/trustees/remove", "application/x-www-form-urlencoded", "invitation=2", admin); resp.StatusCode != 200 {
		t.Fatalf("remove: %s", resp.Status)
	}
	mallory := identityJSON(t, "Bob")
	if resp, body := uploadFile(t, console+"/trustees/upload", "identity", mallory, admin); resp.StatusCode != 200 {
		t.Fatalf("upload Mallory: %s %s", resp.Status, body)
	}
	// The officer's form, as shown before the swap.
	resp, _ := send(t, "POST", console+"/trustees/roster", "application/x-www-form-urlencoded", form.Encode(), admin)
	if b, _, err := f.DB.TrusteeRoster(context.Background(), id); err == nil {
		r, _ := trustee.ParseRoster(b)
		m, _ := trustee.ParsePublicIdentity(mallory)
		for _, tr := range r.Trustees {
			if tr.Fingerprint() == m.Fingerprint() {
				t.Fatalf("the roster holds an identity the console never showed the officer (answer %s)", resp.Status)
			}
		}
	}
	if resp.StatusCode == 200 {
		t.Fatalf("a roster form for other identities: %s", resp.Status)
	}
	// Shown again, the form makes the roster.
	_, shown = send(t, "GET", console, "", "", admin)
	if resp, body := send(t, "POST", console+"/trustees/roster", "application/x-www-form-urlencoded", rosterForm(t, shown, "2", "Board 2027").Encode(), admin); resp.StatusCode != 200 || !strings.Contains(body, `id="roster-made"`) {
		t.Fatalf("the form shown again: %s", resp.Status)
	}
}

// TestReviewInvitationsRoles: an auditor of the election and an officer of
// another one change nothing of its trustees (every action, the roster,
// the identity upload), and the other election's officer is answered as
// for an election that does not exist, roster.json included.
func TestReviewInvitationsRoles(t *testing.T) {
	f, base, id, admin := invitationsSite(t, true)
	ctx := context.Background()
	if _, err := f.Registry.Create(ctx, "other", nil); err != nil {
		t.Fatal(err)
	}
	console := base + "/e/" + id + "/console"
	form := "application/x-www-form-urlencoded"
	if resp, body := uploadFile(t, console+"/trustees/upload", "identity", identityJSON(t, "Ada"), admin); resp.StatusCode != 200 {
		t.Fatalf("upload: %s %s", resp.Status, body)
	}
	_, shown := send(t, "GET", console, "", "", admin)
	rf := rosterForm(t, shown, "1", "Board 2027").Encode()
	if resp, _ := send(t, "POST", console+"/trustees/roster", form, rf, admin); resp.StatusCode != 200 {
		t.Fatalf("roster: %s", resp.Status)
	}
	before, _, _ := f.DB.TrusteeRoster(ctx, id)
	aldo := invite(t, base, admin, "aldo@example.org", accounts.RoleAuditor, id)
	olga := invite(t, base, admin, "olga@example.org", accounts.RoleOfficer, "other")
	for who, ck := range map[string]*http.Cookie{"the auditor": aldo, "another election's officer": olga} {
		for _, a := range []struct{ action, body string }{
			{"preview", "name=Eve&email=eve%40example.org"}, {"invite", "name=Eve&email=eve%40example.org"},
			{"invite", "invitation=1"}, {"remove", "invitation=1"}, {"roster", rf},
		} {
			resp, body := send(t, "POST", console+"/trustees/"+a.action, form, a.body, ck)
			if resp.StatusCode == 200 || strings.Contains(body, "#invite=") {
				t.Errorf("%s: %s: %s", who, a.action, resp.Status)
			}
			if who != "the auditor" {
				_, none := send(t, "POST", base+"/e/no-such-election/console/trustees/"+a.action, form, a.body, ck)
				if resp.StatusCode != http.StatusNotFound || body != none {
					t.Errorf("%s: %s: %s, not as for no election", who, a.action, resp.Status)
				}
			}
		}
		if resp, _ := uploadFile(t, console+"/trustees/upload", "identity", identityJSON(t, "Eve"), ck); resp.StatusCode == 200 {
			t.Errorf("%s: upload: %s", who, resp.Status)
		}
	}
	if resp, body := send(t, "GET", console+"/roster.json", "", "", olga); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "Ada") {
		t.Errorf("another election's officer reads roster.json: %s", resp.Status)
	}
	invs, _ := f.DB.TrusteeInvitations(ctx, id)
	after, _, _ := f.DB.TrusteeRoster(ctx, id)
	if len(invs) != 1 || invs[0].Name != "Ada" || !bytes.Equal(before, after) {
		t.Fatalf("the trustees changed: %+v", invs)
	}
	if f.Mail.Count("eve@example.org") != 0 {
		t.Fatal("a letter was sent")
	}
}

// TestReviewInvitationLineBreaks: the election's name goes into the
// letter's Subject header and the trustee's name into its text; a line
// break (or another control character) in either, posted by hand, is
// refused before anything is recorded or sent, instead of an invitation
// recorded whose letter the mail server then refuses (or, with a laxer
// sender, a header injected).
func TestReviewInvitationLineBreaks(t *testing.T) {
	f, base, id, admin := invitationsSite(t, false)
	console := base + "/e/" + id + "/console"
	form := "application/x-www-form-urlencoded"
	for _, v := range []url.Values{
		{"name": {"Eve"}, "email": {"eve@example.org"}, "election": {"Board 2027\r\nBcc: mallory@example.org"}},
		{"name": {"Eve\r\nBcc: mallory@example.org"}, "email": {"eve@example.org"}, "election": {"Board 2027"}},
		{"name": {"Eve"}, "email": {"eve@example.org"}, "election": {"Board\x1b[2J 2027"}},
	} {
		for _, action := range []string{"preview", "invite"} {
			if resp, _ := send(t, "POST", console+"/trustees/"+action, form, v.Encode(), admin); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s %q: %s", action, v, resp.Status)
			}
		}
	}
	if invs, _ := f.DB.TrusteeInvitations(context.Background(), id); len(invs) != 0 || f.Mail.Count("eve@example.org") != 0 {
		t.Fatalf("%d invitations recorded, %d letters sent", len(invs), f.Mail.Count("eve@example.org"))
	}
}

// TestReviewIdentityNameControls: a trustee's name goes into the roster,
// which every other trustee's terminal prints ("waiting for …") and the
// officer reads on the console; an identity whose name holds a control
// character (an escape sequence that rewrites a terminal, a line break, a
// bidirectional override that reorders what is shown) is refused when it
// is sent, by the API and by hand.
func TestReviewIdentityNameControls(t *testing.T) {
	f, base, id, admin := invitationsSite(t, true)
	console := base + "/e/" + id + "/console"
	for i, name := range []string{"Eve\x1b[2J\x1b[Hthe ceremony is complete", "Eve\r\nBob", "Eve\u202eboB", "Eve\u0085", "Eve\u2028Bob"} {
		resp, body := send(t, "POST", console+"/trustees/invite", "application/x-www-form-urlencoded", url.Values{"name": {fmt.Sprint("T", i)}, "email": {"t@example.org"}}.Encode(), admin)
		m := regexp.MustCompile(`#invite=([A-Za-z0-9_-]{43})`).FindStringSubmatch(body)
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("invite: %s", resp.Status)
		}
		s, _ := crypto.NewTrusteeSecrets(nil)
		if st, body := postIdentity(t, base, id, m[1], s, name); st != http.StatusBadRequest {
			t.Errorf("the API, name %q: %d %s", name, st, body)
		}
		if resp, _ := uploadFile(t, console+"/trustees/upload", "identity", identityJSON(t, name), admin); resp.StatusCode == 200 {
			t.Errorf("by hand, name %q: %s", name, resp.Status)
		}
	}
	invs, _ := f.DB.TrusteeInvitations(context.Background(), id)
	for _, inv := range invs {
		if inv.Identity != nil {
			t.Fatalf("an identity was stored: %s", inv.Identity)
		}
	}
}

// TestReviewStaleInvitationForm: invitation numbers are reused once the
// last one is removed (MAX(id)+1), so a remove or invite-again form shown
// before another officer removed trustee 2 and invited someone else (who
// became trustee 2) must not act on that someone else.
func TestReviewStaleInvitationForm(t *testing.T) {
	f, base, id, admin := invitationsSite(t, false)
	console := base + "/e/" + id + "/console"
	form := "application/x-www-form-urlencoded"
	for _, who := range []string{"Ada", "Bob"} {
		v := url.Values{"name": {who}, "email": {strings.ToLower(who) + "@example.org"}}
		if resp, _ := send(t, "POST", console+"/trustees/invite", form, v.Encode(), admin); resp.StatusCode != 200 {
			t.Fatalf("invite %s: %s", who, resp.Status)
		}
	}
	_, shown := send(t, "GET", console, "", "", admin)
	row := regexp.MustCompile(`(?s)<li id="invitation-2">(.*?)</li>`).FindStringSubmatch(shown)
	if row == nil {
		t.Fatal("no row for invitation 2")
	}
	forms := regexp.MustCompile(`(?s)<form method="post" action="[^"]*/console/trustees/(remove|preview)">(.*?)</form>`).FindAllStringSubmatch(row[1], -1)
	stale := map[string]url.Values{}
	for _, fm := range forms {
		v := url.Values{}
		for _, h := range hiddenRE.FindAllStringSubmatch(fm[2], -1) {
			v.Add(h[1], html.UnescapeString(h[2]))
		}
		stale[fm[1]] = v
	}
	if len(stale) != 2 {
		t.Fatalf("the row's forms: %v", stale)
	}
	// Another officer removes Bob and invites Carol, who is number 2.
	if resp, _ := send(t, "POST", console+"/trustees/remove", form, "invitation=2", admin); resp.StatusCode != 200 {
		t.Fatalf("remove: %s", resp.Status)
	}
	if resp, _ := send(t, "POST", console+"/trustees/invite", form, "name=Carol&email=carol%40example.org", admin); resp.StatusCode != 200 {
		t.Fatalf("invite Carol: %s", resp.Status)
	}
	// The forms shown for Bob.
	send(t, "POST", console+"/trustees/preview", form, stale["preview"].Encode(), admin)
	inviteAgain := stale["preview"]
	send(t, "POST", console+"/trustees/invite", form, inviteAgain.Encode(), admin)
	send(t, "POST", console+"/trustees/remove", form, stale["remove"].Encode(), admin)
	invs, _ := f.DB.TrusteeInvitations(context.Background(), id)
	if len(invs) != 2 || invs[1].Name != "Carol" {
		t.Fatalf("Bob's forms acted on Carol: %+v", invs)
	}
	if n := f.Mail.Count("carol@example.org"); n != 1 {
		t.Fatalf("Bob's invite-again form sent Carol %d letters", n)
	}
}
