package crypto

// Fuzz targets for every decoder (STYLE.md points 4, 5 and 9): decoding never
// panics, a successful decode re-encodes to exactly the input bytes (and text),
// a failed one wraps ErrEncoding or ErrIdentity and leaves its receiver
// untouched, and random proofs and signatures never verify.
//
// Seeds come from a seeded ChaCha8 stream, so every run is deterministic. The
// checked-in corpus under testdata/fuzz/<FuzzName>/ holds a few of these seeds,
// named as in the seed functions below; its "genuine" proofs and signatures
// are those of fuzzFixturesOnce, so regenerate it if the fixtures change (a
// stale genuine entry still passes, as a rejected forgery). Run one target with
//
//	go test ./crypto/ -run XXX -fuzz '^FuzzElement$' -fuzztime 20s

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// fuzzRand returns a deterministic random stream; each seed byte gives an
// independent stream.
func fuzzRand(seed byte) *mrand.ChaCha8 {
	var s [32]byte
	copy(s[:], "scrutin/crypto/fuzz")
	s[31] = seed
	return mrand.NewChaCha8(s)
}

// fuzzFixtures are valid objects, made from fuzzRand, that seed the fuzzers
// and serve as the fixed statement for the verification targets.
type fuzzFixtures struct {
	sk, credential *SecretKey
	pk             *PublicKey
	election       Fingerprint
	elem           *Element

	// A selection (ciphertext and proof) and the total of its contest.
	selCtx, totCtx Context
	selCT, totCT   *Ciphertext
	selProof       *RangeProof
	totProof       *RangeProof
	totLo, totHi   uint64

	know        *KnowledgeProof
	eqBase, eqZ *Element
	eq          *EqualityProof

	// Genuine signatures by credential, by message.
	sigMsgs [][]byte
	sigs    []*Signature
}

var fuzzFixturesOnce = sync.OnceValues(func() (*fuzzFixtures, error) {
	rnd := fuzzRand(1)
	fx := &fuzzFixtures{election: Fingerprint{0x5c, 0x21, 0x07}, totLo: 1, totHi: 3}
	var err error
	if fx.sk, err = GenerateKey(rnd); err != nil {
		return nil, err
	}
	if fx.credential, err = GenerateKey(rnd); err != nil {
		return nil, err
	}
	fx.pk = fx.sk.PublicKey()
	cred := fx.credential.PublicKey()
	other, err := GenerateKey(rnd)
	if err != nil {
		return nil, err
	}
	fx.elem = &Element{point: other.PublicKey().point}
	ec, err := EncryptContest(rnd, fx.pk, fx.election, cred, 0, []int{1, 0, 1}, fx.totLo, fx.totHi)
	if err != nil {
		return nil, err
	}
	fx.selCtx = SelectionContext(fx.election, cred, 0, 0)
	fx.totCtx = TotalContext(fx.election, cred, 0)
	fx.selCT, fx.selProof = ec.Selections[0], ec.Proofs[0]
	fx.totCT, fx.totProof = Sum(ec.Selections...), ec.TotalProof
	if fx.know, err = ProveKnowledge(rnd, fx.credential, fx.totCtx); err != nil {
		return nil, err
	}
	fx.eqBase = fx.selCT.Alpha()
	if fx.eqZ, fx.eq, err = ProveEquality(rnd, fx.sk, fx.totCtx, fx.eqBase); err != nil {
		return nil, err
	}
	fx.sigMsgs = [][]byte{nil, []byte("ballot"), bytes.Repeat([]byte{0xa5}, 200)}
	for _, msg := range fx.sigMsgs {
		sig, err := fx.credential.Sign(rnd, fx.election, msg)
		if err != nil {
			return nil, err
		}
		fx.sigs = append(fx.sigs, sig)
	}
	// The fixtures must be genuine, or the verification targets prove nothing.
	if err := VerifyContest(fx.pk, fx.election, cred, 0, fx.totLo, fx.totHi, ec); err != nil {
		return nil, err
	}
	if err := VerifyKnowledge(cred, fx.totCtx, fx.know); err != nil {
		return nil, err
	}
	if err := VerifyEquality(fx.pk, fx.eqBase, fx.eqZ, fx.totCtx, fx.eq); err != nil {
		return nil, err
	}
	for i, sig := range fx.sigs {
		if err := cred.Verify(fx.election, fx.sigMsgs[i], sig); err != nil {
			return nil, err
		}
	}
	return fx, nil
})

func fuzzSetup(tb testing.TB) *fuzzFixtures {
	tb.Helper()
	fx, err := fuzzFixturesOnce()
	if err != nil {
		tb.Fatalf("failed to make fuzz fixtures: %v", err)
	}
	return fx
}

// fuzzSeed is one named seed input; args are the fuzz function's arguments.
type fuzzSeed struct {
	name string
	args []any
}

func fuzzAddSeeds(f *testing.F, seeds []fuzzSeed) {
	for _, s := range seeds {
		f.Add(s.args...)
	}
}

var (
	// fuzzFieldP is p = 2^255 − 19, the field order.
	fuzzFieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// fuzzGroupL is ℓ = 2^252 + 27742317777372353535851937790883648493.
	fuzzGroupL, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
)

// fuzzLEInt reads b as a little-endian integer.
func fuzzLEInt(b []byte) *big.Int {
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	return new(big.Int).SetBytes(be)
}

// fuzzLEBytes writes n as a 32-byte little-endian string; n must be < 2^256.
func fuzzLEBytes(n *big.Int) []byte {
	be := n.FillBytes(make([]byte, 32))
	out := make([]byte, 32)
	for i, c := range be {
		out[31-i] = c
	}
	return out
}

// fuzzScalarCanonical is an oracle for §2.2, independent of the group
// library: b is 32 bytes whose little-endian value is below ℓ.
func fuzzScalarCanonical(b []byte) bool {
	return len(b) == ScalarSize && fuzzLEInt(b).Cmp(fuzzGroupL) < 0
}

func fuzzAllZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

// fuzzLayoutValid is an oracle for §11: b is the concatenation of 32-byte
// fields as layout says, each decoding on its own: 'e' an element, 'E' a
// non-identity element, 's' a scalar, 'k' a non-zero scalar.
func fuzzLayoutValid(b []byte, layout string) bool {
	if len(b) != 32*len(layout) {
		return false
	}
	for i, c := range layout {
		f := b[32*i : 32*i+32]
		switch c {
		case 'e', 'E':
			e, err := NewElement(f)
			if err != nil || (c == 'E' && e.IsIdentity()) {
				return false
			}
		case 's', 'k':
			if !fuzzScalarCanonical(f) || (c == 'k' && fuzzAllZero(f)) {
				return false
			}
		default:
			panic("bad layout " + layout)
		}
	}
	return true
}

// fuzzRangeLayout is the layout of a range proof of len(b)/128 branches, or
// "" if no range proof has that length.
func fuzzRangeLayout(b []byte) string {
	n := len(b) / rangeBranchSize
	if len(b)%rangeBranchSize != 0 || n < 1 || n > MaxRangeBranches {
		return ""
	}
	return strings.Repeat("eess", n)
}

// fuzzVariants returns valid, whose 32-byte fields follow layout ('e' an
// element, 's' a scalar), and encodings derived from it that a lax decoder
// might accept: each field made non-canonical (top bit set, all 0xff, ≥ p or
// a negative field element, ≥ ℓ or s + ℓ), the identity or zero in each
// field, and the whole truncated, extended, doubled and emptied.
func fuzzVariants(valid []byte, layout string) []fuzzSeed {
	var out []fuzzSeed
	add := func(name string, b []byte) { out = append(out, fuzzSeed{name, []any{b}}) }
	with := func(i int, f []byte) []byte {
		b := bytes.Clone(valid)
		copy(b[32*i:], f)
		return b
	}
	add("valid", bytes.Clone(valid))
	for i, c := range layout {
		f := valid[32*i : 32*i+32]
		topBit := bytes.Clone(f)
		topBit[31] |= 0x80
		add(fmt.Sprintf("f%d-top-bit", i), with(i, topBit))
		add(fmt.Sprintf("f%d-ff", i), with(i, bytes.Repeat([]byte{0xff}, 32)))
		add(fmt.Sprintf("f%d-zero", i), with(i, make([]byte, 32)))
		switch c {
		case 'e':
			// p is a non-canonical encoding of 0 (the identity's s); p − s
			// is the negative square root the decoder must refuse.
			add(fmt.Sprintf("f%d-p", i), with(i, fuzzLEBytes(fuzzFieldP)))
			add(fmt.Sprintf("f%d-negative", i), with(i, fuzzLEBytes(new(big.Int).Sub(fuzzFieldP, fuzzLEInt(f)))))
		case 's':
			add(fmt.Sprintf("f%d-order", i), with(i, fuzzLEBytes(fuzzGroupL)))
			add(fmt.Sprintf("f%d-plus-order", i), with(i, fuzzLEBytes(new(big.Int).Add(fuzzLEInt(f), fuzzGroupL))))
		default:
			panic("bad layout " + layout)
		}
	}
	add("truncated", bytes.Clone(valid[:len(valid)-1]))
	add("extended", append(bytes.Clone(valid), 0))
	add("doubled", append(bytes.Clone(valid), valid...))
	add("empty", []byte{})
	return out
}

// fuzzRenamed prefixes the names of seeds.
func fuzzRenamed(prefix string, seeds []fuzzSeed) []fuzzSeed {
	out := make([]fuzzSeed, len(seeds))
	for i, s := range seeds {
		out[i] = fuzzSeed{prefix + s.name, s.args}
	}
	return out
}

func fuzzElementSeeds(fx *fuzzFixtures) []fuzzSeed {
	seeds := fuzzVariants(fx.elem.Bytes(), "e")
	seeds = append(seeds, fuzzRenamed("base-", fuzzVariants(BaseElement().Bytes(), "e"))...)
	return append(seeds,
		fuzzSeed{"identity", []any{make([]byte, 32)}},
		fuzzSeed{"all-ff", []any{bytes.Repeat([]byte{0xff}, 32)}},
		fuzzSeed{"one", []any{fuzzLEBytes(big.NewInt(1))}},
		fuzzSeed{"two", []any{fuzzLEBytes(big.NewInt(2))}},
		fuzzSeed{"generator", []any{Generator("fuzz").Bytes()}},
	)
}

func fuzzSecretKeySeeds(fx *fuzzFixtures) []fuzzSeed {
	return append(fuzzVariants(fx.sk.Bytes(), "s"),
		fuzzSeed{"one", []any{fuzzLEBytes(big.NewInt(1))}},
		fuzzSeed{"order-minus-one", []any{fuzzLEBytes(new(big.Int).Sub(fuzzGroupL, big.NewInt(1)))}},
		fuzzSeed{"order-plus-one", []any{fuzzLEBytes(new(big.Int).Add(fuzzGroupL, big.NewInt(1)))}},
	)
}

func fuzzCiphertextSeeds(fx *fuzzFixtures) []fuzzSeed {
	seeds := fuzzVariants(fx.selCT.Bytes(), "ee")
	return append(seeds, fuzzRenamed("total-", fuzzVariants(fx.totCT.Bytes(), "ee"))[:1]...)
}

func fuzzRangeProofSeeds(fx *fuzzFixtures) []fuzzSeed {
	seeds := fuzzVariants(fx.selProof.Bytes(), "eesseess")
	tot := fx.totProof.Bytes()
	branch := fx.selProof.Bytes()[:rangeBranchSize]
	return append(seeds,
		fuzzSeed{"total", []any{tot}},
		fuzzSeed{"total-truncated", []any{tot[:len(tot)-rangeBranchSize]}},
		fuzzSeed{"one-branch", []any{bytes.Clone(branch)}},
		fuzzSeed{"half-branch", []any{bytes.Clone(branch[:64])}},
		fuzzSeed{"max-branches", []any{bytes.Repeat(branch, MaxRangeBranches)}},
		fuzzSeed{"too-many-branches", []any{bytes.Repeat(branch, MaxRangeBranches+1)}},
	)
}

// fuzzDecodeErr checks that a decoding error is one a caller can tell apart.
func fuzzDecodeErr(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrEncoding) && !errors.Is(err, ErrIdentity) {
		t.Fatalf("%s: error %q wraps neither ErrEncoding nor ErrIdentity", what, err)
	}
}

// fuzzCodec is what every decoded object with a text form offers.
type fuzzCodec interface {
	Bytes() []byte
	MarshalText() ([]byte, error)
	UnmarshalText([]byte) error
}

// fuzzCheckDecoded checks a successful decode of in: Bytes gives back in (and
// a fresh copy each time), and the text form round-trips through a fresh
// receiver. decode decoded a copy of in that was then wiped, so the object
// must not alias its input.
func fuzzCheckDecoded(t *testing.T, what string, in []byte, v fuzzCodec, fresh fuzzCodec) {
	t.Helper()
	out := v.Bytes()
	if !bytes.Equal(out, in) {
		t.Fatalf("%s: re-encoding differs:\n in  %x\n out %x", what, in, out)
	}
	if len(out) > 0 {
		out[0] ^= 0xff
		if !bytes.Equal(v.Bytes(), in) {
			t.Fatalf("%s: Bytes returns the object's own storage", what)
		}
	}
	text, err := v.MarshalText()
	if err != nil {
		t.Fatalf("%s: MarshalText: %v", what, err)
	}
	if want := base64.RawURLEncoding.EncodeToString(in); string(text) != want {
		t.Fatalf("%s: MarshalText = %q, want %q", what, text, want)
	}
	if err := fresh.UnmarshalText(text); err != nil {
		t.Fatalf("%s: UnmarshalText(MarshalText()) = %v", what, err)
	}
	if !bytes.Equal(fresh.Bytes(), in) {
		t.Fatalf("%s: text round trip gives %x, want %x", what, fresh.Bytes(), in)
	}
}

// fuzzDecodeWiped runs decode on a copy of b and then overwrites the copy.
func fuzzDecodeWiped[T any](b []byte, decode func([]byte) (T, error)) (T, error) {
	in := bytes.Clone(b)
	v, err := decode(in)
	for i := range in {
		in[i] = 0xa5
	}
	return v, err
}

func FuzzElement(f *testing.F) {
	fuzzAddSeeds(f, fuzzElementSeeds(fuzzSetup(f)))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := fuzzDecodeWiped(b, NewElement)
		if err != nil {
			fuzzDecodeErr(t, "NewElement", err)
			if e != nil {
				t.Fatal("NewElement returned both an element and an error")
			}
			return
		}
		fuzzCheckDecoded(t, "element", b, e, new(Element))
		// §2.1: the encoding is a field element below p, non-negative.
		if s := fuzzLEInt(b); s.Cmp(fuzzFieldP) >= 0 || s.Bit(0) != 0 {
			t.Fatalf("NewElement accepted a non-canonical field element %x", b)
		}
		if e.IsIdentity() != fuzzAllZero(b) {
			t.Fatalf("IsIdentity() = %v for %x", e.IsIdentity(), b)
		}
		if !e.Equal(e) {
			t.Fatal("element is not equal to itself")
		}
	})
}

func FuzzPublicKey(f *testing.F) {
	fx := fuzzSetup(f)
	fuzzAddSeeds(f, append(fuzzElementSeeds(fx), fuzzRenamed("pk-", fuzzVariants(fx.pk.Bytes(), "e"))...))
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := fuzzDecodeWiped(b, NewPublicKey)
		if ok := fuzzLayoutValid(b, "E"); (err == nil) != ok {
			t.Fatalf("NewPublicKey(%x) error = %v, but it is a valid non-identity element: %v", b, err, ok)
		}
		if err != nil {
			fuzzDecodeErr(t, "NewPublicKey", err)
			if pk != nil {
				t.Fatal("NewPublicKey returned both a key and an error")
			}
			return
		}
		fuzzCheckDecoded(t, "public key", b, pk, new(PublicKey))
		if fuzzAllZero(pk.Bytes()) {
			t.Fatal("NewPublicKey accepted the identity")
		}
		if !pk.Equal(pk) {
			t.Fatal("public key is not equal to itself")
		}
	})
}

func FuzzSecretKey(f *testing.F) {
	fuzzAddSeeds(f, fuzzSecretKeySeeds(fuzzSetup(f)))
	f.Fuzz(func(t *testing.T, b []byte) {
		sk, err := fuzzDecodeWiped(b, NewSecretKey)
		if ok := fuzzLayoutValid(b, "k"); (err == nil) != ok {
			t.Fatalf("NewSecretKey(%x) error = %v, but it is a canonical non-zero scalar: %v", b, err, ok)
		}
		if err != nil {
			fuzzDecodeErr(t, "NewSecretKey", err)
			if sk != nil {
				t.Fatal("NewSecretKey returned both a key and an error")
			}
			return
		}
		out := sk.Bytes()
		if !bytes.Equal(out, b) {
			t.Fatalf("secret key re-encoding differs:\n in  %x\n out %x", b, out)
		}
		out[0] ^= 0xff
		if !bytes.Equal(sk.Bytes(), b) {
			t.Fatal("SecretKey.Bytes returns the key's own storage")
		}
		if fuzzAllZero(sk.Bytes()) {
			t.Fatal("NewSecretKey accepted zero")
		}
		if _, err := NewPublicKey(sk.PublicKey().Bytes()); err != nil {
			t.Fatalf("public key of a decoded secret key: %v", err)
		}
		// STYLE.md point 7: the secret never reaches a log.
		printed := fmt.Sprintf("%v %+v %#v %s", sk, sk, sk, sk)
		for _, enc := range []string{hex.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b), base64.StdEncoding.EncodeToString(b)} {
			if strings.Contains(printed, enc) {
				t.Fatalf("formatting a secret key prints the secret: %s", printed)
			}
		}
	})
}

func FuzzCiphertext(f *testing.F) {
	fuzzAddSeeds(f, fuzzCiphertextSeeds(fuzzSetup(f)))
	f.Fuzz(func(t *testing.T, b []byte) {
		ct, err := fuzzDecodeWiped(b, NewCiphertext)
		if ok := fuzzLayoutValid(b, "Ee"); (err == nil) != ok {
			t.Fatalf("NewCiphertext(%x) error = %v, but it is two elements, α not the identity: %v", b, err, ok)
		}
		if err != nil {
			fuzzDecodeErr(t, "NewCiphertext", err)
			if ct != nil {
				t.Fatal("NewCiphertext returned both a ciphertext and an error")
			}
			return
		}
		fuzzCheckDecoded(t, "ciphertext", b, ct, new(Ciphertext))
		if ct.Alpha().IsIdentity() {
			t.Fatal("NewCiphertext accepted α = identity")
		}
		if !bytes.Equal(ct.Alpha().Bytes(), b[:ElementSize]) {
			t.Fatal("Alpha() is not the first element of the encoding")
		}
	})
}

// FuzzCiphertextSum: a sum of ciphertexts (a tally's) decodes like a
// ciphertext except that α may be the identity (spec §2.1).
func FuzzCiphertextSum(f *testing.F) {
	fuzzAddSeeds(f, fuzzCiphertextSeeds(fuzzSetup(f)))
	f.Add(make([]byte, CiphertextSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := fuzzDecodeWiped(b, NewCiphertextSum)
		if ok := fuzzLayoutValid(b, "ee"); (err == nil) != ok {
			t.Fatalf("NewCiphertextSum(%x) error = %v, but it is two elements: %v", b, err, ok)
		}
		if err != nil {
			fuzzDecodeErr(t, "NewCiphertextSum", err)
			if s != nil {
				t.Fatal("NewCiphertextSum returned both a sum and an error")
			}
			return
		}
		fuzzCheckDecoded(t, "ciphertext sum", b, s, new(CiphertextSum))
		if _, err := NewCiphertext(b); (err == nil) == s.Alpha().IsIdentity() {
			t.Fatalf("a sum with identity α %v decodes as a ballot ciphertext: %v", s.Alpha().IsIdentity(), err)
		}
	})
}

func FuzzKnowledgeProof(f *testing.F) {
	fuzzAddSeeds(f, fuzzVariants(fuzzSetup(f).know.Bytes(), "es"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := fuzzDecodeWiped(b, NewKnowledgeProof)
		if ok := fuzzLayoutValid(b, "es"); (err == nil) != ok {
			t.Fatalf("NewKnowledgeProof(%x) error = %v, but it is an element and a scalar: %v", b, err, ok)
		}
		if err != nil {
			fuzzDecodeErr(t, "NewKnowledgeProof", err)
			if p != nil {
				t.Fatal("NewKnowledgeProof returned both a proof and an error")
			}
			return
		}
		fuzzCheckDecoded(t, "knowledge proof", b, p, new(KnowledgeProof))
	})
}

func FuzzEqualityProof(f *testing.F) {
	fuzzAddSeeds(f, fuzzVariants(fuzzSetup(f).eq.Bytes(), "ees"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := fuzzDecodeWiped(b, NewEqualityProof)
		if ok := fuzzLayoutValid(b, "ees"); (err == nil) != ok {
			t.Fatalf("NewEqualityProof(%x) error = %v, but it is two elements and a scalar: %v", b, err, ok)
		}
		if err != nil {
			fuzzDecodeErr(t, "NewEqualityProof", err)
			if p != nil {
				t.Fatal("NewEqualityProof returned both a proof and an error")
			}
			return
		}
		fuzzCheckDecoded(t, "equality proof", b, p, new(EqualityProof))
	})
}

func FuzzRangeProof(f *testing.F) {
	fuzzAddSeeds(f, fuzzRangeProofSeeds(fuzzSetup(f)))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := fuzzDecodeWiped(b, NewRangeProof)
		layout := fuzzRangeLayout(b)
		if ok := layout != "" && fuzzLayoutValid(b, layout); (err == nil) != ok {
			t.Fatalf("NewRangeProof(%d bytes) error = %v, but it is 1 to %d valid branches: %v", len(b), err, MaxRangeBranches, ok)
		}
		if err != nil {
			fuzzDecodeErr(t, "NewRangeProof", err)
			if p != nil {
				t.Fatal("NewRangeProof returned both a proof and an error")
			}
			return
		}
		fuzzCheckDecoded(t, "range proof", b, p, new(RangeProof))
	})
}

func FuzzSignature(f *testing.F) {
	fuzzAddSeeds(f, fuzzVariants(fuzzSetup(f).sigs[1].Bytes(), "es"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sig, err := fuzzDecodeWiped(b, NewSignature)
		if ok := fuzzLayoutValid(b, "es"); (err == nil) != ok {
			t.Fatalf("NewSignature(%x) error = %v, but it is an element and a scalar: %v", b, err, ok)
		}
		if err != nil {
			fuzzDecodeErr(t, "NewSignature", err)
			if sig != nil {
				t.Fatal("NewSignature returned both a signature and an error")
			}
			return
		}
		fuzzCheckDecoded(t, "signature", b, sig, new(Signature))
	})
}

// fuzzTextKind is one type with a text form, for FuzzText.
type fuzzTextKind struct {
	name   string
	valid  []byte                          // a valid binary encoding
	decode func([]byte) (fuzzCodec, error) // the binary decoder
}

func fuzzCodecOf[T fuzzCodec](decode func([]byte) (T, error)) func([]byte) (fuzzCodec, error) {
	return func(b []byte) (fuzzCodec, error) {
		v, err := decode(b)
		if err != nil {
			return nil, err
		}
		return v, nil
	}
}

// fuzzTextKinds lists the types in FuzzText's kind order; kind 7 tries all.
func fuzzTextKinds(fx *fuzzFixtures) []fuzzTextKind {
	return []fuzzTextKind{
		{"element", fx.elem.Bytes(), fuzzCodecOf(NewElement)},
		{"public key", fx.pk.Bytes(), fuzzCodecOf(NewPublicKey)},
		{"ciphertext", fx.selCT.Bytes(), fuzzCodecOf(NewCiphertext)},
		{"knowledge proof", fx.know.Bytes(), fuzzCodecOf(NewKnowledgeProof)},
		{"equality proof", fx.eq.Bytes(), fuzzCodecOf(NewEqualityProof)},
		{"range proof", fx.selProof.Bytes(), fuzzCodecOf(NewRangeProof)},
		{"signature", fx.sigs[1].Bytes(), fuzzCodecOf(NewSignature)},
	}
}

// fuzzStrictBase64 is the §11 text decoding, as an oracle: unpadded
// base64url with zero trailing bits and nothing else (the standard decoder
// skips line breaks even in strict mode).
func fuzzStrictBase64(text []byte) ([]byte, bool) {
	if bytes.ContainsAny(text, "\r\n") {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(string(text))
	return b, err == nil
}

func fuzzTextSeeds(fx *fuzzFixtures) []fuzzSeed {
	var seeds []fuzzSeed
	add := func(name string, kind int, text string) {
		seeds = append(seeds, fuzzSeed{name, []any{byte(kind), []byte(text)}})
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for k, kind := range fuzzTextKinds(fx) {
		valid := base64.RawURLEncoding.EncodeToString(kind.valid)
		n := strings.ReplaceAll(kind.name, " ", "-")
		add(n+"-valid", k, valid)
		last := strings.IndexByte(alphabet, valid[len(valid)-1])
		add(n+"-trailing-bits", k, valid[:len(valid)-1]+alphabet[last^1:last^1+1])
		add(n+"-padded", k, base64.URLEncoding.EncodeToString(kind.valid))
		add(n+"-std-alphabet", k, "+/"+valid[2:])
		add(n+"-line-break", k, valid[:10]+"\n"+valid[10:])
		add(n+"-crlf", k, valid[:len(valid)-1]+"\r\n")
		add(n+"-truncated", k, valid[:len(valid)-1])
		add(n+"-extended", k, valid+"A")
		add(n+"-space", k, " "+valid[1:])
		add(n+"-all-kinds", k+8, valid)
	}
	zeros := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	add("identity-element", 0, zeros)
	add("identity-public-key", 1, zeros)
	add("identity-alpha", 2, base64.RawURLEncoding.EncodeToString(make([]byte, CiphertextSize)))
	add("empty", 5, "")
	add("all", 7, base64.RawURLEncoding.EncodeToString(fx.selProof.Bytes()))
	add("all-ff", 7, base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32)))
	return seeds
}

// FuzzText fuzzes the text form (spec §11) of every type: kind%8 picks the
// type in fuzzTextKinds order, and 7 tries them all on the same text.
func FuzzText(f *testing.F) {
	fx := fuzzSetup(f)
	kinds := fuzzTextKinds(fx)
	fuzzAddSeeds(f, fuzzTextSeeds(fx))
	f.Fuzz(func(t *testing.T, kind byte, text []byte) {
		k := int(kind % 8)
		if k == 7 {
			for _, kind := range kinds {
				fuzzCheckText(t, kind, text)
			}
			return
		}
		fuzzCheckText(t, kinds[k], text)
	})
}

// fuzzCheckText unmarshals text into a receiver holding a valid object, and
// checks that it is accepted exactly when it is the strict base64url form of
// a valid binary encoding, that the receiver is untouched on error, and that
// MarshalText gives back the text.
func fuzzCheckText(t *testing.T, kind fuzzTextKind, text []byte) {
	t.Helper()
	v, err := kind.decode(kind.valid)
	if err != nil {
		t.Fatalf("%s: fixture does not decode: %v", kind.name, err)
	}
	in := bytes.Clone(text)
	err = v.UnmarshalText(in)
	for i := range in {
		in[i] = 'A'
	}
	raw, rawOK := fuzzStrictBase64(text)
	binOK := false
	if rawOK {
		_, binErr := kind.decode(raw)
		binOK = binErr == nil
	}
	if (err == nil) != binOK {
		t.Fatalf("%s: UnmarshalText(%q) error = %v, but text is strict base64url: %v, of a valid encoding: %v", kind.name, text, err, rawOK, binOK)
	}
	if err != nil {
		fuzzDecodeErr(t, kind.name+" UnmarshalText", err)
		if !bytes.Equal(v.Bytes(), kind.valid) {
			t.Fatalf("%s: failed UnmarshalText(%q) changed the receiver", kind.name, text)
		}
		return
	}
	out, err := v.MarshalText()
	if err != nil {
		t.Fatalf("%s: MarshalText: %v", kind.name, err)
	}
	if !bytes.Equal(out, text) {
		t.Fatalf("%s: text round trip differs:\n in  %q\n out %q", kind.name, text, out)
	}
	if !bytes.Equal(v.Bytes(), raw) {
		t.Fatalf("%s: UnmarshalText(%q) decoded %x, want %x", kind.name, text, v.Bytes(), raw)
	}
}

func fuzzVerifyRangeSeeds(fx *fuzzFixtures) []fuzzSeed {
	sel, tot := fx.selProof.Bytes(), fx.totProof.Bytes()
	seeds := []fuzzSeed{
		{"selection", []any{sel, uint64(0), uint64(1)}},
		{"total", []any{tot, fx.totLo, fx.totHi}},
		{"total-shifted-range", []any{tot, fx.totLo - 1, fx.totHi - 1}},
		{"total-wrong-size", []any{tot, fx.totLo, fx.totHi + 1}},
		{"selection-as-total", []any{sel, fx.totLo, fx.totLo + 1}},
		{"total-reversed-range", []any{tot, fx.totHi, fx.totLo}},
		{"total-whole-range", []any{tot, uint64(0), ^uint64(0)}},
		{"total-top-of-range", []any{tot, ^uint64(0) - 2, ^uint64(0)}},
		{"total-as-selection", []any{tot, uint64(0), uint64(1)}},
	}
	// STYLE.md point 9: flipped bytes in every field, and the proof of one
	// statement checked against another.
	for i := 0; i < len(tot); i += 16 {
		b := bytes.Clone(tot)
		b[i] ^= 0x02
		seeds = append(seeds, fuzzSeed{fmt.Sprintf("total-flip-%d", i), []any{b, fx.totLo, fx.totHi}})
	}
	for _, s := range fuzzVariants(sel, "eesseess") {
		seeds = append(seeds, fuzzSeed{"selection-" + s.name, append(s.args, uint64(0), uint64(1))})
	}
	return seeds
}

// FuzzVerifyRangeProof checks that no proof but the genuine one verifies as
// the fixtures' selection or contest total, for any range.
func FuzzVerifyRangeProof(f *testing.F) {
	fx := fuzzSetup(f)
	fuzzAddSeeds(f, fuzzVerifyRangeSeeds(fx))
	genuineSel, genuineTot := fx.selProof.Bytes(), fx.totProof.Bytes()
	f.Fuzz(func(t *testing.T, proof []byte, lo, hi uint64) {
		p, err := NewRangeProof(proof)
		if err != nil {
			return
		}
		wantSel := bytes.Equal(proof, genuineSel)
		wantTot := bytes.Equal(proof, genuineTot) && lo == fx.totLo && hi == fx.totHi
		selErr := VerifySelection(fx.pk, fx.selCtx, fx.selCT, p)
		if (selErr == nil) != wantSel {
			t.Fatalf("VerifySelection = %v for proof %x", selErr, proof)
		}
		totErr := VerifyTotal(fx.pk, fx.totCtx, lo, hi, fx.totCT, p)
		if (totErr == nil) != wantTot {
			t.Fatalf("VerifyTotal([%d, %d]) = %v for proof %x", lo, hi, totErr, proof)
		}
		for _, err := range []error{selErr, totErr} {
			if err != nil && !errors.Is(err, ErrInvalidProof) {
				t.Fatalf("verification error %q does not wrap ErrInvalidProof", err)
			}
		}
		// The same two checks in one batch name the same bad items.
		b := NewBatch()
		b.AddSelection(fx.pk, fx.selCtx, fx.selCT, p)
		b.AddTotal(fx.pk, fx.totCtx, lo, hi, fx.totCT, p)
		var want []int
		if !wantSel {
			want = append(want, 0)
		}
		if !wantTot {
			want = append(want, 1)
		}
		err = b.Verify()
		var be *BatchError
		switch {
		case len(want) == 0 && err != nil:
			t.Fatalf("batch of genuine proofs: %v", err)
		case len(want) > 0 && !errors.As(err, &be):
			t.Fatalf("batch with bad items %v: error %v is not a *BatchError", want, err)
		case len(want) > 0 && fmt.Sprint(be.Bad()) != fmt.Sprint(want):
			t.Fatalf("batch names bad items %v, want %v", be.Bad(), want)
		}
	})
}

func fuzzSignatureVerifySeeds(fx *fuzzFixtures) []fuzzSeed {
	var seeds []fuzzSeed
	for i, sig := range fx.sigs {
		seeds = append(seeds, fuzzSeed{fmt.Sprintf("genuine-%d", i), []any{bytes.Clone(fx.sigMsgs[i]), sig.Bytes()}})
	}
	sig, msg := fx.sigs[1].Bytes(), fx.sigMsgs[1]
	seeds = append(seeds,
		fuzzSeed{"other-message", []any{[]byte("ballot!"), sig}},
		fuzzSeed{"message-prefix", []any{msg[:len(msg)-1], sig}},
		fuzzSeed{"swapped", []any{bytes.Clone(fx.sigMsgs[2]), sig}},
		fuzzSeed{"proof-as-signature", []any{bytes.Clone(msg), fx.know.Bytes()}},
	)
	for i := range sig {
		if i%8 == 0 {
			b := bytes.Clone(sig)
			b[i] ^= 0x02
			seeds = append(seeds, fuzzSeed{fmt.Sprintf("flip-%d", i), []any{bytes.Clone(msg), b}})
		}
	}
	for _, s := range fuzzVariants(sig, "es") {
		seeds = append(seeds, fuzzSeed{"sig-" + s.name, append([]any{bytes.Clone(msg)}, s.args...)})
	}
	return seeds
}

// FuzzSignatureVerify checks that no signature verifies under the fixtures'
// credential but the genuine ones made by fuzzFixturesOnce, on their own
// messages and election.
func FuzzSignatureVerify(f *testing.F) {
	fx := fuzzSetup(f)
	fuzzAddSeeds(f, fuzzSignatureVerifySeeds(fx))
	cred := fx.credential.PublicKey()
	otherElection := fx.election
	otherElection[31] ^= 1
	f.Fuzz(func(t *testing.T, msg, sigBytes []byte) {
		sig, err := NewSignature(sigBytes)
		if err != nil {
			return
		}
		genuine := false
		for i, g := range fx.sigs {
			genuine = genuine || (bytes.Equal(msg, fx.sigMsgs[i]) && bytes.Equal(sigBytes, g.Bytes()))
		}
		err = cred.Verify(fx.election, msg, sig)
		if (err == nil) != genuine {
			t.Fatalf("Verify(%q, %x) = %v, genuine: %v", msg, sigBytes, err, genuine)
		}
		if err != nil && !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("verification error %q does not wrap ErrInvalidProof", err)
		}
		if err := cred.Verify(otherElection, msg, sig); err == nil {
			t.Fatalf("signature %x on %q verifies for another election", sigBytes, msg)
		}
		if err := fx.pk.Verify(fx.election, msg, sig); err == nil {
			t.Fatalf("signature %x on %q verifies under another key", sigBytes, msg)
		}
	})
}

// FuzzCeremonyMessages feeds arbitrary bytes to every ceremony message
// decoder through a replay: it must never panic, and a replay with a
// forged message must not change a valid ceremony's key.
func FuzzCeremonyMessages(f *testing.F) {
	c := newTestCeremony(f, testRand(40), 2, 3)
	_, shares, msgs := c.run(f)
	out, err := Replay(c.roster, msgs)
	if err != nil {
		f.Fatal(err)
	}
	cts := testTally(f, c.rnd, out.PublicKey, []uint64{1, 2})
	dec := c.shares(f, out, shares, cts)
	for _, m := range append(msgs, dec...) {
		f.Add(m)
	}
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, m []byte) {
		got, err := Replay(c.roster, append(append([][]byte{}, msgs...), m))
		if err != nil || !got.PublicKey.Equal(out.PublicKey) {
			t.Fatalf("one more message changed the outcome: %v", err)
		}
		if _, err := ParseDealing(c.roster, m); err == nil && !containsBytes(msgs, m) {
			t.Fatal("forged dealing accepted")
		}
		if d, err := out.Combine(c.roster, cts, [][]byte{m, dec[0]}, 10); err == nil && !containsBytes(dec[1:], m) {
			t.Fatalf("one trustee's share plus a forged one decrypted: %v", d.Results)
		}
	})
}

func containsBytes(list [][]byte, b []byte) bool {
	for _, x := range list {
		if string(x) == string(b) {
			return true
		}
	}
	return false
}
