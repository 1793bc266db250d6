package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// benchVoters is how many credentials the generated elections have; each
// voter re-votes with a fresh encryption every time (spec §18.5: the same
// encryption signed again is a replay).
const benchVoters = 500

// benchCacheVersion names the layout of the cached logs; change it when
// the generator changes. A folder made before a store held several
// elections (one election, signed with the master seed) is migrated on its
// first open to the election main: BenchmarkRestart opens whichever one
// election the folder holds.
const benchCacheVersion = "restart-v2"

// benchLog returns a data folder (SQLite) holding a demo election with n
// valid ballots, its log key and the checkpoint file of a node that signed
// the whole log. Logs are cached in $SCRUTIN_BENCH_CACHE (default: a
// folder in the system's temporary folder), one folder per size; making a
// log removes the cached logs of other sizes but the largest, so the cache
// holds at most two.
func benchLog(b *testing.B, n int) string {
	b.Helper()
	cache := os.Getenv("SCRUTIN_BENCH_CACHE")
	if cache == "" {
		cache = filepath.Join(os.TempDir(), "scrutin-bench")
	}
	dir := filepath.Join(cache, fmt.Sprintf("%s-%d", benchCacheVersion, n))
	if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
		return dir
	}
	// Bound the cache: keep only the largest other log.
	old, _ := filepath.Glob(filepath.Join(cache, "restart-*"))
	largest, largestN := "", 0
	for _, o := range old {
		m, _ := strconv.Atoi(o[strings.LastIndex(o, "-")+1:])
		if strings.HasSuffix(o, ".tmp") || !strings.HasPrefix(filepath.Base(o), benchCacheVersion+"-") {
			os.RemoveAll(o)
			continue
		}
		if m > largestN {
			if largest != "" {
				os.RemoveAll(largest)
			}
			largest, largestN = o, m
		} else {
			os.RemoveAll(o)
		}
	}
	start := time.Now()
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: tmp, Voters: benchVoters, Workers: 2, NoSignIn: true})
	if err != nil {
		b.Fatal(err)
	}
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	base, _ := f.Store.Size(ctx)
	f.Store.Close()
	f.Staff.Close()

	// Each ballot is encrypted afresh: the replay rule (spec §18.5) makes
	// a second signature on the same encryption invalid.
	type voter struct {
		sign func() ([]byte, error)
	}
	voters := make([]voter, benchVoters)
	for i := range voters {
		k, err := election.CredentialKey(f.F, f.Codes[i])
		if err != nil {
			b.Fatal(err)
		}
		choices := f.Choices(i, []int{i % 3}, []int{i % 2})
		voters[i] = voter{func() ([]byte, error) {
			enc, err := view.Encrypt(nil, k.PublicKey(), choices)
			if err != nil {
				return nil, err
			}
			return enc.Sign(nil, k)
		}}
	}
	st, err := store.OpenLog(ctx, tmp, f.ID)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 4096
	workers := runtime.GOMAXPROCS(0)
	for done := 0; done < n; {
		m := min(batch, n-done)
		entries := make([][]byte, m)
		var wg sync.WaitGroup
		var failed error
		var mu sync.Mutex
		for w := range workers {
			wg.Go(func() {
				for j := w; j < m; j += workers {
					e, err := voters[(done+j)%benchVoters].sign()
					if err != nil {
						mu.Lock()
						failed = err
						mu.Unlock()
						return
					}
					entries[j] = e
				}
			})
		}
		wg.Wait()
		if failed != nil {
			b.Fatal(failed)
		}
		if _, err := st.Append(ctx, entries); err != nil {
			b.Fatal(err)
		}
		done += m
	}
	// The checkpoint file of the node that appended them: the generator
	// made every ballot valid (BenchmarkRestart's full replay checks it).
	seed := f.LogSeed()
	c, err := board.CurrentCheckpoint(ctx, st, board.Origin(f.F))
	if err != nil {
		b.Fatal(err)
	}
	signer, err := election.LogSigner(f.F, seed)
	if err != nil {
		b.Fatal(err)
	}
	signed, err := board.Sign(c, signer)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(f.CheckpointFile(), signed, 0o600); err != nil {
		b.Fatal(err)
	}
	st.Close()
	if c.Size != base+int64(n) {
		b.Fatalf("the log has %d entries, not %d", c.Size, base+int64(n))
	}
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600)
	b.Logf("generated a log of %d ballots in %s (%s)", n, time.Since(start).Round(time.Second), dir)
	return dir
}

// benchSizes are the log sizes of BenchmarkRestart:
// $SCRUTIN_BENCH_BALLOTS (comma-separated), by default 100,000.
func benchSizes(b *testing.B) []int {
	s := os.Getenv("SCRUTIN_BENCH_BALLOTS")
	if s == "" {
		s = "100000"
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("SCRUTIN_BENCH_BALLOTS: %q is not a number of ballots", f)
		}
		out = append(out, n)
	}
	return out
}

// BenchmarkRestart measures how long a node takes to open an election
// whose log holds N ballots (SQLite), until it can serve: "checked" with
// the checkpoint file of the node that appended them (the log is checked
// against it; ballots are decoded, not verified again), "full" without
// one (every ballot's proofs and signature verified, in parallel). The
// full replay runs only for logs up to $SCRUTIN_BENCH_FULL_MAX ballots
// (default 100,000).
func BenchmarkRestart(b *testing.B) {
	fullMax := 100_000
	if s := os.Getenv("SCRUTIN_BENCH_FULL_MAX"); s != "" {
		fullMax, _ = strconv.Atoi(s)
	}
	for _, n := range benchSizes(b) {
		dir := benchLog(b, n)
		master, err := os.ReadFile(filepath.Join(dir, demo.LogKeyFile))
		if err != nil {
			b.Fatal(err)
		}
		id, seed := benchElection(b, dir, master)
		for _, mode := range []string{"checked", "full"} {
			if mode == "full" && n > fullMax {
				continue
			}
			b.Run(fmt.Sprintf("ballots=%d/%s", n, mode), func(b *testing.B) {
				o := server.OpenOptions{}
				if mode == "checked" {
					o.CheckpointFile = filepath.Join(dir, server.CheckpointDir, id)
				}
				ctx := context.Background()
				cpu0 := cpuTime()
				for b.Loop() {
					st, err := store.OpenLog(ctx, dir, id)
					if err != nil {
						b.Fatal(err)
					}
					e, err := server.OpenWith(ctx, st, seed, o)
					if err != nil {
						b.Fatal(err)
					}
					var ballots int
					e.State(func(s *election.State) { ballots = s.Ballots })
					if ballots != n {
						b.Fatalf("%d ballots replayed, not %d", ballots, n)
					}
					st.Close()
				}
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/open")
				// The machine is shared: the CPU time the process used says
				// what an idle machine would take, with both cores busy.
				b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/open")
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "ballots/s")
			})
		}
	}
}

// benchElection returns the id and log seed of the one election of the
// folder dir, moving a single-election folder's files to their places
// (server.MoveLegacyFiles) as a server does.
func benchElection(b *testing.B, dir string, master []byte) (string, []byte) {
	b.Helper()
	if err := server.MoveLegacyFiles(dir, filepath.Join(dir, server.CheckpointDir)); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	infos, err := db.Elections(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if len(infos) != 1 {
		b.Fatalf("%s holds %d elections, not 1", dir, len(infos))
	}
	return infos[0].ID, server.LogSeed(master, infos[0].ID, infos[0].Legacy)
}
