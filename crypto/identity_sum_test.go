package crypto

import (
	"slices"
	"testing"

	"github.com/gtank/ristretto255"
)

// TestIdentitySumSharesCannotBeForged: a tally's sum may have α = O (spec
// §2.1), whose honest decryption shares are D = x_j·O = O with an equality
// proof of base O. Its second equation, s·O = A₂ + c·D, is then A₂ = −c·D:
// only D = O can satisfy it, since c hashes A₂ and D. A trustee claiming
// D ≠ O (which would shift the count by −λ_j·D) is refused, whether it keeps
// the honest proof or solves the equation for a challenge it cannot know,
// and the other trustees' shares still give the true counts.
func TestIdentitySumSharesCannotBeForged(t *testing.T) {
	rnd := testRand(61)
	c := newTestCeremony(t, rnd, 2, 3)
	out, shares, _ := c.run(t)
	var threeG Ciphertext // (O, 3·G): ballots whose α cancel out
	threeG.beta.set(scalarMultBase(scalarFromUint64(3)))
	cts := []*Ciphertext{Sum(), &threeG, Sum()}
	all := c.shares(t, out, shares, cts)
	if dec, err := out.Combine(c.roster, cts, all, 10); err != nil || !slices.Equal(dec.Results, []uint64{0, 3, 0}) {
		t.Fatalf("honest shares: %+v %v", dec, err)
	}
	at := func(k int) int { return headerSize + 4 + (ElementSize+EqualityProofSize)*k }
	y1 := out.VerificationKeys[0]
	ctx := Context{Election: out.Fingerprint, Binding: binding("decrypt", 1, 2)}
	for _, claim := range []uint64{1, 2} {
		d := scalarMultBase(scalarFromUint64(claim))
		z := &Element{}
		z.set(d)
		for _, solve := range []bool{false, true} {
			bad := slices.Clone(all[0])
			off := at(1)
			copy(bad[off:], d.Bytes())
			if solve {
				// Trustee 1 knows x_1, so the first equation holds
				// (s = w + c·x_1); for the second it sets A₂ = −c₀·D
				// for the challenge c₀ of A₂ = O, which is not the
				// challenge of its A₂.
				var p EqualityProof
				w := scalarFromUint64(12345)
				p.a1.set(scalarMultBase(w))
				c0 := equalityChallenge(y1, &Element{}, z, ctx, &p)
				p.a2.set(new(ristretto255.Element).ScalarMult(new(ristretto255.Scalar).Negate(c0), d))
				ch := equalityChallenge(y1, &Element{}, z, ctx, &p)
				p.s.Multiply(ch, &shares[0].x)
				p.s.Add(&p.s, w)
				copy(bad[off+ElementSize:], p.Bytes())
			}
			bad = resign(t, rnd, c.roster, c.secrets[0], bad)
			if _, err := out.VerifyDecryptionShares(c.roster, cts, bad); err == nil {
				t.Fatalf("trustee 1 claims D = %d·G for α = O (solved: %v): accepted", claim, solve)
			}
			dec, err := out.Combine(c.roster, cts, [][]byte{bad, all[1], all[2]}, 10)
			if err != nil || !slices.Equal(dec.Results, []uint64{0, 3, 0}) || !slices.Equal(dec.Used, []int{2, 3}) {
				t.Fatalf("with trustee 1's forged share: %+v %v", dec, err)
			}
		}
	}
}
