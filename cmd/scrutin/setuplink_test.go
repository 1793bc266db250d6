package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSetupLinkSurvivesFailedStarts (issue 17): a fresh server's one-time
// setup link is printed only once everything that can stop the start has
// been checked, and a start that fails, or a restart, does not void it:
// the next start prints the same link, which still works.
func TestSetupLinkSurvivesFailedStarts(t *testing.T) {
	bin := buildScrutin(t)
	dir := t.TempDir()
	// start runs serve until it serves (returning the link printed and
	// the address) or exits (returning its output).
	start := func(args ...string) (link, addr, out string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--dir", dir, "--addr", "127.0.0.1:0"}, args...)...)
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var all strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			all.WriteString(line + "\n")
			if strings.Contains(line, "/setup?token=") {
				link = line
			}
			if a, ok := strings.CutPrefix(line, "serving http://"); ok {
				addr = a
				// It serves: try the link while it does.
				if link != "" {
					u := strings.Replace(link, link[:strings.Index(link, "/setup?")], "http://"+addr, 1)
					resp, err := http.Get(u)
					if err != nil {
						t.Fatal(err)
					}
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.Contains(string(b), `name="password"`) {
						t.Errorf("the setup link printed does not work: %s", resp.Status)
					}
				}
				break
			}
		}
		cancel()
		cmd.Wait()
		return link, addr, all.String()
	}
	first, addr, out := start("--sign-in", "off")
	if first == "" || addr == "" {
		t.Fatalf("a fresh server printed no setup link, or did not serve:\n%s", out)
	}
	// A start that fails prints no link.
	if link, addr, out := start("--sign-in", "off", "--smtp", "127.0.0.1:1", "--smtp-from", "x@example.org", "--smtp-tls", "bogus"); link != "" || addr != "" {
		t.Errorf("a start that failed printed a setup link (%q) or served:\n%s", link, out)
	}
	// The next start prints the same link (on the port it listens on),
	// which works.
	token := func(link string) string { return link[strings.Index(link, "token="):] }
	again, _, out := start("--sign-in", "off")
	if token(again) != token(first) {
		t.Errorf("a restart voided the setup link: %q, then %q\n%s", first, again, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "setup-link")); err != nil || !strings.Contains(string(b), token(first)) {
		t.Errorf("DIR/setup-link does not hold the link: %q, %v", b, err)
	}
}
