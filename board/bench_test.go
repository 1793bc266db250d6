package board

import (
	"fmt"
	"testing"
)

// BenchmarkReadLog reads and verifies a published log of 1,000,000 entries
// of about 100 bytes: every bundle parsed, the tree recomputed, every tile
// compared (spec §17.3). It reports entries per second.
func BenchmarkReadLog(b *testing.B) {
	const n = 1_000_000
	l := newTestLog(b, "genesis")
	batch := make([][]byte, 0, 10_000)
	for i := 1; i < n; i++ {
		batch = append(batch, fmt.Appendf(nil, "ballot %07d %090d", i, i))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := l.s.Append(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	c, signed := l.checkpoint(b)
	files := &MemFiles{}
	if err := Publish(ctx, l.s, 0, c, signed, files); err != nil {
		b.Fatal(err)
	}
	opt := ReadOptions{Origin: l.origin, LogKey: l.key}
	b.ResetTimer()
	for b.Loop() {
		if got, _, err := ReadPublished(ctx, files, opt); err != nil || got.Size != n {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "entries/s")
}
