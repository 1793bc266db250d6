package crypto

import (
	"testing"
	"time"

	"github.com/gtank/ristretto255"
)

// BenchmarkScalarMult is one variable-base scalar multiplication: the unit
// the other figures are compared with (docs/performance.md).
func BenchmarkScalarMult(b *testing.B) {
	s, _ := randomScalar(nil)
	p := scalarMultBase(s)
	var q ristretto255.Element
	for b.Loop() {
		q.ScalarMult(s, p)
	}
}

// scalarMultUnit returns the CPU time of k scalar multiplications, run
// now, so that a benchmark can report its cost in scalar multiplications
// measured interleaved with it, in CPU time: on a shared, noisy machine the
// ratio of two CPU times taken in the same moments is what is comparable.
func scalarMultUnit(k int) time.Duration {
	s, _ := randomScalar(nil)
	p := scalarMultBase(s)
	var q ristretto255.Element
	start := cpuTime()
	for range k {
		q.ScalarMult(s, p)
	}
	return cpuTime() - start
}

func benchSetup(b *testing.B) (*PublicKey, Context) {
	sk, err := GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	cred, _ := GenerateKey(nil)
	return sk.PublicKey(), SelectionContext(Fingerprint{1}, cred.PublicKey(), 0, 0)
}

// BenchmarkEncryptSelection encrypts one 0/1 selection with its proof.
func BenchmarkEncryptSelection(b *testing.B) {
	pk, ctx := benchSetup(b)
	for i := 0; b.Loop(); i++ {
		if _, _, err := EncryptSelection(nil, pk, ctx, i&1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncryptBallot1of5 encrypts a ballot of one contest of five
// options, one chosen: five selections with their proofs, the contest-total
// proof, and the credential's signature over them; "before" multiplies by
// the election key without its table, as before issue 21.
func BenchmarkEncryptBallot1of5(b *testing.B) {
	pk, _ := benchSetup(b)
	cred, _ := GenerateKey(nil)
	votes := []int{0, 0, 1, 0, 0}
	run := func(b *testing.B) {
		var unit, cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			unit += scalarMultUnit(4)
			b.StartTimer()
			start := cpuTime()
			ec, err := EncryptContest(nil, pk, Fingerprint{1}, cred.PublicKey(), 0, votes, 1, 1)
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, 0, 5*(CiphertextSize+256))
			for j := range ec.Selections {
				msg = append(msg, ec.Selections[j].Bytes()...)
				msg = append(msg, ec.Proofs[j].Bytes()...)
			}
			msg = append(msg, ec.TotalProof.Bytes()...)
			if _, err := cred.Sign(nil, Fingerprint{1}, msg); err != nil {
				b.Fatal(err)
			}
			cpu += cpuTime() - start
		}
		b.ReportMetric(float64(cpu)/float64(unit)*4, "scalarmults/ballot")
	}
	b.Run("after", run)
	b.Run("before", func(b *testing.B) {
		noKeyTables = true
		defer func() { noKeyTables = false }()
		run(b)
	})
}

// BenchmarkVerifySelection verifies one selection proof alone.
func BenchmarkVerifySelection(b *testing.B) {
	pk, ctx := benchSetup(b)
	ct, p, _ := EncryptSelection(nil, pk, ctx, 1)
	for b.Loop() {
		if err := VerifySelection(pk, ctx, ct, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifySelectionBatch verifies 256 selection proofs at once
// (about 1,600 points: the bucket method), and "…-4096" 4,096 (a verifier's
// chunk of 800 ballots of 5 selections; about 25,000 points). "from-bytes" decodes ciphertexts and proofs inside the loop, as a verifier
// reading a record does once; "parsed-ciphertexts" starts from decoded
// ciphertexts (which the tally needs decoded anyway) and decodes only the
// proofs.
func BenchmarkVerifySelectionBatch(b *testing.B) {
	const most = 4096
	pk, ctx := benchSetup(b)
	cts := make([][]byte, most)
	proofs := make([][]byte, most)
	for i := range most {
		ct, p, _ := EncryptSelection(nil, pk, ctx, i&1)
		cts[i], proofs[i] = ct.Bytes(), p.Bytes()
	}
	run := func(b *testing.B, parsed bool, n int) {
		decoded := make([]*Ciphertext, n)
		for i := range n {
			decoded[i], _ = NewCiphertext(cts[i])
		}
		var unit, cpu time.Duration
		for b.Loop() {
			b.StopTimer()
			unit += scalarMultUnit(n / 16)
			b.StartTimer()
			start := cpuTime()
			batch := NewBatch()
			for i := range n {
				ct := decoded[i]
				if !parsed {
					var err error
					if ct, err = NewCiphertext(cts[i]); err != nil {
						b.Fatal(err)
					}
				}
				p, err := NewRangeProof(proofs[i])
				if err != nil {
					b.Fatal(err)
				}
				batch.AddSelection(pk, ctx, ct, p)
			}
			if err := batch.Verify(); err != nil {
				b.Fatal(err)
			}
			cpu += cpuTime() - start
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/selection")
		// unit is n/16 scalar multiplications per iteration.
		b.ReportMetric(float64(cpu)/float64(unit)/16, "scalarmults/selection")
	}
	b.Run("from-bytes", func(b *testing.B) { run(b, false, 256) })
	b.Run("parsed-ciphertexts", func(b *testing.B) { run(b, true, 256) })
	b.Run("from-bytes-4096", func(b *testing.B) { run(b, false, 4096) })
	// Before issue 21: edwards25519's Straus method for every size.
	b.Run("from-bytes-straus", func(b *testing.B) {
		defer func(m int) { pippengerMin = m }(pippengerMin)
		pippengerMin = 1 << 30
		run(b, false, 256)
	})
}
