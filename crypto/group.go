package crypto

// spec: §2 the group, §3 hashing, §4 derived generators

import (
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// Sizes of encodings, in bytes.
const (
	ElementSize = 32
	ScalarSize  = 32
)

// Errors a caller may need to tell apart. Every decoding or verification error
// wraps one of them.
var (
	// ErrEncoding means bytes are not the canonical encoding of a valid object.
	ErrEncoding = errors.New("invalid encoding")
	// ErrIdentity means the identity element appeared where it is not allowed.
	ErrIdentity = errors.New("identity element not allowed")
	// ErrInvalidProof means a proof or signature does not verify.
	ErrInvalidProof = errors.New("proof does not verify")
)

// Domain-separation labels, one per use (spec §3).
const (
	labelGenerator      = "scrutin/v0/generator"
	labelKnowledge      = "scrutin/v0/knowledge"
	labelEquality       = "scrutin/v0/equality"
	labelSelection      = "scrutin/v0/selection"
	labelContestTotal   = "scrutin/v0/contest-total"
	labelSignature      = "scrutin/v0/signature"
	labelSignatureNonce = "scrutin/v0/signature-nonce"
	labelRoster         = "scrutin/v0/roster"
	labelSharePad       = "scrutin/v0/share-pad"
	// labelTrusteeIdentity is outside the record (spec §13.1).
	labelTrusteeIdentity = "scrutin/v0/trustee-identity"
)

// Element is an element of the ristretto255 group. The zero value is the
// identity.
type Element struct {
	point
}

// NewElement decodes a 32-byte canonical encoding (spec §2.1). The identity is
// accepted; callers that must refuse it use [Element.IsIdentity].
func NewElement(b []byte) (*Element, error) {
	e := new(Element)
	if err := e.decode(b, true); err != nil {
		return nil, err
	}
	return e, nil
}

// Bytes returns the canonical 32-byte encoding.
func (e *Element) Bytes() []byte { return append([]byte(nil), e.enc[:]...) }

// Equal reports whether e and f are the same element.
func (e *Element) Equal(f *Element) bool { return e.enc == f.enc }

// IsIdentity reports whether e is the identity element.
func (e *Element) IsIdentity() bool { return isIdentity(e.elem()) }

// MarshalText returns the unpadded base64url form of the encoding (spec §11).
func (e *Element) MarshalText() ([]byte, error) { return marshalText(e.enc[:]), nil }

// UnmarshalText parses the unpadded base64url form strictly.
func (e *Element) UnmarshalText(text []byte) error {
	b, err := unmarshalText(text, ElementSize)
	if err != nil {
		return err
	}
	return e.decode(b, true)
}

var identity = ristretto255.NewIdentityElement()

func isIdentity(e *ristretto255.Element) bool { return e.Equal(identity) == 1 }

// decodeElement decodes b into dst, rejecting non-canonical encodings and, if
// allowIdentity is false, the identity. dst is unchanged on error.
func decodeElement(dst *ristretto255.Element, b []byte, allowIdentity bool) error {
	var e ristretto255.Element
	if len(b) != ElementSize {
		return fmt.Errorf("%w: element must be %d bytes, got %d", ErrEncoding, ElementSize, len(b))
	}
	if _, err := e.SetCanonicalBytes(b); err != nil {
		return fmt.Errorf("%w: not a canonical ristretto255 element", ErrEncoding)
	}
	if !allowIdentity && isIdentity(&e) {
		return ErrIdentity
	}
	*dst = e
	return nil
}

// decodeScalar decodes a 32-byte little-endian scalar, rejecting values ≥ ℓ.
// dst is unchanged on error.
func decodeScalar(dst *ristretto255.Scalar, b []byte) error {
	if len(b) != ScalarSize {
		return fmt.Errorf("%w: scalar must be %d bytes, got %d", ErrEncoding, ScalarSize, len(b))
	}
	var s ristretto255.Scalar
	if _, err := s.SetCanonicalBytes(b); err != nil {
		return fmt.Errorf("%w: scalar is not reduced modulo the group order", ErrEncoding)
	}
	*dst = s
	return nil
}

// tupleHash is SHA-512 over length-prefixed fields (spec §3). The first field
// is always a domain label.
func tupleHash(label string, fields ...[]byte) [64]byte {
	h := sha512.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(label)))
	h.Write(n[:])
	h.Write([]byte(label))
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	var out [64]byte
	h.Sum(out[:0])
	return out
}

// TupleHash exposes spec §3's TupleHash for test vectors and later layers.
// label is the first field.
func TupleHash(label string, fields ...[]byte) [64]byte { return tupleHash(label, fields...) }

// scalarFromHash reduces a 64-byte hash modulo ℓ (spec §2.2).
func scalarFromHash(h [64]byte) *ristretto255.Scalar {
	s, err := new(ristretto255.Scalar).SetUniformBytes(h[:])
	if err != nil {
		panic("crypto: internal error: " + err.Error())
	}
	return s
}

// challenge computes scalar_from_hash(TupleHash(label, fields...)).
func challenge(label string, fields ...[]byte) *ristretto255.Scalar {
	return scalarFromHash(tupleHash(label, fields...))
}

// ScalarFromHash exposes spec §2.2's scalar_from_hash for test vectors.
func ScalarFromHash(h [64]byte) []byte { return scalarFromHash(h).Bytes() }

// Generator derives an element from a public label whose discrete logarithm
// to the base G nobody knows (spec §4).
func Generator(label string) *Element {
	h := tupleHash(labelGenerator, []byte(label))
	e, err := new(ristretto255.Element).SetUniformBytes(h[:])
	if err != nil {
		panic("crypto: internal error: " + err.Error())
	}
	g := new(Element)
	g.set(e)
	return g
}

// BaseElement returns the group's generator G.
func BaseElement() *Element {
	g := new(Element)
	g.set(ristretto255.NewGeneratorElement())
	return g
}

// randomScalar draws a uniformly random scalar from 64 bytes of rand.
func randomScalar(rnd io.Reader) (*ristretto255.Scalar, error) {
	var b [64]byte
	if _, err := io.ReadFull(randOrDefault(rnd), b[:]); err != nil {
		return nil, fmt.Errorf("failed to read randomness: %w", err)
	}
	return scalarFromHash(b), nil
}

func randOrDefault(rnd io.Reader) io.Reader {
	if rnd == nil {
		return rand.Reader
	}
	return rnd
}

// scalarFromUint64 returns n as a scalar, in constant time.
func scalarFromUint64(n uint64) *ristretto255.Scalar {
	var b [32]byte
	binary.LittleEndian.PutUint64(b[:], n)
	s, err := new(ristretto255.Scalar).SetCanonicalBytes(b[:])
	if err != nil {
		panic("crypto: internal error: " + err.Error())
	}
	return s
}

// selectScalar returns a if bit == 1 and b if bit == 0, in constant time, by
// arithmetic: b + bit·(a − b).
func selectScalar(bit int, a, b *ristretto255.Scalar) *ristretto255.Scalar {
	d := new(ristretto255.Scalar).Subtract(a, b)
	d.Multiply(d, scalarFromUint64(uint64(bit&1)))
	return d.Add(d, b)
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
func u32(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
