package vectors

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gtank/ristretto255"

	"github.com/scrutin/scrutin/crypto"
)

// specVerifyShuffle is spec §23.5 written from the text alone, equation by
// equation, with the group library (no batching, no code of crypto's
// shuffle): an independent implementer's verifier. It reports whether the
// case's mix is valid for its inputs.
func specVerifyShuffle(c *ShuffleCase) (bool, string) {
	elem := func(b []byte, allowIdentity bool) (*ristretto255.Element, bool) {
		e, err := new(ristretto255.Element).SetCanonicalBytes(b)
		if err != nil || (!allowIdentity && e.Equal(ristretto255.NewIdentityElement()) == 1) {
			return nil, false
		}
		return e, true
	}
	scalar := func(b []byte) (*ristretto255.Scalar, bool) {
		s, err := new(ristretto255.Scalar).SetCanonicalBytes(b)
		return s, err == nil
	}
	Y, ok := elem(c.PublicKey, false)
	if !ok {
		return false, "public key"
	}
	n, w := len(c.Inputs), c.Width
	b := c.Mix
	if len(b) < 8 || int(binary.BigEndian.Uint32(b)) != n || int(binary.BigEndian.Uint32(b[4:])) != w {
		return false, "N or w"
	}
	if len(b) != 8+64*n*w+160*n+96*w+192 {
		return false, "length"
	}
	type ct struct{ a, b *ristretto255.Element }
	in := make([][]ct, n)
	for j := range n {
		for k := range w {
			x := c.Inputs[j][64*k:]
			a, ok1 := elem(x[:32], false)
			bb, ok2 := elem(x[32:64], true)
			if !ok1 || !ok2 {
				return false, "input"
			}
			in[j] = append(in[j], ct{a, bb})
		}
	}
	p := b[8:]
	take := func(k int) []byte { x := p[:k]; p = p[k:]; return x }
	out := make([][]ct, n)
	for i := range n {
		for range w {
			a, ok1 := elem(take(32), false)
			bb, ok2 := elem(take(32), true)
			if !ok1 || !ok2 {
				return false, "output"
			}
			out[i] = append(out[i], ct{a, bb})
		}
	}
	uB, BB := p[:32*n], p[32*n:64*n]
	var bad bool
	elems := func(k int) []*ristretto255.Element {
		var r []*ristretto255.Element
		for range k {
			e, ok := elem(take(32), true)
			bad = bad || !ok
			r = append(r, e)
		}
		return r
	}
	u, B := elems(n), elems(n)
	Ap, Cp, Dp := elems(1), elems(1), elems(1)
	Bp := elems(n)
	Fp := elems(2 * w)
	scalars := func(k int) []*ristretto255.Scalar {
		var r []*ristretto255.Scalar
		for range k {
			s, ok := scalar(take(32))
			bad = bad || !ok
			r = append(r, s)
		}
		return r
	}
	kA, kC, kD := scalars(1)[0], scalars(1)[0], scalars(1)[0]
	kB, kE, kF := scalars(n), scalars(n), scalars(w)
	if bad {
		return false, "encoding"
	}
	// §23.2–§23.3: key, seed, e, v.
	var key, inB []byte
	H := make([]*ristretto255.Element, n+1)
	for i := range H {
		g := crypto.Generator("shuffle/" + strconv.Itoa(i)).Bytes()
		key = append(key, g...)
		H[i], _ = elem(g, false)
	}
	for _, x := range c.Inputs {
		inB = append(inB, x...)
	}
	outB := c.Mix[8 : 8+64*n*w]
	seed := crypto.TupleHash("scrutin/v0/shuffle-seed", c.Election, c.Binding, c.PublicKey, u32be(n), u32be(w), key, inB, outB, uB)
	e := make([]*ristretto255.Scalar, n)
	for j := range e {
		h := crypto.TupleHash("scrutin/v0/shuffle-vector", seed[:], u32be(j+1))
		e[j], _ = new(ristretto255.Scalar).SetUniformBytes(h[:])
	}
	pr := c.Mix[8+64*n*w:]
	bpB := pr[64*n+96 : 96*n+96]
	fpB := pr[96*n+96 : 96*n+96+64*w]
	hv := crypto.TupleHash("scrutin/v0/shuffle", seed[:], BB, pr[64*n:64*n+32], pr[64*n+32:64*n+64], pr[64*n+64:64*n+96], bpB, fpB)
	v, _ := new(ristretto255.Scalar).SetUniformBytes(hv[:])
	G := ristretto255.NewGeneratorElement()
	mul := func(s *ristretto255.Scalar, P *ristretto255.Element) *ristretto255.Element {
		return new(ristretto255.Element).ScalarMult(s, P)
	}
	add := func(P, Q *ristretto255.Element) *ristretto255.Element { return new(ristretto255.Element).Add(P, Q) }
	sub := func(P, Q *ristretto255.Element) *ristretto255.Element {
		return new(ristretto255.Element).Subtract(P, Q)
	}
	eq := func(P, Q *ristretto255.Element) bool { return P.Equal(Q) == 1 }
	// §23.5 step 3.
	A, C := ristretto255.NewIdentityElement(), ristretto255.NewIdentityElement()
	prod, _ := new(ristretto255.Scalar).SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
	for j := range n {
		A = add(A, mul(e[j], u[j]))
		C = add(C, sub(u[j], H[j+1]))
		prod.Multiply(prod, e[j])
	}
	D := sub(B[n-1], mul(prod, H[0]))
	// §23.5 step 4.
	rhs := mul(kA, G)
	for i := range n {
		rhs = add(rhs, mul(kE[i], H[i+1]))
	}
	if !eq(add(mul(v, A), Ap[0]), rhs) {
		return false, "equation 1"
	}
	prev := H[0]
	for i := range n {
		if !eq(add(mul(v, B[i]), Bp[i]), add(mul(kB[i], G), mul(kE[i], prev))) {
			return false, "equation 2"
		}
		prev = B[i]
	}
	if !eq(add(mul(v, C), Cp[0]), mul(kC, G)) {
		return false, "equation 3"
	}
	if !eq(add(mul(v, D), Dp[0]), mul(kD, G)) {
		return false, "equation 4"
	}
	for k := range w {
		Fa, Fb := ristretto255.NewIdentityElement(), ristretto255.NewIdentityElement()
		neg := new(ristretto255.Scalar).Negate(kF[k])
		Ra, Rb := mul(neg, G), mul(neg, Y)
		for j := range n {
			Fa = add(Fa, mul(e[j], in[j][k].a))
			Fb = add(Fb, mul(e[j], in[j][k].b))
			Ra = add(Ra, mul(kE[j], out[j][k].a))
			Rb = add(Rb, mul(kE[j], out[j][k].b))
		}
		if !eq(add(mul(v, Fa), Fp[2*k]), Ra) || !eq(add(mul(v, Fb), Fp[2*k+1]), Rb) {
			return false, "equation 5"
		}
	}
	return true, ""
}

// TestShuffleVectorsSpecVerifier runs the spec-only verifier on every case
// of testdata/v0/shuffle.json: it must agree with the case's validity, so
// the vectors, §23 and crypto's batched verifier say the same thing.
func TestShuffleVectorsSpecVerifier(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "v0", "shuffle.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f ShuffleFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no cases")
	}
	for i := range f.Cases {
		c := &f.Cases[i]
		ok, why := specVerifyShuffle(c)
		t.Logf("case %d: %v %s", i, ok, why)
		if ok != c.Valid {
			t.Errorf("case %d (%s): the spec's verifier says valid=%v (%s), the file says %v", i, c.Comment, ok, why, c.Valid)
		}
	}
}
