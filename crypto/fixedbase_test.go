package crypto

import (
	"testing"

	"github.com/gtank/ristretto255"
)

// TestFixedBase compares the fixed-base multiplication with ScalarMult for
// scalars with every kind of digit (0, 1, ℓ − 1, 2^252, small, random).
func TestFixedBase(t *testing.T) {
	rnd := shuffleRand(30)
	s, err := randomScalars(rnd, 200)
	if err != nil {
		t.Fatal(err)
	}
	var p2 [32]byte
	p2[31] = 0x10 // 2^252
	big, err := new(ristretto255.Scalar).SetCanonicalBytes(p2[:])
	if err != nil {
		t.Fatal(err)
	}
	special := []*ristretto255.Scalar{
		new(ristretto255.Scalar), scalarFromUint64(1), scalarFromUint64(8), scalarFromUint64(15),
		scalarFromUint64(0x88888888), new(ristretto255.Scalar).Negate(scalarFromUint64(1)), big,
	}
	for i := range s {
		special = append(special, &s[i])
	}
	for _, base := range []*ristretto255.Element{ristretto255.NewGeneratorElement(), scalarMultBase(&s[0]), Generator("shuffle/0").elem()} {
		fb := newFixedBase(base)
		for i, k := range special {
			want := new(ristretto255.Element).ScalarMult(k, base)
			if got := fb.mult(k); got.Equal(want) != 1 {
				t.Fatalf("scalar %d (%x): fixed-base multiple differs from ScalarMult", i, k.Bytes())
			}
		}
	}
	for a := range 10 {
		for b := range 10 {
			if want := map[bool]int{true: 1, false: 0}[a == b]; ctEq(a, b) != want {
				t.Fatalf("ctEq(%d, %d) = %d", a, b, ctEq(a, b))
			}
		}
	}
}

// TestFixedBaseLayout fails if the unsafe cast of fixedbase.go does not
// read and write ristretto255's Element (another version of the library):
// the shuffle then still works, through ScalarMult, but slower.
func TestFixedBaseLayout(t *testing.T) {
	if !fixedBaseLayoutOK || !checkFixedBaseLayout() {
		t.Fatal("ristretto255.Element is not the edwards25519.Point fixedbase.go assumes: fixed-base tables fall back to ScalarMult")
	}
	fb := &fixedBase{fallback: ristretto255.NewGeneratorElement()}
	s := scalarFromUint64(12345)
	if fb.mult(s).Equal(new(ristretto255.Element).ScalarBaseMult(s)) != 1 {
		t.Fatal("the fallback differs from ScalarBaseMult")
	}
}
