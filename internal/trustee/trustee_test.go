package trustee

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
)

const pass = "a passphrase long enough"

func TestKeystore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ks")
	ks := Keystore{Dir: dir, WorkFactor: MinWorkFactor}
	if _, err := ks.Init(nil, "Ada", "short"); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Fatalf("short passphrase: %v", err)
	}
	pub, err := ks.Init(nil, "Ada", pass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Init(nil, "Ada", pass); !errors.Is(err, ErrExists) {
		t.Fatalf("second init: %v", err)
	}
	for name, mode := range map[string]os.FileMode{identitySecretFile: 0o600, IdentityPublicFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v %v", name, fi.Mode(), err)
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("keystore folder mode %v", fi.Mode())
	}
	name, secrets, err := ks.Identity(pass)
	if err != nil || name != "Ada" || !secrets.Signing.PublicKey().Equal(pub.Signing) {
		t.Fatalf("identity: %v", err)
	}
	if _, _, err := ks.Identity(pass + "x"); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	read, err := ReadPublicIdentity(filepath.Join(dir, IdentityPublicFile))
	if err != nil || !read.Encryption.Equal(pub.Encryption) {
		t.Fatalf("public identity: %v", err)
	}
	// The secret file holds no key in the clear.
	raw, _ := os.ReadFile(filepath.Join(dir, identitySecretFile))
	if strings.Contains(string(raw), "signing_secret") {
		t.Fatal("identity secret stored in the clear")
	}

	f := crypto.Fingerprint{7}
	share, _ := crypto.GenerateKey(nil)
	other, _ := crypto.GenerateKey(nil)
	if err := ks.SaveShare(f, 2, share, other.PublicKey(), pass); err != nil {
		t.Fatal(err)
	}
	if err := ks.SaveShare(f, 2, share, other.PublicKey(), pass); err != nil {
		t.Fatalf("saving the same share again: %v", err)
	}
	if err := ks.SaveShare(f, 2, other, other.PublicKey(), pass); !errors.Is(err, ErrExists) {
		t.Fatalf("replacing a share: %v", err)
	}
	got, err := ks.Share(f, pass)
	if err != nil || !got.PublicKey().Equal(share.PublicKey()) {
		t.Fatalf("share: %v", err)
	}
	if _, err := ks.Share(crypto.Fingerprint{8}, pass); err == nil {
		t.Fatal("share of another ceremony found")
	}
}

func TestCeremonyFolder(t *testing.T) {
	dir := t.TempDir()
	c := Ceremony{Dir: dir}
	if _, err := c.Roster(); err == nil {
		t.Fatal("missing roster accepted")
	}
	os.WriteFile(filepath.Join(dir, RosterFile), []byte(`{"label":"x","threshold":1,"trustees":[],"extra":1}`), 0o644)
	if _, err := c.Roster(); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("unknown field: %v", err)
	}
	msg := append([]byte{1}, make([]byte, 100)...)
	msg[36] = 3
	path, err := WriteMessage(dir, msg)
	if err != nil || filepath.Base(path) != "dealing-3.msg" {
		t.Fatalf("%s %v", path, err)
	}
	if _, err := WriteMessage(dir, msg); err != nil {
		t.Fatalf("same message again: %v", err)
	}
	msg[50] ^= 1
	if _, err := WriteMessage(dir, msg); !errors.Is(err, ErrExists) {
		t.Fatalf("different message under the same name: %v", err)
	}
	if _, err := WriteMessage(dir, []byte{9, 9}); err == nil {
		t.Fatal("non-message written")
	}
	tally := filepath.Join(dir, "tally.json")
	for _, bad := range []string{`{"ciphertexts":[]}`, `{"ciphertexts":[null]}`, `{"ciphertexts":["AAAA"]}`, `{"cts":[]}`} {
		os.WriteFile(tally, []byte(bad), 0o644)
		if _, err := ReadTally(tally); err == nil {
			t.Errorf("tally %s accepted", bad)
		}
	}
	// A sum over no ballot (a contest nobody answered) is the identity
	// ciphertext, 64 zero bytes (spec §2.1): a tally file may hold it.
	os.WriteFile(tally, []byte(`{"ciphertexts":["`+strings.Repeat("A", 86)+`"]}`), 0o644)
	if cts, err := ReadTally(tally); err != nil || len(cts) != 1 || string(cts[0].Bytes()) != string(make([]byte, 64)) {
		t.Errorf("the identity sum: %v", err)
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Fatalf("temporary file left: %s", e.Name())
		}
	}
}

// TestParsePublicIdentity: what Init writes parses back; anything else an
// officer or a server could be sent is refused.
func TestParsePublicIdentity(t *testing.T) {
	dir := t.TempDir()
	pub, err := Keystore{Dir: dir, WorkFactor: MinWorkFactor}.Init(nil, "Ada", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, IdentityPublicFile))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePublicIdentity(b)
	if err != nil || got.Name != "Ada" || !got.Signing.Equal(pub.Signing) || !got.Encryption.Equal(pub.Encryption) {
		t.Fatalf("%+v %v", got, err)
	}
	s := string(b)
	for name, bad := range map[string]string{
		"unknown member":   strings.Replace(s, `"name"`, `"nom": 1, "name"`, 1),
		"trailing data":    s + "{}",
		"no name":          strings.Replace(s, `"name": "Ada"`, `"name": ""`, 1),
		"no signing key":   strings.Replace(s, `"signing_key"`, `"x_signing_key"`, 1),
		"one key for both": strings.Replace(s, `"encryption_key": "`+b64(pub.Encryption.Bytes()), `"encryption_key": "`+b64(pub.Signing.Bytes()), 1),
		"identity key":     strings.Replace(s, `"signing_key": "`+b64(pub.Signing.Bytes()), `"signing_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA`, 1),
		"too large":        s + strings.Repeat(" ", MaxPublicIdentitySize),
		"escape in name":   strings.Replace(s, `"name": "Ada"`, `"name": "Ada\u001b[2J"`, 1),
		"newline in name":  strings.Replace(s, `"name": "Ada"`, `"name": "Ada\nBob"`, 1),
		"override in name": strings.Replace(s, `"name": "Ada"`, `"name": "Ada\u202e"`, 1),
		"not an object":    `[]`,
	} {
		if bad == s {
			t.Fatalf("%s: the identity is unchanged", name)
		}
		if _, err := ParsePublicIdentity([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A roster made of it is valid, with a fresh ceremony id each time.
	r1, err := NewRoster(nil, "Board 2027", 1, []crypto.Trustee{*got})
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := NewRoster(nil, "Board 2027", 1, []crypto.Trustee{*got})
	if r1.ID == r2.ID {
		t.Fatal("two rosters share a ceremony id")
	}
	if back, err := ParseRoster(RosterJSON(r1)); err != nil || back.Fingerprint() != r1.Fingerprint() {
		t.Fatalf("roster.json does not parse back: %v", err)
	}
	if _, err := NewRoster(nil, "Board 2027", 2, []crypto.Trustee{*got}); err == nil {
		t.Fatal("a threshold above n accepted")
	}
}
