package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
)

// ballots encrypts n ballots of the fixture's voters, in turn (re-votes
// past the roll's size), for election e.
func ballots(b *testing.B, f *demo.Fixture, e *server.Election, n int) [][]byte {
	var view *election.Election
	e.State(func(s *election.State) { view, _ = s.Voter() })
	out := make([][]byte, n)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 2 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				v := i % len(f.Codes)
				k, err := election.CredentialKey(f.F, f.Codes[v])
				if err != nil {
					b.Error(err)
					return
				}
				entry, err := view.NewBallot(nil, k, f.Choices(v, []int{i % 3}, []int{}))
				if err != nil {
					b.Error(err)
					return
				}
				out[i] = entry[1:]
			}
		})
	}
	wg.Wait()
	return out
}

// BenchmarkFloodIsolation: while clients flood election A with ballots
// (as fast as the server takes them), a voter of election B on the same
// server casts one ballot after another; it reports B's latencies (p50,
// p99) and A's throughput. Issue 15 asks B's p99 under 100 ms.
func BenchmarkFloodIsolation(b *testing.B) {
	ctx := context.Background()
	master := masterSeed()
	c := newCatalogue(b)
	r := openRegistry(b, c, master, filepath.Join(b.TempDir(), "checkpoints"))
	defer r.Close()
	fa, fb := fixture(b, master, "a", 200), fixture(b, master, "b", 40)
	ea, err := r.Create(ctx, "a", nil)
	if err != nil {
		b.Fatal(err)
	}
	record(b, fa, ea)
	eb, err := r.Create(ctx, "b", nil)
	if err != nil {
		b.Fatal(err)
	}
	record(b, fb, eb)
	const floodFor = 3 * time.Second
	flood := ballots(b, fa, ea, 1200)
	mine := ballots(b, fb, eb, 40)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	post := func(url string, body []byte) (int, error) {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	for b.Loop() {
		began := time.Now()
		fctx, cancel := context.WithTimeout(ctx, floodFor)
		var accepted atomic.Int64
		var next atomic.Int64
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for fctx.Err() == nil {
					i := int(next.Add(1)-1) % len(flood)
					if code, err := post(srv.URL+"/api/e/a/ballots", flood[i]); err == nil && code == 201 {
						accepted.Add(1)
					}
				}
			})
		}
		time.Sleep(200 * time.Millisecond) // the flood is under way
		var lat []time.Duration
		for _, body := range mine {
			start := time.Now()
			code, err := post(srv.URL+"/api/e/b/ballots", body)
			if err != nil || (code != 201 && code != 200) {
				b.Fatalf("B's ballot: %d %v", code, err)
			}
			lat = append(lat, time.Since(start))
			if fctx.Err() != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		wg.Wait()
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
		b.ReportMetric(float64(p50.Microseconds())/1000, "B-p50-ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "B-p99-ms")
		b.ReportMetric(float64(accepted.Load())/time.Since(began).Seconds(), "A-new-ballots/s")
		if p99 > 100*time.Millisecond {
			// A measure, not a test: it depends on the machine's other load.
			b.Logf("B's p99 is %v under a flood on A; issue 15 asks under 100 ms", p99)
		}
	}
}
