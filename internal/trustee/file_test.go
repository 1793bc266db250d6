package trustee

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
)

func TestKeystoreFile(t *testing.T) {
	kf, pub, err := NewKeystoreFile(nil, "Ada")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := NewKeystoreFile(nil, ""); err == nil {
		t.Fatal("an empty name was accepted")
	}
	if _, err := kf.Seal("short", MinWorkFactor); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Fatalf("short passphrase: %v", err)
	}
	f := crypto.Fingerprint{9}
	share, _ := crypto.GenerateKey(nil)
	key, _ := crypto.GenerateKey(nil)
	if err := kf.AddShare(f, 3, share, key.PublicKey()); err != nil {
		t.Fatal(err)
	}
	if err := kf.AddShare(f, 3, share, key.PublicKey()); err != nil {
		t.Fatalf("the same share again: %v", err)
	}
	if err := kf.AddShare(f, 3, key, key.PublicKey()); !errors.Is(err, ErrExists) {
		t.Fatalf("another share of the same ceremony: %v", err)
	}
	sealed, err := kf.Seal(pass, MinWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("signing_secret")) || !bytes.HasPrefix(sealed, []byte("age-encryption.org/v1\n-> scrypt ")) {
		t.Fatalf("not an age scrypt file: %.60q", sealed)
	}
	got, err := OpenKeystoreFile(sealed, pass)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name() != "Ada" || !got.Public().Signing.Equal(pub.Signing) || !got.Public().Encryption.Equal(pub.Encryption) {
		t.Fatal("the identity changed")
	}
	if s, ok, err := got.Share(f); err != nil || !ok || !bytes.Equal(s.Bytes(), share.Bytes()) {
		t.Fatalf("share: %v %v", ok, err)
	}
	if _, ok, _ := got.Share(crypto.Fingerprint{1}); ok {
		t.Fatal("a share of another ceremony")
	}
	if _, err := OpenKeystoreFile(sealed, pass+"x"); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := OpenKeystoreFile([]byte("hello"), pass); !errors.Is(err, ErrNotKeystore) {
		t.Fatalf("not a keystore: %v", err)
	}
	if _, err := OpenKeystoreFile(make([]byte, MaxKeystoreFile+1), pass); !errors.Is(err, ErrNotKeystore) {
		t.Fatalf("too large: %v", err)
	}
	// An age file of other content, or with an unknown field, is refused.
	var j map[string]any
	plain, _ := json.Marshal(keystoreFileJSON{Version: 1, Identity: kf.identity, Shares: kf.shares})
	json.Unmarshal(plain, &j)
	for name, mutate := range map[string]func(map[string]any){
		"unknown field": func(m map[string]any) { m["extra"] = 1 },
		"version 2":     func(m map[string]any) { m["scrutin_trustee_keystore"] = 2 },
		"no identity":   func(m map[string]any) { delete(m, "identity") },
		"bad share":     func(m map[string]any) { m["shares"].([]any)[0].(map[string]any)["share_secret"] = "AAAA" },
		"two shares":    func(m map[string]any) { m["shares"] = append(m["shares"].([]any), m["shares"].([]any)[0]) },
	} {
		var m map[string]any
		json.Unmarshal(plain, &m)
		mutate(m)
		b, _ := json.Marshal(m)
		c, err := seal(b, pass, MinWorkFactor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenKeystoreFile(c, pass); !errors.Is(err, ErrNotKeystore) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A higher work factor than 22 is refused before any work.
	if _, err := kf.Seal(pass, 23); err == nil {
		t.Fatal("work factor 23 accepted")
	}
}

// TestPackUnpack: a keystore folder packed into a file and unpacked again
// holds the same identity and shares; a folder of another identity is
// refused.
func TestPackUnpack(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ks")
	ks := Keystore{Dir: dir, WorkFactor: MinWorkFactor}
	pub, err := ks.Init(nil, "Ada", pass)
	if err != nil {
		t.Fatal(err)
	}
	f := crypto.Fingerprint{7}
	share, _ := crypto.GenerateKey(nil)
	if err := ks.SaveShare(f, 2, share, share.PublicKey(), pass); err != nil {
		t.Fatal(err)
	}
	kf, err := ks.Pack(pass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Pack("another passphrase"); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("pack with a wrong passphrase: %v", err)
	}
	sealed, err := kf.Seal(pass, MinWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	back, err := OpenKeystoreFile(sealed, pass)
	if err != nil {
		t.Fatal(err)
	}
	out := Keystore{Dir: filepath.Join(t.TempDir(), "out"), WorkFactor: MinWorkFactor}
	if err := out.Unpack(back, pass); err != nil {
		t.Fatal(err)
	}
	if err := out.Unpack(back, pass); err != nil {
		t.Fatalf("unpack again: %v", err)
	}
	name, s, err := out.Identity(pass)
	if err != nil || name != "Ada" || !s.Signing.PublicKey().Equal(pub.Signing) {
		t.Fatalf("identity: %v", err)
	}
	if got, err := out.Share(f, pass); err != nil || !bytes.Equal(got.Bytes(), share.Bytes()) {
		t.Fatalf("share: %v", err)
	}
	if read, err := ReadPublicIdentity(filepath.Join(out.Dir, IdentityPublicFile)); err != nil || !read.Signing.Equal(pub.Signing) {
		t.Fatalf("identity.json: %v", err)
	}
	other, _, _ := NewKeystoreFile(nil, "Bob")
	if err := out.Unpack(other, pass); !errors.Is(err, ErrExists) {
		t.Fatalf("unpack another identity: %v", err)
	}
}

// FuzzParseKeystore: a keystore's plaintext is parsed without panic, and
// what parses is written back byte for byte as read (the plaintext is
// canonical JSON as clients write it).
func FuzzParseKeystore(f *testing.F) {
	kf, _, _ := NewKeystoreFile(nil, "Ada")
	f.Add(kf.plaintext())
	share, _ := crypto.GenerateKey(nil)
	kf.AddShare(crypto.Fingerprint{1}, 2, share, share.PublicKey())
	f.Add(kf.plaintext())
	f.Add([]byte(`{"scrutin_trustee_keystore":1,"identity":{},"shares":null}`))
	f.Fuzz(func(t *testing.T, plain []byte) {
		k, err := parseKeystore(plain)
		if err != nil {
			return
		}
		again, err := parseKeystore(k.plaintext())
		if err != nil {
			t.Fatalf("written back, it does not parse: %v", err)
		}
		if !bytes.Equal(again.plaintext(), k.plaintext()) {
			t.Fatal("not stable")
		}
	})
}

// TestKeystoreFileVector opens a keystore file made by this version
// (testdata/keystore-v1.age, work factor 10, passphrase "correct horse
// battery staple"): the format does not change unnoticed.
func TestKeystoreFileVector(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "keystore-v1.age"))
	if err != nil {
		t.Fatal(err)
	}
	kf, err := OpenKeystoreFile(data, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "keystore-v1.identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := PublicJSON(kf.Public()); !bytes.Equal(got, want) {
		t.Fatalf("the public identity is\n%s\nwant\n%s", got, want)
	}
	f := crypto.Fingerprint{0xab}
	if _, ok, err := kf.Share(f); !ok || err != nil {
		t.Fatalf("the share of ceremony ab…: %v %v", ok, err)
	}
}

// TestNewKeystoreFileName: the trustee page makes identities with
// NewKeystoreFile; a name that is not one line of text to show is refused
// when made (spec §22.3), as "scrutin trustee init" refuses it, not only
// later by the server that receives it.
func TestNewKeystoreFileName(t *testing.T) {
	for _, name := range []string{"Bea\x1b[2J", "Bea\nAda", "Bea\u202eadA", "Bea\u2028", "\u2066Bea"} {
		if _, _, err := NewKeystoreFile(nil, name); err == nil {
			t.Errorf("NewKeystoreFile(%q) is taken", name)
		}
	}
	if _, _, err := NewKeystoreFile(nil, "Béa Ünal"); err != nil {
		t.Errorf("a plain name: %v", err)
	}
}
