package crypto

// Fixed-base scalar multiplication by the election key, for encryption.

import (
	"crypto/subtle"
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
	"github.com/gtank/ristretto255"
)

// fixedBase is a table of multiples of a point P for constant-time scalar
// multiplication, laid out as edwards25519's own table for the generator
// (its basepointTable, which ScalarBaseMult, and so scalarMultBase, uses):
// t[i][j] = (j+1)·256^i·P in affine form, for i < 32 and j < 8. A scalar
// s = Σ d_k·16^k with signed digits d_k ∈ [−8, 8] gives
// s·P = Σ_{k odd} d_k·16^(k−1)·P·16 + Σ_{k even} d_k·16^k·P: 64 table
// lookups and mixed additions and 4 doublings, where a variable-base
// scalar multiplication needs 64 additions and 252 doublings.
type fixedBase struct {
	t [32][8]niels
}

// newFixedBase computes the table of p: 256 additions and doublings, one
// field inversion for all (about two scalar multiplications).
func newFixedBase(p *ristretto255.Element) *fixedBase {
	var ext [32][8]extPoint
	var base extPoint
	base.fromEdwards(edw(p))
	var bc cached
	var c completed
	for i := range 32 {
		ext[i][0] = base
		bc.fromExt(&base)
		for j := 1; j < 8; j++ {
			ext[i][j].fromCompleted(c.addCached(&ext[i][j-1], &bc))
		}
		base.doubleN(8)
	}
	pts := make([]*edwards25519.Point, 0, 256)
	for i := range 32 {
		for j := range 8 {
			pts = append(pts, ext[i][j].toEdwards())
		}
	}
	flat := make([]niels, 256)
	toNiels(flat, pts)
	f := new(fixedBase)
	for i := range 32 {
		copy(f.t[i][:], flat[8*i:8*i+8])
	}
	return f
}

// selectInto sets dst to x·(256^i·P), −8 ≤ x ≤ 8, in constant time: every
// entry of the row is read, and the one kept is chosen with field.Element's
// constant-time Select (masks, no branch, no index that depends on x),
// exactly as edwards25519's affineLookupTable.SelectInto does for the
// generator; the sign is applied by a constant-time swap and select.
func (f *fixedBase) selectInto(dst *niels, i int, x int8) {
	xmask := x >> 7
	xabs := uint8((x + xmask) ^ xmask)
	dst.identity()
	for j := 1; j <= 8; j++ {
		cond := subtle.ConstantTimeByteEq(xabs, uint8(j))
		e := &f.t[i][j-1]
		dst.YpX.Select(&e.YpX, &dst.YpX, cond)
		dst.YmX.Select(&e.YmX, &dst.YmX, cond)
		dst.T2d.Select(&e.T2d, &dst.T2d, cond)
	}
	neg := int(xmask & 1)
	dst.YpX.Swap(&dst.YmX, neg)
	var nt field.Element
	nt.Negate(&dst.T2d)
	dst.T2d.Select(&nt, &dst.T2d, neg)
}

// mult returns s·P in constant time: the digits are computed from s's
// bytes by arithmetic only (signedRadix16), each lookup reads the whole row
// (selectInto), the additions and doublings are the complete formulas of
// edwards.go with no branch, so neither the sequence of instructions nor
// the memory addresses read depend on s. s is secret (an encryption's
// randomness, a proof's nonce): this is the property that matters.
func (f *fixedBase) mult(s *ristretto255.Scalar) *ristretto255.Element {
	digits := signedRadix16(s.Bytes())
	var v extPoint
	v.identity()
	var n niels
	var c completed
	for i := 1; i < 64; i += 2 {
		f.selectInto(&n, i/2, digits[i])
		v.fromCompleted(c.addNiels(&v, &n))
	}
	v.doubleN(4)
	for i := 0; i < 64; i += 2 {
		f.selectInto(&n, i/2, digits[i])
		v.fromCompleted(c.addNiels(&v, &n))
	}
	return fromEdw(v.toEdwards())
}

// signedRadix16 writes a canonical scalar (below 2^253) as 64 signed digits
// d_k ∈ [−8, 8] with s = Σ d_k·16^k, in constant time (as edwards25519's
// Scalar.signedRadix16).
func signedRadix16(b []byte) [64]int8 {
	var d [64]int8
	for i := range 32 {
		d[2*i] = int8(b[i] & 15)
		d[2*i+1] = int8((b[i] >> 4) & 15)
	}
	for i := range 63 {
		carry := (d[i] + 8) >> 4
		d[i] -= carry << 4
		d[i+1] += carry
	}
	return d
}

// keyMult returns s·Y for the key pk, in constant time, with its table.
func keyMult(pk *PublicKey, s *ristretto255.Scalar) *ristretto255.Element {
	if noKeyTables {
		return new(ristretto255.Element).ScalarMult(s, pk.elem())
	}
	return keyTable(pk).mult(s)
}

// noKeyTables makes keyMult use a variable-base multiplication, as before
// the tables: only for the benchmarks' before/after in the same run.
var noKeyTables = false

// keyTables holds the tables of the last election keys encrypted to, so
// that each is computed once per election per process (a booth, a load
// generator), not once per encryption. Keys are public; at most
// keyTablesMax (each 30 KB) are kept.
var keyTables struct {
	sync.Mutex
	m map[[ElementSize]byte]*fixedBase
}

const keyTablesMax = 16

// keyTable returns the fixed-base table of pk.
func keyTable(pk *PublicKey) *fixedBase {
	keyTables.Lock()
	f, ok := keyTables.m[pk.enc]
	keyTables.Unlock()
	if ok {
		return f
	}
	f = newFixedBase(pk.elem())
	keyTables.Lock()
	defer keyTables.Unlock()
	if keyTables.m == nil || len(keyTables.m) >= keyTablesMax {
		keyTables.m = make(map[[ElementSize]byte]*fixedBase)
	}
	keyTables.m[pk.enc] = f
	return f
}
