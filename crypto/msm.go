package crypto

// Pippenger's bucket method for large multi-scalar multiplications with
// public scalars (verification only: its memory accesses and running time
// depend on the scalars).

import (
	"math/bits"

	"github.com/gtank/ristretto255"
)

// pippengerMin is the number of points from which the bucket method beats
// the group library's Straus method (measured: BenchmarkMSM).
const pippengerMin = 512

// varTimeMultiScalarMult returns Σ s_i·P_i, in variable time.
func varTimeMultiScalarMult(s []*ristretto255.Scalar, p []*ristretto255.Element) *ristretto255.Element {
	if len(p) < pippengerMin {
		sum := ristretto255.NewIdentityElement()
		var part ristretto255.Element
		for len(p) > 0 {
			k := min(len(p), msmChunk)
			sum.Add(sum, part.VarTimeMultiScalarMult(s[:k], p[:k]))
			s, p = s[k:], p[k:]
		}
		return sum
	}
	return pippenger(s, p)
}

// pippenger computes Σ s_i·P_i with windows of c bits: for each window,
// every point is added to the bucket of its digit, and the buckets are
// summed by running sums (Σ_d d·bucket_d with 2·2^c additions).
func pippenger(s []*ristretto255.Scalar, p []*ristretto255.Element) *ristretto255.Element {
	return pippengerWindow(s, p, min(max(bits.Len(uint(len(p)))-3, 4), 16))
}

// pippengerWindow is pippenger with windows of c bits, 1 ≤ c ≤ 16 (tests
// try every c on small sums).
func pippengerWindow(s []*ristretto255.Scalar, p []*ristretto255.Element, c int) *ristretto255.Element {
	n := len(p)
	digits := make([][32]byte, n)
	for i := range s {
		copy(digits[i][:], s[i].Bytes())
	}
	digit := func(i, w int) uint {
		// Bits w·c … w·c+c−1 of scalar i (little-endian), c ≤ 16.
		bit := w * c
		var x uint
		for k := 0; k < 3 && bit/8+k < 32; k++ {
			x |= uint(digits[i][bit/8+k]) << (8 * k)
		}
		return (x >> (bit % 8)) & (1<<c - 1)
	}
	buckets := make([]ristretto255.Element, 1<<c)
	used := make([]bool, 1<<c)
	result := ristretto255.NewIdentityElement()
	windows := (253 + c - 1) / c
	for w := windows - 1; w >= 0; w-- {
		for range c {
			result.Add(result, result)
		}
		clear(used)
		for i := range n {
			d := digit(i, w)
			if d == 0 {
				continue
			}
			if used[d] {
				buckets[d].Add(&buckets[d], p[i])
			} else {
				buckets[d].Set(p[i])
				used[d] = true
			}
		}
		running := ristretto255.NewIdentityElement()
		acc := ristretto255.NewIdentityElement()
		for d := len(buckets) - 1; d > 0; d-- {
			if used[d] {
				running.Add(running, &buckets[d])
			}
			acc.Add(acc, running)
		}
		result.Add(result, acc)
	}
	return result
}
