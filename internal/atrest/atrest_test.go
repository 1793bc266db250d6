package atrest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "data.key")
	k1, created, err := LoadOrCreateKey(p)
	if err != nil || !created || len(k1) != KeySize {
		t.Fatalf("create: %v %v", created, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	k2, created, err := LoadOrCreateKey(p)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatal("the key was not read back")
	}
	os.Chmod(p, 0o644)
	if _, _, err := LoadOrCreateKey(p); err == nil {
		t.Fatal("a world-readable key was accepted")
	}
	os.Chmod(p, 0o600)
	os.WriteFile(p, []byte("short"), 0o600)
	if _, err := LoadKey(p); err == nil {
		t.Fatal("a short key was accepted")
	}
	if _, err := LoadKey(filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing key: %v", err)
	}
}

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	other := bytes.Repeat([]byte{8}, KeySize)
	data := []byte("ada@example.org,credential")
	s := Seal(key, "voters", data)
	if bytes.Contains(s, []byte("ada")) {
		t.Fatal("the plaintext shows through")
	}
	if got, err := Open(key, "voters", s); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := Open(other, "voters", s); !errors.Is(err, ErrOpen) {
		t.Fatal("opened with another key")
	}
	if _, err := Open(key, "accounts", s); !errors.Is(err, ErrOpen) {
		t.Fatal("opened for another purpose")
	}
	for i := range s {
		c := bytes.Clone(s)
		c[i] ^= 1
		if _, err := Open(key, "voters", c); !errors.Is(err, ErrOpen) {
			t.Fatalf("byte %d flipped and still opens", i)
		}
	}
	for n := range s {
		if _, err := Open(key, "voters", s[:n]); !errors.Is(err, ErrOpen) {
			t.Fatalf("truncated to %d and still opens", n)
		}
	}
	if bytes.Equal(Seal(key, "voters", data), s) {
		t.Fatal("two seals are equal: the nonce is not fresh")
	}
}

func TestWriteFileAndErase(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "two" {
		t.Fatalf("read %q", b)
	}
	if err := Erase(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("not erased")
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 0 {
		t.Fatalf("left behind: %v", entries)
	}
}
