package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
	"github.com/scrutin/scrutin/verify"
)

// readmeHAProxy returns the README's HAProxy configuration (section
// "Running several nodes"), its addresses 127.0.0.1:8000 (the balancer)
// and 127.0.0.1:8001… (the nodes) replaced by those given.
func readmeHAProxy(t *testing.T, front string, nodes []string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```haproxy\n")
	cfg, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("the README has no HAProxy configuration")
	}
	cfg = strings.ReplaceAll(cfg, "127.0.0.1:8000", front)
	for i, n := range nodes {
		old := fmt.Sprintf("127.0.0.1:800%d", i+1)
		if !strings.Contains(cfg, old) {
			t.Fatalf("the README's HAProxy configuration has no node at %s", old)
		}
		cfg = strings.ReplaceAll(cfg, old, n)
	}
	return cfg
}

// lookHAProxy finds Debian's haproxy: on PATH, or in /usr/sbin, where
// Debian installs it and which is not on a user's PATH.
func lookHAProxy() (string, error) {
	p, err := exec.LookPath("haproxy")
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		if q, err2 := exec.LookPath(filepath.Join(dir, "haproxy")); err2 == nil {
			return q, nil
		}
	}
	return "", err
}

// needHAProxy returns haproxy's path, or skips the test (fails it under
// SCRUTIN_REQUIRE_TOOLS, as .ci/run sets).
func needHAProxy(t *testing.T) string {
	t.Helper()
	haproxy, err := lookHAProxy()
	if err != nil {
		if os.Getenv("SCRUTIN_REQUIRE_TOOLS") != "" {
			t.Fatal("haproxy is not installed (.ci/run installs it)")
		}
		t.Skip("haproxy is not installed")
	}
	return haproxy
}

// freePorts returns n loopback addresses free now.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

// waitInPool waits (up to 30 s) until the balancer sends requests to node.
func waitInPool(t *testing.T, lb, node string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(lb + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("X-Scrutin-Node") == node && resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not in the balancer's pool", node)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nodeCheckpoint returns a node's checkpoint of the log it has applied.
func nodeCheckpoint(url string) (string, error) {
	resp, err := http.Get(url + "/api/e/demo/checkpoint")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, b)
	}
	return string(b), err
}

// TestSeveralNodesBehindHAProxy is issue 18's test with a real load
// balancer: three "scrutin serve" nodes on one PostgreSQL database, behind
// Debian's HAProxy configured as the README says, on loopback. Ballots are
// cast through the balancer; one node is SIGKILLed mid-load and started
// again. At the end: no client error but for the requests in flight on the
// killed node (which the balancer sends again, as the README's configuration
// says), every receipt's ballot in the log exactly once at its index,
// the record valid, the killed node back in the pool with the same state
// (checkpoint) as the others.
func TestSeveralNodesBehindHAProxy(t *testing.T) {
	if testing.Short() {
		t.Skip("several nodes behind HAProxy: skipped in -short mode")
	}
	haproxy := needHAProxy(t)
	bin := buildScrutin(t)
	loc := faultPostgres(t)
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	if r := runScrutin(t, bin, "demo", "--voters", "60", "--dir", dirs[0], "--db", loc, "--no-vote"); r.status != 0 {
		t.Fatalf("demo --no-vote: %s", r.stderr)
	}
	key, err := os.ReadFile(filepath.Join(dirs[0], "log.key"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs[1:] {
		if err := os.WriteFile(filepath.Join(d, "log.key"), key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addrs := freePorts(t, 4)
	front, nodeAddrs := addrs[0], addrs[1:]
	nodeArgs := func(i int) []string {
		return []string{"--dir", dirs[i], "--db", loc, "--sign-in", "off", "--addr", nodeAddrs[i], "--trusted-proxy", "127.0.0.1/32"}
	}
	nodes := make([]*serveProc, 3)
	for i := range nodes {
		nodes[i] = startServe(t, bin, nodeArgs(i)...)
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(readmeHAProxy(t, front, nodeAddrs)), 0o600); err != nil {
		t.Fatal(err)
	}
	var hout bytes.Buffer
	hp := exec.Command(haproxy, "-f", cfg, "-db")
	hp.Stdout, hp.Stderr = &hout, &hout
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	hpDone := make(chan struct{})
	go func() { hp.Wait(); close(hpDone) }()
	t.Cleanup(func() { hp.Process.Kill(); <-hpDone })
	lb := "http://" + front
	// Every node in the pool (two health checks a second apart).
	deadline := time.Now().Add(20 * time.Second)
	seen := map[string]bool{}
	for len(seen) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the balancer did not reach every node (%v): %s", seen, hout.String())
		}
		resp, err := http.Get(lb + "/healthz")
		if err == nil {
			if resp.StatusCode == http.StatusOK {
				seen[resp.Header.Get("X-Scrutin-Node")] = true
			}
			resp.Body.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}

	const total = 240
	view, ballots := faultBallots(t, lb, dirs[0], total)
	origin := board.Origin(view.Fingerprint)
	var logKey string
	{
		resp, err := http.Get(lb + "/api/e/demo/election")
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			LogKey string `json:"log_key"`
		}
		json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		logKey = info.LogKey
	}

	type receipt struct {
		index      int64
		checkpoint string
	}
	var mu sync.Mutex
	receipts := make(map[string]receipt)
	var failures []string
	byNode := map[string]int{}
	const workers = 8
	work := make(chan int)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 60 * time.Second}
	for range workers {
		wg.Go(func() {
			for i := range work {
				b := ballots[i]
				resp, err := client.Post(lb+"/api/e/demo/ballots", "application/json", bytes.NewReader(b[1:]))
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				switch resp.StatusCode {
				case http.StatusCreated, http.StatusOK:
					// 200: sent again by the balancer after the killed
					// node had stored it (spec §21.2).
					var rc server.Receipt
					if err := json.Unmarshal(body, &rc); err != nil {
						t.Errorf("receipt: %v", err)
					} else if err := server.VerifyReceipt(&rc, b, origin, logKey); err != nil {
						t.Errorf("receipt: %v", err)
					} else {
						receipts[rc.Tracker] = receipt{rc.Index, rc.Checkpoint}
						byNode[resp.Header.Get("X-Scrutin-Node")]++
					}
				default:
					failures = append(failures, fmt.Sprintf("ballot %d: %s %s", i, resp.Status, body))
				}
				mu.Unlock()
			}
		})
	}
	restarted := make(chan *serveProc, 1)
	var beforeBack int
	for i := range total {
		switch i {
		case total / 3:
			// SIGKILL node 2 mid-load.
			nodes[1].cmd.Process.Signal(syscall.SIGKILL)
			nodes[1].wait(t, syscall.SIGKILL)
		case total / 2:
			go func() { restarted <- startServe(t, bin, nodeArgs(1)...) }()
		case total - total/6:
			// The last ballots once the restarted node is back in the
			// balancer's pool.
			// (startServe fails the test from its goroutine, which then
			// sends nothing: bounded here rather than by go test's
			// timeout.)
			select {
			case nodes[1] = <-restarted:
			case <-time.After(90 * time.Second):
				close(work)
				wg.Wait()
				t.Fatal("the killed node was not started again within 90 s")
			}
			waitInPool(t, lb, "node2")
			mu.Lock()
			beforeBack = byNode["node2"]
			mu.Unlock()
		}
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("%d receipts (by node: %v), %d failures: %q", len(receipts), byNode, len(failures), failures)
	// Only the requests in flight on the killed node may have failed.
	if len(failures) > workers {
		t.Errorf("%d requests failed, more than the %d that can have been in flight on the killed node: %q", len(failures), workers, failures)
	}
	for _, f := range failures {
		if !strings.Contains(f, "502") && !strings.Contains(f, "503") && !strings.Contains(f, "504") && !strings.Contains(f, "EOF") {
			t.Errorf("a failure that is not the killed node's: %s", f)
		}
	}
	if len(receipts) < total-workers {
		t.Errorf("only %d receipts of %d ballots", len(receipts), total)
	}

	if byNode["node2"] == beforeBack {
		t.Errorf("the restarted node, back in the pool, got none of the last ballots (by node: %v)", byNode)
	}

	// Every receipt's ballot is in the log once, at its index.
	ctx := context.Background()
	st, err := store.OpenLog(ctx, loc, "demo")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, _ := st.Size(ctx)
	entries, err := st.ReadEntries(ctx, 0, n)
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
	var latest string
	var latestSize int64
	for tr, rc := range receipts {
		if count[tr] != 1 || at[tr] != rc.index {
			t.Errorf("tracker %s: receipt at %d; in the log %d times, at %d", tr, rc.index, count[tr], at[tr])
		}
		lines := strings.SplitN(rc.checkpoint, "\n", 3)
		if s, _ := strconv.ParseInt(lines[1], 10, 64); s > latestSize {
			latest, latestSize = rc.checkpoint, s
		}
	}

	// Every node, the restarted one included, has applied the whole log:
	// the same checkpoint.
	deadline = time.Now().Add(10 * time.Second)
	for {
		var cps []string
		for _, p := range nodes {
			cp, err := nodeCheckpoint(p.url)
			if err != nil {
				t.Fatal(err)
			}
			cps = append(cps, cp)
		}
		lines := strings.SplitN(cps[0], "\n", 3)
		if size, _ := strconv.ParseInt(lines[1], 10, 64); size == n && cps[1] == cps[0] && cps[2] == cps[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes' checkpoints differ, or do not cover the %d entries:\n%s", n, strings.Join(cps, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// The record, read through the balancer, is valid and extends the
	// latest receipt's checkpoint.
	fp := view.Fingerprint
	rep, err := verify.Record(ctx, mirror.For(lb+"/e/demo/log"), verify.Options{Election: &fp, Previous: []byte(latest)})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("the record does not verify: %+v", rep.Failures)
	}
	for i, p := range nodes {
		if st := p.stop(t, syscall.SIGTERM); st != 0 {
			t.Errorf("node %d exited with %d on SIGTERM: %s", i+1, st, p.errors())
		}
	}
}
