package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

// testRand returns a deterministic randomness stream.
func testRand(seed byte) io.Reader { return mrand.NewChaCha8([32]byte{seed}) }

func mustKey(t testing.TB, rnd io.Reader) *SecretKey {
	t.Helper()
	sk, err := GenerateKey(rnd)
	if err != nil {
		t.Fatal(err)
	}
	return sk
}

// signedCase is an object made of encoded parts (statement and proof) and a
// check that decodes every part and verifies. Flipping any byte of any part
// must make check fail.
type signedCase struct {
	name  string
	parts [][]byte
	check func(parts [][]byte) error
}

func fingerprint(b []byte) (Fingerprint, error) {
	var fp Fingerprint
	if len(b) != len(fp) {
		return fp, ErrEncoding
	}
	copy(fp[:], b)
	return fp, nil
}

// allCases returns one valid instance of every proof and signature type.
func allCases(t testing.TB, rnd io.Reader) []signedCase {
	t.Helper()
	election := mustKey(t, rnd)
	pk := election.PublicKey()
	cred := mustKey(t, rnd)
	fp := Fingerprint{0xfe, 0xed}
	ctx := Context{Election: fp, Binding: []byte("trustee 3")}
	var cases []signedCase

	kp, err := ProveKnowledge(rnd, election, ctx)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, signedCase{"knowledge", [][]byte{fp[:], pk.Bytes(), kp.Bytes()}, func(p [][]byte) error {
		fp, err := fingerprint(p[0])
		if err != nil {
			return err
		}
		y, err := NewPublicKey(p[1])
		if err != nil {
			return err
		}
		proof, err := NewKnowledgeProof(p[2])
		if err != nil {
			return err
		}
		return VerifyKnowledge(y, Context{Election: fp, Binding: []byte("trustee 3")}, proof)
	}})

	ct, err := Encrypt(rnd, pk, 7)
	if err != nil {
		t.Fatal(err)
	}
	z, ep, err := ProveEquality(rnd, election, ctx, ct.Alpha())
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, signedCase{"equality", [][]byte{fp[:], pk.Bytes(), ct.Alpha().Bytes(), z.Bytes(), ep.Bytes()}, func(p [][]byte) error {
		fp, err := fingerprint(p[0])
		if err != nil {
			return err
		}
		y, err := NewPublicKey(p[1])
		if err != nil {
			return err
		}
		base, err := NewElement(p[2])
		if err != nil {
			return err
		}
		z, err := NewElement(p[3])
		if err != nil {
			return err
		}
		proof, err := NewEqualityProof(p[4])
		if err != nil {
			return err
		}
		return VerifyEquality(y, base, z, Context{Election: fp, Binding: []byte("trustee 3")}, proof)
	}})

	for vote := range 2 {
		sctx := SelectionContext(fp, cred.PublicKey(), 2, 5)
		ct, proof, err := EncryptSelection(rnd, pk, sctx, vote)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, signedCase{fmt.Sprintf("selection-%d", vote), [][]byte{fp[:], pk.Bytes(), cred.PublicKey().Bytes(), ct.Bytes(), proof.Bytes()}, func(p [][]byte) error {
			fp, err := fingerprint(p[0])
			if err != nil {
				return err
			}
			y, err := NewPublicKey(p[1])
			if err != nil {
				return err
			}
			c, err := NewPublicKey(p[2])
			if err != nil {
				return err
			}
			ct, err := NewCiphertext(p[3])
			if err != nil {
				return err
			}
			proof, err := NewRangeProof(p[4])
			if err != nil {
				return err
			}
			return VerifySelection(y, SelectionContext(fp, c, 2, 5), ct, proof)
		}})
	}

	ec, err := EncryptContest(rnd, pk, fp, cred.PublicKey(), 1, []int{0, 1, 1, 0}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	parts := [][]byte{fp[:], pk.Bytes(), cred.PublicKey().Bytes(), ec.TotalProof.Bytes()}
	for j := range ec.Selections {
		parts = append(parts, ec.Selections[j].Bytes(), ec.Proofs[j].Bytes())
	}
	cases = append(cases, signedCase{"contest", parts, func(p [][]byte) error {
		fp, err := fingerprint(p[0])
		if err != nil {
			return err
		}
		y, err := NewPublicKey(p[1])
		if err != nil {
			return err
		}
		c, err := NewPublicKey(p[2])
		if err != nil {
			return err
		}
		ec := new(EncryptedContest)
		if ec.TotalProof, err = NewRangeProof(p[3]); err != nil {
			return err
		}
		for i := 4; i < len(p); i += 2 {
			ct, err := NewCiphertext(p[i])
			if err != nil {
				return err
			}
			proof, err := NewRangeProof(p[i+1])
			if err != nil {
				return err
			}
			ec.Selections = append(ec.Selections, ct)
			ec.Proofs = append(ec.Proofs, proof)
		}
		return VerifyContest(y, fp, c, 1, 1, 3, ec)
	}})

	msg := []byte("ballot bytes")
	sig, err := cred.Sign(rnd, fp, msg)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, signedCase{"signature", [][]byte{fp[:], cred.PublicKey().Bytes(), msg, sig.Bytes()}, func(p [][]byte) error {
		fp, err := fingerprint(p[0])
		if err != nil {
			return err
		}
		c, err := NewPublicKey(p[1])
		if err != nil {
			return err
		}
		sig, err := NewSignature(p[3])
		if err != nil {
			return err
		}
		return c.Verify(fp, p[2], sig)
	}})
	return cases
}

func TestValidCasesVerify(t *testing.T) {
	for _, c := range allCases(t, testRand(1)) {
		if err := c.check(c.parts); err != nil {
			t.Errorf("%s: valid object rejected: %v", c.name, err)
		}
	}
}

// TestFlipEveryByte flips each byte of every part (statement, context and
// proof) of every proof and signature type, two ways, and requires rejection.
func TestFlipEveryByte(t *testing.T) {
	for _, c := range allCases(t, testRand(2)) {
		t.Run(c.name, func(t *testing.T) {
			for i, part := range c.parts {
				for j := range part {
					for _, mask := range []byte{0x01, 0x80} {
						parts := slices.Clone(c.parts)
						parts[i] = slices.Clone(part)
						parts[i][j] ^= mask
						err := c.check(parts)
						if err == nil {
							t.Fatalf("part %d byte %d ^ %#x: accepted", i, j, mask)
						}
						if !errors.Is(err, ErrInvalidProof) && !errors.Is(err, ErrEncoding) && !errors.Is(err, ErrIdentity) {
							t.Fatalf("part %d byte %d: error %v wraps no sentinel", i, j, err)
						}
					}
				}
			}
		})
	}
}

// TestBatchAgreesWithSingle mixes good and bad proofs of every kind and
// requires the batch to name exactly the items single verification rejects,
// which are exactly the ones corrupted.
func TestBatchAgreesWithSingle(t *testing.T) {
	rnd := testRand(3)
	pool := allCases(t, rnd)
	for round := range 12 {
		r := mrand.New(mrand.NewPCG(uint64(round), 7))
		n := 1 + r.IntN(40)
		badRate := []float64{0, 1, 0.05, 0.3, 0.5}[round%5]
		b := NewBatch()
		var wantBad, singleBad []int
		for i := range n {
			c := pool[r.IntN(len(pool))]
			parts := slices.Clone(c.parts)
			corrupt := r.Float64() < badRate
			if corrupt {
				// Corrupt the proof (last part) so that it still decodes:
				// swap in the same type's proof from another instance.
				parts[len(parts)-1] = otherProof(t, c.name, pool, rnd)
			}
			if corrupt {
				wantBad = append(wantBad, i)
			}
			if err := c.check(parts); err != nil {
				singleBad = append(singleBad, i)
			}
			addCase(t, b, c.name, parts)
		}
		if !slices.Equal(wantBad, singleBad) {
			t.Fatalf("round %d: single verification rejected %v, corrupted %v", round, singleBad, wantBad)
		}
		err := b.Verify()
		var got []int
		var be *BatchError
		if errors.As(err, &be) {
			got = be.Bad()
		} else if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, wantBad) {
			t.Fatalf("round %d (n=%d): batch named %v, want %v", round, n, got, wantBad)
		}
		if len(wantBad) > 0 && !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("batch error %v does not wrap ErrInvalidProof", err)
		}
	}
}

// otherProof returns a valid proof of the same type made for a different
// statement: it decodes, but must not verify here.
func otherProof(t *testing.T, name string, pool []signedCase, rnd io.Reader) []byte {
	for _, c := range allCases(t, rnd) {
		if c.name == name {
			if name == "contest" {
				return c.parts[len(c.parts)-1] // a selection proof of another ballot
			}
			return c.parts[len(c.parts)-1]
		}
	}
	t.Fatalf("no case %s", name)
	return nil
}

// addCase adds the decoded case to a batch: one item per case (contests
// are added through their last selection proof only, which is the part that
// may be corrupted).
func addCase(t *testing.T, b *Batch, name string, p [][]byte) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	fp, err := fingerprint(p[0])
	must(err)
	switch {
	case name == "knowledge":
		y, err := NewPublicKey(p[1])
		must(err)
		proof, err := NewKnowledgeProof(p[2])
		must(err)
		b.AddKnowledge(y, Context{Election: fp, Binding: []byte("trustee 3")}, proof)
	case name == "equality":
		y, err := NewPublicKey(p[1])
		must(err)
		base, err := NewElement(p[2])
		must(err)
		z, err := NewElement(p[3])
		must(err)
		proof, err := NewEqualityProof(p[4])
		must(err)
		b.AddEquality(y, base, z, Context{Election: fp, Binding: []byte("trustee 3")}, proof)
	case strings.HasPrefix(name, "selection"):
		y, err := NewPublicKey(p[1])
		must(err)
		c, err := NewPublicKey(p[2])
		must(err)
		ct, err := NewCiphertext(p[3])
		must(err)
		proof, err := NewRangeProof(p[4])
		must(err)
		b.AddSelection(y, SelectionContext(fp, c, 2, 5), ct, proof)
	case name == "contest":
		// The whole contest is checked by c.check; in the batch, use its
		// last selection as one item.
		y, err := NewPublicKey(p[1])
		must(err)
		c, err := NewPublicKey(p[2])
		must(err)
		last := len(p) - 2
		ct, err := NewCiphertext(p[last])
		must(err)
		proof, err := NewRangeProof(p[last+1])
		must(err)
		b.AddSelection(y, SelectionContext(fp, c, 1, uint32((last-4)/2)), ct, proof)
	case name == "signature":
		c, err := NewPublicKey(p[1])
		must(err)
		sig, err := NewSignature(p[3])
		must(err)
		b.AddSignature(c, fp, p[2], sig)
	default:
		t.Fatalf("unknown case %s", name)
	}
}

func TestBatchReportsStructuralErrors(t *testing.T) {
	rnd := testRand(4)
	sk := mustKey(t, rnd)
	pk := sk.PublicKey()
	ctx := Context{Binding: []byte{1}}
	ct, proof, err := EncryptSelection(rnd, pk, ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBatch()
	b.AddSelection(pk, ctx, ct, proof)                         // 0: good
	b.AddTotal(pk, ctx, 0, 2, ct, proof)                       // 1: wrong branch count
	b.AddSelection(pk, Context{Binding: []byte{2}}, ct, proof) // 2: replayed into another binding
	b.AddTotal(pk, ctx, 5, 2, ct, proof)                       // 3: empty range
	err = b.Verify()
	var be *BatchError
	if !errors.As(err, &be) || !slices.Equal(be.Bad(), []int{1, 2, 3}) {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(be.Items[0].Err.Error(), "branches") || !strings.Contains(be.Items[1].Err.Error(), "challenges") {
		t.Fatalf("errors do not say what failed: %v", err)
	}
}

func TestReplayIntoOtherBallotOrElection(t *testing.T) {
	rnd := testRand(5)
	pk := mustKey(t, rnd).PublicKey()
	cred, other := mustKey(t, rnd).PublicKey(), mustKey(t, rnd).PublicKey()
	fp := Fingerprint{1}
	ct, proof, err := EncryptSelection(rnd, pk, SelectionContext(fp, cred, 0, 0), 1)
	if err != nil {
		t.Fatal(err)
	}
	for name, ctx := range map[string]Context{
		"other credential": SelectionContext(fp, other, 0, 0),
		"other contest":    SelectionContext(fp, cred, 1, 0),
		"other option":     SelectionContext(fp, cred, 0, 1),
		"other election":   SelectionContext(Fingerprint{2}, cred, 0, 0),
	} {
		if err := VerifySelection(pk, ctx, ct, proof); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("%s: got %v", name, err)
		}
	}
	// A selection proof is not a contest-total proof of the same ciphertext.
	if err := VerifyTotal(pk, TotalContext(fp, cred, 0), 0, 1, ct, proof); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("selection proof accepted as total proof: %v", err)
	}
}

func TestDecodersRejectBadEncodings(t *testing.T) {
	rnd := testRand(6)
	pk := mustKey(t, rnd).PublicKey()
	valid := pk.Bytes()
	high := slices.Clone(valid)
	high[31] |= 0x80
	ff := bytes.Repeat([]byte{0xff}, 32)
	zero := make([]byte, 32)
	orderL := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	for name, b := range map[string][]byte{"high bit": high, "all ff": ff, "short": valid[:31], "long": append(slices.Clone(valid), 0)} {
		if _, err := NewElement(b); !errors.Is(err, ErrEncoding) {
			t.Errorf("element %s: got %v", name, err)
		}
		if _, err := NewPublicKey(b); !errors.Is(err, ErrEncoding) {
			t.Errorf("public key %s: got %v", name, err)
		}
	}
	if _, err := NewPublicKey(zero); !errors.Is(err, ErrIdentity) {
		t.Errorf("identity public key: got %v", err)
	}
	if e, err := NewElement(zero); err != nil || !e.IsIdentity() {
		t.Errorf("identity element: got %v", err)
	}
	if _, err := NewCiphertext(append(slices.Clone(zero), valid...)); !errors.Is(err, ErrIdentity) {
		t.Errorf("ciphertext with α = identity: got %v", err)
	}
	if _, err := NewCiphertext(append(slices.Clone(valid), zero...)); err != nil {
		t.Errorf("ciphertext with β = identity must decode: %v", err)
	}
	if _, err := NewSecretKey(orderL); !errors.Is(err, ErrEncoding) {
		t.Errorf("scalar ℓ: got %v", err)
	}
	if _, err := NewSecretKey(zero); !errors.Is(err, ErrEncoding) {
		t.Errorf("zero secret key: got %v", err)
	}
	sig, _ := mustKey(t, rnd).Sign(rnd, Fingerprint{}, nil)
	bad := sig.Bytes()
	copy(bad[32:], orderL)
	if _, err := NewSignature(bad); !errors.Is(err, ErrEncoding) {
		t.Errorf("signature with s = ℓ: got %v", err)
	}
	for _, n := range []int{0, 127, 129, 128 * (MaxRangeBranches + 1)} {
		if _, err := NewRangeProof(make([]byte, n)); !errors.Is(err, ErrEncoding) {
			t.Errorf("range proof of %d bytes: got %v", n, err)
		}
	}
}

func TestTextForm(t *testing.T) {
	rnd := testRand(7)
	pk := mustKey(t, rnd).PublicKey()
	text, _ := pk.MarshalText()
	var back PublicKey
	if err := back.UnmarshalText(text); err != nil || !back.Equal(pk) {
		t.Fatalf("round trip: %v", err)
	}
	ct, proof, _ := EncryptSelection(rnd, pk, Context{}, 0)
	ptext, _ := proof.MarshalText()
	var p2 RangeProof
	if err := p2.UnmarshalText(ptext); err != nil || !bytes.Equal(p2.Bytes(), proof.Bytes()) {
		t.Fatalf("range proof round trip: %v", err)
	}
	ctext, _ := ct.MarshalText()
	for name, bad := range map[string]string{
		"padding":       string(text) + "=",
		"std alphabet":  strings.NewReplacer("-", "+", "_", "/").Replace(string(text)) + "+",
		"line break":    string(text[:20]) + "\n" + string(text[20:]),
		"trailing bits": string(text[:42]) + "B",
		"empty":         "",
		"ciphertext":    string(ctext),
	} {
		var k PublicKey
		if err := k.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%s: accepted %q", name, bad)
		}
	}
	var p3 RangeProof
	if err := p3.UnmarshalText(append(slices.Clone(ptext[:100]), append([]byte("\r\n"), ptext[100:]...)...)); err == nil {
		t.Error("range proof with a line break accepted")
	}
}

func TestHomomorphicTallyAndRerandomize(t *testing.T) {
	rnd := testRand(8)
	sk := mustKey(t, rnd)
	pk := sk.PublicKey()
	var cts []*Ciphertext
	want := uint64(0)
	for i := range 30 {
		m := uint64(i % 3)
		want += m
		ct, err := Encrypt(rnd, pk, m)
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ct)
	}
	sum := Sum(cts...)
	if got, err := sk.Decrypt(sum, 100); err != nil || got != want {
		t.Fatalf("sum decrypts to %d (%v), want %d", got, err, want)
	}
	re, err := Rerandomize(rnd, pk, sum)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(re.Bytes(), sum.Bytes()) {
		t.Fatal("re-randomisation did not change the ciphertext")
	}
	if got, _ := sk.Decrypt(re, 100); got != want {
		t.Fatalf("re-randomised sum decrypts to %d", got)
	}
	if _, err := sk.Decrypt(sum, want-1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("search below the value: %v", err)
	}
	r := make([]byte, 32)
	r[0] = 9
	a, _ := EncryptWithRandomness(pk, 1, r)
	b, _ := EncryptWithRandomness(pk, 1, r)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("EncryptWithRandomness is not deterministic")
	}
}

func TestContestRules(t *testing.T) {
	rnd := testRand(9)
	pk := mustKey(t, rnd).PublicKey()
	cred := mustKey(t, rnd).PublicKey()
	fp := Fingerprint{3}
	for _, c := range []struct {
		votes    []int
		min, max uint64
		ok       bool
	}{
		{[]int{1, 0, 0}, 1, 1, true},
		{[]int{0, 0, 0}, 0, 1, true}, // blank vote allowed
		{[]int{1, 1, 1}, 0, 3, true}, // approval
		{[]int{0, 0, 0}, 1, 1, false},
		{[]int{1, 1, 0}, 1, 1, false},
		{[]int{2, 0, 0}, 1, 2, false},
		{[]int{-1, 1, 1}, 0, 3, false},
		{[]int{1, 0}, 1, 3, false}, // max above the number of options
		{[]int{1, 0, 0}, 2, 1, false},
		{nil, 0, 0, false},
	} {
		ec, err := EncryptContest(rnd, pk, fp, cred, 0, c.votes, c.min, c.max)
		if (err == nil) != c.ok {
			t.Errorf("votes %v in [%d,%d]: got %v", c.votes, c.min, c.max, err)
			continue
		}
		if err == nil {
			if err := VerifyContest(pk, fp, cred, 0, c.min, c.max, ec); err != nil {
				t.Errorf("votes %v: %v", c.votes, err)
			}
		} else if !errors.Is(err, ErrRange) {
			t.Errorf("votes %v: error %v is not ErrRange", c.votes, err)
		}
	}
	if _, _, err := EncryptSelection(rnd, pk, Context{}, 2); !errors.Is(err, ErrRange) {
		t.Errorf("selection 2: %v", err)
	}
	// A contest whose total proof was made for other rules is rejected.
	ec, _ := EncryptContest(rnd, pk, fp, cred, 0, []int{1, 1, 0}, 0, 2)
	if err := VerifyContest(pk, fp, cred, 0, 1, 1, ec); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("total checked against other rules: %v", err)
	}
	// Swapping two selections (with their proofs) breaks their bindings.
	ec.Selections[0], ec.Selections[1] = ec.Selections[1], ec.Selections[0]
	ec.Proofs[0], ec.Proofs[1] = ec.Proofs[1], ec.Proofs[0]
	if err := VerifyContest(pk, fp, cred, 0, 0, 2, ec); !errors.Is(err, ErrInvalidProof) {
		t.Errorf("swapped selections: %v", err)
	}
}

// TestForgedTotal checks the total proof is what stops an over-vote: every
// selection is a valid 0/1, but the sum exceeds max.
func TestForgedTotal(t *testing.T) {
	rnd := testRand(10)
	pk := mustKey(t, rnd).PublicKey()
	cred := mustKey(t, rnd).PublicKey()
	fp := Fingerprint{4}
	over, _ := EncryptContest(rnd, pk, fp, cred, 0, []int{1, 1, 0}, 0, 3)
	legal, _ := EncryptContest(rnd, pk, fp, cred, 0, []int{1, 0, 0}, 0, 1)
	over.TotalProof = legal.TotalProof
	if err := VerifyContest(pk, fp, cred, 0, 0, 1, over); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("over-vote accepted: %v", err)
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	sk := mustKey(t, testRand(11))
	hex := fmt.Sprintf("%x", sk.Bytes())
	for _, s := range []string{fmt.Sprint(sk), fmt.Sprintf("%v %+v %#v %s %x", sk, sk, sk, sk, sk)} {
		if strings.Contains(s, hex) || !strings.Contains(s, "redacted") {
			t.Fatalf("secret printed: %s", s)
		}
	}
}

func TestGenerator(t *testing.T) {
	a, b := Generator("pedersen/h"), Generator("pedersen/h")
	c := Generator("pedersen/k")
	if !a.Equal(b) || a.Equal(c) || a.Equal(BaseElement()) || a.IsIdentity() {
		t.Fatal("derived generators are not deterministic and distinct")
	}
}

func TestSignatureIsKeyAndElectionBound(t *testing.T) {
	rnd := testRand(12)
	sk, other := mustKey(t, rnd), mustKey(t, rnd)
	sig, _ := sk.Sign(rnd, Fingerprint{1}, []byte("m"))
	if err := other.PublicKey().Verify(Fingerprint{1}, []byte("m"), sig); !errors.Is(err, ErrInvalidProof) {
		t.Error("signature accepted under another key")
	}
	if err := sk.PublicKey().Verify(Fingerprint{2}, []byte("m"), sig); !errors.Is(err, ErrInvalidProof) {
		t.Error("signature accepted for another election")
	}
	// Hedged nonces: signing twice gives different signatures, both valid.
	sig2, _ := sk.Sign(rnd, Fingerprint{1}, []byte("m"))
	if bytes.Equal(sig.Bytes(), sig2.Bytes()) || sk.PublicKey().Verify(Fingerprint{1}, []byte("m"), sig2) != nil {
		t.Error("nonces are not fresh")
	}
}

// TestAllBranchesSimulated is the attack the challenge-sum check stops: a
// prover who simulates every branch can "prove" that an encryption of 2 is 0
// or 1. Only c_0 + c_1 = H(statement, commitments) prevents it.
func TestAllBranchesSimulated(t *testing.T) {
	rnd := testRand(13)
	pk := mustKey(t, rnd).PublicKey()
	ctx := Context{Binding: []byte("x")}
	ct, err := Encrypt(rnd, pk, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := &RangeProof{branches: make([]rangeBranch, 2)}
	for j := range p.branches {
		br := &p.branches[j]
		c, _ := randomScalar(rnd)
		s, _ := randomScalar(rnd)
		br.c, br.s = *c, *s
		negC := new(ristretto255.Scalar).Negate(c)
		a := new(ristretto255.Element).ScalarMult(negC, &ct.alpha.e)
		br.a.set(a.Add(a, scalarMultBase(s)))
		shifted := new(ristretto255.Element).Subtract(&ct.beta.e, scalarMultBase(scalarFromUint64(uint64(j))))
		bj := new(ristretto255.Element).ScalarMult(negC, shifted)
		bj.Add(bj, new(ristretto255.Element).ScalarMult(s, &pk.e))
		br.b.set(bj)
	}
	if err := VerifySelection(pk, ctx, ct, p); !errors.Is(err, ErrInvalidProof) {
		t.Fatalf("fully simulated proof accepted: %v", err)
	}
}

// TestZeroValuesDoNotPanic: objects that were never decoded (a JSON null, a
// missing field) must give errors, never panics, and never verify.
func TestZeroValuesDoNotPanic(t *testing.T) {
	rnd := testRand(14)
	sk := mustKey(t, rnd)
	pk := sk.PublicKey()
	ctx := Context{Binding: []byte("z")}
	ct, proof, _ := EncryptSelection(rnd, pk, ctx, 1)
	var zeroKey PublicKey
	var zeroSK SecretKey
	if e := new(Element); !e.IsIdentity() {
		t.Error("zero Element is not the identity")
	}
	if _, err := DiscreteLog(new(Element), 5); err != nil {
		t.Error(err)
	}
	_ = Sum(new(Ciphertext), ct)
	if _, _, err := ProveEquality(rnd, sk, ctx, new(Element)); err != nil {
		t.Error(err)
	}
	for name, err := range map[string]error{
		"signature":           pk.Verify(Fingerprint{}, nil, new(Signature)),
		"knowledge":           VerifyKnowledge(pk, ctx, new(KnowledgeProof)),
		"equality":            VerifyEquality(pk, new(Element), new(Element), ctx, new(EqualityProof)),
		"range":               VerifySelection(pk, ctx, ct, new(RangeProof)),
		"zero ciphertext":     VerifySelection(pk, ctx, new(Ciphertext), proof),
		"zero key, signature": zeroKey.Verify(Fingerprint{}, nil, new(Signature)),
		"zero key, knowledge": VerifyKnowledge(&zeroKey, ctx, new(KnowledgeProof)),
		"zero key, equality":  VerifyEquality(&zeroKey, new(Element), new(Element), ctx, new(EqualityProof)),
		"zero key, selection": VerifySelection(&zeroKey, ctx, ct, proof),
	} {
		if err == nil {
			t.Errorf("%s: zero value verified", name)
		}
	}
	if _, err := ProveKnowledge(rnd, &zeroSK, ctx); !errors.Is(err, ErrIdentity) {
		t.Errorf("proof for the zero secret key: %v", err)
	}
	if _, err := zeroSK.Sign(rnd, Fingerprint{}, nil); !errors.Is(err, ErrIdentity) {
		t.Errorf("signature with the zero secret key: %v", err)
	}
	if _, err := Encrypt(rnd, &zeroKey, 1); !errors.Is(err, ErrIdentity) {
		t.Errorf("encryption under the identity: %v", err)
	}
	if _, _, err := EncryptSelection(rnd, &zeroKey, ctx, 1); !errors.Is(err, ErrIdentity) {
		t.Errorf("selection under the identity: %v", err)
	}
	if _, err := EncryptContest(rnd, &zeroKey, Fingerprint{}, pk, 0, []int{1}, 0, 1); !errors.Is(err, ErrIdentity) {
		t.Errorf("contest under the identity: %v", err)
	}
	// A proof of knowledge of 0 for the identity key is the attack the
	// explicit check stops.
	var kp KnowledgeProof
	kp.a.set(identity)
	if err := VerifyKnowledge(&zeroKey, ctx, &kp); !errors.Is(err, ErrIdentity) {
		t.Errorf("proof of knowledge of 0 for the identity: %v", err)
	}
}
