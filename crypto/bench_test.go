package crypto

import (
	"testing"

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

// BenchmarkVerifySelectionBatch verifies 256 selection proofs at once.
// "from-bytes" decodes ciphertexts and proofs inside the loop, as a verifier
// reading a record does once; "parsed-ciphertexts" starts from decoded
// ciphertexts (which the tally needs decoded anyway) and decodes only the
// proofs.
func BenchmarkVerifySelectionBatch(b *testing.B) {
	const n = 256
	pk, ctx := benchSetup(b)
	cts := make([][]byte, n)
	proofs := make([][]byte, n)
	for i := range n {
		ct, p, _ := EncryptSelection(nil, pk, ctx, i&1)
		cts[i], proofs[i] = ct.Bytes(), p.Bytes()
	}
	run := func(b *testing.B, parsed bool) {
		decoded := make([]*Ciphertext, n)
		for i := range n {
			decoded[i], _ = NewCiphertext(cts[i])
		}
		for b.Loop() {
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
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/selection")
	}
	b.Run("from-bytes", func(b *testing.B) { run(b, false) })
	b.Run("parsed-ciphertexts", func(b *testing.B) { run(b, true) })
}
