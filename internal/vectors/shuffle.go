package vectors

// shuffle.json (spec §23.9). The checker recomputes the seed and the
// challenge from the spec's layout (§23.3), and the trapdoor forgery is made
// here from the spec's equations, with the group library alone: neither uses
// crypto's shuffle code.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strconv"

	"github.com/gtank/ristretto255"

	"github.com/scrutin/scrutin/crypto"
)

// ShuffleFile is shuffle.json.
type ShuffleFile struct {
	Spec  string        `json:"spec"`
	Cases []ShuffleCase `json:"cases"`
}

type ShuffleCase struct {
	Comment   string `json:"comment"`
	Valid     bool   `json:"valid"`
	Error     string `json:"error,omitempty"`
	Election  Hex    `json:"election"`
	Binding   Hex    `json:"binding"`
	PublicKey Hex    `json:"public_key"`
	Width     int    `json:"width"`
	Inputs    []Hex  `json:"inputs"`
	Mix       Hex    `json:"mix"`
	Seed      Hex    `json:"seed,omitempty"`
	Challenge Hex    `json:"challenge,omitempty"`
	// Trapdoor, for the forgery only: the logarithms h_0 … h_N of the key
	// it was made with, under which it verifies (crypto's tests check it).
	Trapdoor []Hex `json:"trapdoor,omitempty"`
}

// shuffleVectorSeed is the shuffle generator's own stream, so that adding
// this file changed no other.
var shuffleVectorSeed = [32]byte([]byte("scrutin shuffle vectors, v0.    "))

func (g *gen) shuffle() *ShuffleFile {
	outer := g
	g = &gen{rnd: mrand.NewChaCha8(shuffleVectorSeed)}
	defer func() {
		if g.err != nil && outer.err == nil {
			outer.err = g.err
		}
	}()
	sk := g.key()
	pk := sk.PublicKey()
	election := g.election()
	binding := append([]byte("mix"), 0, 0, 0, 1, 0, 0, 0, 2)
	ctx := crypto.Context{Election: crypto.Fingerprint(election), Binding: binding}
	list := func(n, w int) [][]*crypto.Ciphertext {
		out := make([][]*crypto.Ciphertext, n)
		for j := range out {
			for k := range w {
				ct, err := crypto.Encrypt(g.rnd, pk, uint64((j+k)%3))
				g.check(err)
				out[j] = append(out[j], ct)
			}
		}
		return out
	}
	hexList := func(l [][]*crypto.Ciphertext) []Hex {
		out := make([]Hex, len(l))
		for j, v := range l {
			for _, ct := range v {
				out[j] = append(out[j], ct.Bytes()...)
			}
		}
		return out
	}
	mix := func(in [][]*crypto.Ciphertext) Hex {
		m, err := crypto.ShuffleAndProve(g.rnd, pk, ctx, in)
		g.check(err)
		if m == nil {
			return nil
		}
		return m.Bytes()
	}
	valid := func(comment string, in [][]*crypto.Ciphertext, m Hex) ShuffleCase {
		c := ShuffleCase{Comment: comment, Valid: true, Election: election, Binding: binding,
			PublicKey: pk.Bytes(), Width: len(in[0]), Inputs: hexList(in), Mix: m}
		seed, v, err := specShuffleHashes(&c)
		g.check(err)
		c.Seed, c.Challenge = seed, v
		return c
	}
	bad := func(c ShuffleCase, comment, kind string, edit func(*ShuffleCase)) ShuffleCase {
		c.Comment, c.Valid, c.Error, c.Seed, c.Challenge = comment, false, kind, nil, nil
		c.Inputs, c.Mix, c.Election, c.Binding = slices.Clone(c.Inputs), slices.Clone(c.Mix), slices.Clone(c.Election), slices.Clone(c.Binding)
		edit(&c)
		return c
	}

	const n, w = 5, 3
	in := list(n, w)
	base := valid("a valid mix of 5 ballots of width 3", in, mix(in))
	one := list(1, 2)
	cases := []ShuffleCase{base, valid("a valid mix of 1 ballot of width 2", one, mix(one))}

	// Reused re-encryption scalar: valid (spec §23.8).
	perm := []int{3, 0, 4, 1, 2}
	s := g.scalar()
	outputs := make([][]*crypto.Ciphertext, n)
	scalars := make([][][]byte, n)
	for j, i := range perm {
		for k := range w {
			zero, err := crypto.EncryptWithRandomness(pk, 0, s)
			g.check(err)
			outputs[i] = append(outputs[i], crypto.Sum(in[j][k], zero))
			scalars[i] = append(scalars[i], s)
		}
	}
	sw, err := crypto.NewShuffleWitness(perm, scalars)
	g.check(err)
	if err == nil {
		m, err := crypto.ProveShuffle(g.rnd, pk, ctx, in, outputs, sw)
		g.check(err)
		if m != nil {
			cases = append(cases, valid("a mixer that reused one re-encryption scalar for every output: the proof is valid (it shows correctness, not secrecy) and the outputs are linkable (spec §23.8)", in, m.Bytes()))
		}
	}

	out := func(i int) int { return 8 + 64*w*i }  // offset of output i
	proof := 8 + 64*n*w                           // offset of the proof
	kF := proof + ShuffleProofSizeSpec(n, w) - 32 // the last scalar, k_F,w
	other := list(1, 1)[0][0].Bytes()
	cases = append(cases,
		bad(base, "two output ciphertexts swapped after proving (ballots 1 and 2, first components)", KindProof, func(c *ShuffleCase) {
			a, b := slices.Clone(c.Mix[out(0):out(0)+64]), slices.Clone(c.Mix[out(1):out(1)+64])
			copy(c.Mix[out(0):], b)
			copy(c.Mix[out(1):], a)
		}),
		bad(base, "the mix verified against another input list (ballot 3's second ciphertext replaced)", KindProof, func(c *ShuffleCase) {
			c.Inputs[2] = slices.Clone(c.Inputs[2])
			copy(c.Inputs[2][64:], other)
		}),
		bad(base, "another election fingerprint", KindProof, func(c *ShuffleCase) { c.Election[0] ^= 1 }),
		bad(base, "another binding (another position in the cascade)", KindProof, func(c *ShuffleCase) { c.Binding[len(c.Binding)-1] = 3 }),
		bad(base, "ballot 2 duplicated in place of ballot 1 (output 1 is a copy of output 2)", KindProof, func(c *ShuffleCase) {
			copy(c.Mix[out(0):out(1)], slices.Clone(c.Mix[out(1):out(2)]))
		}),
		bad(base, "a response changed (k_F,w + 1)", KindProof, func(c *ShuffleCase) { c.Mix = addScalar(c.Mix, kF, 1) }),
		bad(base, "a non-canonical scalar (k_F,w + ℓ)", KindEncoding, func(c *ShuffleCase) { c.Mix = nonCanonicalScalar(c.Mix, kF) }),
		bad(base, "a non-canonical element (u_1)", KindEncoding, func(c *ShuffleCase) { c.Mix = nonCanonicalElement(c.Mix, proof) }),
		bad(base, "an output α equal to the identity", KindIdentity, func(c *ShuffleCase) { c.Mix = identityAt(c.Mix, 8) }),
		bad(base, "a truncated mix", KindEncoding, func(c *ShuffleCase) { c.Mix = c.Mix[:len(c.Mix)-1] }),
		bad(base, "an extended mix", KindEncoding, func(c *ShuffleCase) { c.Mix = append(c.Mix, 0) }),
	)
	// A ballot dropped: a valid mix of the first 4 ballots, for the 5.
	cases = append(cases, bad(base, "a ballot dropped: a mix of 4 ballots (valid for the first 4) for an input list of 5", KindProof, func(c *ShuffleCase) {
		c.Mix = mix(in[:n-1])
	}))
	// Another width: a valid mix of the first 2 components.
	narrow := make([][]*crypto.Ciphertext, n)
	for j := range in {
		narrow[j] = in[j][:w-1]
	}
	cases = append(cases, bad(base, "a mix of width 2 (valid for the first 2 components) for ballots of width 3", KindProof, func(c *ShuffleCase) {
		c.Mix = mix(narrow)
	}))
	// The trapdoor forgery.
	forged, trapdoor, err := forgeShuffle(g.rnd, pk, ctx, in)
	g.check(err)
	cases = append(cases, bad(base, "a forgery made with a commitment key of known discrete logarithms (H_i = h_i·G): output 1 is ballot 1 + ballot 2 re-encrypted, and the proof verifies under that key, not under the derived key (spec §23.7)", KindProof, func(c *ShuffleCase) {
		c.Mix, c.Trapdoor = forged, trapdoor
	}))
	return &ShuffleFile{Spec: "§23", Cases: cases}
}

// ShuffleProofSizeSpec is §23.6's length of a proof of shuffle.
func ShuffleProofSizeSpec(n, w int) int { return 160*n + 96*w + 192 }

func checkShuffleFile(f *ShuffleFile) (int, error) {
	var errs []error
	for i := range f.Cases {
		if err := checkShuffleCase(&f.Cases[i]); err != nil {
			errs = append(errs, fmt.Errorf("case %d (%s): %w", i, f.Cases[i].Comment, err))
		}
	}
	return len(f.Cases), errors.Join(errs...)
}

func checkShuffleCase(c *ShuffleCase) error {
	err := verifyShuffleCase(c)
	if !c.Valid {
		if err == nil {
			return errors.New("invalid case accepted")
		}
		if k := kind(err); k != c.Error {
			return fmt.Errorf("rejected as %q (%v), want %q", k, err, c.Error)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("valid case rejected: %w", err)
	}
	seed, v, err := specShuffleHashes(c)
	if err != nil {
		return err
	}
	if !bytes.Equal(seed, c.Seed) || !bytes.Equal(v, c.Challenge) {
		return fmt.Errorf("seed %x and challenge %x, the spec gives %x and %x", c.Seed, c.Challenge, seed, v)
	}
	return nil
}

func (c *ShuffleCase) inputs() ([][]*crypto.Ciphertext, error) {
	out := make([][]*crypto.Ciphertext, len(c.Inputs))
	for j, b := range c.Inputs {
		if len(b) != 64*c.Width {
			return nil, fmt.Errorf("input %d: %d bytes for width %d", j, len(b), c.Width)
		}
		for k := range c.Width {
			ct, err := crypto.NewCiphertext(b[64*k : 64*k+64])
			if err != nil {
				return nil, err
			}
			out[j] = append(out[j], ct)
		}
	}
	return out, nil
}

func verifyShuffleCase(c *ShuffleCase) error {
	pk, err := crypto.NewPublicKey(c.PublicKey)
	if err != nil {
		return err
	}
	f, err := fingerprint(c.Election)
	if err != nil {
		return err
	}
	in, err := c.inputs()
	if err != nil {
		return err
	}
	m, err := crypto.NewMix(c.Mix)
	if err != nil {
		return err
	}
	return crypto.VerifyShuffle(pk, crypto.Context{Election: f, Binding: c.Binding}, in, m)
}

// specShuffleHashes computes seed and v as §23.3 writes them, from the
// case's bytes.
func specShuffleHashes(c *ShuffleCase) (seed, v []byte, err error) {
	n, w := len(c.Inputs), c.Width
	mix := c.Mix
	if len(mix) != 8+64*n*w+ShuffleProofSizeSpec(n, w) {
		return nil, nil, errors.New("a valid case's mix has the wrong length")
	}
	var key, in []byte
	for i := 0; i <= n; i++ {
		key = append(key, crypto.Generator("shuffle/"+strconv.Itoa(i)).Bytes()...)
	}
	for _, b := range c.Inputs {
		in = append(in, b...)
	}
	out := mix[8 : 8+64*n*w]
	p := mix[8+64*n*w:]
	take := func(k int) []byte { b := p[:k]; p = p[k:]; return b }
	u, bs, ap, cp, dp, bp, fp := take(32*n), take(32*n), take(32), take(32), take(32), take(32*n), take(64*w)
	s := crypto.TupleHash("scrutin/v0/shuffle-seed", c.Election, c.Binding, c.PublicKey, u32be(n), u32be(w), key, in, out, u)
	h := crypto.TupleHash("scrutin/v0/shuffle", s[:], bs, ap, cp, dp, bp, fp)
	return s[:], crypto.ScalarFromHash(h), nil
}

// forgeShuffle makes, from §23.3–§23.5 alone, a mix whose first output is
// the sum of ballots 1 and 2 re-encrypted (not a shuffle), with a proof
// that verifies under a commitment key whose logarithms h_i it chose.
func forgeShuffle(rnd io.Reader, pk *crypto.PublicKey, ctx crypto.Context, in [][]*crypto.Ciphertext) ([]byte, []Hex, error) {
	n, w := len(in), len(in[0])
	scalar := func() *ristretto255.Scalar {
		var b [64]byte
		_, _ = io.ReadFull(rnd, b[:])
		s, _ := new(ristretto255.Scalar).SetUniformBytes(b[:])
		return s
	}
	elem := func(b []byte) *ristretto255.Element {
		e, err := new(ristretto255.Element).SetCanonicalBytes(b)
		if err != nil {
			panic(err)
		}
		return e
	}
	base := func(s *ristretto255.Scalar) *ristretto255.Element { return new(ristretto255.Element).ScalarBaseMult(s) }
	mul := func(a, b *ristretto255.Scalar) *ristretto255.Scalar { return new(ristretto255.Scalar).Multiply(a, b) }
	Y := elem(pk.Bytes())
	h := make([]*ristretto255.Scalar, n+1)
	var key []byte
	for i := range h {
		h[i] = scalar()
		key = append(key, base(h[i]).Bytes()...)
	}
	// Outputs: ballot j re-encrypted at j, but output 0 = ballots 0 + 1.
	type ct struct{ a, b *ristretto255.Element }
	outs := make([][]ct, n)
	s := make([][]*ristretto255.Scalar, n)
	var inBytes, outBytes []byte
	for j := range n {
		for k := range w {
			b := in[j][k].Bytes()
			inBytes = append(inBytes, b...)
			a, bb := elem(b[:32]), elem(b[32:])
			if j == 0 {
				b1 := in[1][k].Bytes()
				a.Add(a, elem(b1[:32]))
				bb.Add(bb, elem(b1[32:]))
			}
			r := scalar()
			a.Add(a, base(r))
			bb.Add(bb, new(ristretto255.Element).ScalarMult(r, Y))
			outs[j] = append(outs[j], ct{a, bb})
			s[j] = append(s[j], r)
			outBytes = append(append(outBytes, a.Bytes()...), bb.Bytes()...)
		}
	}
	rho := make([]*ristretto255.Scalar, n)
	var u []byte
	for j := range rho {
		rho[j] = scalar()
		u = append(u, base(rho[j]).Bytes()...)
	}
	seed := crypto.TupleHash("scrutin/v0/shuffle-seed", ctx.Election[:], ctx.Binding, pk.Bytes(), u32be(n), u32be(w), key, inBytes, outBytes, u)
	e := make([]*ristretto255.Scalar, n)
	for j := range e {
		h := crypto.TupleHash("scrutin/v0/shuffle-vector", seed[:], u32be(j+1))
		e[j], _ = new(ristretto255.Scalar).SetUniformBytes(h[:])
	}
	ep := slices.Clone(e)
	ep[1] = new(ristretto255.Scalar).Subtract(e[1], e[0])
	x := []*ristretto255.Scalar{h[0]}
	var bsB, bpB []byte
	y, eps := make([]*ristretto255.Scalar, n), make([]*ristretto255.Scalar, n)
	for i := range n {
		x = append(x, scalar())
		y[i], eps[i] = scalar(), scalar()
		bsB = append(bsB, base(x[i+1]).Bytes()...)
		bpB = append(bpB, base(y[i]).Bytes()...)
	}
	al, ga, de := scalar(), scalar(), scalar()
	var fpB []byte
	phi := make([]*ristretto255.Scalar, w)
	for k := range w {
		phi[k] = scalar()
		neg := new(ristretto255.Scalar).Negate(phi[k])
		fa, fb := base(neg), new(ristretto255.Element).ScalarMult(neg, Y)
		for i := range n {
			fa.Add(fa, new(ristretto255.Element).ScalarMult(eps[i], outs[i][k].a))
			fb.Add(fb, new(ristretto255.Element).ScalarMult(eps[i], outs[i][k].b))
		}
		fpB = append(append(fpB, fa.Bytes()...), fb.Bytes()...)
	}
	hv := crypto.TupleHash("scrutin/v0/shuffle", seed[:], bsB, base(al).Bytes(), base(ga).Bytes(), base(de).Bytes(), bpB, fpB)
	v, _ := new(ristretto255.Scalar).SetUniformBytes(hv[:])
	kE, kB := make([]*ristretto255.Scalar, n), make([]*ristretto255.Scalar, n)
	a, c, sumE := new(ristretto255.Scalar), new(ristretto255.Scalar), new(ristretto255.Scalar)
	for i := range n {
		kE[i] = new(ristretto255.Scalar).Add(mul(v, ep[i]), eps[i])
		a.Add(a, mul(e[i], rho[i]))
		c.Add(c, rho[i])
		c.Subtract(c, h[i+1])
		sumE.Add(sumE, mul(kE[i], h[i+1]))
		kB[i] = new(ristretto255.Scalar).Add(mul(v, x[i+1]), y[i])
		kB[i].Subtract(kB[i], mul(kE[i], x[i]))
	}
	kA := new(ristretto255.Scalar).Add(mul(v, a), al)
	kA.Subtract(kA, sumE)
	kC := new(ristretto255.Scalar).Add(mul(v, c), ga)
	prod := new(ristretto255.Scalar).Set(e[0])
	for _, ej := range e[1:] {
		prod.Multiply(prod, ej)
	}
	d := new(ristretto255.Scalar).Subtract(x[n], mul(prod, h[0]))
	kD := new(ristretto255.Scalar).Add(mul(v, d), de)
	mixB := binary.BigEndian.AppendUint32(nil, uint32(n))
	mixB = binary.BigEndian.AppendUint32(mixB, uint32(w))
	mixB = append(append(append(mixB, outBytes...), u...), bsB...)
	mixB = append(append(append(mixB, base(al).Bytes()...), base(ga).Bytes()...), base(de).Bytes()...)
	mixB = append(append(append(mixB, bpB...), fpB...), kA.Bytes()...)
	mixB = append(append(mixB, kC.Bytes()...), kD.Bytes()...)
	for _, k := range kB {
		mixB = append(mixB, k.Bytes()...)
	}
	for _, k := range kE {
		mixB = append(mixB, k.Bytes()...)
	}
	for k := range w {
		f := new(ristretto255.Scalar)
		for i := range n {
			f.Add(f, mul(ep[i], s[i][k]))
		}
		mixB = append(mixB, new(ristretto255.Scalar).Add(mul(v, f), phi[k]).Bytes()...)
	}
	trapdoor := make([]Hex, len(h))
	for i := range h {
		trapdoor[i] = h[i].Bytes()
	}
	return mixB, trapdoor, nil
}
