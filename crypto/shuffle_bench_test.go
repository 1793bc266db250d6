//go:build unix

package crypto

import (
	"fmt"
	"testing"
	"time"

	"github.com/gtank/ristretto255"
)

// scalarMultTime measures the processor time of one variable-base scalar
// multiplication, as BenchmarkScalarMult does, so that a benchmark can state
// its cost in that unit measured in the same run (docs/performance.md).
func scalarMultTime() time.Duration {
	s, _ := randomScalar(nil)
	p := scalarMultBase(s)
	var q ristretto255.Element
	const k = 5000
	start := cpuTime()
	for range k {
		q.ScalarMult(s, p)
	}
	return (cpuTime() - start) / k
}

func shuffleBenchInputs(b *testing.B, n, w int) (*PublicKey, Context, [][]*Ciphertext) {
	sk, err := GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	pk := sk.PublicKey()
	in := make([][]*Ciphertext, n)
	for j := range in {
		for k := range w {
			ct, err := Encrypt(nil, pk, uint64(k&1))
			if err != nil {
				b.Fatal(err)
			}
			in[j] = append(in[j], ct)
		}
	}
	return pk, Context{Election: Fingerprint{1}, Binding: []byte("mix\x00\x00\x00\x01")}, in
}

// reportShuffle reports the processor time per ciphertext, in nanoseconds
// and in scalar multiplications measured in the same run (before and after
// the loop, averaged).
func reportShuffle(b *testing.B, cts int, cpu, unit time.Duration) {
	unit = (unit + scalarMultTime()) / 2
	per := float64(cpu.Nanoseconds()) / float64(b.N*cts)
	b.ReportMetric(per, "cpu-ns/ciphertext")
	b.ReportMetric(per/float64(unit.Nanoseconds()), "scalarmults/ciphertext")
	b.ReportMetric(float64(unit.Nanoseconds()), "cpu-ns/scalarmult")
}

// BenchmarkShuffleProve shuffles and proves N ballots of width 10
// (spec §23.4), from ciphertexts to the mix's bytes.
func BenchmarkShuffleProve(b *testing.B) {
	for _, n := range shuffleBenchSizes {
		b.Run(fmt.Sprintf("N=%d,w=10", n), func(b *testing.B) {
			pk, ctx, in := shuffleBenchInputs(b, n, 10)
			unit := scalarMultTime()
			b.ReportAllocs()
			b.ResetTimer()
			start := cpuTime()
			for b.Loop() {
				m, err := ShuffleAndProve(nil, pk, ctx, in)
				if err != nil {
					b.Fatal(err)
				}
				_ = m.Bytes()
			}
			reportShuffle(b, n*10, cpuTime()-start, unit)
		})
	}
}

// BenchmarkShuffleVerify decodes and verifies a mix of N ballots of width
// 10 (spec §23.5), from the mix's bytes and decoded inputs (a verifier has
// the inputs decoded already: the ballots, or the previous mix's output).
func BenchmarkShuffleVerify(b *testing.B) {
	for _, n := range shuffleBenchSizes {
		b.Run(fmt.Sprintf("N=%d,w=10", n), func(b *testing.B) {
			pk, ctx, in := shuffleBenchInputs(b, n, 10)
			m, err := ShuffleAndProve(nil, pk, ctx, in)
			if err != nil {
				b.Fatal(err)
			}
			raw := m.Bytes()
			unit := scalarMultTime()
			b.ReportAllocs()
			b.ResetTimer()
			start := cpuTime()
			for b.Loop() {
				m, err := NewMix(raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := VerifyShuffle(pk, ctx, in, m); err != nil {
					b.Fatal(err)
				}
			}
			reportShuffle(b, n*10, cpuTime()-start, unit)
		})
	}
}

// shuffleBenchSizes are the N benchmarked; SCRUTIN_BENCH_N may not change
// them: the figures in docs/performance.md say which were run.
var shuffleBenchSizes = []int{100, 1000, 10000}
