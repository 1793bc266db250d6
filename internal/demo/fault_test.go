package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// TestDroppedConnections is issue 13's defect 1: a client that resets its
// connection right after sending a ballot, or gives up waiting, must not
// stop the node. Each ballot sent is appended or not, whatever the client
// does, and the next voter is served; every receipt's ballot is in the log
// exactly once. On both stores.
func TestDroppedConnections(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres", "sqlite-sign-in"} {
		t.Run(kind, func(t *testing.T) {
			signIn := kind == "sqlite-sign-in"
			o := Options{Dir: t.TempDir(), Voters: 200, Workers: 4, Seed: 13, NoSignIn: !signIn}
			if kind == "postgres" {
				o.DB = postgresURL(t)
			}
			f, err := Setup(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Store.Close()
			url, stop, err := f.Serve("")
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			var view *election.Election
			f.Election.State(func(s *election.State) { view, _ = s.Voter() })
			ballot := func(v int) []byte {
				k, _ := election.CredentialKey(f.F, f.Codes[v])
				b, err := view.NewBallot(nil, k, f.Choices(v, []int{v % 3}, []int{v % 2}))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			healthy := func(when string) {
				t.Helper()
				resp, err := http.Get(url + "/healthz")
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: /healthz says %s %s", when, resp.Status, b)
				}
			}
			// With sign-in, each voter signs in first (not timed).
			token := func(v int) string {
				if !signIn {
					return ""
				}
				tok, err := f.SignIn(ctx, http.DefaultClient, url, f.Emails[v])
				if err != nil {
					t.Fatalf("voter %d signing in: %v", v, err)
				}
				return tok
			}
			receipts := make(map[string]int64) // tracker → index
			var mu sync.Mutex
			cast := func(client *http.Client, b []byte, tok string) (int, error) {
				req, _ := http.NewRequest(http.MethodPost, f.API(url)+"/ballots", bytes.NewReader(b[1:]))
				req.Header.Set("Content-Type", "application/json")
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := client.Do(req)
				if err != nil {
					return 0, err
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode == http.StatusCreated {
					var rc server.Receipt
					if err := json.Unmarshal(body, &rc); err != nil {
						return 0, err
					}
					if err := server.VerifyReceipt(&rc, b, board.Origin(f.F), f.LogKey); err != nil {
						t.Errorf("receipt: %v", err)
					}
					mu.Lock()
					receipts[rc.Tracker] = rc.Index
					mu.Unlock()
				}
				return resp.StatusCode, nil
			}

			// Connections reset (RST) right after the ballot is sent, at
			// moments spread over the ballot's checks and its commit.
			addr := strings.TrimPrefix(url, "http://")
			for i := range 10 {
				b, auth := ballot(i), ""
				if tok := token(i); tok != "" {
					auth = "Authorization: Bearer " + tok + "\r\n"
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(c, "POST /api/ballots HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s", addr, auth, len(b)-1, b[1:])
				time.Sleep(time.Duration(i) * time.Millisecond)
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
			time.Sleep(200 * time.Millisecond)
			healthy("after 10 connection resets")
			if st, err := cast(http.DefaultClient, ballot(10), token(10)); err != nil || st != http.StatusCreated {
				t.Fatalf("a ballot after 10 connection resets: %d %v", st, err)
			}

			// Clients that give up after a few milliseconds, many at once.
			var wg sync.WaitGroup
			r := mrand.New(mrand.NewPCG(13, 1))
			for i := 11; i < 171; i++ {
				b, tok := ballot(i), token(i)
				timeout := time.Duration(1+r.IntN(60)) * time.Millisecond
				wg.Go(func() {
					cast(&http.Client{Timeout: timeout, Transport: &http.Transport{}}, b, tok)
				})
			}
			wg.Wait()
			time.Sleep(200 * time.Millisecond)
			healthy("after clients timed out")
			for i := 171; i < 181; i++ {
				if st, err := cast(http.DefaultClient, ballot(i), token(i)); err != nil || st != http.StatusCreated {
					t.Fatalf("a ballot after clients timed out: %d %v", st, err)
				}
			}

			// Every receipt's ballot is in the log, at its index, once.
			n, err := f.Store.Size(ctx)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := f.Store.ReadEntries(ctx, 0, n)
			if err != nil {
				t.Fatal(err)
			}
			seen := make(map[string]int)
			for i, e := range entries {
				if e[0] != election.TypeBallot {
					continue
				}
				tr := election.Tracker(e)
				seen[tr]++
				if idx, ok := receipts[tr]; ok && idx != int64(i) {
					t.Errorf("tracker %s: receipt says index %d, the log has it at %d", tr, idx, i)
				}
			}
			for tr := range receipts {
				if seen[tr] != 1 {
					t.Errorf("tracker %s with a receipt is %d times in the log", tr, seen[tr])
				}
			}
			// The state agrees with the log.
			var size int64
			f.Election.State(func(s *election.State) { size = s.Size })
			if size != n {
				t.Fatalf("the state has %d entries, the log %d", size, n)
			}
			t.Logf("%d entries, %d receipts", n, len(receipts))
		})
	}
}

// flakyStore fails on demand: an append that is stored but reported as
// failed (a commit whose acknowledgement was lost), and a size that lies
// (a store that lost entries).
type flakyStore struct {
	store.Store
	failNext atomic.Bool
	lose     atomic.Int64
}

func (s *flakyStore) Append(ctx context.Context, entries [][]byte) (int64, error) {
	i, err := s.Store.Append(ctx, entries)
	if err == nil && s.failNext.CompareAndSwap(true, false) {
		return 0, errors.New("connection lost during commit")
	}
	return i, err
}

func (s *flakyStore) AppendFenced(ctx context.Context, entries [][]byte, f store.Fence) (int64, error) {
	i, err := s.Store.AppendFenced(ctx, entries, f)
	if err == nil && s.failNext.CompareAndSwap(true, false) {
		return 0, errors.New("connection lost during commit")
	}
	return i, err
}

func (s *flakyStore) Size(ctx context.Context) (int64, error) {
	n, err := s.Store.Size(ctx)
	return n - s.lose.Load(), err
}

func (s *flakyStore) Head(ctx context.Context) (int64, int64, error) {
	n, m, err := s.Store.Head(ctx)
	return n - s.lose.Load(), m, err
}

// TestStoreFailureRecovery: a real store failure stops the node, which
// says why on /healthz, reloads the log and serves again; a store that
// lost acknowledged entries stops it for good (Stopped), for the process
// to exit.
func TestStoreFailureRecovery(t *testing.T) {
	var flaky *flakyStore
	o := Options{Dir: t.TempDir(), Voters: 20, Workers: 2, Seed: 14, NoSignIn: true,
		WrapLog: func(st store.Store) store.Store { flaky = &flakyStore{Store: st}; return flaky }}
	f, err := Setup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	ballot := func(v int) []byte {
		k, _ := election.CredentialKey(f.F, f.Codes[v])
		b, err := view.NewBallot(nil, k, f.Choices(v, []int{0}, []int{1}))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	cast := func(b []byte) int {
		resp, err := http.Post(f.API(url)+"/ballots", "application/json", bytes.NewReader(b[1:]))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := cast(ballot(0)); st != http.StatusCreated {
		t.Fatalf("first ballot: %d", st)
	}
	flaky.failNext.Store(true)
	b1 := ballot(1)
	if st := cast(b1); st != http.StatusServiceUnavailable {
		t.Fatalf("ballot whose commit was lost: %d", st)
	}
	// The server serves (200); /healthz lists the election recovering.
	if st, body := get("/healthz"); st != http.StatusOK || !strings.Contains(body, "connection lost") && strings.Contains(body, "elections") {
		// Recovery may already be done; it must not be before the failure
		// was seen, which the 503 above shows.
		t.Fatalf("/healthz while broken: %d %s", st, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, body := get("/healthz")
		if st == http.StatusOK && !strings.Contains(body, "elections") {
			break
		}
		if time.Now().After(deadline) || !strings.Contains(body, `"recovering"`) {
			t.Fatalf("/healthz: %d %s", st, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The ballot was stored after all: the reloaded state has it.
	if st, body := get("/api/e/demo/ballots/" + election.Tracker(b1)); st != http.StatusOK {
		t.Fatalf("the ballot stored during the failure: %d %s", st, body)
	}
	if st := cast(ballot(2)); st != http.StatusCreated {
		t.Fatalf("ballot after recovery: %d", st)
	}
	if _, m := get("/metrics"); !strings.Contains(m, `scrutin_store_recoveries_total{election="demo"} 1`+"\n") || !strings.Contains(m, `scrutin_taking_entries{election="demo"} 1`+"\n") {
		t.Fatalf("metrics after one recovery:\n%s", m)
	}

	// A store that lost acknowledged entries: the node stops for good.
	flaky.lose.Store(2)
	flaky.failNext.Store(true)
	if st := cast(ballot(3)); st != http.StatusServiceUnavailable {
		t.Fatalf("ballot whose commit was lost: %d", st)
	}
	select {
	case <-f.Election.Stopped():
	case <-time.After(10 * time.Second):
		t.Fatal("the node did not stop on a store that lost entries")
	}
	if err := f.Election.Err(); err == nil || !strings.Contains(err.Error(), "contradicts") {
		t.Fatalf("Err: %v", err)
	}
	// The registry marks it failed, with its reason.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if l := f.Registry.List(); strings.Contains(l[0].Failed, "contradicts") {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("List after the stop: %+v", l)
		}
	}
	if st, body := get("/healthz"); st != http.StatusOK || !strings.Contains(body, `"stopped"`) || !strings.Contains(body, "entries") {
		t.Fatalf("/healthz when stopped: %d %s", st, body)
	}
	if st := cast(ballot(4)); st != http.StatusServiceUnavailable {
		t.Fatalf("ballot on a stopped node: %d", st)
	}
}

// TestPostgresConnectionsKilled: PostgreSQL's connections are terminated
// again and again (as when the database restarts or fails over) while
// voters cast. The store tries a batch or a read that failed before its
// commit again, so voters hardly notice; a commit cut off midway is a real
// store failure, from which the node recovers (reloading the log). No
// receipt is lost or doubled, and the node's state is the log's.
func TestPostgresConnectionsKilled(t *testing.T) {
	var b [6]byte
	rand.Read(b[:])
	app := fmt.Sprintf("scrutin_kill_%x", b)
	o := Options{Dir: t.TempDir(), DB: postgresURL(t) + "&application_name=" + app, Voters: 200, Workers: 4, Seed: 15, NoSignIn: true}
	f, err := Setup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	ballots := make([][]byte, 200)
	for v := range ballots {
		k, _ := election.CredentialKey(f.F, f.Codes[v])
		if ballots[v], err = view.NewBallot(nil, k, f.Choices(v, []int{v % 3}, []int{})); err != nil {
			t.Fatal(err)
		}
	}

	// The killer: only this test's connections (by application_name).
	admin, err := pgx.Connect(ctx, strings.Split(o.DB, "&")[0])
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	done := make(chan struct{})
	var killed, rounds atomic.Int64
	var kwg sync.WaitGroup
	kwg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(250 * time.Millisecond):
			}
			var n int64
			if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err == nil {
				killed.Add(n)
				if n > 0 {
					rounds.Add(1)
				}
			}
		}
	})

	var mu sync.Mutex
	receipts := make(map[string]int64)
	var busy, unknown int
	work := make(chan []byte)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for b := range work {
				// A voter told "not stored, try again" (Retry-After) does,
				// for up to 30 s; one told the ballot may be stored does not
				// (a verifier would see it twice).
				for try := 0; ; try++ {
					resp, err := http.Post(f.API(url)+"/ballots", "application/json", bytes.NewReader(b[1:]))
					if err != nil {
						t.Error(err)
						break
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					mu.Lock()
					again := false
					switch {
					case resp.StatusCode == http.StatusCreated:
						var rc server.Receipt
						json.Unmarshal(body, &rc)
						receipts[rc.Tracker] = rc.Index
					case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" && try < 300:
						busy++
						again = true
					case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "":
						unknown++
						t.Logf("outcome unknown: %s", body)
					default:
						t.Errorf("%s %s", resp.Status, body)
					}
					mu.Unlock()
					if !again {
						break
					}
					time.Sleep(100 * time.Millisecond)
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	for i, b := range ballots {
		// On an idle machine the 200 ballots take less than two of the
		// killer's rounds: the second half waits for two rounds at least
		// (the health checks keep connections open for the killer), so
		// that casting always meets killed connections.
		for wait := time.Now().Add(10 * time.Second); i == len(ballots)/2 && rounds.Load() < 2 && time.Now().Before(wait); {
			if resp, err := http.Get(url + "/healthz"); err == nil {
				resp.Body.Close()
			}
			time.Sleep(20 * time.Millisecond)
		}
		work <- b
	}
	close(work)
	wg.Wait()
	close(done)
	kwg.Wait()

	// The node is back, with the log's state.
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not recover: %v %v", err, f.Election.Err())
		}
		time.Sleep(50 * time.Millisecond)
	}
	n, err := f.Store.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := f.Store.ReadEntries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	count := make(map[string]int)
	at := make(map[string]int64)
	for i, e := range entries {
		if e[0] == election.TypeBallot {
			tr := election.Tracker(e)
			count[tr]++
			at[tr] = int64(i)
		}
	}
	for tr, idx := range receipts {
		if count[tr] != 1 || at[tr] != idx {
			t.Errorf("tracker %s: receipt at %d, in the log %d times at %d", tr, idx, count[tr], at[tr])
		}
	}
	var size int64
	f.Election.State(func(s *election.State) { size = s.Size })
	if size != n {
		t.Fatalf("the state has %d entries, the log %d", size, n)
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var recoveries int
	for _, l := range strings.Split(string(m), "\n") {
		if v, ok := strings.CutPrefix(l, "scrutin_store_recoveries_total "); ok {
			recoveries, _ = strconv.Atoi(v)
		}
	}
	t.Logf("%d connections killed in %d rounds; %d receipts, %d answered 503 (not stored, try again), %d with an unknown outcome, %d recoveries; log %d entries", killed.Load(), rounds.Load(), len(receipts), busy, unknown, recoveries, n)
	if rounds.Load() < 2 {
		t.Fatalf("connections were killed only %d times: the test did not exercise the store's failures", rounds.Load())
	}
	if len(receipts)+unknown != 200 || unknown > 20 {
		t.Fatalf("%d receipts and %d unknown outcomes for 200 ballots", len(receipts), unknown)
	}
}
