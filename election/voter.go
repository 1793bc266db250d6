package election

// spec: §18.4 credentials, §18.5 ballots (the voter's side)

import (
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"github.com/scrutin/scrutin/crypto"
)

// CodeAlphabet is the alphabet of credential codes: Crockford's base32,
// without letters that are easily confused (I, L, O, U).
const CodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// CodeLength is the number of characters of a credential code: 20
// characters of 5 bits, 100 bits in all.
const CodeLength = 20

// NewCode returns a fresh random credential code, in groups of four
// (XXXX-XXXX-XXXX-XXXX-XXXX).
func NewCode(rnd io.Reader) (string, error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	var b [CodeLength]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", err
	}
	var s strings.Builder
	for i, x := range b {
		if i > 0 && i%4 == 0 {
			s.WriteByte('-')
		}
		s.WriteByte(CodeAlphabet[x&31])
	}
	return s.String(), nil
}

// NormalizeCode returns a typed code in canonical form: upper case, groups
// of four, with O read as 0 and I, L as 1; or an error saying what is wrong.
func NormalizeCode(typed string) (string, error) {
	r := strings.NewReplacer("O", "0", "I", "1", "L", "1", "-", "", " ", "")
	c := r.Replace(strings.ToUpper(strings.TrimSpace(typed)))
	if len(c) != CodeLength {
		return "", fmt.Errorf("a credential code has %d characters, this one has %d", CodeLength, len(c))
	}
	var s strings.Builder
	for i := range len(c) {
		if !strings.ContainsRune(CodeAlphabet, rune(c[i])) {
			return "", fmt.Errorf("%q is not a character of credential codes", c[i])
		}
		if i > 0 && i%4 == 0 {
			s.WriteByte('-')
		}
		s.WriteByte(c[i])
	}
	return s.String(), nil
}

// CredentialKey derives a voter's signing key from its code, for the
// election F (spec §18.4).
func CredentialKey(f crypto.Fingerprint, code string) (*crypto.SecretKey, error) {
	c, err := NormalizeCode(code)
	if err != nil {
		return nil, err
	}
	return crypto.DeriveKey("scrutin/v0/credential", f[:], []byte(c))
}

// Election is what a voter's device needs to make a ballot.
type Election struct {
	Manifest    *Manifest
	Fingerprint crypto.Fingerprint
	Key         *crypto.PublicKey
	// Eligibility gives the contests a credential may answer (a bit mask,
	// bit c for contest c) and whether it is published; CheckAudit needs
	// it (spec §21.3). State.Voter sets it from the published credentials.
	Eligibility func(credential *crypto.PublicKey) (contests uint64, published bool)
}

// NewBallot encrypts and signs a ballot, to cast it at once (see Encrypt
// for the choices, and spec §21 for a booth that offers an audit first).
func (e *Election) NewBallot(rnd io.Reader, credential *crypto.SecretKey, choices [][]int) ([]byte, error) {
	b, err := e.Encrypt(rnd, credential.PublicKey(), choices)
	if err != nil {
		return nil, err
	}
	return b.Sign(rnd, credential)
}

// Voter returns the view a voter's device needs, once voting is open.
func (s *State) Voter() (*Election, error) {
	if s.ElectionKey == nil {
		return nil, fmt.Errorf("voting is not open")
	}
	return &Election{Manifest: s.Manifest, Fingerprint: s.Fingerprint, Key: s.ElectionKey, Eligibility: s.Eligibility}, nil
}
