package vectors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"slices"

	"github.com/scrutin/scrutin/crypto"
)

// seed fixes every random choice of the generator.
var seed = [32]byte([]byte("scrutin test vectors, version 0."))

// gen holds the generator's deterministic randomness.
type gen struct {
	rnd        io.Reader
	err        error
	notOnCurve []byte
}

func (g *gen) bytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(g.rnd, b); err != nil && g.err == nil {
		g.err = err
	}
	return b
}

func (g *gen) key() *crypto.SecretKey {
	sk, err := crypto.GenerateKey(g.rnd)
	if err != nil && g.err == nil {
		g.err = err
	}
	return sk
}

func (g *gen) check(err error) {
	if err != nil && g.err == nil {
		g.err = err
	}
}

// Generate returns the content of every vector file, deterministically.
func Generate() (map[string][]byte, error) {
	g := &gen{rnd: mrand.NewChaCha8(seed)}
	files := map[string]any{
		"group.json":         g.group(),
		"elgamal.json":       g.elgamal(),
		"knowledge.json":     g.knowledge(),
		"equality.json":      g.equality(),
		"selection.json":     g.selection(),
		"contest-total.json": g.contestTotal(),
		"signature.json":     g.signature(),
	}
	files["ceremony.json"] = g.ceremony()
	files["records.json"] = g.records()
	files["log.json"] = g.log()
	files["shuffle.json"] = g.shuffle()
	if g.err != nil {
		return nil, g.err
	}
	out := make(map[string][]byte)
	for name, v := range files {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return nil, err
		}
		out[name] = append(b, '\n')
	}
	return out, nil
}

func le(x *big.Int) []byte { return intToLE(x, 32) }

func (g *gen) group() *GroupFile {
	f := &GroupFile{Spec: "docs/spec.md §2–§4, version 0"}
	base := crypto.BaseElement().Bytes()
	two, _ := crypto.NewSecretKey(le(big.NewInt(2)))
	high := slices.Clone(base)
	high[31] |= 0x80
	p := append([]byte{0xed}, bytes.Repeat([]byte{0xff}, 30)...)
	p = append(p, 0x7f)
	negative := make([]byte, 32)
	negative[0] = 1
	f.Elements = []ElementCase{
		{Comment: "identity", Encoding: make([]byte, 32), Valid: true, Identity: true},
		{Comment: "generator G", Encoding: base, Valid: true},
		{Comment: "2·G", Encoding: two.PublicKey().Bytes(), Valid: true},
		{Comment: "derived generator", Encoding: crypto.Generator("scrutin/v0/test").Bytes(), Valid: true},
		{Comment: "G with the top bit set (field element ≥ p)", Encoding: high},
		{Comment: "s = p, non-canonical field element", Encoding: p},
		{Comment: "all 0xff", Encoding: bytes.Repeat([]byte{0xff}, 32)},
		{Comment: "s = 1 is negative (odd)", Encoding: negative},
		{Comment: "31 bytes", Encoding: base[:31]},
		{Comment: "33 bytes", Encoding: append(slices.Clone(base), 0)},
	}
	// A canonical, non-negative field element that is not a valid encoding.
	for {
		b := g.bytes(32)
		b[0] &^= 1
		b[31] &= 0x7f
		if _, err := crypto.NewElement(b); err != nil {
			f.Elements = append(f.Elements, ElementCase{Comment: "non-negative s < p that fails RFC 9496 Decode", Encoding: b})
			g.notOnCurve = b
			break
		}
	}
	for _, k := range []uint64{0, 1, 2, 3, 4, 5, 1 << 40} {
		e := make([]byte, 32)
		if k > 0 {
			sk, err := crypto.NewSecretKey(le(new(big.Int).SetUint64(k)))
			g.check(err)
			e = sk.PublicKey().Bytes()
		}
		f.Multiples = append(f.Multiples, MultipleCase{K: k, Element: e})
	}
	lMinus1 := new(big.Int).Sub(order, big.NewInt(1))
	f.Scalars = []ScalarCase{
		{Comment: "zero", Encoding: make([]byte, 32), Valid: true},
		{Comment: "one", Encoding: le(big.NewInt(1)), Valid: true},
		{Comment: "ℓ − 1", Encoding: le(lMinus1), Valid: true},
		{Comment: "ℓ", Encoding: le(order)},
		{Comment: "ℓ + 1", Encoding: le(new(big.Int).Add(order, big.NewInt(1)))},
		{Comment: "2^255 − 1", Encoding: append(bytes.Repeat([]byte{0xff}, 31), 0x7f)},
		{Comment: "all 0xff", Encoding: bytes.Repeat([]byte{0xff}, 32)},
		{Comment: "31 bytes", Encoding: make([]byte, 31)},
		{Comment: "random valid", Encoding: le(new(big.Int).Mod(leToInt(g.bytes(32)), order)), Valid: true},
	}
	for _, h := range [][]byte{make([]byte, 64), bytes.Repeat([]byte{0xff}, 64), g.bytes(64), g.bytes(64)} {
		var a [64]byte
		copy(a[:], h)
		f.ScalarFromHash = append(f.ScalarFromHash, ReductionCase{Hash: h, Scalar: crypto.ScalarFromHash(a)})
	}
	for _, c := range []struct {
		label  string
		fields [][]byte
	}{
		{"scrutin/v0/test", nil},
		{"scrutin/v0/test", [][]byte{{}}},
		{"scrutin/v0/test", [][]byte{[]byte("ab"), []byte("c")}},
		{"scrutin/v0/test", [][]byte{[]byte("a"), []byte("bc")}},
		{"scrutin/v0/knowledge", [][]byte{g.bytes(32), nil, g.bytes(32), g.bytes(32)}},
	} {
		h := crypto.TupleHash(c.label, c.fields...)
		tc := TupleHashCase{Label: c.label, Hash: h[:], Fields: []Hex{}}
		for _, x := range c.fields {
			tc.Fields = append(tc.Fields, Hex(x))
		}
		f.TupleHash = append(f.TupleHash, tc)
	}
	for _, l := range []string{"", "scrutin/v0/test", "pedersen/h"} {
		f.Generators = append(f.Generators, GeneratorCase{Label: l, Element: crypto.Generator(l).Bytes()})
	}
	return f
}

func (g *gen) scalar() []byte { return le(new(big.Int).Mod(leToInt(g.bytes(64)), order)) }

func (g *gen) elgamal() *ElGamalFile {
	f := &ElGamalFile{Spec: "docs/spec.md §5, version 0"}
	sk := g.key()
	pk := sk.PublicKey()
	var cts []Hex
	for _, m := range []uint64{0, 1, 1, 5, 1000} {
		r := g.scalar()
		ct, err := crypto.EncryptWithRandomness(pk, m, r)
		g.check(err)
		f.Encryptions = append(f.Encryptions, EncryptionCase{SecretKey: sk.Bytes(), PublicKey: pk.Bytes(), Message: m, Randomness: r, Ciphertext: ct.Bytes()})
		cts = append(cts, ct.Bytes())
	}
	for _, set := range [][]Hex{cts[:1], cts[:3], cts} {
		parsed := make([]*crypto.Ciphertext, len(set))
		for i, b := range set {
			var err error
			parsed[i], err = crypto.NewCiphertext(b)
			g.check(err)
		}
		f.Sums = append(f.Sums, SumCase{Ciphertexts: set, Sum: crypto.Sum(parsed...).Bytes()})
	}
	valid := cts[1]
	zero := make([]byte, 32)
	high := slices.Clone([]byte(valid))
	high[31] |= 0x80
	f.Ciphertexts = []DecodingCase{
		{Comment: "valid", Encoding: valid, Valid: true},
		{Comment: "α is the identity", Encoding: append(slices.Clone(zero), valid[32:]...), Error: KindIdentity},
		{Comment: "β is the identity (allowed)", Encoding: append(slices.Clone([]byte(valid[:32])), zero...), Valid: true},
		{Comment: "α non-canonical", Encoding: high, Error: KindEncoding},
		{Comment: "β negative (odd)", Encoding: negativeAt(valid, 32), Error: KindEncoding},
		{Comment: "63 bytes", Encoding: valid[:63], Error: KindEncoding},
	}
	// A sum of ciphertexts, such as a tally's (spec §2.1, §18.6), may have
	// an identity α: the sum over no ciphertext is (O, O).
	f.Sums = append(f.Sums, SumCase{Ciphertexts: []Hex{}, Sum: make([]byte, 64)})
	f.SumDecoding = []DecodingCase{
		{Comment: "a sum whose α is the identity (allowed)", Encoding: append(slices.Clone(zero), valid[32:]...), Valid: true},
		{Comment: "the sum over no ciphertext, (O, O) (allowed)", Encoding: make([]byte, 64), Valid: true},
		{Comment: "α non-canonical", Encoding: high, Error: KindEncoding},
		{Comment: "β negative (odd)", Encoding: negativeAt(append(slices.Clone(zero), valid[32:]...), 32), Error: KindEncoding},
		{Comment: "65 bytes", Encoding: append(make([]byte, 64), 0), Error: KindEncoding},
	}
	return f
}

// Mutations of encodings, for invalid cases.

func addScalar(b []byte, off int, delta int64) Hex {
	out := slices.Clone(b)
	s := leToInt(out[off : off+32])
	s.Add(s, big.NewInt(delta)).Mod(s, order)
	copy(out[off:], le(s))
	return out
}

func nonCanonicalScalar(b []byte, off int) Hex {
	out := slices.Clone(b)
	copy(out[off:], le(new(big.Int).Add(leToInt(out[off:off+32]), order)))
	return out
}

func nonCanonicalElement(b []byte, off int) Hex {
	out := slices.Clone(b)
	out[off+31] |= 0x80
	return out
}

// negativeAt makes the element at off odd, which RFC 9496 Decode rejects
// as negative (a canonical encoding is even).
func negativeAt(b []byte, off int) Hex {
	out := slices.Clone(b)
	out[off] |= 1
	return out
}

// notOnCurveAt puts at off the canonical, non-negative field element that
// fails Decode found by group() (group.json records it too).
func (g *gen) notOnCurveAt(b []byte, off int) Hex {
	if g.notOnCurve == nil {
		panic("vectors: internal error: group() must run first")
	}
	out := slices.Clone(b)
	copy(out[off:off+32], g.notOnCurve)
	return out
}

func identityAt(b []byte, off int) Hex {
	out := slices.Clone(b)
	copy(out[off:off+32], make([]byte, 32))
	return out
}

func invalid(c ProofCase, comment, kind string, edit func(*ProofCase)) ProofCase {
	c.Comment, c.Valid, c.Error, c.Challenge = comment, false, kind, nil
	// Copy the byte slices that edits may change.
	c.Election = slices.Clone(c.Election)
	c.Selections = slices.Clone(c.Selections)
	edit(&c)
	return c
}

func (g *gen) election() Hex { return g.bytes(32) }

// commonInvalid derives the invalid cases every proof type has.
func (g *gen) commonInvalid(valid ProofCase, otherKey Hex, respOff int) []ProofCase {
	return []ProofCase{
		invalid(valid, "wrong election fingerprint", KindProof, func(c *ProofCase) { c.Election[0] ^= 1 }),
		invalid(valid, "public key replaced by another key", KindProof, func(c *ProofCase) { c.PublicKey = otherKey }),
		invalid(valid, "public key is the identity", KindIdentity, func(c *ProofCase) { c.PublicKey = make([]byte, 32) }),
		invalid(valid, "public key non-canonical", KindEncoding, func(c *ProofCase) { c.PublicKey = nonCanonicalElement(c.PublicKey, 0) }),
		invalid(valid, "response s changed (does not match the challenge)", KindProof, func(c *ProofCase) { c.Proof = addScalar(c.Proof, respOff, 1) }),
		invalid(valid, "response s non-canonical (s + ℓ)", KindEncoding, func(c *ProofCase) { c.Proof = nonCanonicalScalar(c.Proof, respOff) }),
		invalid(valid, "commitment non-canonical", KindEncoding, func(c *ProofCase) { c.Proof = nonCanonicalElement(c.Proof, 0) }),
		invalid(valid, "commitment negative (odd encoding)", KindEncoding, func(c *ProofCase) { c.Proof = negativeAt(c.Proof, 0) }),
		invalid(valid, "commitment is not a valid encoding (fails Decode)", KindEncoding, func(c *ProofCase) { c.Proof = g.notOnCurveAt(c.Proof, 0) }),
		invalid(valid, "public key negative (odd encoding)", KindEncoding, func(c *ProofCase) { c.PublicKey = negativeAt(c.PublicKey, 0) }),
		invalid(valid, "commitment replaced by the identity", KindProof, func(c *ProofCase) { c.Proof = identityAt(c.Proof, 0) }),
		invalid(valid, "proof truncated", KindEncoding, func(c *ProofCase) { c.Proof = c.Proof[:len(c.Proof)-1] }),
		invalid(valid, "proof extended", KindEncoding, func(c *ProofCase) { c.Proof = append(slices.Clone(c.Proof), 0) }),
	}
}

func withChallenge(c ProofCase, file string) ProofCase {
	ch, _ := specChallenge(file, &c)
	c.Challenge = ch
	return c
}

func (g *gen) knowledge() *ProofFile {
	f := &ProofFile{Spec: "docs/spec.md §6, version 0"}
	sk, other := g.key(), g.key()
	fp := g.election()
	var efp crypto.Fingerprint
	copy(efp[:], fp)
	binding := []byte("trustee 2")
	p, err := crypto.ProveKnowledge(g.rnd, sk, crypto.Context{Election: efp, Binding: binding})
	g.check(err)
	valid := withChallenge(ProofCase{Comment: "valid", Valid: true, Election: fp, Binding: binding, PublicKey: sk.PublicKey().Bytes(), Proof: p.Bytes()}, "knowledge.json")
	f.Cases = append([]ProofCase{valid}, g.commonInvalid(valid, other.PublicKey().Bytes(), 32)...)
	f.Cases = append(f.Cases, invalid(valid, "replayed with another binding", KindProof, func(c *ProofCase) { c.Binding = []byte("trustee 3") }))
	return f
}

func (g *gen) equality() *ProofFile {
	f := &ProofFile{Spec: "docs/spec.md §7, version 0"}
	sk, other := g.key(), g.key()
	fp := g.election()
	var efp crypto.Fingerprint
	copy(efp[:], fp)
	binding := []byte("decryption share 1")
	ct, err := crypto.Encrypt(g.rnd, sk.PublicKey(), 3)
	g.check(err)
	z, p, err := crypto.ProveEquality(g.rnd, sk, crypto.Context{Election: efp, Binding: binding}, ct.Alpha())
	g.check(err)
	valid := withChallenge(ProofCase{Comment: "valid", Valid: true, Election: fp, Binding: binding, PublicKey: sk.PublicKey().Bytes(), Base: ct.Alpha().Bytes(), Result: z.Bytes(), Proof: p.Bytes()}, "equality.json")
	f.Cases = append([]ProofCase{valid}, g.commonInvalid(valid, other.PublicKey().Bytes(), 64)...)
	f.Cases = append(f.Cases,
		invalid(valid, "replayed with another binding", KindProof, func(c *ProofCase) { c.Binding = []byte("decryption share 2") }),
		invalid(valid, "result Z replaced (a false decryption share)", KindProof, func(c *ProofCase) { c.Result = other.PublicKey().Bytes() }),
		invalid(valid, "second commitment replaced by the identity", KindProof, func(c *ProofCase) { c.Proof = identityAt(c.Proof, 32) }),
	)
	// B = Z = O is allowed (§2.1) and the proof is then trivially valid.
	var id crypto.Element
	zi, pi, err := crypto.ProveEquality(g.rnd, sk, crypto.Context{Election: efp, Binding: binding}, &id)
	g.check(err)
	f.Cases = append(f.Cases, withChallenge(ProofCase{Comment: "valid, base and result are the identity", Valid: true, Election: fp, Binding: binding,
		PublicKey: sk.PublicKey().Bytes(), Base: id.Bytes(), Result: zi.Bytes(), Proof: pi.Bytes()}, "equality.json"))
	return f
}

func u32p(n uint32) *uint32 { return &n }
func u64p(n uint64) *uint64 { return &n }

func (g *gen) selection() *ProofFile {
	f := &ProofFile{Spec: "docs/spec.md §8 (selection proof), version 0"}
	sk, other, cred := g.key(), g.key(), g.key()
	fp := g.election()
	var efp crypto.Fingerprint
	copy(efp[:], fp)
	var valids []ProofCase
	for vote := range 2 {
		ctx := crypto.SelectionContext(efp, cred.PublicKey(), 1, 2)
		ct, p, err := crypto.EncryptSelection(g.rnd, sk.PublicKey(), ctx, vote)
		g.check(err)
		valids = append(valids, withChallenge(ProofCase{Comment: fmt.Sprintf("valid, vote %d", vote), Valid: true, Election: fp, Binding: ctx.Binding,
			PublicKey: sk.PublicKey().Bytes(), Credential: cred.PublicKey().Bytes(), Contest: u32p(1), Option: u32p(2),
			Ciphertext: ct.Bytes(), Proof: p.Bytes()}, "selection.json"))
	}
	valid := valids[1]
	f.Cases = append(valids, g.commonInvalid(valid, other.PublicKey().Bytes(), 96)...)
	rebind := func(c *ProofCase) {
		c.Binding = specSelectionBinding(c.Credential, *c.Contest, *c.Option)
	}
	f.Cases = append(f.Cases,
		invalid(valid, "replayed into another ballot (other credential)", KindProof, func(c *ProofCase) { c.Credential = other.PublicKey().Bytes(); rebind(c) }),
		invalid(valid, "replayed into another option", KindProof, func(c *ProofCase) { c.Option = u32p(3); rebind(c) }),
		invalid(valid, "replayed into another contest", KindProof, func(c *ProofCase) { c.Contest = u32p(0); rebind(c) }),
		invalid(valid, "proof of the other vote's ciphertext", KindProof, func(c *ProofCase) { c.Ciphertext = valids[0].Ciphertext }),
		invalid(valid, "ciphertext α is the identity", KindIdentity, func(c *ProofCase) { c.Ciphertext = identityAt(c.Ciphertext, 0) }),
		invalid(valid, "credential is the identity", KindIdentity, func(c *ProofCase) { c.Credential = make([]byte, 32); rebind(c) }),
		invalid(valid, "branch challenge c_0 changed: challenges no longer add up", KindProof, func(c *ProofCase) { c.Proof = addScalar(c.Proof, 64, 1) }),
		invalid(valid, "c_0 + 1 and c_1 − 1: sum kept, equations fail", KindProof, func(c *ProofCase) {
			c.Proof = addScalar(addScalar(c.Proof, 64, 1), 128+64, -1)
		}),
		invalid(valid, "branches swapped", KindProof, func(c *ProofCase) {
			c.Proof = append(slices.Clone(c.Proof[128:]), c.Proof[:128]...)
		}),
		invalid(valid, "one branch only", KindProof, func(c *ProofCase) { c.Proof = c.Proof[:128] }),
		invalid(valid, "three branches", KindProof, func(c *ProofCase) { c.Proof = append(slices.Clone(c.Proof), c.Proof[:128]...) }),
		invalid(valid, "second branch's c non-canonical", KindEncoding, func(c *ProofCase) { c.Proof = nonCanonicalScalar(c.Proof, 128+64) }),
	)
	return f
}

func (g *gen) contestTotal() *ProofFile {
	f := &ProofFile{Spec: "docs/spec.md §8 (contest-total proof), version 0"}
	sk, other, cred := g.key(), g.key(), g.key()
	fp := g.election()
	var efp crypto.Fingerprint
	copy(efp[:], fp)
	var valids []ProofCase
	for _, c := range []struct {
		votes    []int
		min, max uint64
	}{{[]int{0, 1, 0}, 1, 1}, {[]int{1, 0, 1, 1}, 0, 3}, {[]int{0, 0}, 0, 1}} {
		ec, err := crypto.EncryptContest(g.rnd, sk.PublicKey(), efp, cred.PublicKey(), 4, c.votes, c.min, c.max)
		g.check(err)
		var sel []Hex
		for _, ct := range ec.Selections {
			sel = append(sel, ct.Bytes())
		}
		ctx := crypto.TotalContext(efp, cred.PublicKey(), 4)
		valids = append(valids, withChallenge(ProofCase{Comment: fmt.Sprintf("valid, %d of %d chosen, rules [%d, %d]", count(c.votes), len(c.votes), c.min, c.max), Valid: true,
			Election: fp, Binding: ctx.Binding, PublicKey: sk.PublicKey().Bytes(), Credential: cred.PublicKey().Bytes(), Contest: u32p(4),
			Selections: sel, Min: u64p(c.min), Max: u64p(c.max), Proof: ec.TotalProof.Bytes()}, "contest-total.json"))
	}
	valid := valids[1]
	f.Cases = append(valids, g.commonInvalid(valid, other.PublicKey().Bytes(), 96)...)
	f.Cases = append(f.Cases,
		invalid(valid, "replayed into another contest", KindProof, func(c *ProofCase) {
			c.Contest = u32p(5)
			c.Binding = append(slices.Clone([]byte(c.Credential)), 0, 0, 0, 5)
		}),
		invalid(valid, "a selection dropped (total changes)", KindProof, func(c *ProofCase) { c.Selections = c.Selections[1:] }),
		invalid(valid, "checked against narrower rules [0, 2] (wrong branch count)", KindProof, func(c *ProofCase) { c.Max = u64p(2) }),
		invalid(valid, "checked against shifted rules [1, 4] (same branch count)", KindProof, func(c *ProofCase) { c.Min, c.Max = u64p(1), u64p(4) }),
		invalid(valid, "branch challenges no longer add up", KindProof, func(c *ProofCase) { c.Proof = addScalar(c.Proof, 64, 1) }),
	)
	return f
}

func count(votes []int) (n int) {
	for _, v := range votes {
		n += v
	}
	return n
}

func (g *gen) signature() *ProofFile {
	f := &ProofFile{Spec: "docs/spec.md §9, version 0"}
	sk, other := g.key(), g.key()
	fp := g.election()
	var efp crypto.Fingerprint
	copy(efp[:], fp)
	var cases []ProofCase
	for _, msg := range [][]byte{{}, []byte("a ballot"), g.bytes(300)} {
		sig, err := sk.Sign(g.rnd, efp, msg)
		g.check(err)
		m := Hex(msg)
		cases = append(cases, withChallenge(ProofCase{Comment: fmt.Sprintf("valid, %d-byte message", len(msg)), Valid: true, Election: fp,
			PublicKey: sk.PublicKey().Bytes(), Message: &m, Proof: sig.Bytes()}, "signature.json"))
	}
	valid := cases[1]
	f.Cases = append(cases, g.commonInvalid(valid, other.PublicKey().Bytes(), 32)...)
	f.Cases = append(f.Cases,
		invalid(valid, "message changed", KindProof, func(c *ProofCase) { m := Hex("a ballot!"); c.Message = &m }),
		invalid(valid, "signature of another message", KindProof, func(c *ProofCase) { c.Proof = cases[2].Proof }),
	)
	return f
}
