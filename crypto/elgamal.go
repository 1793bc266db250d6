package crypto

// spec: §5 exponential ElGamal

import (
	"errors"
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// CiphertextSize is the length of an encoded ciphertext.
const CiphertextSize = 2 * ElementSize

// Ciphertext is an exponential ElGamal ciphertext (α, β) = (r·G, m·G + r·Y).
type Ciphertext struct {
	alpha, beta point
}

// NewCiphertext decodes a ballot ciphertext, rejecting α = identity (spec §5.2).
func NewCiphertext(b []byte) (*Ciphertext, error) {
	ct := new(Ciphertext)
	if err := ct.setBytes(b, false); err != nil {
		return nil, err
	}
	return ct, nil
}

// setBytes decodes enc(α) || enc(β); α may be the identity only in a sum
// (spec §2.1).
func (ct *Ciphertext) setBytes(b []byte, sum bool) error {
	if len(b) != CiphertextSize {
		return fmt.Errorf("ciphertext: %w: must be %d bytes, got %d", ErrEncoding, CiphertextSize, len(b))
	}
	var c Ciphertext
	if err := c.alpha.decode(b[:ElementSize], sum); err != nil {
		return fmt.Errorf("ciphertext α: %w", err)
	}
	if err := c.beta.decode(b[ElementSize:], true); err != nil {
		return fmt.Errorf("ciphertext β: %w", err)
	}
	*ct = c
	return nil
}

// Bytes returns enc(α) || enc(β).
func (ct *Ciphertext) Bytes() []byte {
	return append(append(make([]byte, 0, CiphertextSize), ct.alpha.enc[:]...), ct.beta.enc[:]...)
}

// Alpha returns α, the element a decryption share is computed on.
func (ct *Ciphertext) Alpha() *Element { return &Element{point: ct.alpha} }

// MarshalText returns the unpadded base64url form (spec §11).
func (ct *Ciphertext) MarshalText() ([]byte, error) { return marshalText(ct.Bytes()), nil }

// UnmarshalText parses the unpadded base64url form strictly.
func (ct *Ciphertext) UnmarshalText(text []byte) error {
	b, err := unmarshalText(text, CiphertextSize)
	if err != nil {
		return fmt.Errorf("ciphertext: %w", err)
	}
	return ct.setBytes(b, false)
}

// CiphertextSum is a ciphertext computed as a homomorphic sum of ciphertexts
// (spec §5.3), such as a tally's sum for one option. Unlike a ballot
// ciphertext, its α may be the identity (spec §2.1): the sum over no ballot
// is (O, O), and ballots' α may cancel out. Its text form and bytes are a
// ciphertext's.
type CiphertextSum struct{ Ciphertext }

// NewCiphertextSum decodes a sum of ciphertexts: a ciphertext whose α may
// be the identity (spec §2.1).
func NewCiphertextSum(b []byte) (*CiphertextSum, error) {
	s := new(CiphertextSum)
	if err := s.setBytes(b, true); err != nil {
		return nil, err
	}
	return s, nil
}

// UnmarshalText parses the unpadded base64url form strictly, allowing an
// identity α.
func (s *CiphertextSum) UnmarshalText(text []byte) error {
	b, err := unmarshalText(text, CiphertextSize)
	if err != nil {
		return fmt.Errorf("ciphertext sum: %w", err)
	}
	return s.setBytes(b, true)
}

// SumOf returns the homomorphic sum of ciphertexts (as [Sum]) as a
// CiphertextSum.
func SumOf(cts ...*Ciphertext) *CiphertextSum { return &CiphertextSum{*Sum(cts...)} }

// Sum returns the homomorphic sum of ciphertexts: an encryption of the sum of
// their messages (spec §5.3). The sum of no ciphertexts is (O, O), an
// encryption of 0 with randomness 0.
func Sum(cts ...*Ciphertext) *Ciphertext {
	var a, b ristretto255.Element
	a.Set(identity)
	b.Set(identity)
	for _, ct := range cts {
		a.Add(&a, ct.alpha.elem())
		b.Add(&b, ct.beta.elem())
	}
	out := new(Ciphertext)
	out.alpha.set(&a)
	out.beta.set(&b)
	return out
}

// Rerandomize returns a fresh encryption of the same message (spec §5.3).
func Rerandomize(rnd io.Reader, pk *PublicKey, ct *Ciphertext) (*Ciphertext, error) {
	if err := pk.check(); err != nil {
		return nil, err
	}
	r, err := randomScalar(rnd)
	if err != nil {
		return nil, err
	}
	zero := encryptWith(pk, new(ristretto255.Scalar), r)
	return Sum(ct, zero), nil
}

// Encrypt encrypts the small integer m under pk (spec §5.2). Ballots are
// encrypted with [EncryptSelection] or [EncryptContest], which add proofs.
func Encrypt(rnd io.Reader, pk *PublicKey, m uint64) (*Ciphertext, error) {
	if err := pk.check(); err != nil {
		return nil, err
	}
	r, err := randomScalar(rnd)
	if err != nil {
		return nil, err
	}
	return encryptWith(pk, scalarFromUint64(m), r), nil
}

// EncryptWithRandomness encrypts m with the given randomness r (a canonical
// scalar). It exists to check an audited (Benaloh) encryption, whose
// randomness the booth reveals, and for test vectors. Never encrypt twice with
// the same r.
func EncryptWithRandomness(pk *PublicKey, m uint64, r []byte) (*Ciphertext, error) {
	if err := pk.check(); err != nil {
		return nil, err
	}
	var rs ristretto255.Scalar
	if err := decodeScalar(&rs, r); err != nil {
		return nil, fmt.Errorf("randomness: %w", err)
	}
	return encryptWith(pk, scalarFromUint64(m), &rs), nil
}

// encryptWith returns (r·G, m·G + r·Y) in constant time.
func encryptWith(pk *PublicKey, m, r *ristretto255.Scalar) *Ciphertext {
	ct := new(Ciphertext)
	ct.alpha.set(scalarMultBase(r))
	beta := keyMult(pk, r)
	beta.Add(beta, scalarMultBase(m))
	ct.beta.set(beta)
	return ct
}

// ErrNotFound means a decrypted value lies outside the searched range.
var ErrNotFound = errors.New("plaintext outside the searched range")

// Decrypt decrypts ct with the secret key and returns m ∈ [0, max]
// (spec §5.4). Its running time depends on m: use it only for values that are
// to be public, such as a tally.
func (sk *SecretKey) Decrypt(ct *Ciphertext, max uint64) (uint64, error) {
	m := new(ristretto255.Element).ScalarMult(&sk.x, ct.alpha.elem())
	m.Subtract(ct.beta.elem(), m)
	return discreteLog(m, max)
}

// DiscreteLog returns the m ∈ [0, max] with m·G = M, by search; its running
// time is proportional to m. It is meant for tallies, whose values are public.
func DiscreteLog(M *Element, max uint64) (uint64, error) { return discreteLog(M.elem(), max) }

func discreteLog(M *ristretto255.Element, max uint64) (uint64, error) {
	acc := ristretto255.NewIdentityElement()
	g := ristretto255.NewGeneratorElement()
	for m := uint64(0); ; m++ {
		if acc.Equal(M) == 1 {
			return m, nil
		}
		if m == max {
			return 0, fmt.Errorf("%w: no m ≤ %d", ErrNotFound, max)
		}
		acc.Add(acc, g)
	}
}

// Accumulator is a running homomorphic sum of ciphertexts, to which
// ciphertexts are added and from which they are subtracted one at a time,
// encoded only when read: a verifier streaming a record keeps one per
// option instead of every ballot's selections. The zero value is the sum of
// no ciphertexts, (O, O).
type Accumulator struct {
	a, b ristretto255.Element
	ok   bool
}

func (acc *Accumulator) init() {
	if !acc.ok {
		acc.a.Set(identity)
		acc.b.Set(identity)
		acc.ok = true
	}
}

// Add adds ct to the sum.
func (acc *Accumulator) Add(ct *Ciphertext) {
	acc.init()
	acc.a.Add(&acc.a, ct.alpha.elem())
	acc.b.Add(&acc.b, ct.beta.elem())
}

// Subtract takes ct, added before, out of the sum.
func (acc *Accumulator) Subtract(ct *Ciphertext) {
	acc.init()
	acc.a.Subtract(&acc.a, ct.alpha.elem())
	acc.b.Subtract(&acc.b, ct.beta.elem())
}

// Sum returns the sum, as SumOf gives it.
func (acc *Accumulator) Sum() *CiphertextSum {
	acc.init()
	out := new(CiphertextSum)
	out.alpha.set(&acc.a)
	out.beta.set(&acc.b)
	return out
}
