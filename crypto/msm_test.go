package crypto

import (
	"fmt"
	mrand "math/rand/v2"
	"testing"

	"github.com/gtank/ristretto255"
)

// msmReference is the multi-scalar multiplication the batch used before
// Pippenger: edwards25519's Straus method, through ristretto255.
func msmReference(scalars []*ristretto255.Scalar, points []*ristretto255.Element) *ristretto255.Element {
	return new(ristretto255.Element).VarTimeMultiScalarMult(scalars, points)
}

// lMinus1 is ℓ − 1, the largest canonical scalar.
var lMinus1 = new(ristretto255.Scalar).Negate(scalarFromUint64(1))

// msmInput draws n scalars and points from rng, with the cases that break
// bucket methods mixed in: zero, one, ℓ − 1, 128-bit weights, scalars whose
// digits sit on a window's edges (2^k ± 1 and runs of ones), the identity,
// the same point twice, a point and its opposite, points with Z ≠ 1 and
// the other representatives of a coset (computed points).
func msmInput(rng *mrand.ChaCha8, n int) ([]*ristretto255.Scalar, []*ristretto255.Element) {
	r := mrand.New(rng)
	scalars := make([]*ristretto255.Scalar, n)
	points := make([]*ristretto255.Element, n)
	var b [64]byte
	for i := range n {
		switch r.IntN(10) {
		case 0:
			scalars[i] = new(ristretto255.Scalar)
		case 1:
			scalars[i] = scalarFromUint64(uint64(r.IntN(3)))
		case 2:
			scalars[i] = new(ristretto255.Scalar).Set(lMinus1)
		case 3, 4, 5:
			var w [32]byte
			rng.Read(w[:16])
			scalars[i], _ = new(ristretto255.Scalar).SetCanonicalBytes(w[:])
		case 6:
			// 2^k ± 1 or 2^k − 1: digits at the window's edges.
			var w [32]byte
			k := r.IntN(252)
			w[k/8] |= 1 << (k % 8)
			s, _ := new(ristretto255.Scalar).SetCanonicalBytes(w[:])
			switch r.IntN(3) {
			case 0:
				s.Add(s, scalarFromUint64(1))
			case 1:
				s.Subtract(s, scalarFromUint64(1))
			}
			scalars[i] = s
		default:
			rng.Read(b[:])
			scalars[i] = scalarFromHash(b)
		}
		switch r.IntN(8) {
		case 0:
			points[i] = ristretto255.NewIdentityElement()
		case 1:
			if i > 0 {
				points[i] = points[r.IntN(i)]
				break
			}
			fallthrough
		case 2:
			if i > 0 {
				points[i] = new(ristretto255.Element).Negate(points[r.IntN(i)])
				break
			}
			fallthrough
		case 3:
			// Computed: Z ≠ 1, any representative of its coset.
			rng.Read(b[:])
			points[i] = new(ristretto255.Element).ScalarMult(scalarFromHash(b), ristretto255.NewGeneratorElement())
			points[i].Add(points[i], ristretto255.NewGeneratorElement())
		default:
			// Decoded, as a batch's points are: Z = 1.
			rng.Read(b[:])
			e := new(ristretto255.Element).ScalarBaseMult(scalarFromHash(b))
			points[i], _ = new(ristretto255.Element).SetCanonicalBytes(e.Bytes())
		}
	}
	return scalars, points
}

// TestMSMAgainstStraus compares the bucket method with edwards25519's
// multi-scalar multiplication on random inputs of many sizes and every
// window width.
func TestMSMAgainstStraus(t *testing.T) {
	rng := mrand.NewChaCha8([32]byte{21})
	sizes := []int{0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 159, 160, 161, 255, 256, 257, 511, 512, 513, 1000}
	if !testing.Short() {
		sizes = append(sizes, 2049, 4096)
	}
	for _, n := range sizes {
		scalars, points := msmInput(rng, n)
		want := msmReference(scalars, points)
		if got := msm(scalars, points); got.Equal(want) != 1 {
			t.Fatalf("n = %d: msm differs from Straus", n)
		}
		if got := fromEdw(pippenger(scalars, points).toEdwards()); got.Equal(want) != 1 {
			t.Fatalf("n = %d: pippenger differs from Straus", n)
		}
		if n <= 300 {
			for c := 4; c <= 16; c++ {
				r := pippengerWith(scalars, points, c)
				if got := fromEdw(r.toEdwards()); got.Equal(want) != 1 {
					t.Fatalf("n = %d, c = %d: pippenger differs from Straus", n, c)
				}
				if r.isRistrettoIdentity() != (want.Equal(identity) == 1) {
					t.Fatalf("n = %d, c = %d: identity test differs", n, c)
				}
			}
		}
	}
}

// TestMSMZeroSum checks sums that must be the identity, as a valid batch's
// are: Σ s_i·P_i − (Σ s_i·P_i) with the last term computed apart.
func TestMSMZeroSum(t *testing.T) {
	rng := mrand.NewChaCha8([32]byte{22})
	for _, n := range []int{1, 2, 200, 700} {
		scalars, points := msmInput(rng, n)
		want := msmReference(scalars, points)
		scalars = append(scalars, new(ristretto255.Scalar).Set(lMinus1)) // −1
		points = append(points, want)
		for c := 4; c <= 16; c += 3 {
			if !pippengerWith(scalars, points, c).isRistrettoIdentity() {
				t.Fatalf("n = %d, c = %d: the sum is not the identity", n, c)
			}
		}
		if !isIdentity(msm(scalars, points)) {
			t.Fatalf("n = %d: msm's sum is not the identity", n)
		}
		// One scalar off by one: not the identity.
		scalars[0] = new(ristretto255.Scalar).Add(scalars[0], scalarFromUint64(1))
		if isIdentity(points[0]) {
			continue
		}
		if isIdentity(fromEdw(pippengerWith(scalars, points, 0).toEdwards())) {
			t.Fatalf("n = %d: a wrong sum is the identity", n)
		}
	}
}

// TestBitHelpers checks readBits and bitLen on the edges.
func TestBitHelpers(t *testing.T) {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i*37 + 11)
	}
	for c := 1; c <= 16; c++ {
		for off := 0; off < 256; off++ {
			want := 0
			for k := 0; k < c; k++ {
				if off+k < 256 && b[(off+k)/8]>>((off+k)%8)&1 == 1 {
					want |= 1 << k
				}
			}
			if got := readBits(b, off, c); got != want {
				t.Fatalf("readBits(off %d, c %d) = %x, want %x", off, c, got, want)
			}
		}
	}
	if bitLen(make([]byte, 32)) != 0 || bitLen(lMinus1.Bytes()) != 253 || bitLen([]byte{1}) != 1 {
		t.Fatal("bitLen is wrong")
	}
}

// FuzzMSM compares the bucket method with Straus on inputs drawn from the
// fuzzer's seed: sizes up to 600 and every window width.
func FuzzMSM(f *testing.F) {
	for _, s := range []uint64{0, 1, 2, 3, 160, 161, 599} {
		f.Add(s, uint8(s))
	}
	f.Fuzz(func(t *testing.T, seed uint64, c uint8) {
		var key [32]byte
		for i := range 8 {
			key[i] = byte(seed >> (8 * i))
		}
		rng := mrand.NewChaCha8(key)
		n := int(seed % 600)
		scalars, points := msmInput(rng, n)
		want := msmReference(scalars, points)
		w := 4 + int(c)%13
		if got := fromEdw(pippengerWith(scalars, points, w).toEdwards()); got.Equal(want) != 1 {
			t.Fatalf("n = %d, c = %d: pippenger differs from Straus", n, w)
		}
		if got := msm(scalars, points); got.Equal(want) != 1 {
			t.Fatalf("n = %d: msm differs from Straus", n)
		}
	})
}

// BenchmarkMSM compares the two methods on a batch's mix of scalars (two
// thirds 128-bit weights, the rest full), per point.
func BenchmarkMSM(b *testing.B) {
	for _, n := range []int{64, 128, 160, 256, 1024, 4096, 16384} {
		rng := mrand.NewChaCha8([32]byte{23})
		scalars := make([]*ristretto255.Scalar, n)
		points := make([]*ristretto255.Element, n)
		var buf [64]byte
		for i := range n {
			rng.Read(buf[:])
			if i%3 != 0 {
				clear(buf[16:])
				scalars[i], _ = new(ristretto255.Scalar).SetCanonicalBytes(buf[:32])
			} else {
				scalars[i] = scalarFromHash(buf)
			}
			rng.Read(buf[:])
			e := new(ristretto255.Element).ScalarBaseMult(scalarFromHash(buf))
			points[i], _ = new(ristretto255.Element).SetCanonicalBytes(e.Bytes())
		}
		b.Run(fmt.Sprintf("straus/%d", n), func(b *testing.B) {
			for b.Loop() {
				strausMSM(scalars, points)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/point")
		})
		b.Run(fmt.Sprintf("pippenger/%d", n), func(b *testing.B) {
			for b.Loop() {
				pippenger(scalars, points)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/point")
		})
	}
}
