package crypto

// spec: §13.1 trustee identities and the roster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Limits of a roster (spec §13.1).
const (
	MaxTrustees       = 255
	MaxRosterLabelLen = 200
	MaxTrusteeNameLen = 100
)

// ErrCeremony wraps every failure of the key ceremony and of threshold
// decryption that is not a plain decoding error.
var ErrCeremony = errors.New("key ceremony failed")

// TrusteeSecrets are a trustee's identity secrets: its signing key and its
// encryption key. They never leave the trustee's computer.
type TrusteeSecrets struct {
	Signing, Encryption *SecretKey
}

// NewTrusteeSecrets generates a new trustee identity.
func NewTrusteeSecrets(rnd io.Reader) (*TrusteeSecrets, error) {
	s, err := GenerateKey(rnd)
	if err != nil {
		return nil, err
	}
	e, err := GenerateKey(rnd)
	if err != nil {
		return nil, err
	}
	return &TrusteeSecrets{Signing: s, Encryption: e}, nil
}

// Trustee is one roster entry: a name and the public half of an identity.
// Its JSON fields are in name order, so that it is canonical inside a
// manifest (spec §18.2).
type Trustee struct {
	Encryption *PublicKey `json:"encryption_key"`
	Name       string     `json:"name"`
	Signing    *PublicKey `json:"signing_key"`
}

// Check checks one trustee's identity alone as a roster entry must be
// (spec §13.1): a name of 1 to MaxTrusteeNameLen bytes of UTF-8, and two
// distinct valid keys.
func (t *Trustee) Check() error {
	if len(t.Name) == 0 || len(t.Name) > MaxTrusteeNameLen || !utf8.ValidString(t.Name) {
		return fmt.Errorf("%w: a trustee's name must be 1 to %d bytes of UTF-8", ErrEncoding, MaxTrusteeNameLen)
	}
	if t.Signing == nil || t.Encryption == nil {
		return fmt.Errorf("%w: the identity of %s lacks a key", ErrEncoding, t.Name)
	}
	for _, k := range []*PublicKey{t.Signing, t.Encryption} {
		if err := k.check(); err != nil {
			return fmt.Errorf("the identity of %s: %w", t.Name, err)
		}
	}
	if t.Signing.Equal(t.Encryption) {
		return fmt.Errorf("%w: the identity of %s uses one key for signing and encryption", ErrEncoding, t.Name)
	}
	return nil
}

// IdentityFingerprintSize is the length of a trustee identity's
// fingerprint.
const IdentityFingerprintSize = 16

// Fingerprint returns the identity's fingerprint, the first 16 bytes of
// TupleHash("scrutin/v0/trustee-identity", name, enc(S), enc(P)) (spec
// §13.1): what a trustee reads aloud to the officer to confirm that the
// identity the officer received is theirs. The keys must be set.
func (t *Trustee) Fingerprint() [IdentityFingerprintSize]byte {
	h := tupleHash(labelTrusteeIdentity, []byte(t.Name), t.Signing.enc[:], t.Encryption.enc[:])
	var f [IdentityFingerprintSize]byte
	copy(f[:], h[:])
	return f
}

// CeremonyIDSize is the length of a roster's random ceremony id.
const CeremonyIDSize = 16

// CeremonyID is chosen at random for each ceremony, so that no message of
// one ceremony can be replayed into another with the same trustees.
type CeremonyID [CeremonyIDSize]byte

// NewCeremonyID returns a fresh random ceremony id.
func NewCeremonyID(rnd io.Reader) (CeremonyID, error) {
	var id CeremonyID
	_, err := io.ReadFull(randOrDefault(rnd), id[:])
	return id, err
}

// MarshalText returns the id in unpadded base64url.
func (id CeremonyID) MarshalText() ([]byte, error) { return marshalText(id[:]), nil }

// UnmarshalText parses the id strictly.
func (id *CeremonyID) UnmarshalText(text []byte) error {
	b, err := unmarshalText(text, CeremonyIDSize)
	if err != nil {
		return fmt.Errorf("ceremony id: %w", err)
	}
	copy(id[:], b)
	return nil
}

// Roster fixes a key ceremony: its label, its random id, the threshold t and
// the n trustees, numbered from 1 in order (spec §13.1).
// Its JSON fields are in name order (spec §18.2).
type Roster struct {
	ID        CeremonyID `json:"ceremony_id"`
	Label     string     `json:"label"`
	Threshold int        `json:"threshold"`
	Trustees  []Trustee  `json:"trustees"`
}

// N returns the number of trustees.
func (r *Roster) N() int { return len(r.Trustees) }

// Validate checks the rules of spec §13.1.
func (r *Roster) Validate() error {
	if len(r.Label) == 0 || len(r.Label) > MaxRosterLabelLen || !utf8.ValidString(r.Label) {
		return fmt.Errorf("%w: roster label must be 1 to %d bytes of UTF-8", ErrEncoding, MaxRosterLabelLen)
	}
	if r.ID == (CeremonyID{}) {
		return fmt.Errorf("%w: the roster has no ceremony id", ErrEncoding)
	}
	n := len(r.Trustees)
	if n < 1 || n > MaxTrustees {
		return fmt.Errorf("%w: a roster has 1 to %d trustees, this one has %d", ErrEncoding, MaxTrustees, n)
	}
	if r.Threshold < 1 || r.Threshold > n {
		return fmt.Errorf("%w: threshold %d must be between 1 and the number of trustees (%d)", ErrEncoding, r.Threshold, n)
	}
	names := make(map[string]int)
	keys := make(map[[ElementSize]byte]int)
	for i, t := range r.Trustees {
		if len(t.Name) == 0 || len(t.Name) > MaxTrusteeNameLen || !utf8.ValidString(t.Name) {
			return fmt.Errorf("%w: trustee %d: name must be 1 to %d bytes of UTF-8", ErrEncoding, i+1, MaxTrusteeNameLen)
		}
		if t.Signing == nil || t.Encryption == nil {
			return fmt.Errorf("%w: trustee %d (%s) lacks a key", ErrEncoding, i+1, t.Name)
		}
		for _, k := range []*PublicKey{t.Signing, t.Encryption} {
			if err := k.check(); err != nil {
				return fmt.Errorf("trustee %d (%s): %w", i+1, t.Name, err)
			}
			if other, dup := keys[k.enc]; dup {
				return fmt.Errorf("%w: trustee %d (%s) uses a key of trustee %d", ErrEncoding, i+1, t.Name, other)
			}
			keys[k.enc] = i + 1
		}
		if other, dup := names[t.Name]; dup {
			return fmt.Errorf("%w: trustees %d and %d are both named %q", ErrEncoding, other, i+1, t.Name)
		}
		names[t.Name] = i + 1
	}
	return nil
}

// Bytes returns the roster's canonical bytes (spec §13.1). The roster must
// be valid.
func (r *Roster) Bytes() []byte {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Label)))
	b = append(b, r.Label...)
	b = append(b, r.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(r.Threshold))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Trustees)))
	for _, t := range r.Trustees {
		b = binary.BigEndian.AppendUint32(b, uint32(len(t.Name)))
		b = append(b, t.Name...)
		b = append(b, t.Signing.enc[:]...)
		b = append(b, t.Encryption.enc[:]...)
	}
	return b
}

// Fingerprint returns F, the first 32 bytes of
// TupleHash("scrutin/v0/roster", roster bytes) (spec §13.1).
func (r *Roster) Fingerprint() Fingerprint {
	h := tupleHash(labelRoster, r.Bytes())
	var f Fingerprint
	copy(f[:], h[:])
	return f
}

// Index returns the number (from 1) of the trustee whose signing key is
// given, or 0.
func (r *Roster) Index(signing *PublicKey) int {
	for i, t := range r.Trustees {
		if t.Signing.Equal(signing) {
			return i + 1
		}
	}
	return 0
}

// name returns "trustee i (name)" for messages.
func (r *Roster) name(i int) string {
	if i < 1 || i > len(r.Trustees) {
		return fmt.Sprintf("trustee %d", i)
	}
	return fmt.Sprintf("trustee %d (%s)", i, r.Trustees[i-1].Name)
}
