package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/internal/pgtest"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
	"github.com/scrutin/scrutin/verify"
)

// serveProc is a running "scrutin serve".
type serveProc struct {
	cmd    *exec.Cmd
	url    string
	stderr string // file
	exited chan struct{}
	status int
}

// startServe starts "scrutin serve" and waits until it serves.
func startServe(t *testing.T, bin string, args ...string) *serveProc {
	t.Helper()
	return startServeWith(t, bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
}

// startServeWith runs prog with args (a "scrutin serve" command line, or a
// shell running one) and waits until it serves.
func startServeWith(t *testing.T, prog string, args ...string) *serveProc {
	t.Helper()
	p := &serveProc{stderr: filepath.Join(t.TempDir(), "stderr"), exited: make(chan struct{})}
	ef, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	p.cmd = exec.Command(prog, args...)
	p.cmd.Stderr = ef
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "serving "); ok {
				urls <- u
			}
		}
	}()
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			p.status = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.status = 128 + int(ws.Signal())
			}
		}
		close(p.exited)
	}()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
	select {
	case p.url = <-urls:
	case <-p.exited:
		t.Fatalf("serve exited with %d: %s", p.status, p.errors())
	case <-time.After(60 * time.Second):
		t.Fatalf("serve did not start in 60 s: %s", p.errors())
	}
	return p
}

func (p *serveProc) errors() string {
	b, _ := os.ReadFile(p.stderr)
	return string(b)
}

// stop sends sig and waits for the process's exit status.
func (p *serveProc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	p.cmd.Process.Signal(sig)
	return p.wait(t, sig)
}

// wait waits for the process's exit status after sig was sent.
func (p *serveProc) wait(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30 s of %v", sig)
	}
	return p.status
}

// runBounded runs the binary like runScrutin, but kills it after d (a
// command that should have been refused and serves instead).
func runBounded(t *testing.T, d time.Duration, bin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	status := 0
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		status = -1
	case errors.As(err, &ee):
		status = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return result{stdout.String(), stderr.String(), status}
}

// TestServeOneProcessPerFolder is issue 13's defects 3 and 5: a second
// "scrutin serve" (or demo) on a folder in use is refused with a clear
// message; SIGTERM stops the server gracefully (exit 0, SQLite's WAL
// checkpointed away, the lock released, the store reopening).
func TestServeOneProcessPerFolder(t *testing.T) {
	bin := buildScrutin(t)
	dir := t.TempDir()
	if r := runScrutin(t, bin, "demo", "--voters", "5", "--dir", dir, "--no-vote"); r.status != 0 {
		t.Fatalf("demo --no-vote: %s", r.stderr)
	}
	p := startServe(t, bin, "--dir", dir, "--sign-in", "off")
	holder := fmt.Sprintf("process %d", p.cmd.Process.Pid)
	r := runBounded(t, 20*time.Second, bin, "serve", "--dir", dir, "--sign-in", "off", "--addr", "127.0.0.1:0")
	if r.status <= 0 || !strings.Contains(r.stderr, "in use by another process") || !strings.Contains(r.stderr, holder) {
		t.Fatalf("a second serve on the folder: status %d, %q", r.status, r.stderr)
	}
	r = runBounded(t, 20*time.Second, bin, "demo", "--voters", "5", "--dir", dir, "--no-vote")
	if r.status <= 0 || !strings.Contains(r.stderr, "in use by another process") {
		t.Fatalf("a demo on the folder: status %d, %q", r.status, r.stderr)
	}
	if resp, err := http.Get(p.url + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the first server after the refusals: %v %v", err, resp)
	}

	// A ballot in flight when SIGTERM comes (half its body sent) is
	// still answered: the server drains before it exits.
	_, ballots := faultBallots(t, p.url, dir, 1)
	addr := strings.TrimPrefix(p.url, "http://")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := ballots[0][1:]
	fmt.Fprintf(c, "POST /api/e/demo/ballots HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body[:len(body)/2])
	time.Sleep(100 * time.Millisecond)
	p.cmd.Process.Signal(syscall.SIGTERM)
	time.Sleep(300 * time.Millisecond)
	if _, err := c.Write(body[len(body)/2:]); err != nil {
		t.Fatalf("the server dropped a request in flight on SIGTERM: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("a ballot in flight on SIGTERM: %v %v", err, resp)
	}
	if st := p.stop(t, syscall.SIGTERM); st != 0 {
		t.Fatalf("serve exited with %d on SIGTERM: %s", st, p.errors())
	}
	if _, err := os.Stat(filepath.Join(dir, store.SQLiteFile+"-wal")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("SQLite's WAL is left behind after SIGTERM: %v", err)
	}
	p = startServe(t, bin, "--dir", dir, "--sign-in", "off")
	if st := p.stop(t, syscall.SIGINT); st != 0 {
		t.Fatalf("serve exited with %d on SIGINT: %s", st, p.errors())
	}
}

// faultPostgres returns a fresh schema's URL, or skips (fails when
// $SCRUTIN_REQUIRE_POSTGRES is set).
func faultPostgres(t *testing.T) string {
	t.Helper()
	return pgtest.Schema(t, "scrutin_fault")
}

// faultBallots encrypts n ballots for the demo's credentials (in turn, so
// that some are re-votes), as a voter's device would.
func faultBallots(t *testing.T, url, dir string, n int) (*election.Election, [][]byte) {
	t.Helper()
	resp, err := http.Get(url + "/api/e/demo/election")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Fingerprint string
		Manifest    *election.Manifest
		ElectionKey string `json:"election_key"`
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	fp, err := parseFingerprint(info.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	var key crypto.PublicKey
	if err := key.UnmarshalText([]byte(info.ElectionKey)); err != nil {
		t.Fatal(err)
	}
	view := &election.Election{Manifest: info.Manifest, Fingerprint: fp, Key: &key}
	f, err := os.Open(filepath.Join(dir, "elections", "demo", "credentials.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := csv.NewReader(f).ReadAll()
	f.Close()
	col := slices.Index(rows[0], "credential_code")
	type voter struct {
		k        *crypto.SecretKey
		contests []string
	}
	var voters []voter
	for _, r := range rows[1:] {
		k, err := election.CredentialKey(fp, r[col])
		if err != nil {
			t.Fatal(err)
		}
		ct, _ := k.PublicKey().MarshalText()
		resp, err := http.Get(url + "/api/e/demo/credentials/" + string(ct))
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Contests []string }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		voters = append(voters, voter{k, e.Contests})
	}
	ballots := make([][]byte, n)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < n; i += 2 {
				v := voters[i%len(voters)]
				choices := make([][]int, len(view.Manifest.Contests))
				for c, ct := range view.Manifest.Contests {
					if slices.Contains(v.contests, ct.ID) {
						choices[c] = []int{i % len(ct.Options)}[:min(1, ct.Max)]
					}
				}
				b, err := view.NewBallot(nil, v.k, choices)
				if err != nil {
					t.Error(err)
					return
				}
				ballots[i] = b
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return view, ballots
}

// TestFaultsUnderLoad is the standing fault test of issue 13: it casts
// ballots at a running "scrutin serve" while some clients reset their
// connection right after sending and others give up after a few
// milliseconds, kills the server with SIGKILL or stops it with SIGTERM
// mid-load, restarts it, and at the end checks that the server stayed
// healthy through the disconnections, stopped with 0 on SIGTERM, that
// every receipt's ballot is in the log exactly once at its index, and that
// the record verifies. On both stores; bounded and on loopback.
func TestFaultsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test skipped in -short mode")
	}
	bin := buildScrutin(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			start := time.Now()
			dir := t.TempDir()
			args := []string{"--dir", dir, "--sign-in", "off"}
			demoArgs := []string{"demo", "--voters", "60", "--dir", dir, "--no-vote"}
			loc := dir
			if kind == "postgres" {
				loc = faultPostgres(t)
				args = append(args, "--db", loc)
				demoArgs = append(demoArgs, "--db", loc)
			}
			if r := runScrutin(t, bin, demoArgs...); r.status != 0 {
				t.Fatalf("demo --no-vote: %s", r.stderr)
			}
			const rounds, perRound = 6, 60
			p := startServe(t, bin, args...)
			view, ballots := faultBallots(t, p.url, dir, rounds*perRound)
			origin := board.Origin(view.Fingerprint)
			logKey := ""
			{
				resp, err := http.Get(p.url + "/api/e/demo/election")
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
			t.Logf("set up and %d ballots encrypted in %v", len(ballots), time.Since(start).Round(time.Millisecond))

			type receipt struct {
				index      int64
				checkpoint string
			}
			var mu sync.Mutex
			receipts := make(map[string]receipt) // tracker → receipt
			var resets, timeouts, accepted, unavailable, failed int
			r := mrand.New(mrand.NewPCG(13, 5))
			for round := range rounds {
				if round > 0 {
					p = startServe(t, bin, args...)
				}
				url, addr := p.url, strings.TrimPrefix(p.url, "http://")
				sig := syscall.SIGKILL
				if round%2 == 1 {
					sig = syscall.SIGTERM
				}
				stopAfter := perRound/2 + r.IntN(perRound/3)
				work := make(chan int)
				sent := make(chan struct{}, perRound)
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						for i := range work {
							b := ballots[i]
							sent <- struct{}{}
							switch i % 4 {
							case 3: // reset right after sending
								c, err := net.Dial("tcp", addr)
								if err != nil {
									continue
								}
								fmt.Fprintf(c, "POST /api/e/demo/ballots HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(b)-1, b[1:])
								time.Sleep(time.Duration(i%7) * time.Millisecond)
								c.(*net.TCPConn).SetLinger(0)
								c.Close()
								mu.Lock()
								resets++
								mu.Unlock()
								continue
							}
							timeout := 30 * time.Second
							if i%4 == 2 { // gives up after a few milliseconds
								timeout = time.Duration(1+i%40) * time.Millisecond
							}
							client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
							resp, err := client.Post(url+"/api/e/demo/ballots", "application/json", bytes.NewReader(b[1:]))
							if err != nil {
								mu.Lock()
								if timeout < time.Second {
									timeouts++
								} else {
									failed++ // the server was killed or stopped
								}
								mu.Unlock()
								continue
							}
							body, _ := io.ReadAll(resp.Body)
							resp.Body.Close()
							mu.Lock()
							switch resp.StatusCode {
							case http.StatusCreated:
								var rc server.Receipt
								if err := json.Unmarshal(body, &rc); err != nil {
									t.Errorf("receipt: %v", err)
								} else if err := server.VerifyReceipt(&rc, b, origin, logKey); err != nil {
									t.Errorf("receipt: %v", err)
								} else {
									receipts[rc.Tracker] = receipt{rc.Index, rc.Checkpoint}
									accepted++
								}
							case http.StatusServiceUnavailable:
								unavailable++ // while stopping
							default:
								t.Errorf("ballot %d: %s %s", i, resp.Status, body)
							}
							mu.Unlock()
						}
					})
				}
				// Feed this round's ballots; stop the server part-way.
				stopped := make(chan struct{})
				go func() {
					for range stopAfter {
						<-sent
					}
					// Disconnecting clients must not have stopped the node.
					resp, err := http.Get(url + "/healthz")
					if err != nil || resp.StatusCode != http.StatusOK {
						b := []byte{}
						if err == nil {
							b, _ = io.ReadAll(resp.Body)
						}
						t.Errorf("round %d: /healthz under load: %v %s", round, err, b)
					}
					if resp != nil {
						resp.Body.Close()
					}
					time.Sleep(time.Duration(r.IntN(30)) * time.Millisecond)
					p.cmd.Process.Signal(sig)
					close(stopped)
				}()
				for i := round * perRound; i < (round+1)*perRound; i++ {
					work <- i
				}
				close(work)
				wg.Wait()
				<-stopped
				status := p.wait(t, sig)
				if sig == syscall.SIGTERM && status != 0 {
					t.Fatalf("round %d: serve exited with %d on SIGTERM: %s", round, status, p.errors())
				}
				if sig == syscall.SIGTERM && kind == "sqlite" {
					if _, err := os.Stat(filepath.Join(dir, store.SQLiteFile+"-wal")); !errors.Is(err, os.ErrNotExist) {
						t.Fatalf("round %d: SQLite's WAL is left behind after SIGTERM: %v", round, err)
					}
				}
				t.Logf("round %d (%v): %d receipts so far", round, sig, len(receipts))
			}

			// Restart; the record verifies and extends the latest receipt's
			// checkpoint.
			p = startServe(t, bin, args...)
			var latest receipt
			var latestSize int64
			for _, rc := range receipts {
				lines := strings.SplitN(rc.checkpoint, "\n", 3)
				n, _ := strconv.ParseInt(lines[1], 10, 64)
				if n > latestSize {
					latest, latestSize = rc, n
				}
			}
			fp := view.Fingerprint
			rep, err := verify.Record(context.Background(), mirror.For(p.url+"/e/demo/log"), verify.Options{Election: &fp, Previous: []byte(latest.checkpoint)})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK {
				t.Fatalf("the record does not verify: %+v", rep.Failures)
			}
			if st := p.stop(t, syscall.SIGTERM); st != 0 {
				t.Fatalf("serve exited with %d on SIGTERM: %s", st, p.errors())
			}

			// Every receipt's ballot is in the log exactly once, at its index.
			st, err := store.OpenLog(context.Background(), loc, "demo")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			n, _ := st.Size(context.Background())
			entries, err := st.ReadEntries(context.Background(), 0, n)
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
			for tr, rc := range receipts {
				if count[tr] != 1 || at[tr] != rc.index {
					t.Errorf("tracker %s: receipt at %d; in the log %d times, at %d", tr, rc.index, count[tr], at[tr])
				}
			}
			if len(receipts) < rounds*perRound/10 {
				t.Errorf("only %d receipts: the test did not exercise the server", len(receipts))
			}
			t.Logf("%s: %d rounds in %v: %d accepted with receipts, %d resets, %d client timeouts, %d 503 while stopping, %d connections refused while down; log %d entries, %d ballots; record VALID",
				kind, rounds, time.Since(start).Round(time.Millisecond), accepted, resets, timeouts, unavailable, failed, n, rep.Ballots)
		})
	}
}
