package crypto

import "github.com/gtank/ristretto255"

// point is a group element together with its canonical encoding. Decoded
// points keep the bytes they came from and computed points are encoded once,
// so hashing a statement never re-encodes (an encoding costs an inverse square
// root, a tenth of a scalar multiplication).
//
// The zero value is the identity: its encoding is 32 zero bytes, and elem
// returns the identity, so an object that was never decoded (a JSON null, a
// missing field) cannot make the group library panic. Verifiers still reject
// it where the identity is not allowed.
type point struct {
	e   ristretto255.Element
	enc [ElementSize]byte
	ok  bool // e has been set
}

// elem returns the element, or the identity for the zero value. The result
// must not be modified.
func (p *point) elem() *ristretto255.Element {
	if !p.ok {
		return identity
	}
	return &p.e
}

func (p *point) set(e *ristretto255.Element) *point {
	p.e = *e
	p.ok = true
	copy(p.enc[:], e.Bytes())
	return p
}

// decode sets p from a canonical encoding; p is unchanged on error.
func (p *point) decode(b []byte, allowIdentity bool) error {
	var e ristretto255.Element
	if err := decodeElement(&e, b, allowIdentity); err != nil {
		return err
	}
	p.e = e
	p.ok = true
	copy(p.enc[:], b)
	return nil
}

// scalarMultBase returns s·G.
func scalarMultBase(s *ristretto255.Scalar) *ristretto255.Element {
	return new(ristretto255.Element).ScalarBaseMult(s)
}
