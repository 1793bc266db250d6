package crypto

// spec: §6 Schnorr proof of knowledge, §7 Chaum–Pedersen equality proof

import (
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// Proof sizes, in bytes.
const (
	KnowledgeProofSize = ElementSize + ScalarSize
	EqualityProofSize  = 2*ElementSize + ScalarSize
)

// KnowledgeProof proves knowledge of the secret key of a public key (spec §6).
type KnowledgeProof struct {
	a point
	s ristretto255.Scalar
}

// ProveKnowledge proves knowledge of sk's secret in the given context.
func ProveKnowledge(rnd io.Reader, sk *SecretKey, ctx Context) (*KnowledgeProof, error) {
	if err := sk.pub.check(); err != nil {
		return nil, err
	}
	w, err := randomScalar(rnd)
	if err != nil {
		return nil, err
	}
	p := new(KnowledgeProof)
	p.a.set(scalarMultBase(w))
	c := knowledgeChallenge(&sk.pub, ctx, p)
	p.s.Multiply(c, &sk.x)
	p.s.Add(&p.s, w)
	return p, nil
}

func knowledgeChallenge(y *PublicKey, ctx Context, p *KnowledgeProof) *ristretto255.Scalar {
	return challenge(labelKnowledge, ctx.Election[:], ctx.Binding, y.enc[:], p.a.enc[:])
}

// VerifyKnowledge verifies a proof of knowledge of y's secret key.
func VerifyKnowledge(y *PublicKey, ctx Context, p *KnowledgeProof) error {
	return verifyOne(func(b *Batch) { b.AddKnowledge(y, ctx, p) })
}

// AddKnowledge adds a proof of knowledge to the batch and returns its index.
// Equation: s·G = A + c·Y.
func (b *Batch) AddKnowledge(y *PublicKey, ctx Context, p *KnowledgeProof) int {
	var it batchItem
	if it.err = y.check(); it.err != nil {
		return b.add(it)
	}
	c := knowledgeChallenge(y, ctx, p)
	z := b.weight()
	it.addTerm(z, p.a.elem(), false)
	it.addTerm(new(ristretto255.Scalar).Multiply(z, c), y.elem(), false)
	it.addBase(new(ristretto255.Scalar).Negate(new(ristretto255.Scalar).Multiply(z, &p.s)))
	return b.add(it)
}

// NewKnowledgeProof decodes a proof of knowledge.
func NewKnowledgeProof(b []byte) (*KnowledgeProof, error) {
	p := new(KnowledgeProof)
	if err := p.setBytes(b); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *KnowledgeProof) setBytes(b []byte) error {
	if len(b) != KnowledgeProofSize {
		return fmt.Errorf("knowledge proof: %w: must be %d bytes, got %d", ErrEncoding, KnowledgeProofSize, len(b))
	}
	var q KnowledgeProof
	if err := q.a.decode(b[:32], true); err != nil {
		return fmt.Errorf("knowledge proof: %w", err)
	}
	if err := decodeScalar(&q.s, b[32:]); err != nil {
		return fmt.Errorf("knowledge proof: %w", err)
	}
	*p = q
	return nil
}

// Bytes returns enc(A) || enc(s).
func (p *KnowledgeProof) Bytes() []byte {
	return append(append(make([]byte, 0, KnowledgeProofSize), p.a.enc[:]...), p.s.Bytes()...)
}

// MarshalText returns the unpadded base64url form (spec §11).
func (p *KnowledgeProof) MarshalText() ([]byte, error) { return marshalText(p.Bytes()), nil }

// UnmarshalText parses the unpadded base64url form strictly.
func (p *KnowledgeProof) UnmarshalText(text []byte) error {
	b, err := unmarshalText(text, KnowledgeProofSize)
	if err != nil {
		return fmt.Errorf("knowledge proof: %w", err)
	}
	return p.setBytes(b)
}

// EqualityProof proves log_G(Y) = log_B(Z) (spec §7).
type EqualityProof struct {
	a1, a2 point
	s      ristretto255.Scalar
}

// ProveEquality returns Z = x·B, where x is sk's secret, and a proof that
// log_G(Y) = log_B(Z) for Y = sk's public key.
func ProveEquality(rnd io.Reader, sk *SecretKey, ctx Context, base *Element) (*Element, *EqualityProof, error) {
	if err := sk.pub.check(); err != nil {
		return nil, nil, err
	}
	w, err := randomScalar(rnd)
	if err != nil {
		return nil, nil, err
	}
	z := new(Element)
	z.set(new(ristretto255.Element).ScalarMult(&sk.x, base.elem()))
	p := new(EqualityProof)
	p.a1.set(scalarMultBase(w))
	p.a2.set(new(ristretto255.Element).ScalarMult(w, base.elem()))
	c := equalityChallenge(&sk.pub, base, z, ctx, p)
	p.s.Multiply(c, &sk.x)
	p.s.Add(&p.s, w)
	return z, p, nil
}

func equalityChallenge(y *PublicKey, base, z *Element, ctx Context, p *EqualityProof) *ristretto255.Scalar {
	return challenge(labelEquality, ctx.Election[:], ctx.Binding, y.enc[:], base.enc[:], z.enc[:], p.a1.enc[:], p.a2.enc[:])
}

// VerifyEquality verifies that log_G(y) = log_base(z).
func VerifyEquality(y *PublicKey, base, z *Element, ctx Context, p *EqualityProof) error {
	return verifyOne(func(b *Batch) { b.AddEquality(y, base, z, ctx, p) })
}

// AddEquality adds an equality proof to the batch and returns its index.
// Equations: s·G = A₁ + c·Y and s·B = A₂ + c·Z.
func (b *Batch) AddEquality(y *PublicKey, base, z *Element, ctx Context, p *EqualityProof) int {
	var it batchItem
	if it.err = y.check(); it.err != nil {
		return b.add(it)
	}
	c := equalityChallenge(y, base, z, ctx, p)
	z1, z2 := b.weight(), b.weight()
	it.addTerm(z1, p.a1.elem(), false)
	it.addTerm(new(ristretto255.Scalar).Multiply(z1, c), y.elem(), false)
	it.addBase(new(ristretto255.Scalar).Negate(new(ristretto255.Scalar).Multiply(z1, &p.s)))
	it.addTerm(z2, p.a2.elem(), false)
	it.addTerm(new(ristretto255.Scalar).Multiply(z2, c), z.elem(), false)
	it.addTerm(new(ristretto255.Scalar).Negate(new(ristretto255.Scalar).Multiply(z2, &p.s)), base.elem(), false)
	return b.add(it)
}

// NewEqualityProof decodes an equality proof.
func NewEqualityProof(b []byte) (*EqualityProof, error) {
	p := new(EqualityProof)
	if err := p.setBytes(b); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *EqualityProof) setBytes(b []byte) error {
	if len(b) != EqualityProofSize {
		return fmt.Errorf("equality proof: %w: must be %d bytes, got %d", ErrEncoding, EqualityProofSize, len(b))
	}
	var q EqualityProof
	if err := q.a1.decode(b[:32], true); err != nil {
		return fmt.Errorf("equality proof: %w", err)
	}
	if err := q.a2.decode(b[32:64], true); err != nil {
		return fmt.Errorf("equality proof: %w", err)
	}
	if err := decodeScalar(&q.s, b[64:]); err != nil {
		return fmt.Errorf("equality proof: %w", err)
	}
	*p = q
	return nil
}

// Bytes returns enc(A₁) || enc(A₂) || enc(s).
func (p *EqualityProof) Bytes() []byte {
	out := make([]byte, 0, EqualityProofSize)
	out = append(append(out, p.a1.enc[:]...), p.a2.enc[:]...)
	return append(out, p.s.Bytes()...)
}

// MarshalText returns the unpadded base64url form (spec §11).
func (p *EqualityProof) MarshalText() ([]byte, error) { return marshalText(p.Bytes()), nil }

// UnmarshalText parses the unpadded base64url form strictly.
func (p *EqualityProof) UnmarshalText(text []byte) error {
	b, err := unmarshalText(text, EqualityProofSize)
	if err != nil {
		return fmt.Errorf("equality proof: %w", err)
	}
	return p.setBytes(b)
}
