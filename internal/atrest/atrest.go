// Package atrest keeps secrets and personal data on disk: keys generated on
// first use and readable only by their owner, and files sealed with
// AES-256-GCM under such a key, so that a copy of the data folder without
// its key reveals nothing, and deleting the key erases the data.
package atrest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KeySize is the size of every key kept by this package.
const KeySize = 32

// LoadOrCreateKey reads the key at path, or creates a fresh random one
// there (mode 0600) and reports that it did. A key file readable by others
// is refused.
func LoadOrCreateKey(path string) (key []byte, created bool, err error) {
	key, err = LoadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key = make([]byte, KeySize)
	rand.Read(key)
	if err := WriteFile(path, key, 0o600); err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// LoadKey reads a key file, refusing one of the wrong size or readable by
// others than its owner.
func LoadKey(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others than its owner (mode %v): chmod 600 it", path, st.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("%s holds %d bytes, not a %d-byte key", path, len(key), KeySize)
	}
	return key, nil
}

// Derive returns a subkey of key for one purpose.
func Derive(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// Seal encrypts data under key for one purpose (bound as associated data,
// so a file sealed for one purpose does not open as another).
func Seal(key []byte, purpose string, data []byte) []byte {
	g := gcm(key)
	nonce := make([]byte, g.NonceSize())
	rand.Read(nonce)
	return g.Seal(nonce, nonce, data, []byte(purpose))
}

// ErrOpen is returned for sealed data that is corrupt, truncated, or
// sealed under another key or for another purpose.
var ErrOpen = errors.New("the sealed data does not open with this key: corrupt, or sealed with another key")

// Open decrypts what Seal made.
func Open(key []byte, purpose string, sealed []byte) ([]byte, error) {
	g := gcm(key)
	if len(sealed) < g.NonceSize()+g.Overhead() {
		return nil, ErrOpen
	}
	out, err := g.Open(nil, sealed[:g.NonceSize()], sealed[g.NonceSize():], []byte(purpose))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

func gcm(key []byte) cipher.AEAD {
	b, err := aes.NewCipher(Derive(key, "scrutin/atrest/aes-256-gcm"))
	if err != nil {
		panic(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	return g
}

// WriteFile writes data to path atomically (a temporary file renamed over
// it, both synced) with the given mode.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Erase overwrites a file with zeros, syncs it and removes it. On
// copy-on-write or journalling file systems the old blocks may survive;
// that is why personal data is sealed and its key erased with it.
func Erase(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	f.Write(make([]byte, st.Size()))
	f.Sync()
	f.Close()
	return os.Remove(path)
}
