package crypto

import (
	"testing"

	"github.com/gtank/ristretto255"
)

// TestPippenger compares the bucket method with the group library's
// multi-scalar multiplication, for sizes around the window changes and
// scalars with zero, small and largest digits.
func TestPippenger(t *testing.T) {
	rnd := shuffleRand(20)
	for _, n := range []int{1, 2, 3, 17, 64, 255, 1000, 2049} {
		s, err := randomScalars(rnd, n)
		if err != nil {
			t.Fatal(err)
		}
		sp := make([]*ristretto255.Scalar, n)
		pp := make([]*ristretto255.Element, n)
		for i := range s {
			sp[i] = &s[i]
			switch i % 5 {
			case 1:
				sp[i] = new(ristretto255.Scalar) // 0
			case 2:
				sp[i] = scalarFromUint64(uint64(i)) // small
			case 3:
				sp[i] = new(ristretto255.Scalar).Negate(scalarFromUint64(1)) // ℓ − 1
			}
			pp[i] = scalarMultBase(&s[(i+1)%n])
			if i%7 == 4 {
				pp[i] = ristretto255.NewIdentityElement()
			}
		}
		want := new(ristretto255.Element).VarTimeMultiScalarMult(sp, pp)
		if got := pippenger(sp, pp); got.Equal(want) != 1 {
			t.Errorf("n = %d: pippenger differs", n)
		}
		if got := varTimeMultiScalarMult(sp, pp); got.Equal(want) != 1 {
			t.Errorf("n = %d: varTimeMultiScalarMult differs", n)
		}
	}
}
