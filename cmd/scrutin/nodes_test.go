package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mailer/mailtest"
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
// balancer: three "scrutin serve" nodes on one PostgreSQL database, with
// voters' sign-in by e-mail (a test SMTP server), behind Debian's HAProxy
// configured as the README says, on loopback. Each voter, through the
// balancer (round-robin: the code request, the code check and the ballots
// mostly land on different nodes), asks for a code, reads it in the test
// mailbox, signs in and casts with its token; some ask three codes in a
// row, beyond the letter limit. One node is SIGKILLed mid-load and started
// again. At the end: no client error but for the requests in flight on the
// killed node (which the balancer mostly sends again, as the README's
// configuration says; a code check the killed node consumed, sent again,
// is refused, and a letter can die in its queue: the voter then asks for a
// code again), every receipt's ballot in the log exactly once at its index,
// the record valid, the killed node back in the pool with the same state
// (checkpoint) as the others, and no address sent more letters than the
// limit of spec §20.3 allows for the nodes together.
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
	// What every node's folder holds, as the README says: the log keys'
	// seed, the staff key, and the election's sign-in list with its key.
	for _, name := range []string{"log.key", "staff.key", "elections/demo/voters.key", "elections/demo/voters.sealed"} {
		b, err := os.ReadFile(filepath.Join(dirs[0], name))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs[1:] {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(d, name)), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	smtp := mailtest.New(t)
	addrs := freePorts(t, 4)
	front, nodeAddrs := addrs[0], addrs[1:]
	nodeArgs := func(i int) []string {
		return []string{"--dir", dirs[i], "--db", loc, "--addr", nodeAddrs[i], "--trusted-proxy", "127.0.0.1/32",
			"--smtp", smtp.Addr(), "--smtp-from", "Elections <elections@example.org>", "--smtp-tls", "none"}
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

	// The voters, from the demo's mail-merge file: row i casts ballots i
	// and i+len(rows) (a re-vote). Members 1 and 2 share an address (a
	// household): one sign-in for an address casts for all its members.
	f, err := os.Open(filepath.Join(dirs[0], "elections", "demo", "credentials.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	emailCol := slices.Index(rows[0], "email")
	var addresses []string        // in the file's order
	members := map[string][]int{} // address → its voters (rows)
	for i, r := range rows[1:] {
		if members[r[emailCol]] == nil {
			addresses = append(addresses, r[emailCol])
		}
		members[r[emailCol]] = append(members[r[emailCol]], i)
	}
	voters := len(rows) - 1
	total := 2 * voters
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
			SignIn string `json:"sign_in"`
		}
		json.NewDecoder(resp.Body).Decode(&info)
		resp.Body.Close()
		logKey = info.LogKey
		if info.SignIn != "email" {
			t.Fatalf("sign_in is %q through the balancer", info.SignIn)
		}
	}

	// The kill's time: a request that failed must have been in flight
	// on the killed node, so sent before it and answered after it.
	var killMu sync.Mutex
	var killedAt time.Time
	inFlight := func(start, end time.Time) bool {
		killMu.Lock()
		defer killMu.Unlock()
		return !killedAt.IsZero() && start.Before(killedAt) && end.After(killedAt)
	}
	killedAfter := func(t time.Time) bool {
		killMu.Lock()
		defer killMu.Unlock()
		return !killedAt.IsZero() && killedAt.After(t)
	}

	type receipt struct {
		index      int64
		checkpoint string
	}
	var mu sync.Mutex
	receipts := make(map[string]receipt)
	var failures, excused []string
	byNode := map[string]int{}
	used := map[string]int{} // address → codes the nodes may have consumed
	greedyRefused := map[string]bool{}
	const workers = 8
	client := &http.Client{Timeout: 60 * time.Second}
	// post sends a request through the balancer from the voter's own
	// network (X-Forwarded-For, which HAProxy extends): the per-client
	// limits, in each node's memory, count each voter alone.
	type answer struct {
		status     int
		body       []byte
		node       string
		err        error
		start, end time.Time
	}
	post := func(path string, body []byte, token, from string) answer {
		req, _ := http.NewRequest(http.MethodPost, lb+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", from)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		a := answer{start: time.Now()}
		resp, err := client.Do(req)
		if err != nil {
			a.err, a.end = err, time.Now()
			return a
		}
		a.body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		a.status, a.node, a.end = resp.StatusCode, resp.Header.Get("X-Scrutin-Node"), time.Now()
		return a
	}
	// fail records a failed request: one in flight on the killed node is
	// excused (at most one per worker), any other is an error.
	fail := func(what string, a answer) {
		msg := fmt.Sprintf("%s: %d %s %v", what, a.status, a.body, a.err)
		mu.Lock()
		defer mu.Unlock()
		if inFlight(a.start, a.end) {
			excused = append(excused, msg)
		} else {
			failures = append(failures, msg)
		}
	}
	shortCode := regexp.MustCompile(`\b[0-9]{8}\b`)
	longCode := regexp.MustCompile(`\b([0-9]{8}) ([0-9]{8})\b`)
	// signIn signs an address in through the balancer: it asks for a
	// code (a greedy voter asks three times, beyond the letter limit of
	// spec §20.3, each time to another node), reads the latest letter and
	// sends its code back. A request that failed in flight on the killed
	// node (or a letter lost in its mail queue) makes it start again, as a
	// voter would, at most twice.
	signIn := func(email, from string, greedy bool) string {
		for try := 0; try < 3; try++ {
			before := smtp.Count(email)
			asks := 1
			if greedy && try == 0 {
				asks = 3
			}
			var challenge string
			var accepted int
			var lastAsk answer
			var byKilled []time.Time // when the asks node 2 accepted were sent
			askFailed := false
			for range asks {
				a := post("/api/e/demo/sign-in", []byte(`{"email":"`+email+`"}`), "", from)
				switch {
				case a.err == nil && a.status == http.StatusAccepted:
					var ch struct{ Challenge string }
					json.Unmarshal(a.body, &ch)
					challenge, lastAsk = ch.Challenge, a
					if a.node == "node2" {
						byKilled = append(byKilled, a.start)
					}
					accepted++
				case a.err == nil && a.status == http.StatusTooManyRequests && bytes.Contains(a.body, []byte("no new code was sent")):
					mu.Lock()
					greedyRefused[email] = true
					mu.Unlock()
				default:
					fail("code request for "+email, a)
					askFailed = true
					mu.Lock()
					greedyRefused[email] = true // no telling what the node spent
					mu.Unlock()
				}
			}
			if greedy && try == 0 && !askFailed && accepted > 2 {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%s asked three codes through the balancer and got %d letters sent, beyond the limit of 2", email, accepted))
				mu.Unlock()
			}
			if accepted == 0 {
				continue
			}
			// Accepted by the node killed since it was asked (its answer
			// may reach us after the kill): the letter may have died in
			// its queue.
			lost := func() bool { return len(byKilled) > 0 && killedAfter(byKilled[0]) }
			wait := 10 * time.Second
			if lost() {
				wait = 3 * time.Second
			}
			letter := smtp.Wait(email, before+accepted, wait)
			if letter == "" || smtp.Count(email) < before+accepted {
				if lost() {
					mu.Lock()
					excused = append(excused, "a letter lost in the killed node's mail queue, to "+email)
					mu.Unlock()
					continue
				}
				mu.Lock()
				failures = append(failures, fmt.Sprintf("no letter to %s (%d before, %d asked, the last answered by %s)", email, before, accepted, lastAsk.node))
				mu.Unlock()
				return ""
			}
			// The short code with the challenge of the one letter asked;
			// after several letters, the long form of the latest, valid
			// under any challenge.
			body := `{"email":"` + email + `","challenge":"` + challenge + `","code":"` + shortCode.FindString(letter) + `"}`
			if accepted > 1 || smtp.Count(email) > before+1 {
				m := longCode.FindStringSubmatch(letter)
				if m == nil {
					t.Errorf("no long code in the letter: %q", letter)
					return ""
				}
				body = `{"email":"` + email + `","code":"` + m[1] + m[2] + `"}`
			}
			a := post("/api/e/demo/sign-in/verify", []byte(body), "", from)
			mu.Lock()
			if a.err == nil && a.status == http.StatusOK || inFlight(a.start, a.end) {
				// A check in flight on the killed node may have
				// consumed the code, giving its letter back.
				used[email]++
			}
			mu.Unlock()
			if a.err == nil && a.status == http.StatusOK {
				var tok struct{ Token string }
				json.Unmarshal(a.body, &tok)
				return tok.Token
			}
			// A check the killed node consumed, sent again by the
			// balancer, is answered 401 by the node that got it: excused
			// when in flight on the kill, and the voter asks again.
			fail("code check for "+email, a)
		}
		return ""
	}

	work := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for u := range work {
				email := addresses[u]
				from := fmt.Sprintf("198.51.100.%d", u+1)
				token := signIn(email, from, u%5 == 3)
				if token == "" {
					continue
				}
				for _, v := range members[email] {
					for _, i := range []int{v, v + voters} {
						b := ballots[i]
						a := post("/api/e/demo/ballots", b[1:], token, from)
						if a.err != nil || a.status != http.StatusCreated && a.status != http.StatusOK {
							fail(fmt.Sprintf("ballot %d", i), a)
							continue
						}
						// 200: sent again by the balancer after the
						// killed node had stored it (spec §21.2).
						var rc server.Receipt
						mu.Lock()
						if err := json.Unmarshal(a.body, &rc); err != nil {
							t.Errorf("receipt: %v", err)
						} else if err := server.VerifyReceipt(&rc, b, origin, logKey); err != nil {
							t.Errorf("receipt: %v", err)
						} else {
							receipts[rc.Tracker] = receipt{rc.Index, rc.Checkpoint}
							byNode[a.node]++
						}
						mu.Unlock()
					}
				}
			}
		})
	}
	restarted := make(chan *serveProc, 1)
	var beforeBack int
	units := len(addresses)
	for u := range units {
		switch u {
		case units / 3:
			// SIGKILL node 2 mid-load.
			killMu.Lock()
			killedAt = time.Now()
			nodes[1].cmd.Process.Signal(syscall.SIGKILL)
			killMu.Unlock()
			nodes[1].wait(t, syscall.SIGKILL)
		case units / 2:
			go func() { restarted <- startServe(t, bin, nodeArgs(1)...) }()
		case units - units/6:
			// The last voters once the restarted node is back in the
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
		work <- u
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d addresses, %d voters, %d receipts in %v (by node: %v); excused (in flight on the killed node): %q", units, voters, len(receipts), elapsed.Round(time.Millisecond), byNode, excused)
	for _, f := range failures {
		t.Errorf("a failure that is not the killed node's: %s", f)
	}
	// Only the requests in flight on the killed node may have failed:
	// at most one a worker.
	if len(excused) > workers {
		t.Errorf("%d requests failed, more than the %d that can have been in flight on the killed node: %q", len(excused), workers, excused)
	}
	for _, f := range excused {
		if !strings.Contains(f, "killed node's mail queue") && !strings.Contains(f, "code check") &&
			!strings.Contains(f, " 502 ") && !strings.Contains(f, " 503 ") && !strings.Contains(f, " 504 ") && !strings.Contains(f, "EOF") {
			t.Errorf("a failure in flight on the killed node that is not its loss: %s", f)
		}
	}
	if len(receipts) < total-workers {
		t.Errorf("only %d receipts of %d ballots", len(receipts), total)
	}
	if byNode["node2"] == beforeBack {
		t.Errorf("the restarted node, back in the pool, got none of the last ballots (by node: %v)", byNode)
	}
	// The letter limit holds for the nodes together (spec §20.3): a
	// burst of 2 letters an address, one more each CodeInterval (6
	// minutes), and one back for each code used.
	const letterBurst, letterInterval = 2, 6 * time.Minute
	refill := int(elapsed / letterInterval)
	for _, email := range addresses {
		if n, max := smtp.Count(email), letterBurst+refill+used[email]; n > max {
			t.Errorf("%s received %d letters, beyond the limit of %d (%d codes used)", email, n, max, used[email])
		}
	}
	for u, email := range addresses {
		if u%5 == 3 && !greedyRefused[email] {
			t.Errorf("%s asked three codes in a row, each to another node, and none was refused", email)
		}
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
