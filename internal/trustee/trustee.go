// Package trustee is the trustee's side of the key ceremony and of
// decryption, as files: a keystore folder on the trustee's own computer that
// holds its identity and its shares encrypted at rest with age (scrypt,
// under a passphrase), and a ceremony folder shared by all trustees that
// holds the roster and the signed ceremony messages (docs/spec.md §13–§14).
//
// The protocol itself is in package crypto; this package only stores, names
// and finds things. A trustee's secrets never leave its keystore unencrypted.
package trustee

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"filippo.io/age"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/internal/atrest"
)

// Files of a keystore and of a ceremony folder.
const (
	identitySecretFile = "identity.age"
	IdentityPublicFile = "identity.json"
	RosterFile         = "roster.json"
	messageExt         = ".msg"
)

// MinPassphraseLen is the shortest passphrase accepted for a keystore.
const MinPassphraseLen = 12

// DefaultWorkFactor is age's scrypt work factor (log2 N); lower values make
// a stolen keystore faster to crack and exist only for tests.
const DefaultWorkFactor = 18

// MinWorkFactor is the lowest work factor accepted.
const MinWorkFactor = 10

// Errors a caller may need to tell apart.
var (
	ErrExists        = errors.New("already exists")
	ErrBadPassphrase = errors.New("wrong passphrase")
)

// Keystore is a trustee's folder on its own computer.
type Keystore struct {
	Dir        string
	WorkFactor int // for new encrypted files; 0 means DefaultWorkFactor
}

// identitySecret is the plaintext inside identity.age.
type identitySecret struct {
	Name       string `json:"name"`
	Signing    string `json:"signing_secret"`
	Encryption string `json:"encryption_secret"`
}

// shareSecret is the plaintext inside share-<fingerprint>.age.
type shareSecret struct {
	Ceremony  string `json:"ceremony"` // fingerprint, hex
	Trustee   int    `json:"trustee"`
	Share     string `json:"share_secret"`
	PublicKey string `json:"election_key"`
}

// Init creates a new identity in an empty or new keystore folder and returns
// its public half, also written to identity.json for the officer.
func (k Keystore) Init(rnd io.Reader, name, passphrase string) (*crypto.Trustee, error) {
	if err := checkPassphrase(passphrase); err != nil {
		return nil, err
	}
	if name == "" || len(name) > crypto.MaxTrusteeNameLen {
		return nil, fmt.Errorf("a trustee's name must be 1 to %d bytes", crypto.MaxTrusteeNameLen)
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(k.Dir, identitySecretFile)); err == nil {
		return nil, fmt.Errorf("%s: an identity %w; use another folder for another identity", k.Dir, ErrExists)
	}
	if err := os.MkdirAll(k.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the keystore: %w", err)
	}
	s, err := crypto.NewTrusteeSecrets(rnd)
	if err != nil {
		return nil, err
	}
	secret, _ := json.Marshal(identitySecret{Name: name, Signing: b64(s.Signing.Bytes()), Encryption: b64(s.Encryption.Bytes())})
	if err := k.writeEncrypted(identitySecretFile, secret, passphrase); err != nil {
		return nil, err
	}
	pub := &crypto.Trustee{Name: name, Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()}
	b, _ := json.MarshalIndent(pub, "", "  ")
	if err := atrest.WriteFile(filepath.Join(k.Dir, IdentityPublicFile), append(b, '\n'), 0o644); err != nil {
		return nil, err
	}
	return pub, nil
}

// Identity decrypts the trustee's identity.
func (k Keystore) Identity(passphrase string) (string, *crypto.TrusteeSecrets, error) {
	plain, err := k.readEncrypted(identitySecretFile, passphrase)
	if err != nil {
		return "", nil, err
	}
	var s identitySecret
	if err := strictJSON(plain, &s); err != nil {
		return "", nil, fmt.Errorf("%s is damaged: %w", identitySecretFile, err)
	}
	sign, err1 := secretKey(s.Signing)
	enc, err2 := secretKey(s.Encryption)
	if err := errors.Join(err1, err2); err != nil {
		return "", nil, fmt.Errorf("%s is damaged: %w", identitySecretFile, err)
	}
	return s.Name, &crypto.TrusteeSecrets{Signing: sign, Encryption: enc}, nil
}

func shareFile(f crypto.Fingerprint) string { return fmt.Sprintf("share-%x.age", f[:8]) }

// SaveShare stores the trustee's share of a ceremony's key, encrypted.
// It refuses to replace a different share of the same ceremony.
func (k Keystore) SaveShare(f crypto.Fingerprint, trustee int, share *crypto.SecretKey, key *crypto.PublicKey, passphrase string) error {
	name := shareFile(f)
	if old, err := k.Share(f, passphrase); err == nil {
		if bytes.Equal(old.Bytes(), share.Bytes()) {
			return nil
		}
		return fmt.Errorf("%s: a different share of this ceremony %w", filepath.Join(k.Dir, name), ErrExists)
	}
	plain, _ := json.Marshal(shareSecret{Ceremony: fmt.Sprintf("%x", f[:]), Trustee: trustee, Share: b64(share.Bytes()), PublicKey: b64(key.Bytes())})
	return k.writeEncrypted(name, plain, passphrase)
}

// Share decrypts the trustee's share of a ceremony's key.
func (k Keystore) Share(f crypto.Fingerprint, passphrase string) (*crypto.SecretKey, error) {
	plain, err := k.readEncrypted(shareFile(f), passphrase)
	if err != nil {
		return nil, err
	}
	var s shareSecret
	if err := strictJSON(plain, &s); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", shareFile(f), err)
	}
	if s.Ceremony != fmt.Sprintf("%x", f[:]) {
		return nil, fmt.Errorf("%s belongs to another ceremony", shareFile(f))
	}
	return secretKey(s.Share)
}

func (k Keystore) writeEncrypted(name string, plain []byte, passphrase string) error {
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return err
	}
	wf := k.WorkFactor
	if wf == 0 {
		wf = DefaultWorkFactor
	}
	if wf < MinWorkFactor || wf > 22 {
		return fmt.Errorf("the scrypt work factor must be between %d and 22", MinWorkFactor)
	}
	r.SetWorkFactor(wf)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, r)
	if err != nil {
		return err
	}
	if _, err := w.Write(plain); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return atrest.WriteFile(filepath.Join(k.Dir, name), buf.Bytes(), 0o600)
}

func (k Keystore) readEncrypted(name, passphrase string) ([]byte, error) {
	path := filepath.Join(k.Dir, name)
	ciphertext, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: %w", path, err)
	}
	if err != nil {
		return nil, err
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, err
	}
	r, err := age.Decrypt(bytes.NewReader(ciphertext), id)
	var nomatch *age.NoIdentityMatchError
	if errors.As(err, &nomatch) {
		return nil, fmt.Errorf("%s: %w", path, ErrBadPassphrase)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt %s: %w", path, err)
	}
	return io.ReadAll(io.LimitReader(r, 1<<16))
}

func checkPassphrase(p string) error {
	if len([]rune(p)) < MinPassphraseLen {
		return fmt.Errorf("the passphrase must have at least %d characters: a few random words are best", MinPassphraseLen)
	}
	return nil
}

var b64enc = base64.RawURLEncoding.Strict()

func b64(b []byte) string { return b64enc.EncodeToString(b) }

func secretKey(s string) (*crypto.SecretKey, error) {
	b, err := b64enc.DecodeString(s)
	if err != nil {
		return nil, err
	}
	return crypto.NewSecretKey(b)
}

// strictJSON decodes one JSON value, refusing unknown fields and trailing
// data.
func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// MaxPublicIdentitySize bounds an identity.json file.
const MaxPublicIdentitySize = 1 << 12

// ReadPublicIdentity reads an identity.json file.
func ReadPublicIdentity(path string) (*crypto.Trustee, error) {
	data, err := readLimited(path, MaxPublicIdentitySize)
	if err != nil {
		return nil, err
	}
	t, err := ParsePublicIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParsePublicIdentity parses the public identity of a trustee, as Init
// writes it to identity.json, strictly (no unknown member, nothing after
// it), and checks it as a roster entry must be (crypto.Trustee.Check).
// The officer's console and the command line read identities with it.
func ParsePublicIdentity(data []byte) (*crypto.Trustee, error) {
	if len(data) > MaxPublicIdentitySize {
		return nil, fmt.Errorf("a trustee identity is at most %d bytes", MaxPublicIdentitySize)
	}
	var t crypto.Trustee
	if err := strictJSON(data, &t); err != nil {
		return nil, fmt.Errorf("not a trustee identity (identity.json, made by \"scrutin trustee init\"): %w", err)
	}
	if t.Signing == nil || t.Encryption == nil {
		return nil, errors.New("the trustee identity lacks a key")
	}
	if err := t.Check(); err != nil {
		return nil, err
	}
	if err := CheckName(t.Name); err != nil {
		return nil, err
	}
	return &t, nil
}

// CheckName refuses a trustee's name that is not one line of text to
// show: a control character (an escape sequence that rewrites another
// trustee's terminal, a line break), a line or paragraph separator, or a
// bidirectional control that reorders what the officer reads on the
// console. The roster (spec §13.1) asks only for UTF-8; identities are
// refused so when they are made and received (spec §22.3).
func CheckName(name string) error {
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069' || r == '\u200e' || r == '\u200f' || r == '\u061c' {
			return fmt.Errorf("a trustee's name must be one line of text, without control characters (it has U+%04X)", r)
		}
	}
	return nil
}

// NewRoster assembles the trustees' identities, in the order given, into a
// ceremony's roster with a fresh random ceremony id (rnd nil: crypto/rand),
// and validates it. "scrutin trustee roster" and the officer's console make
// rosters with it.
func NewRoster(rnd io.Reader, label string, threshold int, identities []crypto.Trustee) (*crypto.Roster, error) {
	id, err := crypto.NewCeremonyID(rnd)
	if err != nil {
		return nil, err
	}
	r := &crypto.Roster{Label: label, ID: id, Threshold: threshold, Trustees: slices.Clone(identities)}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// RosterJSON is a roster as roster.json holds it. The roster must be valid.
func RosterJSON(r *crypto.Roster) []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return append(b, '\n')
}

// ParseRoster parses and validates a roster.json file's contents.
func ParseRoster(data []byte) (*crypto.Roster, error) {
	var r crypto.Roster
	if err := strictJSON(data, &r); err != nil {
		return nil, fmt.Errorf("not a valid roster: %w", err)
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

// Ceremony is the folder the trustees share.
type Ceremony struct {
	Dir string
}

// WriteRoster validates a roster and writes it as roster.json.
func (c Ceremony) WriteRoster(r *crypto.Roster) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(c.Dir, RosterFile)
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s %w: a ceremony folder holds one roster", path, ErrExists)
	}
	return atrest.WriteFile(path, RosterJSON(r), 0o644)
}

// Roster reads and validates roster.json.
func (c Ceremony) Roster() (*crypto.Roster, error) {
	path := filepath.Join(c.Dir, RosterFile)
	data, err := readLimited(path, 1<<20)
	if err != nil {
		return nil, fmt.Errorf("failed to read the roster: %w", err)
	}
	r, err := ParseRoster(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

var messageNames = map[byte]string{1: "dealing", 2: "complaints", 3: "confirmation", 4: "decryption"}

// MessageName is the file name of a message: its type and its sender, and
// for complaints (of which a trustee may send several) a hash prefix.
func MessageName(msg []byte) (string, error) {
	if len(msg) < 37 || messageNames[msg[0]] == "" {
		return "", errors.New("not a ceremony message")
	}
	sender := int(msg[33])<<24 | int(msg[34])<<16 | int(msg[35])<<8 | int(msg[36])
	if msg[0] == 2 {
		h := sha256.Sum256(msg)
		return fmt.Sprintf("%s-%d-%x%s", messageNames[msg[0]], sender, h[:4], messageExt), nil
	}
	return fmt.Sprintf("%s-%d%s", messageNames[msg[0]], sender, messageExt), nil
}

// Sent reports whether the folder holds a message of the given kind
// ("dealing", "complaints", "confirmation") from the trustee.
func (c Ceremony) Sent(kind string, trustee int) bool {
	matches, _ := filepath.Glob(filepath.Join(c.Dir, fmt.Sprintf("%s-%d%s", kind, trustee, messageExt)))
	more, _ := filepath.Glob(filepath.Join(c.Dir, fmt.Sprintf("%s-%d-*%s", kind, trustee, messageExt)))
	return len(matches)+len(more) > 0
}

// WriteMessage writes a message into the folder under its name. Writing the
// same message again is harmless; a different dealing or confirmation under
// the same name is refused (sending two would be equivocation).
func WriteMessage(dir string, msg []byte) (string, error) {
	name, err := MessageName(msg)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	if old, err := os.ReadFile(path); err == nil {
		if bytes.Equal(old, msg) {
			return path, nil
		}
		return path, fmt.Errorf("%s: a different message %w; a trustee sends one message of each kind", path, ErrExists)
	}
	return path, atrest.WriteFile(path, msg, 0o644)
}

// Messages reads every ceremony message (dealing, complaints, confirmation)
// of the folder, in name order.
func (c Ceremony) Messages() ([][]byte, error) {
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return nil, err
	}
	var msgs [][]byte
	for _, e := range entries {
		n := e.Name()
		if !strings.HasSuffix(n, messageExt) || strings.HasPrefix(n, "decryption-") {
			continue
		}
		b, err := readLimited(filepath.Join(c.Dir, n), crypto.MaxCeremonyMessage)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, b)
	}
	return msgs, nil
}

// ReadMessages reads the given message files.
func ReadMessages(paths []string) ([][]byte, error) {
	var msgs [][]byte
	for _, p := range paths {
		b, err := readLimited(p, crypto.MaxCeremonyMessage+8*crypto.MaxTallySize*16)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, b)
	}
	return msgs, nil
}

// Tally is a file of ciphertexts to decrypt, one per option: sums of
// ballots' ciphertexts, whose α may be the identity (spec §2.1).
type Tally struct {
	Ciphertexts []*crypto.CiphertextSum `json:"ciphertexts"`
}

// ReadTally reads a tally file.
func ReadTally(path string) ([]*crypto.Ciphertext, error) {
	data, err := readLimited(path, 1<<22)
	if err != nil {
		return nil, fmt.Errorf("failed to read the tally: %w", err)
	}
	var t Tally
	if err := strictJSON(data, &t); err != nil {
		return nil, fmt.Errorf("%s is not a tally: %w", path, err)
	}
	if len(t.Ciphertexts) == 0 || len(t.Ciphertexts) > crypto.MaxTallySize || slices.Contains(t.Ciphertexts, nil) {
		return nil, fmt.Errorf("%s: a tally holds 1 to %d ciphertexts", path, crypto.MaxTallySize)
	}
	cts := make([]*crypto.Ciphertext, len(t.Ciphertexts))
	for i, c := range t.Ciphertexts {
		cts[i] = &c.Ciphertext
	}
	return cts, nil
}

// WriteTally writes a tally file.
func WriteTally(path string, cts []*crypto.Ciphertext) error {
	sums := make([]*crypto.CiphertextSum, len(cts))
	for i, c := range cts {
		sums[i] = &crypto.CiphertextSum{Ciphertext: *c}
	}
	b, _ := json.MarshalIndent(Tally{Ciphertexts: sums}, "", "  ")
	return atrest.WriteFile(path, append(b, '\n'), 0o644)
}

// GroupHex writes bytes in lower-case hex in groups of four digits, as
// fingerprints are read aloud (spec §13.1).
func GroupHex(b []byte) string {
	h := fmt.Sprintf("%x", b)
	var s strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			s.WriteByte(' ')
		}
		s.WriteString(h[i:min(len(h), i+4)])
	}
	return s.String()
}

// Pack reads the keystore folder (its identity and every share) into one
// keystore file's content, to seal with KeystoreFile.Seal.
func (k Keystore) Pack(passphrase string) (*KeystoreFile, error) {
	plain, err := k.readEncrypted(identitySecretFile, passphrase)
	if err != nil {
		return nil, err
	}
	kf := &KeystoreFile{}
	if err := strictJSON(plain, &kf.identity); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", identitySecretFile, err)
	}
	names, err := filepath.Glob(filepath.Join(k.Dir, "share-*.age"))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	for _, p := range names {
		plain, err := k.readEncrypted(filepath.Base(p), passphrase)
		if err != nil {
			return nil, err
		}
		var s shareSecret
		if err := strictJSON(plain, &s); err != nil {
			return nil, fmt.Errorf("%s is damaged: %w", p, err)
		}
		kf.shares = append(kf.shares, s)
	}
	if err := kf.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", k.Dir, err)
	}
	return kf, nil
}

// Unpack writes a keystore file's identity and shares into the keystore
// folder: a new folder, or one that holds the same identity (shares it
// lacks are added; a different share of a ceremony is refused).
func (k Keystore) Unpack(kf *KeystoreFile, passphrase string) error {
	if err := checkPassphrase(passphrase); err != nil {
		return err
	}
	pub := kf.Public()
	if _, err := os.Stat(filepath.Join(k.Dir, identitySecretFile)); err == nil {
		name, s, err := k.Identity(passphrase)
		if err != nil {
			return err
		}
		if !s.Signing.PublicKey().Equal(pub.Signing) {
			return fmt.Errorf("%s holds another identity (%s) %w: unpack into another folder", k.Dir, name, ErrExists)
		}
	} else {
		if err := os.MkdirAll(k.Dir, 0o700); err != nil {
			return fmt.Errorf("failed to create the keystore: %w", err)
		}
		secret, _ := json.Marshal(kf.identity)
		if err := k.writeEncrypted(identitySecretFile, secret, passphrase); err != nil {
			return err
		}
		if err := atrest.WriteFile(filepath.Join(k.Dir, IdentityPublicFile), PublicJSON(pub), 0o644); err != nil {
			return err
		}
	}
	for _, s := range kf.shares {
		var f crypto.Fingerprint
		if b, err := hex.DecodeString(s.Ceremony); err != nil || len(b) != len(f) {
			return fmt.Errorf("a share names the ceremony %q, not a fingerprint", s.Ceremony)
		} else {
			copy(f[:], b)
		}
		share, err := secretKey(s.Share)
		if err != nil {
			return err
		}
		if old, err := k.Share(f, passphrase); err == nil {
			if !bytes.Equal(old.Bytes(), share.Bytes()) {
				return fmt.Errorf("%s: a different share of ceremony %s %w", k.Dir, s.Ceremony[:16], ErrExists)
			}
			continue
		}
		plain, _ := json.Marshal(s)
		if err := k.writeEncrypted(shareFile(f), plain, passphrase); err != nil {
			return err
		}
	}
	return nil
}
