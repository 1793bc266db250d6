package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/server"
)

// TestManifestCommands: an officer starts a manifest from the roster,
// edits it (restricting a contest to a group), checks it, and the
// credential authority generates credentials for it.
func TestManifestCommands(t *testing.T) {
	bin := buildScrutin(t)
	dir := t.TempDir()
	ceremony := filepath.Join(dir, "ceremony")
	id, _ := crypto.NewCeremonyID(nil)
	roster := &crypto.Roster{Label: "Union ballot 2027", ID: id, Threshold: 2}
	for j := 1; j <= 3; j++ {
		s, _ := crypto.NewTrusteeSecrets(nil)
		roster.Trustees = append(roster.Trustees, crypto.Trustee{Name: fmt.Sprintf("T%d", j), Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	}
	if err := (trustee.Ceremony{Dir: ceremony}).WriteRoster(roster); err != nil {
		t.Fatal(err)
	}
	srv := filepath.Join(dir, "server")
	mpath := filepath.Join(dir, "manifest.json")
	if r := runScrutin(t, bin, "manifest", "new", "--dir", srv, "--ceremony", ceremony, "--out", mpath); r.status == 0 {
		t.Fatal("manifest new without --election")
	}
	r := runScrutin(t, bin, "manifest", "new", "--dir", srv, "--election", "union-2027", "--ceremony", ceremony, "--out", mpath)
	if r.status != 0 || !strings.Contains(r.stdout, "log signing key") {
		t.Fatalf("manifest new: %d %s%s", r.status, r.stdout, r.stderr)
	}
	fi, err := os.Stat(filepath.Join(srv, "log.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("log.key: %v", err)
	}
	// The election's log key is derived from the master seed and its id.
	master, _ := os.ReadFile(filepath.Join(srv, "log.key"))
	b, _ := os.ReadFile(mpath)
	var mk struct {
		LogKey election.Bytes `json:"log_key"`
	}
	json.Unmarshal(b, &mk)
	if want := ed25519.NewKeyFromSeed(server.LogSeed(master, "union-2027", false)).Public().(ed25519.PublicKey); !bytes.Equal(mk.LogKey, want) {
		t.Fatalf("the manifest's log key %x is not election union-2027's (%x)", mk.LogKey, want)
	}
	if r := runScrutin(t, bin, "manifest", "new", "--dir", srv, "--election", "union-2027", "--ceremony", ceremony, "--out", mpath); r.status == 0 {
		t.Fatal("manifest new overwrote a manifest")
	}
	// The officer's edit: the motion is for the north region only.
	var m map[string]any
	json.Unmarshal(b, &m)
	m["contests"].([]any)[1].(map[string]any)["eligible"] = "north"
	b, _ = json.MarshalIndent(m, "", "    ")
	os.WriteFile(mpath, b, 0o644)
	entry := filepath.Join(dir, "manifest.entry")
	r = runScrutin(t, bin, "manifest", "check", "--entry", entry, mpath)
	if r.status != 0 || !strings.Contains(r.stdout, "choose exactly 1 of 2") || !strings.Contains(r.stdout, `only voters of group "north"`) || !strings.Contains(r.stdout, "any 2 of 3") {
		t.Fatalf("manifest check: %d %s%s", r.status, r.stdout, r.stderr)
	}
	eb, _ := os.ReadFile(entry)
	parsed, err := election.ParseManifest(eb[1:])
	if err != nil || eb[0] != election.TypeManifest {
		t.Fatalf("the entry: %v", err)
	}
	f, _ := parsed.Fingerprint()
	if !strings.Contains(r.stdout, fmt.Sprintf("election fingerprint: %x", f[:])) {
		t.Fatalf("fingerprint not printed: %s", r.stdout)
	}
	if want := fmt.Sprintf("a ballot answering every contest %d bytes (the limit is 65535)", parsed.MaxBallotSize()); !strings.Contains(r.stdout, want) {
		t.Fatalf("ballot size not printed: %s", r.stdout)
	}
	// Clear errors for what officers get wrong.
	for name, edit := range map[string]func(m map[string]any){
		"a typo in a member":  func(m map[string]any) { m["contets"] = m["contests"] },
		"max above options":   func(m map[string]any) { m["contests"].([]any)[0].(map[string]any)["max"] = 5 },
		"no French title":     func(m map[string]any) { delete(m["title"].(map[string]any), "fr") },
		"closes before opens": func(m map[string]any) { m["window"].(map[string]any)["closes"] = "2020-01-01T00:00:00Z" },
		"an empty title":      func(m map[string]any) { m["title"].(map[string]any)["en"] = "" },
		"a ballot too large to record": func(m map[string]any) {
			var opts []any
			for i := range 151 {
				opts = append(opts, map[string]any{"id": fmt.Sprintf("o%d", i), "title": map[string]any{"en": "o", "fr": "o"}})
			}
			m["contests"].([]any)[0].(map[string]any)["options"] = opts
		},
	} {
		var c map[string]any
		json.Unmarshal(b, &c)
		edit(c)
		cb, _ := json.Marshal(c)
		bad := filepath.Join(dir, "bad.json")
		os.WriteFile(bad, cb, 0o644)
		if r := runScrutin(t, bin, "manifest", "check", bad); r.status == 0 || r.stderr == "" {
			t.Errorf("%s: accepted: %s", name, r.stdout)
		}
	}
	// Credentials for a roll with groups need the manifest.
	members := filepath.Join(dir, "members.csv")
	os.WriteFile(members, []byte("id,email,region\nM1,a@example.org,north\nM2,b@example.org,south\n"), 0o600)
	rollDir := filepath.Join(dir, "roll")
	if r := runScrutin(t, bin, "roll", "import", "--csv", members, "--map", "id=id,email=email,groups=region", "--out", rollDir); r.status != 0 {
		t.Fatalf("roll import: %s", r.stderr)
	}
	if r := runScrutin(t, bin, "credentials", "generate", "--roll", filepath.Join(rollDir, "roll.json"), "--election", fmt.Sprintf("%x", f[:]), "--out", filepath.Join(dir, "c1")); r.status == 0 || !strings.Contains(r.stderr, "--manifest") {
		t.Fatalf("groups without the manifest: %d %s", r.status, r.stderr)
	}
	r = runScrutin(t, bin, "credentials", "generate", "--roll", filepath.Join(rollDir, "roll.json"), "--manifest", mpath, "--out", filepath.Join(dir, "c2"))
	if r.status != 0 || !strings.Contains(r.stdout, "group north: 1 voters") {
		t.Fatalf("credentials generate --manifest: %d %s%s", r.status, r.stdout, r.stderr)
	}
	// One entry per group set; "south" is used by no contest, so dropped.
	files, _ := filepath.Glob(filepath.Join(dir, "c2", "credentials-*.entry"))
	var groups []string
	for _, f := range files {
		var c election.Credentials
		e, _ := os.ReadFile(f)
		if err := json.Unmarshal(e[1:], &c); err != nil || len(c.Credentials) != 1 {
			t.Fatalf("%s: %v", f, err)
		}
		groups = append(groups, strings.Join(c.Groups, ","))
	}
	if strings.Join(groups, "|") != "|north" {
		t.Fatalf("groups of the entries: %q", groups)
	}
}
