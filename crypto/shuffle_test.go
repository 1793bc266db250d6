package crypto

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/gtank/ristretto255"
)

// shuffleFixture is an election key and a list of n ballots of width w
// whose plaintexts are known.
type shuffleFixture struct {
	sk     *SecretKey
	pk     *PublicKey
	ctx    Context
	inputs [][]*Ciphertext
	plain  [][]uint64
}

func newShuffleFixture(t testing.TB, rnd *mrand.ChaCha8, n, w int) *shuffleFixture {
	t.Helper()
	sk, err := GenerateKey(rnd)
	if err != nil {
		t.Fatal(err)
	}
	f := &shuffleFixture{sk: sk, pk: sk.PublicKey(), ctx: Context{Election: Fingerprint{7}, Binding: []byte("mix\x00\x00\x00\x01")}}
	for j := range n {
		var v []*Ciphertext
		var m []uint64
		for k := range w {
			x := uint64((j*w + k) % 7)
			ct, err := Encrypt(rnd, f.pk, x)
			if err != nil {
				t.Fatal(err)
			}
			v, m = append(v, ct), append(m, x)
		}
		f.inputs, f.plain = append(f.inputs, v), append(f.plain, m)
	}
	return f
}

// decryptAll returns the plaintext vectors of a list, sorted, so that two
// lists holding the same ballots in any order compare equal.
func (f *shuffleFixture) decryptAll(t *testing.T, list [][]*Ciphertext) [][]uint64 {
	t.Helper()
	var out [][]uint64
	for _, v := range list {
		var m []uint64
		for _, ct := range v {
			x, err := f.sk.Decrypt(ct, 100)
			if err != nil {
				t.Fatal(err)
			}
			m = append(m, x)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, slices.Compare)
	return out
}

func shuffleRand(seed byte) *mrand.ChaCha8 { return mrand.NewChaCha8([32]byte{seed, 's', 'h'}) }

func TestShuffleValid(t *testing.T) {
	for _, size := range [][2]int{{1, 1}, {2, 1}, {5, 3}, {17, 2}} {
		rnd := shuffleRand(1)
		f := newShuffleFixture(t, rnd, size[0], size[1])
		m, err := ShuffleAndProve(rnd, f.pk, f.ctx, f.inputs)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyShuffle(f.pk, f.ctx, f.inputs, m); err != nil {
			t.Fatalf("N=%d w=%d: %v", size[0], size[1], err)
		}
		b := m.Bytes()
		if len(b) != MixSize(size[0], size[1]) {
			t.Fatalf("mix of %d bytes, want %d", len(b), MixSize(size[0], size[1]))
		}
		m2, err := NewMix(b)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(m2.Bytes(), b) {
			t.Fatal("decoding and re-encoding changes the mix")
		}
		if err := VerifyShuffle(f.pk, f.ctx, f.inputs, m2); err != nil {
			t.Fatal(err)
		}
		want := f.decryptAll(t, f.inputs)
		if got := f.decryptAll(t, m.Outputs()); !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("outputs decrypt to %v, inputs to %v", got, want)
		}
		// A cascade: the next mix takes this one's output.
		m3, err := ShuffleAndProve(rnd, f.pk, f.ctx, m.Outputs())
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyShuffle(f.pk, f.ctx, m.Outputs(), m3); err != nil {
			t.Fatal(err)
		}
		if err := VerifyShuffle(f.pk, f.ctx, f.inputs, m3); err == nil && size[0] > 1 {
			t.Fatal("the second mix verifies against the first mix's input")
		}
	}
}

// TestShuffleOutputsAreFresh checks that no output ciphertext equals an
// input one (each is re-encrypted).
func TestShuffleOutputsAreFresh(t *testing.T) {
	rnd := shuffleRand(2)
	f := newShuffleFixture(t, rnd, 8, 2)
	outputs, sw, err := Shuffle(rnd, f.pk, f.inputs)
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Erase()
	for _, v := range outputs {
		for _, ct := range v {
			for _, u := range f.inputs {
				for _, in := range u {
					if slices.Equal(ct.Bytes(), in.Bytes()) {
						t.Fatal("an output ciphertext equals an input ciphertext")
					}
				}
			}
		}
	}
}

// TestShuffleContext: a mix verifies only for its own statement (spec §23.3).
func TestShuffleContext(t *testing.T) {
	rnd := shuffleRand(3)
	f := newShuffleFixture(t, rnd, 4, 2)
	m, err := ShuffleAndProve(rnd, f.pk, f.ctx, f.inputs)
	if err != nil {
		t.Fatal(err)
	}
	other := newShuffleFixture(t, rnd, 4, 2)
	changed := slices.Clone(f.inputs)
	changed[2] = slices.Clone(changed[2])
	changed[2][1] = other.inputs[0][0]
	cases := map[string]func() error{
		"another election": func() error {
			ctx := f.ctx
			ctx.Election[0] ^= 1
			return VerifyShuffle(f.pk, ctx, f.inputs, m)
		},
		"another binding (position in the cascade)": func() error {
			return VerifyShuffle(f.pk, Context{Election: f.ctx.Election, Binding: []byte("mix\x00\x00\x00\x02")}, f.inputs, m)
		},
		"another key":        func() error { return VerifyShuffle(other.pk, f.ctx, f.inputs, m) },
		"another input list": func() error { return VerifyShuffle(f.pk, f.ctx, changed, m) },
		"inputs reordered": func() error {
			r := slices.Clone(f.inputs)
			r[0], r[1] = r[1], r[0]
			return VerifyShuffle(f.pk, f.ctx, r, m)
		},
		"an input dropped": func() error { return VerifyShuffle(f.pk, f.ctx, f.inputs[:3], m) },
	}
	for name, verify := range cases {
		if err := verify(); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("%s: got %v, want an invalid proof", name, err)
		}
	}
}

// TestShuffleEveryBitFlipped: flipping any bit of a mix (its sizes, its
// outputs or its proof) makes it fail to decode or to verify.
func TestShuffleEveryBitFlipped(t *testing.T) {
	rnd := shuffleRand(4)
	f := newShuffleFixture(t, rnd, 3, 2)
	m, err := ShuffleAndProve(rnd, f.pk, f.ctx, f.inputs)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	bitsPerByte := 8
	if testing.Short() {
		bitsPerByte = 1
	}
	for i := range b {
		for bit := range bitsPerByte {
			c := slices.Clone(b)
			c[i] ^= 1 << ((bit + i) % 8)
			m2, err := NewMix(c)
			if err != nil {
				continue
			}
			if err := VerifyShuffle(f.pk, f.ctx, f.inputs, m2); err == nil {
				t.Fatalf("byte %d bit %d flipped: the mix still verifies", i, (bit+i)%8)
			}
		}
	}
}

// TestShuffleCheatingMixer: a mixer that does anything but a shuffle makes
// a proof that fails, even though it runs the prover with its real scalars.
func TestShuffleCheatingMixer(t *testing.T) {
	rnd := shuffleRand(5)
	f := newShuffleFixture(t, rnd, 6, 2)
	n, w := 6, 2
	key := shuffleKey(n)
	// prove runs the honest prover's algorithm on outputs made from
	// inputs[src[i]] re-encrypted, with perm its (claimed) inverse.
	prove := func(src []int, perm []int, tweak func(out []Ciphertext, s []ristretto255.Scalar)) *Mix {
		m := &Mix{n: n, w: w, out: make([]Ciphertext, n*w)}
		s := make([]ristretto255.Scalar, n*w)
		for i := range n {
			for k := range w {
				if err := reencrypt(rnd, newFixedBase(f.pk.elem()), f.inputs[src[i]][k], &m.out[i*w+k], &s[i*w+k]); err != nil {
					t.Fatal(err)
				}
			}
		}
		if tweak != nil {
			tweak(m.out, s)
		}
		if err := proveShuffle(rnd, f.pk, f.ctx, f.inputs, m, perm, s, key); err != nil {
			t.Fatal(err)
		}
		return m
	}
	ident := []int{0, 1, 2, 3, 4, 5}
	if err := VerifyShuffle(f.pk, f.ctx, f.inputs, prove(ident, ident, nil)); err != nil {
		t.Fatalf("the honest control fails: %v", err)
	}
	one, err := Encrypt(rnd, f.pk, 1)
	if err != nil {
		t.Fatal(err)
	}
	cheats := map[string]*Mix{
		// Ballot 1 dropped, ballot 0 duplicated in its place.
		"duplicate": prove([]int{0, 0, 2, 3, 4, 5}, ident, nil),
		"duplicate, claimed permutation with 1 missing": prove([]int{0, 0, 2, 3, 4, 5}, []int{0, 0, 2, 3, 4, 5}, nil),
		// One selection changed: + Enc(1).
		"changed vote": prove(ident, ident, func(out []Ciphertext, _ []ristretto255.Scalar) {
			out[3] = *Sum(&out[3], one)
		}),
		// Two components of one ballot swapped.
		"components swapped": prove(ident, ident, func(out []Ciphertext, s []ristretto255.Scalar) {
			out[4], out[5] = out[5], out[4]
			s[4], s[5] = s[5], s[4]
		}),
		// Re-encrypted under another key.
		"another key": prove(ident, ident, func(out []Ciphertext, s []ristretto255.Scalar) {
			other, _ := GenerateKey(rnd)
			_ = reencrypt(rnd, newFixedBase(other.PublicKey().elem()), f.inputs[2][0], &out[4], &s[4])
		}),
	}
	for name, m := range cheats {
		if err := VerifyShuffle(f.pk, f.ctx, f.inputs, m); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("%s: got %v, want an invalid proof", name, err)
		}
	}
	// Outputs swapped after proving.
	m, err := ShuffleAndProve(rnd, f.pk, f.ctx, f.inputs)
	if err != nil {
		t.Fatal(err)
	}
	m.out[0], m.out[w] = m.out[w], m.out[0]
	if err := VerifyShuffle(f.pk, f.ctx, f.inputs, m); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("outputs swapped: got %v", err)
	}
	// ProveShuffle refuses a witness that does not describe the outputs.
	outputs, sw, err := Shuffle(rnd, f.pk, f.inputs)
	if err != nil {
		t.Fatal(err)
	}
	outputs[0], outputs[1] = outputs[1], outputs[0]
	if _, err := ProveShuffle(rnd, f.pk, f.ctx, f.inputs, outputs, sw); !errors.Is(err, ErrShuffle) {
		t.Errorf("ProveShuffle with a wrong witness: got %v", err)
	}
	outputs[0], outputs[1] = outputs[1], outputs[0]
	m, err = ProveShuffle(rnd, f.pk, f.ctx, f.inputs, outputs, sw)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyShuffle(f.pk, f.ctx, f.inputs, m); err != nil {
		t.Fatal(err)
	}
}

// forgeWithTrapdoor makes a "proof" for outputs that are not a shuffle
// (ballot 0 replaced by the sum of ballots 0 and 1) under a commitment key
// whose discrete logarithms h_i the forger knows (H_i = h_i·G), as with
// Swiss Post's 2019 key (spec §23.7).
func forgeWithTrapdoor(t *testing.T, rnd *mrand.ChaCha8, f *shuffleFixture) (*Mix, []point) {
	n, w := len(f.inputs), len(f.inputs[0])
	rs := func(k int) []ristretto255.Scalar {
		s, err := randomScalars(rnd, k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	h := rs(n + 1)
	key := make([]point, n+1)
	for i := range key {
		key[i].set(scalarMultBase(&h[i]))
	}
	m := &Mix{n: n, w: w, out: make([]Ciphertext, n*w)}
	s := rs(n * w)
	for i := range n {
		for k := range w {
			src := f.inputs[i][k]
			if i == 0 {
				src = Sum(f.inputs[0][k], f.inputs[1][k])
			}
			zero := encryptWith(f.pk, new(ristretto255.Scalar), &s[i*w+k])
			m.out[i*w+k] = *Sum(src, zero)
		}
	}
	p := &m.proof
	rho := rs(n)
	p.u = make([]point, n)
	for j := range p.u {
		p.u[j].set(scalarMultBase(&rho[j]))
	}
	seed := shuffleSeed(f.pk, f.ctx, n, w, key, f.inputs, m.out, p.u)
	e := shuffleVector(seed, n)
	// Σ e'_i·C'_i = Σ e_j·C_j + Enc(0, Σ e'_i·s_i) with e'_0 = e_0, e'_1 = e_1 − e_0.
	ep := slices.Clone(e)
	ep[1].Subtract(&e[1], &e[0])
	x := append([]ristretto255.Scalar{h[0]}, rs(n)...) // log B_0 … log B_N
	y, eps, phi := rs(n), rs(n), rs(w)
	nz := rs(3) // α̃, γ̃, δ̃
	p.b, p.bp = make([]point, n), make([]point, n)
	for i := range n {
		p.b[i].set(scalarMultBase(&x[i+1]))
		p.bp[i].set(scalarMultBase(&y[i]))
	}
	p.ap.set(scalarMultBase(&nz[0]))
	p.cp.set(scalarMultBase(&nz[1]))
	p.dp.set(scalarMultBase(&nz[2]))
	p.fp = make([]Ciphertext, w)
	for k := range w {
		neg := new(ristretto255.Scalar).Negate(&phi[k])
		fp := encryptWith(f.pk, new(ristretto255.Scalar), neg)
		for i := range n {
			fa := new(ristretto255.Element).ScalarMult(&eps[i], m.out[i*w+k].alpha.elem())
			fb := new(ristretto255.Element).ScalarMult(&eps[i], m.out[i*w+k].beta.elem())
			fa.Add(fa, fp.alpha.elem())
			fb.Add(fb, fp.beta.elem())
			fp.alpha.set(fa)
			fp.beta.set(fb)
		}
		p.fp[k] = *fp
	}
	v := shuffleChallenge(seed, p)
	mul := func(a, b *ristretto255.Scalar) *ristretto255.Scalar { return new(ristretto255.Scalar).Multiply(a, b) }
	p.kE = make([]ristretto255.Scalar, n)
	p.kB = make([]ristretto255.Scalar, n)
	var a, c, sumE ristretto255.Scalar
	for i := range n {
		p.kE[i].Add(mul(v, &ep[i]), &eps[i])
		a.Add(&a, mul(&e[i], &rho[i]))
		c.Add(&c, &rho[i])
		c.Subtract(&c, &h[i+1])
		sumE.Add(&sumE, mul(&p.kE[i], &h[i+1]))
		// k_B,i = v·x_i + y_i − k_E,i·x_{i−1}
		p.kB[i].Add(mul(v, &x[i+1]), &y[i])
		p.kB[i].Subtract(&p.kB[i], mul(&p.kE[i], &x[i]))
	}
	p.kA.Add(mul(v, &a), &nz[0])
	p.kA.Subtract(&p.kA, &sumE)
	p.kC.Add(mul(v, &c), &nz[1])
	prodE := scalarFromUint64(1)
	for j := range e {
		prodE.Multiply(prodE, &e[j])
	}
	d := new(ristretto255.Scalar).Subtract(&x[n], mul(prodE, &h[0]))
	p.kD.Add(mul(v, d), &nz[2])
	p.kF = make([]ristretto255.Scalar, w)
	for k := range w {
		var fk ristretto255.Scalar
		for i := range n {
			fk.Add(&fk, mul(&ep[i], &s[i*w+k]))
		}
		p.kF[k].Add(mul(v, &fk), &phi[k])
	}
	return m, key
}

// TestShuffleTrapdoorKey: with a commitment key of known discrete
// logarithms, a forger's mix that changes a ballot verifies; with the
// derived key (the only one VerifyShuffle uses), it fails (spec §23.7).
func TestShuffleTrapdoorKey(t *testing.T) {
	rnd := shuffleRand(6)
	f := newShuffleFixture(t, rnd, 5, 2)
	m, key := forgeWithTrapdoor(t, rnd, f)
	if err := verifyShuffle(f.pk, f.ctx, f.inputs, m, key); err != nil {
		t.Fatalf("the forgery fails under its own trapdoored key (the test does not show the attack): %v", err)
	}
	if got, want := f.decryptAll(t, m.Outputs()), f.decryptAll(t, f.inputs); slices.EqualFunc(got, want, slices.Equal) {
		t.Fatal("the forgery's outputs are a shuffle: it shows nothing")
	}
	if err := VerifyShuffle(f.pk, f.ctx, f.inputs, m); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("the forgery under the derived key: got %v, want an invalid proof", err)
	}
}

// TestShuffleReusedRandomness: a mixer that re-encrypts every output with
// the same scalar makes a valid proof (correctness, not secrecy), and
// anyone can then link its outputs to its inputs (spec §23.8).
func TestShuffleReusedRandomness(t *testing.T) {
	rnd := shuffleRand(7)
	f := newShuffleFixture(t, rnd, 4, 1)
	perm := []int{2, 0, 3, 1}
	one := make([]byte, 32)
	one[0] = 5
	var outputs [][]*Ciphertext
	s := make([][][]byte, 4)
	for i := range s {
		s[i] = [][]byte{one}
	}
	outputs = make([][]*Ciphertext, 4)
	for j, i := range perm {
		zero, err := EncryptWithRandomness(f.pk, 0, one)
		if err != nil {
			t.Fatal(err)
		}
		outputs[i] = []*Ciphertext{Sum(f.inputs[j][0], zero)}
	}
	sw, err := NewShuffleWitness(perm, s)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ProveShuffle(rnd, f.pk, f.ctx, f.inputs, outputs, sw)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyShuffle(f.pk, f.ctx, f.inputs, m); err != nil {
		t.Fatal(err)
	}
	// The link: C'_{π(j)} − C_j is the same pair for every j.
	d := func(j int) []byte {
		var neg ristretto255.Element
		a := new(ristretto255.Element).Add(outputs[perm[j]][0].alpha.elem(), neg.Negate(f.inputs[j][0].alpha.elem()))
		return a.Bytes()
	}
	for j := 1; j < 4; j++ {
		if !slices.Equal(d(j), d(0)) {
			t.Fatal("reused randomness does not show")
		}
	}
}

func TestShuffleStatement(t *testing.T) {
	rnd := shuffleRand(8)
	f := newShuffleFixture(t, rnd, 3, 2)
	ragged := slices.Clone(f.inputs)
	ragged[1] = ragged[1][:1]
	var zeroKey PublicKey
	for name, err := range map[string]error{
		"no input":     func() error { _, err := ShuffleAndProve(rnd, f.pk, f.ctx, nil); return err }(),
		"ragged input": func() error { _, err := ShuffleAndProve(rnd, f.pk, f.ctx, ragged); return err }(),
		"identity key": func() error { _, err := ShuffleAndProve(rnd, &zeroKey, f.ctx, f.inputs); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := NewShuffleWitness([]int{0, 0}, [][][]byte{{make([]byte, 32)}, {make([]byte, 32)}}); !errors.Is(err, ErrShuffle) {
		t.Errorf("a witness that is not a permutation: %v", err)
	}
	m, err := ShuffleAndProve(rnd, f.pk, f.ctx, f.inputs)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	for name, c := range map[string][]byte{
		"truncated": b[:len(b)-1],
		"extended":  append(slices.Clone(b), 0),
		"empty":     nil,
		"N = 0":     append([]byte{0, 0, 0, 0}, b[4:]...),
	} {
		if _, err := NewMix(c); !errors.Is(err, ErrEncoding) {
			t.Errorf("%s: %v", name, err)
		}
	}
	c := slices.Clone(b)
	clear(c[8 : 8+32]) // first output's α
	if _, err := NewMix(c); !errors.Is(err, ErrIdentity) {
		t.Errorf("identity α: %v", err)
	}
}

// TestRandomPermutationUniform draws permutations of 4 and checks that
// each of the 24 appears about as often as it should.
func TestRandomPermutationUniform(t *testing.T) {
	rnd := shuffleRand(9)
	const draws = 24000
	counts := map[[4]int]int{}
	for range draws {
		p, err := randomPermutation(rnd, 4)
		if err != nil {
			t.Fatal(err)
		}
		counts[[4]int(p)]++
	}
	if len(counts) != 24 {
		t.Fatalf("%d permutations seen, want 24", len(counts))
	}
	// Expected 1000 each; σ ≈ 31. Six σ either way.
	for p, c := range counts {
		if c < 810 || c > 1190 {
			t.Errorf("permutation %v drawn %d times of %d", p, c, draws)
		}
	}
}

func TestShuffleWitnessErase(t *testing.T) {
	rnd := shuffleRand(10)
	f := newShuffleFixture(t, rnd, 3, 1)
	_, sw, err := Shuffle(rnd, f.pk, f.inputs)
	if err != nil {
		t.Fatal(err)
	}
	perm, s := sw.perm, sw.s
	sw.Erase()
	for i := range perm {
		if perm[i] != 0 || s[i].Equal(new(ristretto255.Scalar)) != 1 {
			t.Fatal("Erase left secrets")
		}
	}
}

// TestShuffleVectorForgery: the forgery of testdata/v0/shuffle.json, made
// by internal/vectors from the spec alone, verifies under the trapdoored
// key it was made with (so the vector shows a real attack), and not under
// the derived key.
func TestShuffleVectorForgery(t *testing.T) {
	data, err := os.ReadFile("../testdata/v0/shuffle.json")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []struct {
			Election, Binding, Mix hexBytes
			PublicKey              hexBytes `json:"public_key"`
			Width                  int
			Inputs, Trapdoor       []hexBytes
		}
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range file.Cases {
		if c.Trapdoor == nil {
			continue
		}
		seen++
		pk, err := NewPublicKey(c.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		var in [][]*Ciphertext
		for _, b := range c.Inputs {
			var v []*Ciphertext
			for k := range c.Width {
				ct, err := NewCiphertext(b[64*k : 64*k+64])
				if err != nil {
					t.Fatal(err)
				}
				v = append(v, ct)
			}
			in = append(in, v)
		}
		m, err := NewMix(c.Mix)
		if err != nil {
			t.Fatal(err)
		}
		key := make([]point, len(c.Trapdoor))
		for i, h := range c.Trapdoor {
			var s ristretto255.Scalar
			if err := decodeScalar(&s, h); err != nil {
				t.Fatal(err)
			}
			key[i].set(scalarMultBase(&s))
		}
		ctx := Context{Election: Fingerprint(c.Election), Binding: c.Binding}
		if err := verifyShuffle(pk, ctx, in, m, key); err != nil {
			t.Errorf("the vector's forgery fails under its trapdoored key: %v", err)
		}
		if err := VerifyShuffle(pk, ctx, in, m); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("the vector's forgery under the derived key: %v", err)
		}
	}
	if seen != 1 {
		t.Fatalf("%d forgeries in shuffle.json, want 1", seen)
	}
}

type hexBytes []byte

func (h *hexBytes) UnmarshalText(b []byte) error {
	out, err := hex.DecodeString(string(b))
	*h = out
	return err
}

// FuzzNewMix: a mix decoder is strict (spec §23.6): whatever it accepts
// re-encodes to the same bytes.
func FuzzNewMix(f *testing.F) {
	rnd := shuffleRand(11)
	fx := newShuffleFixture(f, rnd, 2, 1)
	m, err := ShuffleAndProve(rnd, fx.pk, fx.ctx, fx.inputs)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(m.Bytes())
	f.Add(m.Bytes()[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := NewMix(b)
		if err != nil {
			return
		}
		if !slices.Equal(m.Bytes(), b) {
			t.Fatal("a decoded mix re-encodes to other bytes")
		}
		_ = VerifyShuffle(fx.pk, fx.ctx, fx.inputs, m)
	})
}

// TestShuffleCascadeThenDecrypt: an election key from a 2-of-3 ceremony,
// ballots of width 3 mixed by the three trustees in turn (spec §24's
// bindings), a cheating second attempt caught, and the last mix decrypted
// ciphertext by ciphertext with threshold shares: the decrypted ballots are
// the cast ones, in another order.
func TestShuffleCascadeThenDecrypt(t *testing.T) {
	rnd := shuffleRand(12)
	c := newTestCeremony(t, rnd, 2, 3)
	out, shares, _ := c.run(t)
	pk := out.PublicKey
	const n, w = 12, 3
	var ballots [][]*Ciphertext
	var cast [][]uint64
	for j := range n {
		var v []*Ciphertext
		var m []uint64
		for k := range w {
			x := uint64((j + 2*k) % 4)
			ct, err := Encrypt(rnd, pk, x)
			if err != nil {
				t.Fatal(err)
			}
			v, m = append(v, ct), append(m, x)
		}
		ballots, cast = append(ballots, v), append(cast, m)
	}
	election := Fingerprint{0xe1}
	ctx := func(contest, m, j int) Context {
		return Context{Election: election, Binding: binding("mix", contest, m, j)}
	}
	list := ballots
	for j := 1; j <= 3; j++ {
		m, err := ShuffleAndProve(rnd, pk, ctx(0, j, j), list)
		if err != nil {
			t.Fatal(err)
		}
		if j == 2 {
			// A cheating mixer: its outputs 1 and 2 exchanged after proving.
			bad, _ := NewMix(m.Bytes())
			bad.out[0], bad.out[w] = bad.out[w], bad.out[0]
			if err := VerifyShuffle(pk, ctx(0, j, j), list, bad); !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("the cheating mix: %v", err)
			}
		}
		if err := VerifyShuffle(pk, ctx(0, j, j), list, m); err != nil {
			t.Fatalf("mix %d: %v", j, err)
		}
		if err := VerifyShuffle(pk, ctx(0, j, j+1), list, m); err == nil {
			t.Fatalf("mix %d verifies as another trustee's", j)
		}
		list = m.Outputs()
	}
	var flat []*Ciphertext
	for _, v := range list {
		flat = append(flat, v...)
	}
	msgs := c.shares(t, out, shares, flat)
	dec, err := out.Combine(c.roster, flat, [][]byte{msgs[0], msgs[2]}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]uint64
	for i := range n {
		got = append(got, dec.Results[i*w:(i+1)*w])
	}
	slices.SortFunc(got, slices.Compare)
	slices.SortFunc(cast, slices.Compare)
	if !slices.EqualFunc(got, cast, slices.Equal) {
		t.Fatalf("decrypted ballots %v, cast %v", got, cast)
	}
}
