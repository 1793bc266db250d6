package verify

import (
	"testing"

	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/mirror"
)

// BenchmarkVerifyRecord verifies a whole published record of 1,000 voters
// (about 1,100 ballots of 5 selections: 2 contests), from memory, with all
// CPUs: the log, every entry, every proof and signature, the tally, the
// decryption and the result. It reports selections verified per second.
func BenchmarkVerifyRecord(b *testing.B) {
	f, _, _, err := demo.Run(ctx, demo.Options{Dir: b.TempDir(), Voters: 1000, Revote: 0.1, Workers: 16, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Store.Close()
	out := b.TempDir()
	if _, err := f.Election.Publish(ctx, mirror.Dir(out)); err != nil {
		b.Fatal(err)
	}
	files := loadFiles(b, out)
	selections := 0
	b.ResetTimer()
	for b.Loop() {
		rep, err := Record(ctx, files, Options{Election: &f.F})
		if err != nil || !rep.OK {
			b.Fatalf("%v %+v", err, rep.Failures)
		}
		selections += rep.Selections
	}
	b.ReportMetric(float64(selections)/b.Elapsed().Seconds(), "selections/s")
}
