package crypto

import (
	"testing"

	"github.com/gtank/ristretto255"
)

// naiveSum returns Σ s_i·P_i by one ScalarMult per term: the reference
// the bucket method is compared with.
func naiveSum(s []*ristretto255.Scalar, p []*ristretto255.Element) *ristretto255.Element {
	sum := ristretto255.NewIdentityElement()
	for i := range s {
		sum.Add(sum, new(ristretto255.Element).ScalarMult(s[i], p[i]))
	}
	return sum
}

// TestPippengerDifferential compares msm (and pippenger
// itself) with a naive sum, on random and adversarial inputs, for sizes
// around pippengerMin and around every change of window width.
func TestPippengerDifferential(t *testing.T) {
	rnd := shuffleRand(77)
	mustScalar := func(b [32]byte) *ristretto255.Scalar {
		s, err := new(ristretto255.Scalar).SetCanonicalBytes(b[:])
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// ℓ − 1, 2^252, 2^252 + 2^251 − 1 (top bits set), all-ones windows.
	var top, topOnes, ones [32]byte
	top[31] = 0x10
	topOnes = [32]byte{}
	for i := range 31 {
		topOnes[i] = 0xff
	}
	topOnes[31] = 0x0f // 2^252 − 1
	for i := range 31 {
		ones[i] = 0xff // 2^248 − 1
	}
	special := []*ristretto255.Scalar{
		new(ristretto255.Scalar), scalarFromUint64(1), scalarFromUint64(2),
		new(ristretto255.Scalar).Negate(scalarFromUint64(1)), mustScalar(top),
		mustScalar(topOnes), mustScalar(ones), scalarFromUint64(1<<16 - 1),
		scalarFromUint64(1 << 16), scalarFromUint64(1<<32 - 1),
	}
	sizes := []int{1, 2, 127, 128, 511, 512, 513, 1024, 2048}
	if testing.Short() {
		sizes = []int{1, 2, 511, 512, 513}
	}
	for _, n := range sizes {
		r, err := randomScalars(rnd, 2*n)
		if err != nil {
			t.Fatal(err)
		}
		P := scalarMultBase(&r[0])
		cases := map[string]func(i int) (*ristretto255.Scalar, *ristretto255.Element){
			"random": func(i int) (*ristretto255.Scalar, *ristretto255.Element) {
				return &r[i], scalarMultBase(&r[n+i])
			},
			"special scalars, identities": func(i int) (*ristretto255.Scalar, *ristretto255.Element) {
				p := scalarMultBase(&r[n+i])
				if i%6 == 5 {
					p = ristretto255.NewIdentityElement()
				}
				return special[i%len(special)], p
			},
			"one point, opposite points": func(i int) (*ristretto255.Scalar, *ristretto255.Element) {
				p := new(ristretto255.Element).Set(P)
				if i%2 == 1 {
					p.Negate(p)
				}
				return special[(i/2)%len(special)], p
			},
			"all zero scalars": func(i int) (*ristretto255.Scalar, *ristretto255.Element) {
				return new(ristretto255.Scalar), scalarMultBase(&r[n+i])
			},
			"all ℓ−1 on one point": func(i int) (*ristretto255.Scalar, *ristretto255.Element) {
				return special[3], P
			},
		}
		for name, f := range cases {
			s := make([]*ristretto255.Scalar, n)
			p := make([]*ristretto255.Element, n)
			for i := range n {
				s[i], p[i] = f(i)
			}
			want := naiveSum(s, p)
			if got := msm(s, p); got.Equal(want) != 1 {
				t.Errorf("n = %d, %s: msm differs from the naive sum", n, name)
			}
			if got := fromEdw(pippenger(s, p).toEdwards()); got.Equal(want) != 1 {
				t.Errorf("n = %d, %s: pippenger differs from the naive sum", n, name)
			}
		}
	}
}

// TestPippengerWindows checks every window width the bucket method may
// use (1 to 16 bits; sums large enough for 11 to 16 bits take millions of
// points) against the naive sum, with scalars whose top bits are set.
func TestPippengerWindows(t *testing.T) {
	rnd := shuffleRand(78)
	const n = 40
	r, err := randomScalars(rnd, 2*n)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]*ristretto255.Scalar, n)
	p := make([]*ristretto255.Element, n)
	for i := range n {
		s[i], p[i] = &r[i], scalarMultBase(&r[n+i])
		if i%4 == 0 {
			s[i] = new(ristretto255.Scalar).Negate(scalarFromUint64(uint64(i + 1))) // top bits set
		}
	}
	want := naiveSum(s, p)
	for c := 1; c <= 16; c++ {
		if got := fromEdw(pippengerWith(s, p, c).toEdwards()); got.Equal(want) != 1 {
			t.Errorf("window of %d bits: differs from the naive sum", c)
		}
	}
}
