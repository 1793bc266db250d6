package crypto

// spec: §23 verifiable shuffle (Terelius–Wikström proof of shuffle)
//
// Timing. Every operation on a secret scalar (the re-encryption scalars s,
// the commitment scalars r and b̂, the nonces, the permuted batching vector e')
// uses the group library's constant-time arithmetic: ScalarBaseMult,
// ScalarMult and MultiScalarMult, never the VarTime functions. What is not
// constant time is applying the secret permutation: reading e[π⁻¹(i)],
// choosing H_{π(j)} and reading the input a given output comes from index
// memory by secret positions, so their timing depends on the processor's
// cache. That leaks to an observer running code on the same machine (sharing
// its cache), not over a network; a mixer runs on a machine of its own
// (spec §23.8). The permutation's Fisher–Yates draws use Lemire's
// multiply-and-reject: the number of draws does not depend on the result. The
// verifier handles only public values and uses the faster variable-time
// multi-scalar multiplication (spec §10).

import (
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/bits"
	"strconv"

	"github.com/gtank/ristretto255"
)

// Bounds of a shuffle's statement (spec §23.2).
const (
	MaxShuffleWidth = 1024
	MaxShuffleSize  = 1 << 24
)

// Shuffle labels (spec §3, §23.3).
const (
	labelShuffleSeed   = "scrutin/v0/shuffle-seed"
	labelShuffleVector = "scrutin/v0/shuffle-vector"
	labelShuffle       = "scrutin/v0/shuffle"
)

// ShuffleProofSize returns the length of a proof of shuffle of n vectors of
// width w (spec §23.6).
func ShuffleProofSize(n, w int) int { return 160*n + 96*w + 192 }

// MixSize returns the length of a mix of n vectors of width w (spec §23.6).
// With a 32-bit int it overflows for large n·w; NewMix does not use it.
func MixSize(n, w int) int { return 8 + CiphertextSize*n*w + ShuffleProofSize(n, w) }

// ErrShuffle means a shuffle's statement is malformed: its sizes, or a key.
var ErrShuffle = errors.New("invalid shuffle statement")

// Mix is a shuffled list of ciphertext vectors with its proof of shuffle
// (spec §23.6).
type Mix struct {
	n, w  int
	out   []Ciphertext // n·w, output i component k at i·w+k
	proof shuffleProof
}

type shuffleProof struct {
	u, b, bp   []point // N each
	ap, cp, dp point
	fp         []Ciphertext // w pairs; α may be the identity
	kA, kC, kD ristretto255.Scalar
	kB, kE     []ristretto255.Scalar // N each
	kF         []ristretto255.Scalar // w
}

// Size returns N, the number of vectors.
func (m *Mix) Size() int { return m.n }

// Width returns w, the number of ciphertexts in each vector.
func (m *Mix) Width() int { return m.w }

// Outputs returns the output list: Outputs()[i][k] is component k of
// output i.
func (m *Mix) Outputs() [][]*Ciphertext {
	out := make([][]*Ciphertext, m.n)
	for i := range out {
		out[i] = make([]*Ciphertext, m.w)
		for k := range out[i] {
			ct := m.out[i*m.w+k]
			out[i][k] = &ct
		}
	}
	return out
}

// ShuffleWitness is what a mixer must keep secret and erase once its mix is
// published (spec §23.8): the permutation and the re-encryption scalars.
type ShuffleWitness struct {
	perm []int                 // perm[j] = π(j): the output position of input j
	s    []ristretto255.Scalar // s[i·w+k]: output i, component k
	w    int
}

// Erase overwrites the witness. Go may have copied parts of it elsewhere in
// memory (the garbage collector moves nothing, but earlier slices may be
// unreferenced copies); Erase does what a Go program can.
func (sw *ShuffleWitness) Erase() {
	for i := range sw.perm {
		sw.perm[i] = 0
	}
	for i := range sw.s {
		sw.s[i].Zero()
	}
	sw.perm, sw.s = nil, nil
}

// NewShuffleWitness returns the witness of a shuffle whose output
// perm[j] (from 0) is input j re-encrypted with the scalars s[perm[j]][k]
// (canonical encodings), for a mixer that draws its own randomness and for
// test vectors. Shuffle draws them itself.
func NewShuffleWitness(perm []int, s [][][]byte) (*ShuffleWitness, error) {
	n := len(perm)
	if n < 1 || len(s) != n || len(s[0]) < 1 {
		return nil, fmt.Errorf("%w: a witness needs 1 or more vectors of scalars, one per output", ErrShuffle)
	}
	w := len(s[0])
	seen := make([]bool, n)
	for _, i := range perm {
		if i < 0 || i >= n || seen[i] {
			return nil, fmt.Errorf("%w: the witness is not a permutation", ErrShuffle)
		}
		seen[i] = true
	}
	sw := &ShuffleWitness{perm: append([]int(nil), perm...), s: make([]ristretto255.Scalar, n*w), w: w}
	for i := range s {
		if len(s[i]) != w {
			return nil, fmt.Errorf("%w: output %d has %d scalars, not %d", ErrShuffle, i+1, len(s[i]), w)
		}
		for k := range s[i] {
			if err := decodeScalar(&sw.s[i*w+k], s[i][k]); err != nil {
				return nil, err
			}
		}
	}
	return sw, nil
}

// checkShuffleInputs checks the statement's sizes and the key, and returns
// N and w.
func checkShuffleInputs(pk *PublicKey, inputs [][]*Ciphertext) (int, int, error) {
	if err := pk.check(); err != nil {
		return 0, 0, err
	}
	n := len(inputs)
	if n < 1 || n > MaxShuffleSize {
		return 0, 0, fmt.Errorf("%w: a shuffle has 1 to %d vectors, not %d", ErrShuffle, MaxShuffleSize, n)
	}
	w := len(inputs[0])
	if w < 1 || w > MaxShuffleWidth {
		return 0, 0, fmt.Errorf("%w: a shuffle's vectors have 1 to %d ciphertexts, not %d", ErrShuffle, MaxShuffleWidth, w)
	}
	for j, v := range inputs {
		if len(v) != w {
			return 0, 0, fmt.Errorf("%w: vector %d has %d ciphertexts, vector 1 has %d", ErrShuffle, j+1, len(v), w)
		}
		for k, ct := range v {
			if ct == nil || isIdentity(ct.alpha.elem()) {
				return 0, 0, fmt.Errorf("%w: ciphertext %d of vector %d: %w", ErrShuffle, k+1, j+1, ErrIdentity)
			}
		}
	}
	return n, w, nil
}

// Shuffle re-encrypts the input vectors under pk and puts them in a
// uniformly random order (spec §23.2, §23.4). It returns the output list and
// the witness ProveShuffle needs; the caller erases the witness after
// proving.
func Shuffle(rnd io.Reader, pk *PublicKey, inputs [][]*Ciphertext) ([][]*Ciphertext, *ShuffleWitness, error) {
	n, w, err := checkShuffleInputs(pk, inputs)
	if err != nil {
		return nil, nil, err
	}
	rnd = randOrDefault(rnd)
	perm, err := randomPermutation(rnd, n)
	if err != nil {
		return nil, nil, err
	}
	sw := &ShuffleWitness{perm: perm, s: make([]ristretto255.Scalar, n*w), w: w}
	out := make([]Ciphertext, n*w)
	y := newFixedBase(pk.elem())
	// Secret-indexed writes: out at π(j) (see the file comment).
	for j := range n {
		i := perm[j]
		for k := range w {
			if err := reencrypt(rnd, y, inputs[j][k], &out[i*w+k], &sw.s[i*w+k]); err != nil {
				return nil, nil, err
			}
		}
	}
	outputs := make([][]*Ciphertext, n)
	for i := range outputs {
		outputs[i] = make([]*Ciphertext, w)
		for k := range w {
			outputs[i][k] = &out[i*w+k]
		}
	}
	return outputs, sw, nil
}

// reencrypt sets dst to ct + (s·G, s·Y) with a fresh s, drawn again in the
// (negligible) case where α' would be the identity. y is Y's table.
func reencrypt(rnd io.Reader, y *fixedBase, ct *Ciphertext, dst *Ciphertext, s *ristretto255.Scalar) error {
	for {
		r, err := randomScalar(rnd)
		if err != nil {
			return err
		}
		a := scalarMultBase(r)
		a.Add(a, ct.alpha.elem())
		if isIdentity(a) {
			continue
		}
		b := y.mult(r)
		b.Add(b, ct.beta.elem())
		dst.alpha.set(a)
		dst.beta.set(b)
		s.Set(r)
		return nil
	}
}

// randomPermutation returns a uniformly random permutation of 0 … n−1, by
// Fisher–Yates with Lemire's unbiased bounded draws (spec §23.4).
func randomPermutation(rnd io.Reader, n int) ([]int, error) {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var buf [8]byte
	for i := n - 1; i > 0; i-- {
		bound := uint64(i + 1)
		threshold := -bound % bound // 2^64 mod bound: public
		var j uint64
		for {
			if _, err := io.ReadFull(rnd, buf[:]); err != nil {
				return nil, fmt.Errorf("failed to read randomness: %w", err)
			}
			hi, lo := bits.Mul64(binary.LittleEndian.Uint64(buf[:]), bound)
			if lo >= threshold {
				j = hi
				break
			}
		}
		p[i], p[j] = p[j], p[i] // secret-indexed (see the file comment)
	}
	return p, nil
}

// shuffleKey derives the commitment key H_0 … H_n from the labels
// "shuffle/0" … "shuffle/n" (spec §23.2).
func shuffleKey(n int) []point {
	key := make([]point, n+1)
	for i := range key {
		key[i] = Generator("shuffle/" + strconv.Itoa(i)).point
	}
	return key
}

// ShuffleGenerator returns H_i of the commitment key (spec §23.2), for test
// vectors.
func ShuffleGenerator(i int) *Element { return Generator("shuffle/" + strconv.Itoa(i)) }

// fieldHasher is TupleHash (spec §3) fed field by field, so that long lists
// are hashed without being concatenated in memory first.
type fieldHasher struct{ h hash.Hash }

func newFieldHasher(label string) *fieldHasher {
	f := &fieldHasher{h: sha512.New()}
	f.field([]byte(label))
	return f
}

func (f *fieldHasher) field(b []byte) {
	f.h.Write(u64(uint64(len(b))))
	f.h.Write(b)
}

// begin starts a field of n bytes, to be written with write.
func (f *fieldHasher) begin(n int)    { f.h.Write(u64(uint64(n))) }
func (f *fieldHasher) write(b []byte) { f.h.Write(b) }

func (f *fieldHasher) points(ps []point) {
	f.begin(len(ps) * ElementSize)
	for i := range ps {
		f.write(ps[i].enc[:])
	}
}

func (f *fieldHasher) ciphertexts(cts []Ciphertext) {
	f.begin(len(cts) * CiphertextSize)
	for i := range cts {
		f.write(cts[i].alpha.enc[:])
		f.write(cts[i].beta.enc[:])
	}
}

func (f *fieldHasher) sum() [64]byte {
	var out [64]byte
	f.h.Sum(out[:0])
	return out
}

// shuffleSeed computes the seed of spec §23.3 step 1.
func shuffleSeed(pk *PublicKey, ctx Context, n, w int, key []point, inputs [][]*Ciphertext, out []Ciphertext, u []point) [64]byte {
	f := newFieldHasher(labelShuffleSeed)
	f.field(ctx.Election[:])
	f.field(ctx.Binding)
	f.field(pk.enc[:])
	f.field(u32(uint32(n)))
	f.field(u32(uint32(w)))
	f.points(key)
	f.begin(n * w * CiphertextSize)
	for _, v := range inputs {
		for _, ct := range v {
			f.write(ct.alpha.enc[:])
			f.write(ct.beta.enc[:])
		}
	}
	f.ciphertexts(out)
	f.points(u)
	return f.sum()
}

// shuffleVector derives the batching vector e_1 … e_n (spec §23.3 step 2).
func shuffleVector(seed [64]byte, n int) []ristretto255.Scalar {
	e := make([]ristretto255.Scalar, n)
	for j := range e {
		e[j].Set(challenge(labelShuffleVector, seed[:], u32(uint32(j+1))))
	}
	return e
}

// shuffleChallenge computes v (spec §23.3 step 3).
func shuffleChallenge(seed [64]byte, p *shuffleProof) *ristretto255.Scalar {
	f := newFieldHasher(labelShuffle)
	f.field(seed[:])
	f.points(p.b)
	f.field(p.ap.enc[:])
	f.field(p.cp.enc[:])
	f.field(p.dp.enc[:])
	f.points(p.bp)
	f.ciphertexts(p.fp)
	return scalarFromHash(f.sum())
}

// randomScalars draws n independent uniform scalars.
func randomScalars(rnd io.Reader, n int) ([]ristretto255.Scalar, error) {
	rnd = randOrDefault(rnd)
	out := make([]ristretto255.Scalar, n)
	buf := make([]byte, 64*min(n, 256))
	for i := 0; i < n; {
		k := min(n-i, 256)
		if _, err := io.ReadFull(rnd, buf[:64*k]); err != nil {
			return nil, fmt.Errorf("failed to read randomness: %w", err)
		}
		for m := range k {
			if _, err := out[i+m].SetUniformBytes(buf[64*m : 64*m+64]); err != nil {
				panic("crypto: internal error: " + err.Error())
			}
		}
		i += k
	}
	clear(buf)
	return out, nil
}

// msmChunkCT bounds the points of one constant-time multi-scalar
// multiplication, whose tables take about 1 KB per point.
const msmChunkCT = 256

// multiScalarMultCT returns Σ s_i·P_i in constant time (secret scalars).
func multiScalarMultCT(s []*ristretto255.Scalar, p []*ristretto255.Element) *ristretto255.Element {
	sum := ristretto255.NewIdentityElement()
	var part ristretto255.Element
	for len(p) > 0 {
		k := min(len(p), msmChunkCT)
		sum.Add(sum, part.MultiScalarMult(s[:k], p[:k]))
		s, p = s[k:], p[k:]
	}
	return sum
}

// ProveShuffle proves that outputs is the shuffle of inputs the witness
// describes (spec §23.4), and returns the mix. It checks that the witness
// does describe outputs, so that a mixer never publishes a proof that fails.
func ProveShuffle(rnd io.Reader, pk *PublicKey, ctx Context, inputs, outputs [][]*Ciphertext, sw *ShuffleWitness) (*Mix, error) {
	n, w, err := checkShuffleInputs(pk, inputs)
	if err != nil {
		return nil, err
	}
	if len(outputs) != n || len(sw.perm) != n || sw.w != w || len(sw.s) != n*w {
		return nil, fmt.Errorf("%w: the outputs or the witness do not have the inputs' sizes", ErrShuffle)
	}
	m := &Mix{n: n, w: w, out: make([]Ciphertext, n*w)}
	for i, v := range outputs {
		if len(v) != w {
			return nil, fmt.Errorf("%w: output %d has %d ciphertexts, not %d", ErrShuffle, i+1, len(v), w)
		}
		for k, ct := range v {
			if ct == nil || isIdentity(ct.alpha.elem()) {
				return nil, fmt.Errorf("%w: ciphertext %d of output %d: %w", ErrShuffle, k+1, i+1, ErrIdentity)
			}
			m.out[i*w+k] = *ct
		}
	}
	if err := checkWitness(pk, inputs, m, sw); err != nil {
		return nil, err
	}
	if err := proveShuffle(randOrDefault(rnd), pk, ctx, inputs, m, sw.perm, sw.s, shuffleKey(n)); err != nil {
		return nil, err
	}
	return m, nil
}

// checkWitness checks that perm is a permutation and that every output is
// its input re-encrypted with the witness's scalar.
func checkWitness(pk *PublicKey, inputs [][]*Ciphertext, m *Mix, sw *ShuffleWitness) error {
	seen := make([]bool, m.n)
	for _, i := range sw.perm {
		if i < 0 || i >= m.n || seen[i] {
			return fmt.Errorf("%w: the witness is not a permutation", ErrShuffle)
		}
		seen[i] = true
	}
	for j, i := range sw.perm {
		for k := range m.w {
			var want Ciphertext
			s := &sw.s[i*m.w+k]
			a := scalarMultBase(s)
			a.Add(a, inputs[j][k].alpha.elem())
			b := new(ristretto255.Element).ScalarMult(s, pk.elem())
			b.Add(b, inputs[j][k].beta.elem())
			want.alpha.set(a)
			want.beta.set(b)
			if want.alpha.enc != m.out[i*m.w+k].alpha.enc || want.beta.enc != m.out[i*m.w+k].beta.enc {
				return fmt.Errorf("%w: output %d is not input %d re-encrypted with the witness", ErrShuffle, i+1, j+1)
			}
		}
	}
	return nil
}

// proveShuffle fills m.proof (spec §23.4) for the outputs in m.out, with
// perm[j] the output position of input j, s the re-encryption scalars and
// key the commitment key H_0 … H_N. It does not check the witness: tests
// use it to make the proofs of cheating mixers.
func proveShuffle(rnd io.Reader, pk *PublicKey, ctx Context, inputs [][]*Ciphertext, m *Mix, perm []int, s []ristretto255.Scalar, key []point) error {
	n, w := m.n, m.w
	p := &m.proof
	secrets := func(k int) ([]ristretto255.Scalar, error) { return randomScalars(rnd, k) }

	// 1. Permutation commitment u_j = r_j·G + H_{π(j)}.
	r, err := secrets(n)
	if err != nil {
		return err
	}
	p.u = make([]point, n)
	for j := range n {
		uj := scalarMultBase(&r[j])
		uj.Add(uj, key[1+perm[j]].elem()) // secret-indexed
		p.u[j].set(uj)
	}

	// 2. Seed and batching vector; e'_i = e_{π⁻¹(i)}.
	seed := shuffleSeed(pk, ctx, n, w, key, inputs, m.out, p.u)
	e := shuffleVector(seed, n)
	ep := make([]ristretto255.Scalar, n)
	for j := range n {
		ep[perm[j]] = e[j] // secret-indexed
	}

	// 3.–4. The chain B_i = b̂_i·G + P_i·H_0 and B'_i, computed without the
	// sequential dependency (spec §23.4), and the other commitments.
	nonces, err := secrets(2*n + n + 3 + w) // b̂, β̂, ε, α̃, γ̃, δ̃, φ
	if err != nil {
		return err
	}
	bh, betah, eps := nonces[:n], nonces[n:2*n], nonces[2*n:3*n]
	alpha, gamma, delta, phi := &nonces[3*n], &nonces[3*n+1], &nonces[3*n+2], nonces[3*n+3:]
	// Each B_i and B'_i is a·G + b·H_0: two fixed-base multiplications.
	h0 := newFixedBase(key[0].elem())
	gh0 := func(a, b *ristretto255.Scalar) *ristretto255.Element {
		e := h0.mult(b)
		return e.Add(e, scalarMultBase(a))
	}
	p.b = make([]point, n)
	p.bp = make([]point, n)
	bs := make([]ristretto255.Scalar, n)    // b_i = b̂_i − e'_i·b̂_{i−1}
	betas := make([]ristretto255.Scalar, n) // β̃_i = β̂_i − ε_i·b̂_{i−1}
	prod := ristretto255.NewScalar()        // P_{i−1}
	prod.Set(scalarFromUint64(1))           // P_0 = 1
	prev := ristretto255.NewScalar()        // b̂_{i−1}, b̂_0 = 0
	t := new(ristretto255.Scalar)
	for i := range n {
		// B'_i = (β̂_i)·G + (ε_i·P_{i−1})·H_0
		t.Multiply(&eps[i], prod)
		p.bp[i].set(gh0(&betah[i], t))
		betas[i].Multiply(&eps[i], prev)
		betas[i].Subtract(&betah[i], &betas[i])
		// B_i = b̂_i·G + P_i·H_0
		prod.Multiply(prod, &ep[i])
		p.b[i].set(gh0(&bh[i], prod))
		bs[i].Multiply(&ep[i], prev)
		bs[i].Subtract(&bh[i], &bs[i])
		prev.Set(&bh[i])
	}
	// A' = α̃·G + Σ ε_i·H_i
	sc := make([]*ristretto255.Scalar, 0, n+1)
	pts := make([]*ristretto255.Element, 0, n+1)
	for i := range n {
		sc = append(sc, &eps[i])
		pts = append(pts, key[1+i].elem())
	}
	ap := multiScalarMultCT(sc, pts)
	ap.Add(ap, scalarMultBase(alpha))
	p.ap.set(ap)
	p.cp.set(scalarMultBase(gamma))
	p.dp.set(scalarMultBase(delta))
	// F'_k = (−φ_k·G, −φ_k·Y) + Σ_i ε_i·C'_{i,k}
	p.fp = make([]Ciphertext, w)
	for k := range w {
		negPhi := new(ristretto255.Scalar).Negate(&phi[k])
		pts = pts[:0]
		for i := range n {
			pts = append(pts, m.out[i*w+k].alpha.elem())
		}
		fa := multiScalarMultCT(sc, pts)
		fa.Add(fa, scalarMultBase(negPhi))
		pts = pts[:0]
		for i := range n {
			pts = append(pts, m.out[i*w+k].beta.elem())
		}
		fb := multiScalarMultCT(sc, pts)
		fb.Add(fb, new(ristretto255.Element).ScalarMult(negPhi, pk.elem()))
		p.fp[k].alpha.set(fa)
		p.fp[k].beta.set(fb)
	}

	// 5. Challenge.
	v := shuffleChallenge(seed, p)

	// 6. Responses.
	var abar, cbar ristretto255.Scalar
	for j := range n {
		abar.Add(&abar, t.Multiply(&r[j], &e[j]))
		cbar.Add(&cbar, &r[j])
	}
	p.kA.Multiply(v, &abar)
	p.kA.Add(&p.kA, alpha)
	p.kC.Multiply(v, &cbar)
	p.kC.Add(&p.kC, gamma)
	p.kD.Multiply(v, prev) // d̄ = b̂_N
	p.kD.Add(&p.kD, delta)
	p.kB = make([]ristretto255.Scalar, n)
	p.kE = make([]ristretto255.Scalar, n)
	for i := range n {
		p.kB[i].Multiply(v, &bs[i])
		p.kB[i].Add(&p.kB[i], &betas[i])
		p.kE[i].Multiply(v, &ep[i])
		p.kE[i].Add(&p.kE[i], &eps[i])
	}
	p.kF = make([]ristretto255.Scalar, w)
	for k := range w {
		var f ristretto255.Scalar
		for i := range n {
			f.Add(&f, t.Multiply(&ep[i], &s[i*w+k]))
		}
		p.kF[k].Multiply(v, &f)
		p.kF[k].Add(&p.kF[k], &phi[k])
	}

	// Erase the secrets this function drew (spec §23.8).
	for _, xs := range [][]ristretto255.Scalar{r, nonces, ep, bs, betas} {
		for i := range xs {
			xs[i].Zero()
		}
	}
	prod.Zero()
	prev.Zero()
	t.Zero()
	abar.Zero()
	cbar.Zero()
	return nil
}

// ShuffleAndProve shuffles the inputs, proves the shuffle and erases the
// witness: what a mixer runs (spec §23.4).
func ShuffleAndProve(rnd io.Reader, pk *PublicKey, ctx Context, inputs [][]*Ciphertext) (*Mix, error) {
	outputs, sw, err := Shuffle(rnd, pk, inputs)
	if err != nil {
		return nil, err
	}
	defer sw.Erase()
	n, w := len(inputs), len(inputs[0])
	m := &Mix{n: n, w: w, out: make([]Ciphertext, n*w)}
	for i, v := range outputs {
		for k, ct := range v {
			m.out[i*w+k] = *ct
		}
	}
	if err := proveShuffle(randOrDefault(rnd), pk, ctx, inputs, m, sw.perm, sw.s, shuffleKey(n)); err != nil {
		return nil, err
	}
	return m, nil
}

// VerifyShuffle verifies that mix is a shuffle of inputs under pk in the
// given context (spec §23.5). The caller computes inputs and ctx itself,
// never from the mixer. It returns nil, or an error wrapping ErrShuffle (a
// malformed statement) or ErrInvalidProof (a mix of other sizes, or a proof
// that fails).
func VerifyShuffle(pk *PublicKey, ctx Context, inputs [][]*Ciphertext, mix *Mix) error {
	n, _, err := checkShuffleInputs(pk, inputs)
	if err != nil {
		return err
	}
	return verifyShuffle(pk, ctx, inputs, mix, shuffleKey(n))
}

func verifyShuffle(pk *PublicKey, ctx Context, inputs [][]*Ciphertext, m *Mix, key []point) error {
	n, w, err := checkShuffleInputs(pk, inputs)
	if err != nil {
		return err
	}
	if m.n != n || m.w != w {
		return fmt.Errorf("%w: a mix of %d vectors of width %d for an input of %d of width %d", ErrInvalidProof, m.n, m.w, n, w)
	}
	p := &m.proof
	if len(m.out) != n*w || len(p.u) != n || len(p.b) != n || len(p.bp) != n || len(p.fp) != w ||
		len(p.kB) != n || len(p.kE) != n || len(p.kF) != w || len(key) != n+1 {
		return fmt.Errorf("%w: a mix of the wrong sizes", ErrInvalidProof)
	}
	for i := range m.out {
		if isIdentity(m.out[i].alpha.elem()) {
			return fmt.Errorf("output %d: %w", i/w+1, ErrIdentity)
		}
	}
	seed := shuffleSeed(pk, ctx, n, w, key, inputs, m.out, p.u)
	e := shuffleVector(seed, n)
	v := shuffleChallenge(seed, p)

	// One weighted equation (spec §23.5), as a batch of one item (spec §10).
	b := NewBatch()
	var it batchItem
	it.terms = make([]term, 0, 4*n+4*n*w+2*w+8)
	mul := func(x, y *ristretto255.Scalar) *ristretto255.Scalar { return new(ristretto255.Scalar).Multiply(x, y) }
	neg := func(x *ristretto255.Scalar) *ristretto255.Scalar { return new(ristretto255.Scalar).Negate(x) }
	zA, zC, zD := b.weight(), b.weight(), b.weight()
	zB := make([]*ristretto255.Scalar, n)
	for i := range zB {
		zB[i] = b.weight()
	}
	var prodE ristretto255.Scalar
	prodE.Set(scalarFromUint64(1))
	for j := range n {
		prodE.Multiply(&prodE, &e[j])
	}
	// u_j: v·(z_A·e_j + z_C)
	for j := range n {
		s := mul(zA, &e[j])
		s.Add(s, zC)
		it.addTerm(s.Multiply(s, v), p.u[j].elem(), false)
	}
	// H_i, i ≥ 1: −z_A·k_E,i − z_C·v
	zCv := mul(zC, v)
	for i := range n {
		s := mul(zA, &p.kE[i])
		s.Add(s, zCv)
		it.addTerm(neg(s), key[1+i].elem(), false)
	}
	// H_0 (= B_0): −z_1·k_E,1 − z_D·v·Πe
	s := mul(zB[0], &p.kE[0])
	s.Add(s, mul(mul(zD, v), &prodE))
	it.addTerm(neg(s), key[0].elem(), false)
	// B_i: z_i·v − z_{i+1}·k_E,i+1; B_N also + z_D·v
	for i := range n {
		s := mul(zB[i], v)
		if i+1 < n {
			s.Subtract(s, mul(zB[i+1], &p.kE[i+1]))
		} else {
			s.Add(s, mul(zD, v))
		}
		it.addTerm(s, p.b[i].elem(), false)
	}
	// B'_i: z_i; G: −Σ z_i·k_B,i
	g := new(ristretto255.Scalar)
	for i := range n {
		it.addTerm(zB[i], p.bp[i].elem(), false)
		g.Subtract(g, mul(zB[i], &p.kB[i]))
	}
	// A', C', D'
	it.addTerm(zA, p.ap.elem(), false)
	it.addTerm(zC, p.cp.elem(), false)
	it.addTerm(zD, p.dp.elem(), false)
	g.Subtract(g, mul(zA, &p.kA))
	g.Subtract(g, mul(zC, &p.kC))
	g.Subtract(g, mul(zD, &p.kD))
	// F_k: inputs ·z·v·e_j, F'_k ·z, outputs ·−z·k_E,i, G and Y ·z·k_F,k
	y := new(ristretto255.Scalar)
	for k := range w {
		za, zb := b.weight(), b.weight()
		zav, zbv := mul(za, v), mul(zb, v)
		for j := range n {
			it.addTerm(mul(zav, &e[j]), inputs[j][k].alpha.elem(), false)
			it.addTerm(mul(zbv, &e[j]), inputs[j][k].beta.elem(), false)
		}
		it.addTerm(za, p.fp[k].alpha.elem(), false)
		it.addTerm(zb, p.fp[k].beta.elem(), false)
		for i := range n {
			it.addTerm(neg(mul(za, &p.kE[i])), m.out[i*w+k].alpha.elem(), false)
			it.addTerm(neg(mul(zb, &p.kE[i])), m.out[i*w+k].beta.elem(), false)
		}
		g.Add(g, mul(za, &p.kF[k]))
		y.Add(y, mul(zb, &p.kF[k]))
	}
	it.addTerm(y, pk.elem(), false)
	it.addBase(g)
	b.add(it)
	if err := b.Verify(); err != nil {
		return fmt.Errorf("proof of shuffle: %w", errEquation)
	}
	return nil
}

// Bytes returns the mix's canonical encoding (spec §23.6).
func (m *Mix) Bytes() []byte {
	out := make([]byte, 0, MixSize(m.n, m.w))
	out = binary.BigEndian.AppendUint32(out, uint32(m.n))
	out = binary.BigEndian.AppendUint32(out, uint32(m.w))
	for i := range m.out {
		out = append(append(out, m.out[i].alpha.enc[:]...), m.out[i].beta.enc[:]...)
	}
	p := &m.proof
	for _, ps := range [][]point{p.u, p.b} {
		for i := range ps {
			out = append(out, ps[i].enc[:]...)
		}
	}
	out = append(append(append(out, p.ap.enc[:]...), p.cp.enc[:]...), p.dp.enc[:]...)
	for i := range p.bp {
		out = append(out, p.bp[i].enc[:]...)
	}
	for i := range p.fp {
		out = append(append(out, p.fp[i].alpha.enc[:]...), p.fp[i].beta.enc[:]...)
	}
	out = append(append(append(out, p.kA.Bytes()...), p.kC.Bytes()...), p.kD.Bytes()...)
	for _, ss := range [][]ristretto255.Scalar{p.kB, p.kE, p.kF} {
		for i := range ss {
			out = append(out, ss[i].Bytes()...)
		}
	}
	return out
}

// NewMix decodes a mix (spec §23.6): exactly its length, every element and
// scalar canonical, every output α non-identity. Whether its N and w are
// those of the input list is checked by [VerifyShuffle].
func NewMix(b []byte) (*Mix, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("mix: %w: %d bytes", ErrEncoding, len(b))
	}
	n := int(binary.BigEndian.Uint32(b[0:4]))
	w := int(binary.BigEndian.Uint32(b[4:8]))
	if n < 1 || n > MaxShuffleSize || w < 1 || w > MaxShuffleWidth {
		return nil, fmt.Errorf("mix: %w: %d vectors of width %d", ErrEncoding, n, w)
	}
	// In 64 bits: with a 32-bit int, MixSize can wrap around (to 8 for
	// N = 141,206 and w = 948) and let a tiny input claim a huge mix.
	un, uw := uint64(n), uint64(w)
	want := 8 + CiphertextSize*un*uw + 160*un + 96*uw + 192
	if uint64(len(b)) != want {
		return nil, fmt.Errorf("mix: %w: %d bytes, a mix of %d vectors of width %d has %d", ErrEncoding, len(b), n, w, want)
	}
	rd := &reader{b: b[8:]}
	m := &Mix{n: n, w: w, out: make([]Ciphertext, n*w)}
	for i := range m.out {
		rd.point(&m.out[i].alpha, false)
		rd.point(&m.out[i].beta, true)
	}
	p := &m.proof
	p.u, p.b, p.bp = make([]point, n), make([]point, n), make([]point, n)
	for i := range p.u {
		rd.point(&p.u[i], true)
	}
	for i := range p.b {
		rd.point(&p.b[i], true)
	}
	rd.point(&p.ap, true)
	rd.point(&p.cp, true)
	rd.point(&p.dp, true)
	for i := range p.bp {
		rd.point(&p.bp[i], true)
	}
	p.fp = make([]Ciphertext, w)
	for i := range p.fp {
		rd.point(&p.fp[i].alpha, true)
		rd.point(&p.fp[i].beta, true)
	}
	rd.scalar(&p.kA)
	rd.scalar(&p.kC)
	rd.scalar(&p.kD)
	p.kB, p.kE, p.kF = make([]ristretto255.Scalar, n), make([]ristretto255.Scalar, n), make([]ristretto255.Scalar, w)
	for _, ss := range [][]ristretto255.Scalar{p.kB, p.kE, p.kF} {
		for i := range ss {
			rd.scalar(&ss[i])
		}
	}
	if err := rd.done(); err != nil {
		return nil, fmt.Errorf("mix: %w", err)
	}
	return m, nil
}
