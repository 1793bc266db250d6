package crypto

// spec: §10 batch verification: the multi-scalar multiplication.

import (
	"math/bits"

	"filippo.io/edwards25519"
	"github.com/gtank/ristretto255"
)

// pippengerMin is the number of points from which msm uses the bucket
// method rather than edwards25519's Straus method: below it, the buckets'
// fixed cost outweighs what it saves (BenchmarkMSM shows where they cross).
var pippengerMin = 160

// msm returns Σ scalars[i]·points[i], in variable time (public inputs only).
func msm(scalars []*ristretto255.Scalar, points []*ristretto255.Element) *ristretto255.Element {
	if len(scalars) != len(points) {
		panic("crypto: internal error: msm of different lengths")
	}
	if len(points) < pippengerMin {
		return strausMSM(scalars, points)
	}
	r := pippenger(scalars, points)
	return fromEdw(r.toEdwards())
}

// strausMSM is edwards25519's VarTimeMultiScalarMult, one call per chunk of
// msmChunk points, which keeps its lookup tables in cache (the extra
// doublings cost little).
func strausMSM(scalars []*ristretto255.Scalar, points []*ristretto255.Element) *ristretto255.Element {
	sum := ristretto255.NewIdentityElement()
	var part ristretto255.Element
	for len(points) > 0 {
		k := min(len(points), msmChunk)
		sum.Add(sum, part.VarTimeMultiScalarMult(scalars[:k], points[:k]))
		scalars, points = scalars[k:], points[k:]
	}
	return sum
}

var msmChunk = 512

// pippengerWindow chooses the window width c for the bucket method from
// the number of nonzero digits it would add (each a mixed addition, 7
// field multiplications) and the buckets it would sum (2 additions of 9
// multiplications per bucket per window), given the scalars' lengths: a
// batch's weights make most scalars 128 bits long, which changes the best
// width.
func pippengerWindow(bitLens []int) int {
	best, bestCost := 0, 0
	for c := 4; c <= 16; c++ {
		digits := 0
		maxLen := 0
		for _, l := range bitLens {
			digits += (l + c - 1) / c
			maxLen = max(maxLen, l)
		}
		windows := (maxLen + c) / c
		cost := 7*digits + 18*(1<<(c-1))*windows
		if best == 0 || cost < bestCost {
			best, bestCost = c, cost
		}
	}
	return best
}

// pippenger returns Σ scalars[i]·points[i] by the bucket method (Pippenger;
// Bernstein et al., "Faster batch forgery identification", 2012, §4): each
// scalar is written in signed digits of c bits, d ∈ [−2^(c−1), 2^(c−1)];
// for each window, from the top, the accumulator is doubled c times, each
// point is added to (or subtracted from) bucket |d|, and the buckets are
// summed as Σ_k k·B_k by running sums. Points are added in affine form (7
// multiplications each). Variable time: for public inputs only.
func pippenger(scalars []*ristretto255.Scalar, points []*ristretto255.Element) *extPoint {
	return pippengerWith(scalars, points, 0)
}

// pippengerWith is pippenger with windows of c bits (4 ≤ c ≤ 16), or of the
// width pippengerWindow chooses if c is 0.
func pippengerWith(scalars []*ristretto255.Scalar, points []*ristretto255.Element, c int) *extPoint {
	n := len(points)
	var result extPoint
	result.identity()
	if n == 0 {
		return &result
	}
	enc := make([]byte, 32*n)
	bitLens := make([]int, n)
	for i, s := range scalars {
		copy(enc[32*i:], s.Bytes())
		bitLens[i] = bitLen(enc[32*i : 32*i+32])
	}
	if c == 0 {
		c = pippengerWindow(bitLens)
	}
	// A canonical scalar is below ℓ < 2^253; with c·windows ≥ 254 the top
	// digit, carry included, is at most 2^(c−1): no carry out.
	windows := (253 + c) / c
	half := 1 << (c - 1)
	digits := make([]int32, n*windows)
	for i := range n {
		b := enc[32*i : 32*i+32]
		carry := 0
		for w := range windows {
			v := readBits(b, w*c, c) + carry
			carry = 0
			if v > half {
				v -= 1 << c
				carry = 1
			}
			digits[i*windows+w] = int32(v)
		}
		if carry != 0 {
			panic("crypto: internal error: scalar is not canonical")
		}
	}
	edws := make([]*edwards25519.Point, n)
	for i, p := range points {
		edws[i] = edw(p)
	}
	affine := make([]niels, n)
	toNiels(affine, edws)

	buckets := make([]extPoint, half)
	used := make([]bool, half)
	var cp completed
	var sum, running extPoint
	for w := windows - 1; w >= 0; w-- {
		if w != windows-1 {
			result.doubleN(c)
		}
		top := -1
		for i := range n {
			d := int(digits[i*windows+w])
			switch {
			case d > 0:
				k := d - 1
				if !used[k] {
					buckets[k].identity()
					used[k] = true
				}
				buckets[k].fromCompleted(cp.addNiels(&buckets[k], &affine[i]))
				top = max(top, k)
			case d < 0:
				k := -d - 1
				if !used[k] {
					buckets[k].identity()
					used[k] = true
				}
				buckets[k].fromCompleted(cp.subNiels(&buckets[k], &affine[i]))
				top = max(top, k)
			}
		}
		if top < 0 {
			continue
		}
		// Σ_k (k+1)·B_k = Σ_k running_k with running_k = Σ_{j ≥ k} B_j.
		running.identity()
		sum.identity()
		for k := top; k >= 0; k-- {
			if used[k] {
				running.addExt(&buckets[k])
				used[k] = false
			}
			sum.addExt(&running)
		}
		result.addExt(&sum)
	}
	return &result
}

// bitLen returns the length in bits of a little-endian number.
func bitLen(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] != 0 {
			return 8*i + bits.Len8(b[i])
		}
	}
	return 0
}

// readBits returns the c bits of the little-endian b from bit offset off
// (c ≤ 16; bits past the end are 0).
func readBits(b []byte, off, c int) int {
	var v uint32
	i := off / 8
	for k := 0; k < 3 && i+k < len(b); k++ {
		v |= uint32(b[i+k]) << (8 * k)
	}
	return int(v>>(off%8)) & (1<<c - 1)
}
