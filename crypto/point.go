package crypto

import "github.com/gtank/ristretto255"

// point is a group element together with its canonical encoding. Decoded
// points keep the bytes they came from and computed points are encoded once,
// so hashing a statement never re-encodes (an encoding costs an inverse square
// root, a tenth of a scalar multiplication).
type point struct {
	e   ristretto255.Element
	enc [ElementSize]byte
}

func (p *point) set(e *ristretto255.Element) *point {
	p.e = *e
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
	copy(p.enc[:], b)
	return nil
}

// scalarMultBase returns s·G.
func scalarMultBase(s *ristretto255.Scalar) *ristretto255.Element {
	return new(ristretto255.Element).ScalarBaseMult(s)
}
