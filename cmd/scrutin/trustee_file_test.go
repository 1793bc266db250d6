package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrusteePackUnpack: a keystore folder packed into one file and
// unpacked again holds the same identity; a wrong passphrase, a file that
// is no keystore, an existing output and another identity's folder are
// refused, saying so.
func TestTrusteePackUnpack(t *testing.T) {
	bin := buildScrutin(t)
	root := t.TempDir()
	pass := filepath.Join(root, "pass")
	wrong := filepath.Join(root, "wrong")
	os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600)
	os.WriteFile(wrong, []byte("not the right passphrase\n"), 0o600)
	ks := filepath.Join(root, "ks")
	if r := runScrutin(t, bin, "trustee", "init", "--name", "Ada", "--dir", ks, "--passphrase-file", pass, "--work-factor", "10"); r.status != 0 {
		t.Fatalf("init: %s", r.stderr)
	}
	file := filepath.Join(root, "ada.age")
	if r := runScrutin(t, bin, "trustee", "pack", "--dir", ks, "--passphrase-file", pass, "--work-factor", "10", "--out", file); r.status != 0 || !strings.Contains(r.stdout, "identity and 0 share(s)") {
		t.Fatalf("pack: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "trustee", "pack", "--dir", ks, "--passphrase-file", pass, "--out", file); r.status != 1 || !strings.Contains(r.stderr, "already exists") {
		t.Fatalf("pack onto an existing file: %d %s%s", r.status, r.stdout, r.stderr)
	}
	out := filepath.Join(root, "out")
	if r := runScrutin(t, bin, "trustee", "unpack", "--dir", out, "--passphrase-file", wrong, file); r.status != 1 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Fatalf("unpack with a wrong passphrase: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "trustee", "unpack", "--dir", out, "--passphrase-file", pass, filepath.Join(ks, "identity.json")); r.status != 1 || !strings.Contains(r.stderr, "not a scrutin trustee keystore") {
		t.Fatalf("unpack a file that is no keystore: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "trustee", "unpack", "--dir", out, "--passphrase-file", pass, "--work-factor", "10", file); r.status != 0 {
		t.Fatalf("unpack: %d %s%s", r.status, r.stdout, r.stderr)
	}
	a, _ := os.ReadFile(filepath.Join(ks, "identity.json"))
	b, _ := os.ReadFile(filepath.Join(out, "identity.json"))
	if string(a) != string(b) {
		t.Fatalf("the identity changed:\n%s\n%s", a, b)
	}
	other := filepath.Join(root, "other")
	runScrutin(t, bin, "trustee", "init", "--name", "Bob", "--dir", other, "--passphrase-file", pass, "--work-factor", "10")
	if r := runScrutin(t, bin, "trustee", "unpack", "--dir", other, "--passphrase-file", pass, file); r.status != 1 || !strings.Contains(r.stderr, "holds another identity") {
		t.Fatalf("unpack into another identity's folder: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "help", "trustee"); !strings.Contains(r.stdout, "trustee pack") || !strings.Contains(r.stdout, "trustee unpack") {
		t.Fatalf("help trustee: %s", r.stdout)
	}
}
