package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/trustee"
)

// TestReviewManifestHoldsTheConsoleRoster: once the officer made the
// roster in the console from identities confirmed by phone, the manifest
// recorded there must hold that roster, and not one made elsewhere (a
// manifest file swapped on its way to the officer, an old roster.json) or
// one the console says is out of date.
func TestReviewManifestHoldsTheConsoleRoster(t *testing.T) {
	f, base, id, admin := invitationsSite(t, true)
	console := base + "/e/" + id + "/console"
	var ids []crypto.Trustee
	for _, name := range []string{"Ada", "Bob"} {
		b := identityJSON(t, name)
		if resp, body := uploadFile(t, console+"/trustees/upload", "identity", b, admin); resp.StatusCode != 200 {
			t.Fatalf("upload %s: %s %s", name, resp.Status, body)
		}
		ti, _ := trustee.ParsePublicIdentity(b)
		ids = append(ids, *ti)
	}
	_, shown := send(t, "GET", console, "", "", admin)
	if resp, _ := send(t, "POST", console+"/trustees/roster", "application/x-www-form-urlencoded", rosterForm(t, shown, "2", "Board 2027").Encode(), admin); resp.StatusCode != 200 {
		t.Fatalf("make the roster: %s", resp.Status)
	}
	made, _, err := f.DB.TrusteeRoster(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	roster, err := trustee.ParseRoster(made)
	if err != nil {
		t.Fatal(err)
	}
	recorded := func() bool {
		e, err := f.Registry.Election(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return e.Fingerprint() != (crypto.Fingerprint{})
	}
	// Another roster: Mallory's keys in place of Bob's.
	evil := identityJSON(t, "Bob")
	et, _ := trustee.ParsePublicIdentity(evil)
	other, err := trustee.NewRoster(nil, "Board 2027", 2, []crypto.Trustee{ids[0], *et})
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := uploadFile(t, console+"/manifest", "file", manifestWith(t, f, id, other), admin); resp.StatusCode == 200 || resp.StatusCode == 303 || recorded() {
		t.Fatalf("a manifest with another roster than the console's was recorded (%s)", resp.Status)
	}
	// The console's roster, out of date: Bob was invited again.
	if resp, _ := send(t, "POST", console+"/trustees/remove", "application/x-www-form-urlencoded", "invitation=2", admin); resp.StatusCode != 200 {
		t.Fatalf("remove: %s", resp.Status)
	}
	if resp, _ := uploadFile(t, console+"/manifest", "file", manifestWith(t, f, id, roster), admin); resp.StatusCode == 200 || resp.StatusCode == 303 || recorded() {
		t.Fatalf("a manifest with a roster the console says is out of date was recorded (%s)", resp.Status)
	}
	// Up to date again: recorded.
	bob, _ := json.Marshal(ids[1])
	if resp, body := uploadFile(t, console+"/trustees/upload", "identity", bob, admin); resp.StatusCode != 200 {
		t.Fatalf("upload Bob again: %s %s", resp.Status, body)
	}
	if resp, _ := uploadFile(t, console+"/manifest", "file", manifestWith(t, f, id, roster), admin); (resp.StatusCode != 200 && resp.StatusCode != 303) || !recorded() {
		t.Fatalf("the manifest with the console's roster: %s", resp.Status)
	}
}

// TestReviewManifestAPIHoldsTheConsoleRoster: the officers' API
// (POST /api/e/{id}/admin/entries, the manifest entry whole) is another
// way to record the manifest; it must hold the console's roster as the
// console's upload does.
func TestReviewManifestAPIHoldsTheConsoleRoster(t *testing.T) {
	f, base, id, admin := invitationsSite(t, true)
	console := base + "/e/" + id + "/console"
	var ids []crypto.Trustee
	for _, name := range []string{"Ada", "Bob"} {
		b := identityJSON(t, name)
		if resp, body := uploadFile(t, console+"/trustees/upload", "identity", b, admin); resp.StatusCode != 200 {
			t.Fatalf("upload %s: %s %s", name, resp.Status, body)
		}
		ti, _ := trustee.ParsePublicIdentity(b)
		ids = append(ids, *ti)
	}
	_, shown := send(t, "GET", console, "", "", admin)
	if resp, _ := send(t, "POST", console+"/trustees/roster", "application/x-www-form-urlencoded", rosterForm(t, shown, "2", "Board 2027").Encode(), admin); resp.StatusCode != 200 {
		t.Fatalf("make the roster: %s", resp.Status)
	}
	made, _, _ := f.DB.TrusteeRoster(context.Background(), id)
	roster, err := trustee.ParseRoster(made)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := trustee.NewRoster(nil, "Board 2027", 2, ids)
	entry := func(r *crypto.Roster) string {
		m, err := election.ParseManifest(manifestWith(t, f, id, r))
		if err != nil {
			t.Fatal(err)
		}
		e, _ := m.Entry()
		return string(e)
	}
	if resp, body := send(t, "POST", base+"/api/e/"+id+"/admin/entries", "application/octet-stream", entry(other), admin); resp.StatusCode < 400 || !strings.Contains(body, "roster") {
		t.Fatalf("the API recorded a manifest with another roster than the console's: %s %s", resp.Status, body)
	}
	if resp, body := send(t, "POST", base+"/api/e/"+id+"/admin/entries", "application/octet-stream", entry(roster), admin); resp.StatusCode >= 300 {
		t.Fatalf("the API, with the console's roster: %s %s", resp.Status, body)
	}
}
