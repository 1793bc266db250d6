package main

import (
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mailer/mailtest"
)

// TestCredentialsReplace (spec §18.8, issue 17): "credentials generate"
// makes the authority's key; "credentials replace" gives one member a new
// code, writes the replacement signed by that key (old credential → new),
// the member's new letter and the updated mail merge, twice in a row; an
// unknown member is refused; "credentials send --replacement" sends the
// letter that says the old code no longer works.
func TestCredentialsReplace(t *testing.T) {
	bin := buildScrutin(t)
	dir := t.TempDir()
	sec, _ := crypto.NewTrusteeSecrets(nil)
	id, _ := crypto.NewCeremonyID(nil)
	tx := func(s string) election.Text { return election.Text{"en": s, "fr": s} }
	pub, _, _ := ed25519.GenerateKey(nil)
	m := &election.Manifest{
		Contests:    []election.Contest{{ID: "motion", Min: 0, Max: 1, Title: tx("Motion?"), Options: []election.Option{{ID: "yes", Title: tx("Yes")}, {ID: "no", Title: tx("No")}}}},
		Description: tx("A ballot."), LogKey: election.Bytes(pub), Title: tx("Ballot 2027"),
		Roster: crypto.Roster{Label: "r", ID: id, Threshold: 1, Trustees: []crypto.Trustee{{Name: "T1", Signing: sec.Signing.PublicKey(), Encryption: sec.Encryption.PublicKey()}}},
		Window: election.Window{Opens: "2027-03-01T09:00:00Z", Closes: "2027-03-08T18:00:00Z"},
	}
	mb, _ := json.Marshal(m)
	mpath := filepath.Join(dir, "manifest.json")
	os.WriteFile(mpath, mb, 0o644)
	f, err := m.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	members := filepath.Join(dir, "members.csv")
	os.WriteFile(members, []byte("id,name,email\nM1,Ann,ann@example.org\nM2,Bob,bob@example.org\n"), 0o600)
	if r := runScrutin(t, bin, "roll", "import", "--csv", members, "--map", "id=id,name=name,email=email", "--out", filepath.Join(dir, "roll")); r.status != 0 {
		t.Fatalf("roll import: %s", r.stderr)
	}
	creds := filepath.Join(dir, "creds")
	r := runScrutin(t, bin, "credentials", "generate", "--roll", filepath.Join(dir, "roll", "roll.json"), "--manifest", mpath, "--out", creds)
	if r.status != 0 || !strings.Contains(r.stdout, "authority.key") {
		t.Fatalf("credentials generate: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if fi, err := os.Stat(filepath.Join(creds, "authority.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("authority.key: %v", err)
	}
	ae, _ := os.ReadFile(filepath.Join(creds, "authority.entry"))
	var auth election.Authority
	if len(ae) < 2 || ae[0] != election.TypeAuthority || json.Unmarshal(ae[1:], &auth) != nil || auth.Key == nil {
		t.Fatalf("authority.entry: %q", ae)
	}
	codes := func() map[string]string {
		t.Helper()
		is, err := readMailMerge(filepath.Join(creds, "credentials.csv"))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, i := range is {
			out[i.Member.ID] = i.Code
		}
		return out
	}
	key := func(code string) *crypto.PublicKey {
		k, err := election.CredentialKey(f, code)
		if err != nil {
			t.Fatal(err)
		}
		return k.PublicKey()
	}
	if r := runScrutinNoFatal(bin, "credentials", "replace", "--dir", creds, "--manifest", mpath, "--member", "M9"); r.status == 0 || !strings.Contains(r.stderr, "not in the mail-merge file") {
		t.Fatalf("an unknown member: %d %s", r.status, r.stderr)
	}
	for n, name := range []string{"replacement-1.entry", "replacement-2.entry"} {
		before := codes()
		r := runScrutin(t, bin, "credentials", "replace", "--dir", creds, "--manifest", mpath, "--member", "M2")
		if r.status != 0 || !strings.Contains(r.stdout, name) {
			t.Fatalf("credentials replace #%d: %d %s%s", n+1, r.status, r.stdout, r.stderr)
		}
		after := codes()
		if after["M1"] != before["M1"] || after["M2"] == before["M2"] {
			t.Fatalf("replace #%d: codes %v, then %v", n+1, before, after)
		}
		e, _ := os.ReadFile(filepath.Join(creds, name))
		var rp election.Replacement
		if len(e) < 2 || e[0] != election.TypeReplacement || json.Unmarshal(e[1:], &rp) != nil {
			t.Fatalf("%s: %q", name, e)
		}
		if !rp.Old.Equal(key(before["M2"])) || !rp.New.Equal(key(after["M2"])) || rp.Verify(f, auth.Key) != nil {
			t.Fatalf("%s: not the replacement of M2's old credential by its new one, signed by the authority", name)
		}
		letter, err := readMailMerge(filepath.Join(creds, "letter-"+string(rune('1'+n))+".csv"))
		if err != nil || len(letter) != 1 || letter[0].Member.ID != "M2" || letter[0].Code != after["M2"] {
			t.Fatalf("the new letter: %+v, %v", letter, err)
		}
	}
	srv := mailtest.New(t)
	if r := runScrutin(t, bin, "credentials", "send", "--replacement", "--csv", filepath.Join(creds, "letter-2.csv"), "--smtp", srv.Addr(), "--tls", "none", "--from", "officer@example.org", "--manifest", mpath, "--url", "https://vote.example.org/e/ballot-2027"); r.status != 0 {
		t.Fatalf("credentials send --replacement: %d %s", r.status, r.stderr)
	}
	if got := srv.Last("bob@example.org"); !strings.Contains(got, "in place of the one you lost") || !strings.Contains(got, codes()["M2"]) || !strings.Contains(got, "vote again") {
		t.Fatalf("the replacement letter: %q", got)
	}
}
