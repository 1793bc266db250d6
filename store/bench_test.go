package store

import (
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrutin/scrutin/board"
)

// BenchmarkAppend appends 300-byte entries, one per call, from 64
// concurrent appenders (as a server's request handlers would), so that group
// commit can share each transaction's fsync. It reports entries per second.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range backends(b) {
		b.Run(bc.name, func(b *testing.B) {
			s := mustOpen(b, bc.location(b))
			entry := []byte(strings.Repeat("b", 300))
			var seq atomic.Int64
			b.SetParallelism(32) // 32 × GOMAXPROCS goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e := fmt.Appendf(nil, "%d %s", seq.Add(1), entry)
					if _, err := s.Append(ctx, [][]byte{e}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkInclusionProof proves and verifies the inclusion of a random
// entry in a 100,000-entry log read from the store.
func BenchmarkInclusionProof(b *testing.B) {
	for _, bc := range backends(b) {
		b.Run(bc.name, func(b *testing.B) {
			s := mustOpen(b, bc.location(b))
			const n = 100_000
			for i := 0; i < n; i += 4000 {
				if _, err := s.Append(ctx, entriesN(fmt.Sprint(i), 4000)); err != nil {
					b.Fatal(err)
				}
			}
			c, err := board.CurrentCheckpoint(ctx, s, "bench")
			if err != nil {
				b.Fatal(err)
			}
			r := mrand.New(mrand.NewPCG(1, 1))
			b.ResetTimer()
			for b.Loop() {
				i := r.Int64N(n)
				p, err := board.ProveInclusion(ctx, s, i, c.Size)
				if err != nil {
					b.Fatal(err)
				}
				e, _ := s.ReadEntries(ctx, i, i+1)
				if err := board.VerifyInclusion(p, i, e[0], c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendWhileAnotherFloods times one-entry appends to an election
// while 64 appenders flood another election of the same database, and
// reports their median and 99th percentile latencies.
func BenchmarkAppendWhileAnotherFloods(b *testing.B) {
	for _, bc := range backends(b) {
		b.Run(bc.name, func(b *testing.B) {
			db := mustOpenDB(b, bc.location(b))
			flooded, quiet := mustLog(b, db, "flooded"), mustLog(b, db, "quiet")
			entry := []byte(strings.Repeat("b", 300))
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var flood atomic.Int64
			for g := range 64 {
				wg.Go(func() {
					for k := 0; ; k++ {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := flooded.Append(ctx, [][]byte{fmt.Appendf(nil, "%d %d %s", g, k, entry)}); err != nil {
							b.Error(err)
							return
						}
						flood.Add(1)
					}
				})
			}
			time.Sleep(200 * time.Millisecond)
			var lat []time.Duration
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				t := time.Now()
				if _, err := quiet.Append(ctx, [][]byte{fmt.Appendf(nil, "%d %s", i, entry)}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
			elapsed := time.Since(start)
			close(stop)
			wg.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(flood.Load())/elapsed.Seconds(), "flood-entries/s")
		})
	}
}
