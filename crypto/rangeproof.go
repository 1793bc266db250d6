package crypto

// spec: §8 disjunctive range proofs (selections and contest totals)

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// MaxRangeBranches bounds n = hi − lo + 1 of a range proof (spec §8).
const MaxRangeBranches = 1024

const rangeBranchSize = 2*ElementSize + 2*ScalarSize

// RangeProof proves that a ciphertext encrypts an integer in [lo, hi]
// (spec §8): one branch per candidate value, all but one simulated.
type RangeProof struct {
	branches []rangeBranch
}

type rangeBranch struct {
	a, b point
	c, s ristretto255.Scalar
}

// ErrRange means a range, a vote or a contest's rules are not acceptable.
var ErrRange = errors.New("value or range not allowed")

// rangeSize returns n = hi − lo + 1, or an error if the range is empty or too
// large.
func rangeSize(lo, hi uint64) (int, error) {
	if hi < lo || hi-lo >= MaxRangeBranches {
		return 0, fmt.Errorf("%w: range [%d, %d] must be non-empty with at most %d values", ErrRange, lo, hi, MaxRangeBranches)
	}
	return int(hi-lo) + 1, nil
}

// EncryptSelection encrypts a vote (0 or 1) for one option with its proof
// (spec §5.2, §8). ctx is [SelectionContext] of the selection's place.
func EncryptSelection(rnd io.Reader, pk *PublicKey, ctx Context, vote int) (*Ciphertext, *RangeProof, error) {
	if err := pk.check(); err != nil {
		return nil, nil, err
	}
	if vote != 0 && vote != 1 {
		return nil, nil, fmt.Errorf("%w: a selection is 0 or 1", ErrRange)
	}
	r, err := randomScalar(rnd)
	if err != nil {
		return nil, nil, err
	}
	m := scalarFromUint64(uint64(vote))
	ct := encryptWith(pk, m, r)
	p, err := proveRange(rnd, labelSelection, pk, ctx, 0, 1, ct, uint64(vote), r)
	if err != nil {
		return nil, nil, err
	}
	return ct, p, nil
}

// VerifySelection verifies that ct encrypts 0 or 1.
func VerifySelection(pk *PublicKey, ctx Context, ct *Ciphertext, p *RangeProof) error {
	return verifyOne(func(b *Batch) { b.AddSelection(pk, ctx, ct, p) })
}

// AddSelection adds a selection proof to the batch and returns its index.
func (b *Batch) AddSelection(pk *PublicKey, ctx Context, ct *Ciphertext, p *RangeProof) int {
	if ct.alpha.enc == ([ElementSize]byte{}) {
		return b.add(batchItem{err: fmt.Errorf("ciphertext α: %w", ErrIdentity)})
	}
	return b.addRange(labelSelection, pk, ctx, 0, 1, ct, p)
}

// VerifyTotal verifies that total (the sum of a contest's selections)
// encrypts a number in [min, max]. ctx is [TotalContext].
func VerifyTotal(pk *PublicKey, ctx Context, min, max uint64, total *Ciphertext, p *RangeProof) error {
	return verifyOne(func(b *Batch) { b.AddTotal(pk, ctx, min, max, total, p) })
}

// AddTotal adds a contest-total proof to the batch and returns its index.
func (b *Batch) AddTotal(pk *PublicKey, ctx Context, min, max uint64, total *Ciphertext, p *RangeProof) int {
	return b.addRange(labelContestTotal, pk, ctx, min, max, total, p)
}

// EncryptedContest is one contest of a ballot: a ciphertext and a selection
// proof per option, and a proof that the number of chosen options is within
// the contest's rules (spec §8.4).
type EncryptedContest struct {
	Selections []*Ciphertext
	Proofs     []*RangeProof
	TotalProof *RangeProof
	// Randomness holds, after EncryptContest, the scalar each selection was
	// encrypted with. It is secret: it is revealed only to audit an
	// encryption that is then never cast (spec §21.3).
	Randomness [][]byte
}

// EncryptContest encrypts the votes (one 0 or 1 per option) of contest number
// contest, for the voter whose public credential is credential, with the
// rules min ≤ Σ votes ≤ max. Its running time does not depend on the votes.
func EncryptContest(rnd io.Reader, pk *PublicKey, election Fingerprint, credential *PublicKey, contest uint32, votes []int, min, max uint64) (*EncryptedContest, error) {
	if _, err := rangeSize(min, max); err != nil {
		return nil, err
	}
	if err := pk.check(); err != nil {
		return nil, err
	}
	if len(votes) == 0 || uint64(len(votes)) < max {
		return nil, fmt.Errorf("%w: %d options cannot allow up to %d selections", ErrRange, len(votes), max)
	}
	// Validity is computed without branching on each vote; only the final
	// verdict (which the booth enforces anyway) is revealed.
	var invalid, total int
	for _, v := range votes {
		invalid |= v &^ 1
		total += v
	}
	if invalid != 0 || uint64(total) < min || uint64(total) > max {
		return nil, fmt.Errorf("%w: each selection must be 0 or 1 and between %d and %d options chosen", ErrRange, min, max)
	}
	ec := &EncryptedContest{
		Selections: make([]*Ciphertext, len(votes)),
		Proofs:     make([]*RangeProof, len(votes)),
		Randomness: make([][]byte, len(votes)),
	}
	rsum := new(ristretto255.Scalar)
	for j, v := range votes {
		r, err := randomScalar(rnd)
		if err != nil {
			return nil, err
		}
		rsum.Add(rsum, r)
		ec.Randomness[j] = r.Bytes()
		ec.Selections[j] = encryptWith(pk, scalarFromUint64(uint64(v)), r)
		ctx := SelectionContext(election, credential, contest, uint32(j))
		if ec.Proofs[j], err = proveRange(rnd, labelSelection, pk, ctx, 0, 1, ec.Selections[j], uint64(v), r); err != nil {
			return nil, err
		}
	}
	var err error
	ctx := TotalContext(election, credential, contest)
	ec.TotalProof, err = proveRange(rnd, labelContestTotal, pk, ctx, min, max, Sum(ec.Selections...), uint64(total), rsum)
	if err != nil {
		return nil, err
	}
	return ec, nil
}

// VerifyContest verifies every proof of an encrypted contest.
func VerifyContest(pk *PublicKey, election Fingerprint, credential *PublicKey, contest uint32, min, max uint64, ec *EncryptedContest) error {
	b := NewBatch()
	b.AddContest(pk, election, credential, contest, min, max, ec)
	return b.Verify()
}

// AddContest adds every proof of an encrypted contest to the batch: the
// selection proofs in option order, then the total proof. It returns the
// index of the first.
func (b *Batch) AddContest(pk *PublicKey, election Fingerprint, credential *PublicKey, contest uint32, min, max uint64, ec *EncryptedContest) int {
	first := b.Len()
	if len(ec.Selections) == 0 || len(ec.Selections) != len(ec.Proofs) || ec.TotalProof == nil {
		b.add(batchItem{err: fmt.Errorf("%w: contest has %d selections and %d proofs", ErrInvalidProof, len(ec.Selections), len(ec.Proofs))})
		return first
	}
	for j := range ec.Selections {
		b.AddSelection(pk, SelectionContext(election, credential, contest, uint32(j)), ec.Selections[j], ec.Proofs[j])
	}
	b.AddTotal(pk, TotalContext(election, credential, contest), min, max, Sum(ec.Selections...), ec.TotalProof)
	return first
}

// proveRange proves that ct = (r·G, m·G + r·Y) encrypts m ∈ [lo, hi]
// (spec §8.3). Every branch is computed with the same operations, and the
// true branch is chosen by constant-time selection, so the running time does
// not depend on m.
func proveRange(rnd io.Reader, label string, pk *PublicKey, ctx Context, lo, hi uint64, ct *Ciphertext, m uint64, r *ristretto255.Scalar) (*RangeProof, error) {
	n, err := rangeSize(lo, hi)
	if err != nil {
		return nil, err
	}
	if m < lo || m > hi {
		return nil, fmt.Errorf("%w: cannot prove %d is in [%d, %d]", ErrRange, m, lo, hi)
	}
	k := int32(m - lo)
	w, err := randomScalar(rnd)
	if err != nil {
		return nil, err
	}
	mScalar := scalarFromUint64(m)
	zero := new(ristretto255.Scalar)
	p := &RangeProof{branches: make([]rangeBranch, n)}
	real := make([]int, n)
	sim := make([]struct{ c, s *ristretto255.Scalar }, n)
	fields := make([][]byte, 0, 7+2*n)
	fields = append(fields, ctx.Election[:], ctx.Binding, u64(lo), u64(hi), pk.enc[:], ct.alpha.enc[:], ct.beta.enc[:])
	for j := range p.branches {
		br := &p.branches[j]
		real[j] = subtle.ConstantTimeEq(int32(j), k)
		if sim[j].s, err = randomScalar(rnd); err != nil {
			return nil, err
		}
		if sim[j].c, err = randomScalar(rnd); err != nil {
			return nil, err
		}
		// (u, v) = (w, 0) on the true branch, (s_j, −c_j) on the others;
		// A_j = (u + r·v)·G, B_j = (u + r·v)·Y + ((m − m_j)·v)·G.
		u := selectScalar(real[j], w, sim[j].s)
		v := selectScalar(real[j], zero, new(ristretto255.Scalar).Negate(sim[j].c))
		e := new(ristretto255.Scalar).Multiply(r, v)
		e.Add(e, u)
		br.a.set(scalarMultBase(e))
		d := new(ristretto255.Scalar).Subtract(mScalar, scalarFromUint64(lo+uint64(j)))
		d.Multiply(d, v)
		bj := keyMult(pk, e)
		bj.Add(bj, scalarMultBase(d))
		br.b.set(bj)
		fields = append(fields, br.a.enc[:], br.b.enc[:])
	}
	c := challenge(label, fields...)
	simSum := new(ristretto255.Scalar)
	for j := range p.branches {
		simSum.Add(simSum, selectScalar(real[j], zero, sim[j].c))
	}
	cReal := new(ristretto255.Scalar).Subtract(c, simSum)
	sReal := new(ristretto255.Scalar).Multiply(cReal, r)
	sReal.Add(sReal, w)
	for j := range p.branches {
		p.branches[j].c = *selectScalar(real[j], cReal, sim[j].c)
		p.branches[j].s = *selectScalar(real[j], sReal, sim[j].s)
	}
	return p, nil
}

// addRange adds a range proof to the batch (spec §8.2). The challenge sum is
// checked here; for each branch j the equations
//
//	A_j + c_j·α − s_j·G = O
//	B_j + c_j·β − c_j·m_j·G − s_j·Y = O
//
// are weighted by z₁, z₂ and the α, β, Y and G terms merged.
func (b *Batch) addRange(label string, pk *PublicKey, ctx Context, lo, hi uint64, ct *Ciphertext, p *RangeProof) int {
	var it batchItem
	if it.err = pk.check(); it.err != nil {
		return b.add(it)
	}
	n, err := rangeSize(lo, hi)
	if err != nil {
		it.err = fmt.Errorf("%w: %w", ErrInvalidProof, err)
		return b.add(it)
	}
	if len(p.branches) != n {
		it.err = fmt.Errorf("%w: range proof has %d branches, range [%d, %d] needs %d", ErrInvalidProof, len(p.branches), lo, hi, n)
		return b.add(it)
	}
	fields := make([][]byte, 0, 7+2*n)
	fields = append(fields, ctx.Election[:], ctx.Binding, u64(lo), u64(hi), pk.enc[:], ct.alpha.enc[:], ct.beta.enc[:])
	for j := range p.branches {
		fields = append(fields, p.branches[j].a.enc[:], p.branches[j].b.enc[:])
	}
	c := challenge(label, fields...)
	sum := new(ristretto255.Scalar)
	for j := range p.branches {
		sum.Add(sum, &p.branches[j].c)
	}
	if sum.Equal(c) != 1 {
		it.err = fmt.Errorf("%w: branch challenges do not add up to the challenge of the statement", ErrInvalidProof)
		return b.add(it)
	}
	alpha, beta, y := new(ristretto255.Scalar), new(ristretto255.Scalar), new(ristretto255.Scalar)
	t := new(ristretto255.Scalar)
	it.terms = make([]term, 0, 2*n+3)
	for j := range p.branches {
		br := &p.branches[j]
		z1, z2 := b.weight(), b.weight()
		it.addTerm(z1, br.a.elem(), false)
		it.addTerm(z2, br.b.elem(), false)
		alpha.Add(alpha, t.Multiply(z1, &br.c))
		beta.Add(beta, t.Multiply(z2, &br.c))
		y.Subtract(y, t.Multiply(z2, &br.s))
		it.addBase(t.Negate(t.Multiply(z1, &br.s)))
		t.Multiply(z2, &br.c)
		it.addBase(t.Negate(t.Multiply(t, scalarFromUint64(lo+uint64(j)))))
	}
	it.addTerm(alpha, ct.alpha.elem(), false)
	it.addTerm(beta, ct.beta.elem(), false)
	it.addTerm(y, pk.elem(), true)
	return b.add(it)
}

// NewRangeProof decodes a range proof: a positive multiple of 128 bytes, at
// most MaxRangeBranches branches (spec §8.1).
func NewRangeProof(b []byte) (*RangeProof, error) {
	p := new(RangeProof)
	if err := p.setBytes(b); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *RangeProof) setBytes(b []byte) error {
	if len(b) == 0 || len(b)%rangeBranchSize != 0 || len(b)/rangeBranchSize > MaxRangeBranches {
		return fmt.Errorf("range proof: %w: length %d is not 128·n bytes with 1 ≤ n ≤ %d", ErrEncoding, len(b), MaxRangeBranches)
	}
	branches := make([]rangeBranch, len(b)/rangeBranchSize)
	for j := range branches {
		x := b[j*rangeBranchSize:]
		br := &branches[j]
		if err := br.a.decode(x[:32], true); err != nil {
			return fmt.Errorf("range proof branch %d: %w", j, err)
		}
		if err := br.b.decode(x[32:64], true); err != nil {
			return fmt.Errorf("range proof branch %d: %w", j, err)
		}
		if err := decodeScalar(&br.c, x[64:96]); err != nil {
			return fmt.Errorf("range proof branch %d: %w", j, err)
		}
		if err := decodeScalar(&br.s, x[96:128]); err != nil {
			return fmt.Errorf("range proof branch %d: %w", j, err)
		}
	}
	p.branches = branches
	return nil
}

// Bytes returns the n branches enc(A_j) || enc(B_j) || enc(c_j) || enc(s_j).
func (p *RangeProof) Bytes() []byte {
	out := make([]byte, 0, len(p.branches)*rangeBranchSize)
	for j := range p.branches {
		br := &p.branches[j]
		out = append(append(out, br.a.enc[:]...), br.b.enc[:]...)
		out = append(append(out, br.c.Bytes()...), br.s.Bytes()...)
	}
	return out
}

// MarshalText returns the unpadded base64url form (spec §11).
func (p *RangeProof) MarshalText() ([]byte, error) { return marshalText(p.Bytes()), nil }

// UnmarshalText parses the unpadded base64url form strictly.
func (p *RangeProof) UnmarshalText(text []byte) error {
	if len(text) > textEncoding.EncodedLen(MaxRangeBranches*rangeBranchSize) {
		return fmt.Errorf("range proof: %w: text form too long", ErrEncoding)
	}
	b, err := unmarshalText(text, 0)
	if err != nil {
		return fmt.Errorf("range proof: %w", err)
	}
	return p.setBytes(b)
}
