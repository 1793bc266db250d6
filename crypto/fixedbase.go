package crypto

// A constant-time fixed-base multiplication for a point used many times
// (the election key Y, in a shuffle's re-encryptions: spec §23.4), about
// twice as fast as a variable-base one: the multiples (1 … 8)·16^i·P are
// precomputed, so each of the 64 signed radix-16 digits costs one table
// lookup (a constant-time scan of 8 entries) and one addition, with no
// doubling.
//
// The group library offers this for G only, and neither a constant-time
// conditional move nor access to an element's Edwards coordinates, so this
// file reads an Element as the edwards25519.Point it holds (ristretto255
// v0.2.0: type Element struct{ r edwards25519.Point }), through unsafe. The
// sizes are checked at compile time; at run time, fixedBaseLayoutOK writes
// the edwards25519 point 3·B through the cast and asks the library's own
// Equal and Bytes whether the element is 3·G: if a version of the library
// stored something else (another edwards25519 package of the same size,
// fields in another order), the check fails and newFixedBase falls back to
// ScalarMult, slower but right. TestFixedBase compares every result with
// ScalarMult and TestFixedBaseLayout fails if the fallback is in use.
//
// Only the prover uses these tables (re-encryptions and the product chain):
// no verification depends on them.

import (
	"unsafe"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
	"github.com/gtank/ristretto255"
)

// Compile-time check that Element and edwards25519.Point have one size.
var (
	_ [unsafe.Sizeof(ristretto255.Element{}) - unsafe.Sizeof(edwards25519.Point{})]byte
	_ [unsafe.Sizeof(edwards25519.Point{}) - unsafe.Sizeof(ristretto255.Element{})]byte
)

func edwardsOf(e *ristretto255.Element) *edwards25519.Point {
	return (*edwards25519.Point)(unsafe.Pointer(e))
}

// fixedBaseLayoutOK reports whether the cast of edwardsOf reads and writes
// the point an Element is (checked once, at start-up).
var fixedBaseLayoutOK = checkFixedBaseLayout()

func checkFixedBaseLayout() bool {
	b := edwards25519.NewGeneratorPoint()
	b3 := new(edwards25519.Point).Add(b, b)
	b3.Add(b3, b)
	want := new(ristretto255.Element).ScalarBaseMult(scalarFromUint64(3))
	var e ristretto255.Element
	edwardsOf(&e).Set(b3)
	if e.Equal(want) != 1 || string(e.Bytes()) != string(want.Bytes()) {
		return false
	}
	// Reading: want's coordinates, written back, must give want again.
	x, y, z, t := edwardsOf(want).ExtendedCoordinates()
	var f ristretto255.Element
	if _, err := edwardsOf(&f).SetExtendedCoordinates(x, y, z, t); err != nil {
		return false
	}
	return f.Equal(want) == 1 && string(f.Bytes()) == string(want.Bytes())
}

// fixedBase holds t[i][j] = (j+1)·16^i·P in extended coordinates, or, if
// the layout check failed, only P (mult then uses ScalarMult).
type fixedBase struct {
	t        [64][8][4]field.Element
	fallback *ristretto255.Element
}

// newFixedBase precomputes the table of p (about 512 additions).
func newFixedBase(p *ristretto255.Element) *fixedBase {
	fb := new(fixedBase)
	if !fixedBaseLayoutOK {
		fb.fallback = new(ristretto255.Element).Set(p)
		return fb
	}
	var base ristretto255.Element // 16^i·P
	base.Set(p)
	for i := range 64 {
		var m ristretto255.Element // (j+1)·16^i·P
		m.Set(&base)
		for j := range 8 {
			x, y, z, t := edwardsOf(&m).ExtendedCoordinates()
			fb.t[i][j] = [4]field.Element{*x, *y, *z, *t}
			m.Add(&m, &base)
		}
		// m is now 9·16^i·P, and 16^(i+1)·P = m + 7·16^i·P.
		base.Add(&m, edwardsElem(&fb.t[i][6]))
	}
	return fb
}

// edwardsElem returns the element of extended coordinates c (a table entry).
func edwardsElem(c *[4]field.Element) *ristretto255.Element {
	e := new(ristretto255.Element)
	if _, err := edwardsOf(e).SetExtendedCoordinates(&c[0], &c[1], &c[2], &c[3]); err != nil {
		panic("crypto: internal error: " + err.Error())
	}
	return e
}

// mult returns s·P in constant time.
func (fb *fixedBase) mult(s *ristretto255.Scalar) *ristretto255.Element {
	if fb.fallback != nil {
		return new(ristretto255.Element).ScalarMult(s, fb.fallback)
	}
	b := s.Bytes()
	// Signed radix-16 digits d_0 … d_63 in [−8, 8): s < 2^253, so the last
	// digit absorbs the carries.
	var d [64]int8
	for i := range 32 {
		d[2*i] = int8(b[i] & 15)
		d[2*i+1] = int8(b[i] >> 4)
	}
	for i := range 63 {
		carry := (d[i] + 8) >> 4
		d[i] -= carry << 4
		d[i+1] += carry
	}
	acc := ristretto255.NewIdentityElement()
	var x, y, z, t, nx, nt field.Element
	var pt ristretto255.Element
	for i := range 64 {
		// |d| and its sign, without branches.
		neg := int(uint8(d[i]) >> 7)
		abs := int(d[i]) * (1 - 2*neg)
		x.Zero()
		y.One()
		z.One()
		t.Zero()
		for j := range 8 {
			cond := ctEq(abs, j+1)
			e := &fb.t[i][j]
			x.Select(&e[0], &x, cond)
			y.Select(&e[1], &y, cond)
			z.Select(&e[2], &z, cond)
			t.Select(&e[3], &t, cond)
		}
		nx.Negate(&x)
		nt.Negate(&t)
		x.Select(&nx, &x, neg)
		t.Select(&nt, &t, neg)
		if _, err := edwardsOf(&pt).SetExtendedCoordinates(&x, &y, &z, &t); err != nil {
			panic("crypto: internal error: " + err.Error())
		}
		acc.Add(acc, &pt)
	}
	return acc
}

// ctEq returns 1 if a == b and 0 otherwise, for small non-negative ints,
// without branches.
func ctEq(a, b int) int {
	x := uint64(a ^ b)
	return int(1 ^ ((x | -x) >> 63))
}
