package crypto

// spec: §5.1 keys, §3.1 proof context

import (
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// Fingerprint identifies one election; every proof and signature binds it
// (spec §3.1).
type Fingerprint [32]byte

// Context says which election and which place in it a proof belongs to
// (spec §3.1). The verifier builds it from what it knows, never from the
// prover.
type Context struct {
	Election Fingerprint
	Binding  []byte
}

// SelectionContext is the context of the proof for selection (option) j of
// contest k in a ballot signed by credential (spec §3.1).
func SelectionContext(election Fingerprint, credential *PublicKey, contest, selection uint32) Context {
	b := make([]byte, 0, ElementSize+8)
	b = append(b, credential.enc[:]...)
	b = append(b, u32(contest)...)
	b = append(b, u32(selection)...)
	return Context{Election: election, Binding: b}
}

// TotalContext is the context of the contest-total proof of contest k in a
// ballot signed by credential (spec §3.1).
func TotalContext(election Fingerprint, credential *PublicKey, contest uint32) Context {
	b := make([]byte, 0, ElementSize+4)
	b = append(b, credential.enc[:]...)
	b = append(b, u32(contest)...)
	return Context{Election: election, Binding: b}
}

// SecretKey is a secret scalar x ≠ 0: an ElGamal decryption key, a trustee's
// key or a voter's credential signing key. It cannot be compared with == and
// prints as "[redacted]".
type SecretKey struct {
	_   [0]func()
	x   ristretto255.Scalar
	pub PublicKey
}

// GenerateKey returns a new random key pair.
func GenerateKey(rnd io.Reader) (*SecretKey, error) {
	for {
		x, err := randomScalar(rnd)
		if err != nil {
			return nil, err
		}
		// Zero has probability 2^-252; rejecting it is not a timing leak.
		if x.Equal(new(ristretto255.Scalar)) == 0 {
			return newSecretKey(x), nil
		}
	}
}

// NewSecretKey decodes a 32-byte secret key, rejecting non-canonical bytes
// and zero.
func NewSecretKey(b []byte) (*SecretKey, error) {
	var x ristretto255.Scalar
	if err := decodeScalar(&x, b); err != nil {
		return nil, err
	}
	if x.Equal(new(ristretto255.Scalar)) == 1 {
		return nil, fmt.Errorf("%w: secret key is zero", ErrEncoding)
	}
	return newSecretKey(&x), nil
}

func newSecretKey(x *ristretto255.Scalar) *SecretKey {
	sk := &SecretKey{x: *x}
	sk.pub.set(scalarMultBase(x))
	return sk
}

// Bytes returns the 32-byte encoding of the secret. Handle it as a secret.
func (sk *SecretKey) Bytes() []byte { return sk.x.Bytes() }

// PublicKey returns x·G.
func (sk *SecretKey) PublicKey() *PublicKey {
	pk := sk.pub
	return &pk
}

// String keeps secrets out of logs.
func (sk *SecretKey) String() string { return "[redacted]" }

// GoString keeps secrets out of logs.
func (sk *SecretKey) GoString() string { return "crypto.SecretKey{[redacted]}" }

// PublicKey is a non-identity element Y = x·G: an election key, a trustee's
// key or a voter's public credential.
type PublicKey struct {
	point
}

// NewPublicKey decodes a public key, rejecting non-canonical bytes and the
// identity.
func NewPublicKey(b []byte) (*PublicKey, error) {
	pk := new(PublicKey)
	if err := pk.decode(b, false); err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return pk, nil
}

// check refuses the identity, which is also what a PublicKey that was never
// decoded holds: nobody may encrypt under it or verify against it.
func (pk *PublicKey) check() error {
	if pk.enc == ([ElementSize]byte{}) {
		return fmt.Errorf("public key: %w", ErrIdentity)
	}
	return nil
}

// Bytes returns the canonical 32-byte encoding.
func (pk *PublicKey) Bytes() []byte { return append([]byte(nil), pk.enc[:]...) }

// Equal reports whether two public keys are the same.
func (pk *PublicKey) Equal(o *PublicKey) bool { return pk.enc == o.enc }

// MarshalText returns the unpadded base64url form (spec §11).
func (pk *PublicKey) MarshalText() ([]byte, error) { return marshalText(pk.enc[:]), nil }

// UnmarshalText parses the unpadded base64url form strictly.
func (pk *PublicKey) UnmarshalText(text []byte) error {
	b, err := unmarshalText(text, ElementSize)
	if err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	if err := pk.decode(b, false); err != nil {
		return fmt.Errorf("public key: %w", err)
	}
	return nil
}

// DeriveKey returns the secret key scalar_from_hash(TupleHash(label,
// parts...)), for keys derived from a secret such as a voter's credential
// code (spec §18.4). It fails, with negligible probability, on zero.
func DeriveKey(label string, parts ...[]byte) (*SecretKey, error) {
	x := scalarFromHash(tupleHash(label, parts...))
	if x.Equal(new(ristretto255.Scalar)) == 1 {
		return nil, fmt.Errorf("%w: derived key is zero", ErrEncoding)
	}
	return newSecretKey(x), nil
}
