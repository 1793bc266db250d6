// Package load casts real encrypted, signed ballots over HTTP at a chosen
// rate against a running scrutin server, and reports throughput and latency
// percentiles. Ballots are encrypted before the clock starts, so that the
// figures are the server's; latency is measured from each ballot's scheduled
// send time (no coordinated omission). It sends traffic to the URL it is
// given, which should be on loopback, and stops by itself.
package load

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
)

// Options configure a load run.
type Options struct {
	URL         string        // the server, e.g. http://127.0.0.1:8080
	Election    string        // the election's id (default "demo")
	Credentials string        // the credentials CSV (column credential_code)
	Rate        float64       // ballots per second
	Duration    time.Duration // how long to send
	Workers     int           // requests in flight at most (default 512)
	// Timeout is how long a client waits for its answer (default 30 s):
	// short, it plays voters who give up on a slow connection.
	Timeout  time.Duration
	Progress func(format string, args ...any)

	// Browsers is a costly-GET load sent meanwhile: that many clients,
	// each fetching BrowsePaths in turn, one request after another, without
	// Accept-Encoding (as a hostile client would), from the start of the
	// ballots until their end.
	Browsers    int
	BrowsePaths []string // default DefaultBrowsePaths
	// BrowseFrom names each browsing client by a distinct X-Forwarded-For
	// address (192.0.2.x), as if from many networks; the server must trust
	// loopback as a proxy (scrutin serve --trusted-proxy 127.0.0.1/32).
	BrowseFrom bool
}

// DefaultBrowsePaths are the costliest anonymous GETs of issue 13; {id}
// stands for the election's id.
var DefaultBrowsePaths = []string{"/static/scrutin.wasm", "/e/{id}/ballots"}

// api is the address of the election's API.
func (o *Options) api() string { return o.URL + "/api/e/" + o.Election }

// BrowseReport counts the costly GETs' answers.
type BrowseReport struct {
	Clients  int            `json:"clients"`
	Requests int            `json:"requests"`
	Status   map[string]int `json:"status"` // by status code, "error" for transport errors
	Bytes    int64          `json:"bytes"`
}

// Report is what a run measured.
type Report struct {
	Rate       float64 `json:"rate"`
	Sent       int     `json:"sent"`
	Accepted   int     `json:"accepted"`
	Refused    int     `json:"refused"`
	Failed     int     `json:"failed"`
	Seconds    float64 `json:"seconds"`
	Throughput float64 `json:"accepted_per_second"`
	P50        float64 `json:"p50_ms"`
	P90        float64 `json:"p90_ms"`
	P99        float64 `json:"p99_ms"`
	Max        float64 `json:"max_ms"`

	Browse *BrowseReport `json:"browse,omitempty"`
}

func (o *Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(format, args...)
	}
}

// Run prepares Rate×Duration ballots, then sends them on schedule.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Rate <= 0 || o.Duration <= 0 {
		return nil, errors.New("the rate and the duration must be positive")
	}
	if o.Workers == 0 {
		o.Workers = 512
	}
	if o.Election == "" {
		o.Election = "demo"
	}
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	client := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{MaxIdleConnsPerHost: o.Workers, MaxConnsPerHost: o.Workers}}
	view, err := fetchElection(ctx, client, o.api())
	if err != nil {
		return nil, err
	}
	codes, err := readCodes(o.Credentials)
	if err != nil {
		return nil, err
	}
	n := int(o.Rate * o.Duration.Seconds())
	o.progress("asking which contests each of %d credentials may answer…", len(codes))
	eligible, err := fetchEligibility(ctx, client, o.api(), view, codes)
	if err != nil {
		return nil, err
	}
	o.progress("encrypting %d ballots for %d credentials…", n, len(codes))
	ballots := make([][]byte, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, runtime.NumCPU())
	for w := range runtime.NumCPU() {
		wg.Go(func() {
			r := mrand.New(mrand.NewPCG(uint64(w), 1))
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				k, err := election.CredentialKey(view.Fingerprint, codes[i%len(codes)])
				if err != nil {
					errs <- err
					return
				}
				choices := make([][]int, len(view.Manifest.Contests))
				for c, ct := range view.Manifest.Contests {
					if !eligible[i%len(codes)][ct.ID] {
						continue // nil: not eligible
					}
					perm := r.Perm(len(ct.Options))
					choices[c] = perm[:ct.Min+r.IntN(ct.Max-ct.Min+1)]
				}
				b, err := view.NewBallot(nil, k, choices)
				if err != nil {
					errs <- err
					return
				}
				ballots[i] = b[1:]
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}

	o.progress("sending %d ballots at %.0f/s to %s", n, o.Rate, o.URL)
	browseCtx, stopBrowsing := context.WithCancel(ctx)
	defer stopBrowsing()
	browsed := make(chan *BrowseReport, 1)
	if o.Browsers > 0 {
		o.progress("with %d clients fetching %v meanwhile", o.Browsers, o.browsePaths())
		go func() { browsed <- o.browse(browseCtx) }()
	} else {
		browsed <- nil
	}
	lat := make([]time.Duration, n)
	status := make([]int, n)
	sem := make(chan struct{}, o.Workers)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / o.Rate)
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, o.api()+"/ballots", bytes.NewReader(ballots[i]))
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			lat[i] = time.Since(due)
			if err != nil {
				status[i] = -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status[i] = resp.StatusCode
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopBrowsing()
	rep := &Report{Rate: o.Rate, Sent: n, Seconds: elapsed.Seconds(), Browse: <-browsed}
	var ok []time.Duration
	for i, s := range status {
		switch {
		case s == http.StatusCreated:
			rep.Accepted++
			ok = append(ok, lat[i])
		case s < 0 || s >= 500:
			rep.Failed++
		default:
			rep.Refused++
		}
	}
	rep.Throughput = float64(rep.Accepted) / elapsed.Seconds()
	slices.Sort(ok)
	pct := func(p float64) float64 {
		if len(ok) == 0 {
			return 0
		}
		return float64(ok[min(len(ok)-1, int(p*float64(len(ok))))].Microseconds()) / 1000
	}
	rep.P50, rep.P90, rep.P99, rep.Max = pct(0.50), pct(0.90), pct(0.99), pct(1)
	return rep, nil
}

func (o *Options) browsePaths() []string {
	paths := o.BrowsePaths
	if len(paths) == 0 {
		paths = DefaultBrowsePaths
	}
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = strings.ReplaceAll(p, "{id}", o.Election)
	}
	return out
}

// browse runs the costly-GET clients until ctx ends.
func (o *Options) browse(ctx context.Context) *BrowseReport {
	rep := &BrowseReport{Clients: o.Browsers, Status: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	paths := o.browsePaths()
	for c := range o.Browsers {
		wg.Go(func() {
			// One connection per client, no transparent gzip.
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true, MaxConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for i := c; ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.URL+paths[i%len(paths)], nil)
				if o.BrowseFrom {
					req.Header.Set("X-Forwarded-For", fmt.Sprintf("192.0.2.%d", 1+c%254))
				}
				resp, err := client.Do(req)
				key := "error"
				var n int64
				if err == nil {
					n, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					key = fmt.Sprint(resp.StatusCode)
				}
				if ctx.Err() != nil {
					return // cut short by the end of the run: not counted
				}
				mu.Lock()
				rep.Requests++
				rep.Status[key]++
				rep.Bytes += n
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return rep
}

func fetchElection(ctx context.Context, c *http.Client, url string) (*election.Election, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/election", nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to reach the server: %w", err)
	}
	defer resp.Body.Close()
	var info struct {
		ElectionKey string             `json:"election_key"`
		Fingerprint string             `json:"fingerprint"`
		Manifest    *election.Manifest `json:"manifest"`
		Phase       string             `json:"phase"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil || info.Manifest == nil {
		return nil, fmt.Errorf("the server did not describe its election: %v", err)
	}
	if info.Phase != "voting" {
		return nil, fmt.Errorf("voting is not open on the server (phase %q)", info.Phase)
	}
	var key crypto.PublicKey
	if err := key.UnmarshalText([]byte(info.ElectionKey)); err != nil {
		return nil, err
	}
	f, err := hex.DecodeString(info.Fingerprint)
	if err != nil || len(f) != 32 {
		return nil, errors.New("bad fingerprint")
	}
	// The fingerprint must be that of the manifest the server sent.
	if mf, err := info.Manifest.Fingerprint(); err != nil || !bytes.Equal(mf[:], f) {
		return nil, errors.New("the server's manifest does not hash to its fingerprint")
	}
	return &election.Election{Manifest: info.Manifest, Fingerprint: crypto.Fingerprint(f), Key: &key}, nil
}

// fetchEligibility asks the server which contests each credential may
// answer.
func fetchEligibility(ctx context.Context, c *http.Client, url string, view *election.Election, codes []string) ([]map[string]bool, error) {
	out := make([]map[string]bool, len(codes))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(codes) {
					return
				}
				k, err := election.CredentialKey(view.Fingerprint, codes[i])
				if err != nil {
					errs <- err
					return
				}
				t, _ := k.PublicKey().MarshalText()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/credentials/"+string(t), nil)
				resp, err := c.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var e struct{ Contests []string }
				err = json.NewDecoder(resp.Body).Decode(&e)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("the server does not know credential %d: %s", i+1, resp.Status)
					return
				}
				out[i] = make(map[string]bool)
				for _, id := range e.Contests {
					out[i][id] = true
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
		return out, nil
	}
}

func readCodes(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 {
		return nil, fmt.Errorf("%s is not a credentials file: %v", path, err)
	}
	col := slices.Index(rows[0], "credential_code")
	if col < 0 {
		return nil, fmt.Errorf("%s has no credential_code column", path)
	}
	var codes []string
	for _, r := range rows[1:] {
		codes = append(codes, r[col])
	}
	return codes, nil
}
