package crypto

import (
	"fmt"
	"testing"
)

// BenchmarkKeyCeremony runs a whole ceremony: every dealing, every check
// (complaints), the replay, every trustee's share and confirmation, and the
// final replay an observer does.
func BenchmarkKeyCeremony(b *testing.B) {
	for _, tn := range [][2]int{{3, 5}, {5, 9}} {
		b.Run(fmt.Sprintf("%d-of-%d", tn[0], tn[1]), func(b *testing.B) {
			c := newTestCeremony(b, testRand(30), tn[0], tn[1])
			for b.Loop() {
				c.run(b)
			}
		})
	}
}

func benchTally(b *testing.B) (*testCeremony, *Outcome, []*SecretKey, []*Ciphertext) {
	c := newTestCeremony(b, testRand(31), 3, 5)
	out, shares, _ := c.run(b)
	counts := make([]uint64, 10)
	for i := range counts {
		counts[i] = uint64(i)
	}
	return c, out, shares, testTally(b, c.rnd, out.PublicKey, counts)
}

// BenchmarkDecryptionShare is one trustee's decryption shares, with proofs,
// of a 10-option tally.
func BenchmarkDecryptionShare(b *testing.B) {
	c, out, shares, cts := benchTally(b)
	for b.Loop() {
		if _, err := out.DecryptShare(nil, c.roster, 1, c.secrets[0], shares[0], cts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCombineShares verifies the decryption shares of t = 3 trustees
// for a 10-option tally and combines them (3-of-5 ceremony).
func BenchmarkCombineShares(b *testing.B) {
	c, out, shares, cts := benchTally(b)
	msgs := c.shares(b, out, shares, cts)[:3]
	for b.Loop() {
		if _, err := out.Combine(c.roster, cts, msgs, 100); err != nil {
			b.Fatal(err)
		}
	}
}
