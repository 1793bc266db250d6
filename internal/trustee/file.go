package trustee

// The keystore as one file (docs/spec.md §13.5): what the trustee page in
// the browser downloads and loads, and what "scrutin trustee pack" and
// "unpack" convert to and from a keystore folder. This file does no I/O:
// the WebAssembly module uses it as it is.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"filippo.io/age"

	"github.com/scrutin/scrutin/crypto"
)

// KeystoreFileVersion is the version a keystore file's plaintext names.
const KeystoreFileVersion = 1

// MaxKeystoreFile bounds a keystore file, encrypted, and its plaintext.
const MaxKeystoreFile = 1 << 16

// MaxKeystoreShares bounds the shares a keystore file holds (one per
// ceremony the trustee took part in).
const MaxKeystoreShares = 64

// maxWorkFactor is the highest scrypt work factor made or accepted.
const maxWorkFactor = 22

// KeystoreFile is a trustee's identity and its shares, as the plaintext of
// a keystore file. Its secrets are never printed: it has no String method
// and its fields are unexported.
type KeystoreFile struct {
	identity identitySecret
	shares   []shareSecret
}

// keystoreFileJSON is the plaintext of a keystore file (spec §13.5).
type keystoreFileJSON struct {
	Version  int            `json:"scrutin_trustee_keystore"`
	Identity identitySecret `json:"identity"`
	Shares   []shareSecret  `json:"shares"`
}

// NewKeystoreFile makes a new identity (rnd nil: crypto/rand) and returns
// the keystore that holds it and its public half.
func NewKeystoreFile(rnd io.Reader, name string) (*KeystoreFile, *crypto.Trustee, error) {
	if err := checkName(name); err != nil {
		return nil, nil, err
	}
	// spec: §22.3 a new identity's name is one line of text to show, as
	// "scrutin trustee init" and the server that receives it require.
	// Opening a keystore checks only the roster's rule (§13.1).
	if err := CheckName(name); err != nil {
		return nil, nil, err
	}
	s, err := crypto.NewTrusteeSecrets(rnd)
	if err != nil {
		return nil, nil, err
	}
	k := &KeystoreFile{identity: identitySecret{Name: name, Signing: b64(s.Signing.Bytes()), Encryption: b64(s.Encryption.Bytes())}}
	return k, k.Public(), nil
}

func checkName(name string) error {
	if name == "" || len(name) > crypto.MaxTrusteeNameLen || !utf8.ValidString(name) {
		return fmt.Errorf("a trustee's name must be 1 to %d bytes of UTF-8", crypto.MaxTrusteeNameLen)
	}
	return nil
}

// CheckPassphrase checks a new keystore's passphrase as every client does:
// at least MinPassphraseLen characters.
func CheckPassphrase(p string) error { return checkPassphrase(p) }

// Name is the trustee's name.
func (k *KeystoreFile) Name() string { return k.identity.Name }

// Secrets returns the trustee's identity's secret keys.
func (k *KeystoreFile) Secrets() (*crypto.TrusteeSecrets, error) {
	return k.identity.secrets()
}

func (s identitySecret) secrets() (*crypto.TrusteeSecrets, error) {
	sign, err1 := secretKey(s.Signing)
	enc, err2 := secretKey(s.Encryption)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("the identity is damaged: %w", err)
	}
	return &crypto.TrusteeSecrets{Signing: sign, Encryption: enc}, nil
}

// Public is the trustee's public identity, as identity.json holds it.
func (k *KeystoreFile) Public() *crypto.Trustee {
	s, err := k.Secrets()
	if err != nil {
		panic("trustee: a keystore file holds a damaged identity") // checked when made or opened
	}
	return &crypto.Trustee{Name: k.identity.Name, Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()}
}

// PublicJSON is the trustee's public identity as identity.json holds it
// ("scrutin trustee init" writes the same).
func PublicJSON(t *crypto.Trustee) []byte {
	b, _ := json.MarshalIndent(t, "", "  ")
	return append(b, '\n')
}

// Share returns the trustee's share of the ceremony with fingerprint f, and
// false if the keystore holds none.
func (k *KeystoreFile) Share(f crypto.Fingerprint) (*crypto.SecretKey, bool, error) {
	want := fmt.Sprintf("%x", f[:])
	for _, s := range k.shares {
		if s.Ceremony == want {
			sk, err := secretKey(s.Share)
			if err != nil {
				return nil, false, fmt.Errorf("the share of ceremony %s is damaged: %w", want[:16], err)
			}
			return sk, true, nil
		}
	}
	return nil, false, nil
}

// AddShare adds the trustee's share of a ceremony. Adding the same share
// again is harmless; a different share of the same ceremony is refused.
func (k *KeystoreFile) AddShare(f crypto.Fingerprint, trustee int, share *crypto.SecretKey, key *crypto.PublicKey) error {
	old, ok, err := k.Share(f)
	if err != nil {
		return err
	}
	if ok {
		if bytes.Equal(old.Bytes(), share.Bytes()) {
			return nil
		}
		return fmt.Errorf("a different share of this ceremony %w in the keystore", ErrExists)
	}
	if len(k.shares) >= MaxKeystoreShares {
		return fmt.Errorf("a keystore holds at most %d shares: start a new identity", MaxKeystoreShares)
	}
	k.shares = append(k.shares, shareSecret{Ceremony: fmt.Sprintf("%x", f[:]), Trustee: trustee, Share: b64(share.Bytes()), PublicKey: b64(key.Bytes())})
	return nil
}

// Seal encrypts the keystore under the passphrase with age's scrypt
// recipient at the given work factor (0: DefaultWorkFactor), as a keystore
// file.
func (k *KeystoreFile) Seal(passphrase string, workFactor int) ([]byte, error) {
	if err := checkPassphrase(passphrase); err != nil {
		return nil, err
	}
	plain := k.plaintext()
	if len(plain) > MaxKeystoreFile-1024 {
		return nil, errors.New("the keystore is too large")
	}
	return seal(plain, passphrase, workFactor)
}

// plaintext is the keystore file's plaintext (spec §13.5).
func (k *KeystoreFile) plaintext() []byte {
	shares := k.shares
	if shares == nil {
		shares = []shareSecret{}
	}
	b, _ := json.Marshal(keystoreFileJSON{Version: KeystoreFileVersion, Identity: k.identity, Shares: slices.Clip(shares)})
	return b
}

func seal(plain []byte, passphrase string, wf int) ([]byte, error) {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, err
	}
	if wf == 0 {
		wf = DefaultWorkFactor
	}
	if wf < MinWorkFactor || wf > maxWorkFactor {
		return nil, fmt.Errorf("the scrypt work factor must be between %d and %d", MinWorkFactor, maxWorkFactor)
	}
	r.SetWorkFactor(wf)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrNotKeystore is returned for a file that is not a keystore file.
var ErrNotKeystore = errors.New("not a scrutin trustee keystore file")

// OpenKeystoreFile decrypts and parses a keystore file. A wrong passphrase
// is ErrBadPassphrase; anything but a keystore file, ErrNotKeystore.
func OpenKeystoreFile(data []byte, passphrase string) (*KeystoreFile, error) {
	if len(data) > MaxKeystoreFile {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrNotKeystore, MaxKeystoreFile)
	}
	plain, err := open(data, passphrase)
	if err != nil {
		return nil, err
	}
	return parseKeystore(plain)
}

// parseKeystore parses a keystore file's plaintext (spec §13.5).
func parseKeystore(plain []byte) (*KeystoreFile, error) {
	var j keystoreFileJSON
	if err := strictJSON(plain, &j); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotKeystore, err)
	}
	if j.Version != KeystoreFileVersion {
		return nil, fmt.Errorf("%w: version %d (this program reads version %d)", ErrNotKeystore, j.Version, KeystoreFileVersion)
	}
	k := &KeystoreFile{identity: j.Identity, shares: j.Shares}
	if err := k.check(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotKeystore, err)
	}
	return k, nil
}

// check checks every key of the keystore and that no ceremony has two
// shares.
func (k *KeystoreFile) check() error {
	if err := checkName(k.identity.Name); err != nil {
		return err
	}
	s, err := k.Secrets()
	if err != nil {
		return err
	}
	if s.Signing.PublicKey().Equal(s.Encryption.PublicKey()) {
		return errors.New("the identity uses one key for signing and encryption")
	}
	if len(k.shares) > MaxKeystoreShares {
		return fmt.Errorf("more than %d shares", MaxKeystoreShares)
	}
	seen := map[string]bool{}
	for _, sh := range k.shares {
		if len(sh.Ceremony) != 64 || strings.Trim(sh.Ceremony, "0123456789abcdef") != "" {
			return fmt.Errorf("a share names the ceremony %q, not a fingerprint", sh.Ceremony)
		}
		if seen[sh.Ceremony] {
			return fmt.Errorf("two shares of the ceremony %s", sh.Ceremony[:16])
		}
		seen[sh.Ceremony] = true
		if sh.Trustee < 1 || sh.Trustee > 255 {
			return fmt.Errorf("a share of trustee %d", sh.Trustee)
		}
		if _, err := secretKey(sh.Share); err != nil {
			return fmt.Errorf("the share of ceremony %s: %v", sh.Ceremony[:16], err)
		}
		b, err := b64enc.DecodeString(sh.PublicKey)
		if err != nil {
			return fmt.Errorf("the election key of ceremony %s: %v", sh.Ceremony[:16], err)
		}
		if _, err := crypto.NewPublicKey(b); err != nil {
			return fmt.Errorf("the election key of ceremony %s: %v", sh.Ceremony[:16], err)
		}
	}
	return nil
}

// open decrypts an age file encrypted under a passphrase, whose plaintext
// is at most MaxKeystoreFile bytes.
func open(ciphertext []byte, passphrase string) ([]byte, error) {
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, err
	}
	id.SetMaxWorkFactor(maxWorkFactor)
	r, err := age.Decrypt(bytes.NewReader(ciphertext), id)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return nil, ErrBadPassphrase
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotKeystore, err)
	}
	plain, err := io.ReadAll(io.LimitReader(r, MaxKeystoreFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotKeystore, err)
	}
	if len(plain) > MaxKeystoreFile {
		return nil, fmt.Errorf("%w: its content is larger than %d bytes", ErrNotKeystore, MaxKeystoreFile)
	}
	return plain, nil
}

// Shares is how many shares the keystore holds.
func (k *KeystoreFile) Shares() int { return len(k.shares) }
