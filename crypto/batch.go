package crypto

// spec: §10 batch verification

import (
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"

	"github.com/gtank/ristretto255"
)

// Batch verifies many proofs and signatures at once (spec §10): each equation
// of each item is multiplied by a fresh random 128-bit weight, all items are
// summed into one multi-scalar multiplication, and if that fails the batch is
// bisected to name exactly the bad items.
//
// Items reference the objects passed to the Add methods, which must not be
// changed before [Batch.Verify]. A Batch is not safe for concurrent use;
// verify several batches in parallel instead.
type Batch struct {
	weights *mrand.ChaCha8
	items   []batchItem
}

// batchItem is one proof, already weighted: it holds iff
// g·G + Σ terms = O. err is set when a check outside the equations (a hash,
// a length) already failed.
type batchItem struct {
	err   error
	g     ristretto255.Scalar
	terms []term
}

// term is s·P. Shared terms (the election key) are merged across items
// before the multiplication.
type term struct {
	s      ristretto255.Scalar
	p      *ristretto255.Element
	shared bool
}

// NewBatch returns an empty batch whose weights come from a ChaCha8 stream
// seeded by crypto/rand, unpredictable to every prover.
func NewBatch() *Batch {
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		panic("crypto: internal error: crypto/rand failed: " + err.Error())
	}
	return &Batch{weights: mrand.NewChaCha8(seed)}
}

// Len returns the number of items added.
func (b *Batch) Len() int { return len(b.items) }

// weight returns a uniformly random 128-bit scalar.
func (b *Batch) weight() *ristretto255.Scalar {
	var w [32]byte
	b.weights.Read(w[:16])
	s, err := new(ristretto255.Scalar).SetCanonicalBytes(w[:])
	if err != nil {
		panic("crypto: internal error: " + err.Error())
	}
	return s
}

// add appends an item and returns its index.
func (b *Batch) add(it batchItem) int {
	b.items = append(b.items, it)
	return len(b.items) - 1
}

// addTerm appends s·p to the item.
func (it *batchItem) addTerm(s *ristretto255.Scalar, p *ristretto255.Element, shared bool) {
	it.terms = append(it.terms, term{s: *s, p: p, shared: shared})
}

// addBase adds s to the coefficient of G.
func (it *batchItem) addBase(s *ristretto255.Scalar) { it.g.Add(&it.g, s) }

// ItemError is one bad item of a batch.
type ItemError struct {
	Index int   // as returned by the Add method
	Err   error // wraps ErrInvalidProof or ErrEncoding
}

// BatchError lists every bad item of a batch, in index order.
type BatchError struct {
	Items []ItemError
}

func (e *BatchError) Error() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%d of the batch's items do not verify:", len(e.Items))
	for i, it := range e.Items {
		if i == 10 {
			fmt.Fprintf(&s, " …")
			break
		}
		fmt.Fprintf(&s, " [%d] %v;", it.Index, it.Err)
	}
	return strings.TrimSuffix(s.String(), ";")
}

// Unwrap lets errors.Is(err, ErrInvalidProof) work on a batch error.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Items))
	for i, it := range e.Items {
		errs[i] = it.Err
	}
	return errs
}

// Bad returns the indexes of the bad items.
func (e *BatchError) Bad() []int {
	idx := make([]int, len(e.Items))
	for i, it := range e.Items {
		idx[i] = it.Index
	}
	return idx
}

// errEquation is the error of an item whose equations do not hold.
var errEquation = fmt.Errorf("%w: verification equation does not hold", ErrInvalidProof)

// Verify checks every item. It returns nil if all hold, and otherwise a
// *BatchError naming each bad item.
func (b *Batch) Verify() error {
	var bad []ItemError
	var candidates []int
	for i := range b.items {
		if b.items[i].err != nil {
			bad = append(bad, ItemError{Index: i, Err: b.items[i].err})
		} else {
			candidates = append(candidates, i)
		}
	}
	var failed []int
	b.bisect(candidates, false, &failed)
	for _, i := range failed {
		bad = append(bad, ItemError{Index: i, Err: errEquation})
	}
	if len(bad) == 0 {
		return nil
	}
	slices.SortFunc(bad, func(x, y ItemError) int { return x.Index - y.Index })
	return &BatchError{Items: bad}
}

// bisect appends to bad the items of idx whose equations fail. knownBad says
// the caller already knows the combined equation of idx fails.
func (b *Batch) bisect(idx []int, knownBad bool, bad *[]int) {
	if len(idx) == 0 || (!knownBad && b.holds(idx)) {
		return
	}
	if len(idx) == 1 {
		*bad = append(*bad, idx[0])
		return
	}
	left, right := idx[:len(idx)/2], idx[len(idx)/2:]
	leftBad := !b.holds(left)
	if leftBad {
		b.bisect(left, true, bad)
	}
	// If the left half holds, the failure is in the right half.
	b.bisect(right, !leftBad, bad)
}

// holds reports whether the weighted sum of the items' equations is O.
func (b *Batch) holds(idx []int) bool {
	n := 1
	for _, i := range idx {
		n += len(b.items[i].terms)
	}
	scalars := make([]*ristretto255.Scalar, 0, n)
	points := make([]*ristretto255.Element, 0, n)
	g := new(ristretto255.Scalar)
	shared := make(map[*ristretto255.Element]*ristretto255.Scalar)
	for _, i := range idx {
		it := &b.items[i]
		g.Add(g, &it.g)
		for j := range it.terms {
			t := &it.terms[j]
			if t.shared {
				if s, ok := shared[t.p]; ok {
					s.Add(s, &t.s)
					continue
				}
				s := new(ristretto255.Scalar).Set(&t.s)
				shared[t.p] = s
				scalars = append(scalars, s)
				points = append(points, t.p)
				continue
			}
			scalars = append(scalars, &t.s)
			points = append(points, t.p)
		}
	}
	scalars = append(scalars, g)
	points = append(points, ristretto255.NewGeneratorElement())
	// Below pippengerMin points, one multi-scalar multiplication per chunk
	// of msmChunk points keeps the lookup tables in cache (the extra
	// doublings cost little); above, Pippenger's bucket method (msm.go).
	return isIdentity(varTimeMultiScalarMult(scalars, points))
}

var msmChunk = 512

// verifyOne verifies a single item as a batch of one and returns its error.
func verifyOne(add func(b *Batch)) error {
	b := NewBatch()
	add(b)
	err := b.Verify()
	var be *BatchError
	if errors.As(err, &be) {
		return be.Items[0].Err
	}
	return err
}
