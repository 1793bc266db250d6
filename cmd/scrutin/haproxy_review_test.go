package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestREADMEHAProxyKeepsNodesThatAnswered503: a node's 503 is an answer
// of a node that works (busy: nothing stored; an election it cannot load;
// a voter's ballot that met a log changing under it), which any client
// can provoke. With the README's configuration, one such answer must not
// take a node, let alone every node, out of the balancer's pool. Three
// stand-in nodes on loopback answer /healthz 200, /unavailable 503 (as
// every scrutin node answers every request for an election that failed
// to load) and anything else 200.
func TestREADMEHAProxyKeepsNodesThatAnswered503(t *testing.T) {
	haproxy := needHAProxy(t)
	var nodeAddrs []string
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			if r.URL.Path == "/unavailable" {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		})}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		nodeAddrs = append(nodeAddrs, l.Addr().String())
	}
	front := freePorts(t, 1)[0]
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
	client := &http.Client{Timeout: 5 * time.Second}
	// poolHas returns the nodes that answer /healthz through the balancer
	// over a few requests.
	pool := func() map[string]bool {
		seen := map[string]bool{}
		for range 12 {
			resp, err := client.Get(lb + "/healthz")
			if err != nil {
				continue
			}
			if resp.StatusCode == http.StatusOK {
				seen[resp.Header.Get("X-Scrutin-Node")] = true
			}
			resp.Body.Close()
		}
		return seen
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(pool()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the balancer did not reach every node: %s", hout.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A few anonymous requests for an unavailable election.
	for range 3 {
		resp, err := client.Get(lb + "/unavailable")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/unavailable: %s", resp.Status)
		}
	}
	if seen := pool(); len(seen) < 3 {
		t.Fatalf("after three 503 answers, the balancer sends requests to %d nodes of 3 (%v)", len(seen), seen)
	}
}

// TestHAProxyFoundAsCIRunsIt: Debian installs haproxy in /usr/sbin, which
// is not on a user's PATH (.ci/run runs as any user, with sudo for apt):
// the tests must find it there, or .ci/run (SCRUTIN_REQUIRE_TOOLS) fails
// on a fresh machine where it has just installed it.
func TestHAProxyFoundAsCIRunsIt(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/haproxy"); err != nil {
		t.Skip("no /usr/sbin/haproxy here")
	}
	t.Setenv("PATH", "/usr/local/bin:/usr/bin:/bin") // Debian's default for users
	if p, err := lookHAProxy(); err != nil {
		t.Fatalf("haproxy, installed in /usr/sbin, is not found: %v", err)
	} else if p != "/usr/sbin/haproxy" {
		t.Fatalf("haproxy found at %s", p)
	}
}
