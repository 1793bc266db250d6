package crypto

// spec: §9 key-prefixed Schnorr signatures

import (
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// SignatureSize is the length of an encoded signature.
const SignatureSize = ElementSize + ScalarSize

// Signature is a key-prefixed Schnorr signature (R, s).
type Signature struct {
	r point
	s ristretto255.Scalar
}

// Sign signs msg for the given election with a hedged nonce (spec §9).
func (sk *SecretKey) Sign(rnd io.Reader, election Fingerprint, msg []byte) (*Signature, error) {
	if err := sk.pub.check(); err != nil {
		return nil, err
	}
	var z [32]byte
	if _, err := io.ReadFull(randOrDefault(rnd), z[:]); err != nil {
		return nil, fmt.Errorf("failed to read randomness: %w", err)
	}
	k := challenge(labelSignatureNonce, sk.x.Bytes(), z[:], election[:], sk.pub.enc[:], msg)
	sig := new(Signature)
	sig.r.set(scalarMultBase(k))
	c := signatureChallenge(&sk.pub, election, msg, sig)
	sig.s.Multiply(c, &sk.x)
	sig.s.Add(&sig.s, k)
	return sig, nil
}

func signatureChallenge(pk *PublicKey, election Fingerprint, msg []byte, sig *Signature) *ristretto255.Scalar {
	return challenge(labelSignature, election[:], pk.enc[:], sig.r.enc[:], msg)
}

// Verify verifies a signature on msg for the given election.
func (pk *PublicKey) Verify(election Fingerprint, msg []byte, sig *Signature) error {
	return verifyOne(func(b *Batch) { b.AddSignature(pk, election, msg, sig) })
}

// AddSignature adds a signature to the batch and returns its index.
// Equation: s·G = R + c·C.
func (b *Batch) AddSignature(pk *PublicKey, election Fingerprint, msg []byte, sig *Signature) int {
	var it batchItem
	if it.err = pk.check(); it.err != nil {
		return b.add(it)
	}
	c := signatureChallenge(pk, election, msg, sig)
	z := b.weight()
	it.addTerm(z, sig.r.elem(), false)
	it.addTerm(new(ristretto255.Scalar).Multiply(z, c), pk.elem(), false)
	it.addBase(new(ristretto255.Scalar).Negate(new(ristretto255.Scalar).Multiply(z, &sig.s)))
	return b.add(it)
}

// NewSignature decodes a signature.
func NewSignature(b []byte) (*Signature, error) {
	sig := new(Signature)
	if err := sig.setBytes(b); err != nil {
		return nil, err
	}
	return sig, nil
}

func (sig *Signature) setBytes(b []byte) error {
	if len(b) != SignatureSize {
		return fmt.Errorf("signature: %w: must be %d bytes, got %d", ErrEncoding, SignatureSize, len(b))
	}
	var q Signature
	if err := q.r.decode(b[:32], true); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	if err := decodeScalar(&q.s, b[32:]); err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	*sig = q
	return nil
}

// Bytes returns enc(R) || enc(s).
func (sig *Signature) Bytes() []byte {
	return append(append(make([]byte, 0, SignatureSize), sig.r.enc[:]...), sig.s.Bytes()...)
}

// MarshalText returns the unpadded base64url form (spec §11).
func (sig *Signature) MarshalText() ([]byte, error) { return marshalText(sig.Bytes()), nil }

// UnmarshalText parses the unpadded base64url form strictly.
func (sig *Signature) UnmarshalText(text []byte) error {
	b, err := unmarshalText(text, SignatureSize)
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	return sig.setBytes(b)
}
