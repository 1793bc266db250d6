package crypto

// Point arithmetic below the ristretto255 API, for the multi-scalar
// multiplication (msm.go) and the fixed-base tables (fixedbase.go), written
// with filippo.io/edwards25519's public API only: its field package and
// Point.ExtendedCoordinates / SetExtendedCoordinates.

import (
	"unsafe"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
	"github.com/gtank/ristretto255"
)

// A ristretto255.Element is, in github.com/gtank/ristretto255 (v0.2.0, pinned
// in go.sum), a struct whose one field is the edwards25519.Point that
// represents it: `type Element struct { r edwards25519.Point }`. The
// library does not export it, and decoding the element a second time to get
// it would cost an inverse square root per point, the very cost a batch
// avoids; so edw and fromEdw convert the pointer. That is sound as long as
// the layouts are the same, which the array below checks at compile time
// (it does not compile if the sizes differ) and init checks on values (the
// generator, and a sum computed both ways). Every operation on the result
// goes through edwards25519's public API: nothing of either library is
// written to but through its own methods and SetExtendedCoordinates, which
// checks that the point is on the curve.
var _ = [1]struct{}{}[unsafe.Sizeof(ristretto255.Element{})-unsafe.Sizeof(edwards25519.Point{})]

// edw returns the edwards25519 point that represents e (one of the four of
// its coset). The result must not be modified.
func edw(e *ristretto255.Element) *edwards25519.Point {
	return (*edwards25519.Point)(unsafe.Pointer(e))
}

// fromEdw returns the ristretto255 element that p represents.
func fromEdw(p *edwards25519.Point) *ristretto255.Element {
	return (*ristretto255.Element)(unsafe.Pointer(p))
}

func init() {
	g := ristretto255.NewGeneratorElement()
	if edw(g).Equal(edwards25519.NewGeneratorPoint()) != 1 {
		panic("crypto: internal error: a ristretto255 element is not laid out as an edwards25519 point")
	}
	g2 := new(ristretto255.Element).Add(g, g)
	p := new(edwards25519.Point).Add(edwards25519.NewGeneratorPoint(), edwards25519.NewGeneratorPoint())
	if edw(g2).Equal(p) != 1 || fromEdw(p).Equal(g2) != 1 {
		panic("crypto: internal error: a ristretto255 element is not laid out as an edwards25519 point")
	}
}

var (
	feOne = new(field.Element).One()
	// feD2 is 2·d, d = −121665/121666 the curve constant.
	feD2 = func() *field.Element {
		d, err := new(field.Element).SetBytes([]byte{
			0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75,
			0xab, 0xd8, 0x41, 0x41, 0x4d, 0x0a, 0x70, 0x00,
			0x98, 0xe8, 0x79, 0x77, 0x79, 0x40, 0xc7, 0x8c,
			0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52})
		if err != nil {
			panic("crypto: internal error: " + err.Error())
		}
		return d.Add(d, d)
	}()
)

// extPoint is a point in extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z,
// xy = T/Z (https://eprint.iacr.org/2008/522). The formulas below are the
// ones edwards25519 uses; they are complete on this curve (any two points,
// equal, opposite or the identity, add correctly), so no input needs a
// special case.
type extPoint struct{ X, Y, Z, T field.Element }

// completed is a point as (X:Z, Y:T), before it is converted.
type completed struct{ X, Y, Z, T field.Element }

// niels is an affine point as (y+x, y−x, 2d·x·y).
type niels struct{ YpX, YmX, T2d field.Element }

// cached is a projective point as (Y+X, Y−X, Z, 2d·T).
type cached struct{ YpX, YmX, Z, T2d field.Element }

func (p *extPoint) identity() *extPoint {
	p.X.Zero()
	p.Y.One()
	p.Z.One()
	p.T.Zero()
	return p
}

func (p *extPoint) fromEdwards(q *edwards25519.Point) *extPoint {
	X, Y, Z, T := q.ExtendedCoordinates()
	p.X, p.Y, p.Z, p.T = *X, *Y, *Z, *T
	return p
}

// toEdwards returns p as an edwards25519 point (checked to be on the curve).
func (p *extPoint) toEdwards() *edwards25519.Point {
	q, err := new(edwards25519.Point).SetExtendedCoordinates(&p.X, &p.Y, &p.Z, &p.T)
	if err != nil {
		panic("crypto: internal error: " + err.Error())
	}
	return q
}

// isRistrettoIdentity reports whether p is in the coset of the identity:
// X = 0 or Y = 0, as ristretto255's equality says (RFC 9496, 4.3.3).
func (p *extPoint) isRistrettoIdentity() bool {
	var zero field.Element
	return p.X.Equal(&zero)|p.Y.Equal(&zero) == 1
}

func (p *extPoint) fromCompleted(c *completed) *extPoint {
	p.X.Multiply(&c.X, &c.T)
	p.Y.Multiply(&c.Y, &c.Z)
	p.Z.Multiply(&c.Z, &c.T)
	p.T.Multiply(&c.X, &c.Y)
	return p
}

func (q *cached) fromExt(p *extPoint) *cached {
	q.YpX.Add(&p.Y, &p.X)
	q.YmX.Subtract(&p.Y, &p.X)
	q.Z.Set(&p.Z)
	q.T2d.Multiply(&p.T, feD2)
	return q
}

// addCached sets c = p + q.
func (c *completed) addCached(p *extPoint, q *cached) *completed {
	var ypx, ymx, pp, mm, tt, zz field.Element
	ypx.Add(&p.Y, &p.X)
	ymx.Subtract(&p.Y, &p.X)
	pp.Multiply(&ypx, &q.YpX)
	mm.Multiply(&ymx, &q.YmX)
	tt.Multiply(&p.T, &q.T2d)
	zz.Multiply(&p.Z, &q.Z)
	zz.Add(&zz, &zz)
	c.X.Subtract(&pp, &mm)
	c.Y.Add(&pp, &mm)
	c.Z.Add(&zz, &tt)
	c.T.Subtract(&zz, &tt)
	return c
}

// addNiels sets c = p + q.
func (c *completed) addNiels(p *extPoint, q *niels) *completed {
	var ypx, ymx, pp, mm, tt, z2 field.Element
	ypx.Add(&p.Y, &p.X)
	ymx.Subtract(&p.Y, &p.X)
	pp.Multiply(&ypx, &q.YpX)
	mm.Multiply(&ymx, &q.YmX)
	tt.Multiply(&p.T, &q.T2d)
	z2.Add(&p.Z, &p.Z)
	c.X.Subtract(&pp, &mm)
	c.Y.Add(&pp, &mm)
	c.Z.Add(&z2, &tt)
	c.T.Subtract(&z2, &tt)
	return c
}

// subNiels sets c = p − q.
func (c *completed) subNiels(p *extPoint, q *niels) *completed {
	var ypx, ymx, pp, mm, tt, z2 field.Element
	ypx.Add(&p.Y, &p.X)
	ymx.Subtract(&p.Y, &p.X)
	pp.Multiply(&ypx, &q.YmX)
	mm.Multiply(&ymx, &q.YpX)
	tt.Multiply(&p.T, &q.T2d)
	z2.Add(&p.Z, &p.Z)
	c.X.Subtract(&pp, &mm)
	c.Y.Add(&pp, &mm)
	c.Z.Subtract(&z2, &tt)
	c.T.Add(&z2, &tt)
	return c
}

// double sets c = 2·(X:Y:Z); T is not read.
func (c *completed) double(p *extPoint) *completed {
	var xx, yy, zz2, s field.Element
	xx.Square(&p.X)
	yy.Square(&p.Y)
	zz2.Square(&p.Z)
	zz2.Add(&zz2, &zz2)
	s.Add(&p.X, &p.Y)
	s.Square(&s)
	c.Y.Add(&yy, &xx)
	c.Z.Subtract(&yy, &xx)
	c.X.Subtract(&s, &c.Y)
	c.T.Subtract(&zz2, &c.Z)
	return c
}

// doubleN sets p = 2^n·p, n ≥ 1.
func (p *extPoint) doubleN(n int) *extPoint {
	var c completed
	for i := 0; i < n; i++ {
		c.double(p)
		if i < n-1 {
			// (X:Y:Z) is enough for the next doubling: 3 multiplications.
			p.X.Multiply(&c.X, &c.T)
			p.Y.Multiply(&c.Y, &c.Z)
			p.Z.Multiply(&c.Z, &c.T)
		}
	}
	return p.fromCompleted(&c)
}

// addExt sets p = p + q.
func (p *extPoint) addExt(q *extPoint) *extPoint {
	var qc cached
	var c completed
	qc.fromExt(q)
	return p.fromCompleted(c.addCached(p, &qc))
}

// nielsFromAffine sets n from affine x, y.
func (n *niels) fromAffine(x, y *field.Element) *niels {
	n.YpX.Add(y, x)
	n.YmX.Subtract(y, x)
	n.T2d.Multiply(x, y)
	n.T2d.Multiply(&n.T2d, feD2)
	return n
}

// identity sets n to the identity (1, 1, 0).
func (n *niels) identity() *niels {
	n.YpX.One()
	n.YmX.One()
	n.T2d.Zero()
	return n
}

// toNiels converts points to affine form with one field inversion for all
// (Montgomery's trick); a point with Z = 1 (as every decoded element is)
// needs none.
func toNiels(out []niels, pts []*edwards25519.Point) {
	type proj struct {
		X, Y, Z field.Element
		i       int
	}
	var todo []proj
	for i, q := range pts {
		X, Y, Z, _ := q.ExtendedCoordinates()
		if Z.Equal(feOne) == 1 {
			out[i].fromAffine(X, Y)
			continue
		}
		todo = append(todo, proj{*X, *Y, *Z, i})
	}
	if len(todo) == 0 {
		return
	}
	prefix := make([]field.Element, len(todo))
	acc := new(field.Element).One()
	for k := range todo {
		prefix[k].Set(acc) // Z_0 ⋯ Z_{k−1}
		acc.Multiply(acc, &todo[k].Z)
	}
	inv := new(field.Element).Invert(acc)
	var zi, x, y field.Element
	for k := len(todo) - 1; k >= 0; k-- {
		zi.Multiply(inv, &prefix[k]) // 1/Z_k
		inv.Multiply(inv, &todo[k].Z)
		x.Multiply(&todo[k].X, &zi)
		y.Multiply(&todo[k].Y, &zi)
		out[todo[k].i].fromAffine(&x, &y)
	}
}
