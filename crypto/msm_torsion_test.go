package crypto

import (
	mrand "math/rand/v2"
	"testing"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
	"github.com/gtank/ristretto255"
)

// torsionShift returns an element equal to p in ristretto255 whose
// edwards25519 representative is p's plus a point of order 2 or 4 (k = 1,
// 2, 3): as a decoded element may be. A sum computed in edwards25519 then
// differs from the reference by a torsion point, which only ristretto255's
// equality ignores.
func torsionShift(t testing.TB, p *ristretto255.Element, k int) *ristretto255.Element {
	t.Helper()
	// (0, −1), of order 2; (√−1, 0), of order 4.
	minusOne := make([]byte, 32)
	minusOne[0] = 0xec
	for i := 1; i < 31; i++ {
		minusOne[i] = 0xff
	}
	minusOne[31] = 0x7f
	t2, err := new(edwards25519.Point).SetBytes(minusOne)
	if err != nil {
		t.Fatal(err)
	}
	t4, err := new(edwards25519.Point).SetBytes(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	q := new(edwards25519.Point).Set(edw(p))
	switch k {
	case 1:
		q.Add(q, t2)
	case 2:
		q.Add(q, t4)
	case 3:
		q.Subtract(q, t4)
	}
	e := fromEdw(q)
	if e.Equal(p) != 1 {
		t.Fatal("a torsion shift changed the ristretto255 element")
	}
	return e
}

// TestMSMTorsionRepresentatives (review of issue 21): points whose
// edwards25519 representatives carry a torsion component give the same
// ristretto255 result as the reference, and a sum that is the identity in
// ristretto255 (but a torsion point in edwards25519) is found to be the
// identity, by msm and by the batch's test.
func TestMSMTorsionRepresentatives(t *testing.T) {
	rng := mrand.NewChaCha8([32]byte{99})
	torsion := 0
	for _, n := range []int{1, 2, 3, 159, 160, 161, 300} {
		scalars, orig := msmInput(rng, n)
		points := make([]*ristretto255.Element, n)
		for i := range points {
			points[i] = torsionShift(t, orig[i], i%4)
		}
		want := msmReference(scalars, points)
		if got := msm(scalars, points); got.Equal(want) != 1 {
			t.Fatalf("n = %d: msm differs", n)
		}
		for c := 4; c <= 16; c += 4 {
			r := pippengerWith(scalars, points, c)
			if fromEdw(r.toEdwards()).Equal(want) != 1 {
				t.Fatalf("n = %d, c = %d: pippenger differs", n, c)
			}
		}
		// Σ s_i·(P_i + T_i) − Σ s_i·P_i: the identity of ristretto255, a
		// torsion point of edwards25519 (for odd scalars on shifted points).
		k := len(points)
		for i := range k {
			scalars = append(scalars, new(ristretto255.Scalar).Negate(scalars[i]))
			points = append(points, orig[i])
		}
		if r := pippengerWith(scalars, points, 0); r.X.Equal(new(field.Element)) == 0 || r.Y.Equal(&r.Z) == 0 {
			torsion++ // not (0, 1) in edwards25519
		}
		if !isIdentity(msm(scalars, points)) {
			t.Fatalf("n = %d: msm's ristretto255 identity is not found", n)
		}
		for c := 4; c <= 16; c += 4 {
			if !pippengerWith(scalars, points, c).isRistrettoIdentity() {
				t.Fatalf("n = %d, c = %d: the ristretto255 identity is not found", n, c)
			}
		}
	}
	if torsion == 0 {
		t.Fatal("no sum had a torsion component: the test exercises nothing")
	}
}

// TestMSMAllSamePoint (review of issue 21): every point the same, or a
// point and its opposite with the same scalar, at sizes around the
// threshold and with scalars at the top of the range.
func TestMSMAllSamePoint(t *testing.T) {
	p := ristretto255.NewGeneratorElement()
	for _, n := range []int{159, 160, 161, 256, 257} {
		scalars := make([]*ristretto255.Scalar, n)
		points := make([]*ristretto255.Element, n)
		for i := range n {
			scalars[i] = new(ristretto255.Scalar).Subtract(lMinus1, scalarFromUint64(uint64(i%3)))
			points[i] = p
			if i%2 == 1 {
				points[i] = new(ristretto255.Element).Negate(p)
			}
		}
		want := msmReference(scalars, points)
		if got := msm(scalars, points); got.Equal(want) != 1 {
			t.Fatalf("n = %d: msm differs", n)
		}
		for c := 4; c <= 16; c++ {
			if fromEdw(pippengerWith(scalars, points, c).toEdwards()).Equal(want) != 1 {
				t.Fatalf("n = %d, c = %d: pippenger differs", n, c)
			}
		}
	}
}
