package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// buildScrutin builds the command into a temporary directory and returns the
// binary's path. Version control stamping is off so that the test runs no
// git command and works in any checkout.
func buildScrutin(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build scrutin: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "scrutin")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	out, err := exec.Command(goTool, "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// result is what one run of the binary gave.
type result struct {
	stdout, stderr string
	status         int
}

func runScrutin(t *testing.T, bin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	status := 0
	switch {
	case errors.As(err, &exitErr):
		status = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running scrutin %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout.String(), stderr.String(), status}
}

func TestCLI(t *testing.T) {
	bin := buildScrutin(t)

	t.Run("version", func(t *testing.T) {
		r := runScrutin(t, bin, "version")
		if r.status != 0 || r.stderr != "" {
			t.Fatalf("status %d, stderr %q; want 0 and nothing", r.status, r.stderr)
		}
		if !strings.HasPrefix(r.stdout, "scrutin ") || !strings.Contains(r.stdout, runtime.Version()) {
			t.Errorf("output %q does not name scrutin's version and %s", r.stdout, runtime.Version())
		}
	})

	t.Run("version --json", func(t *testing.T) {
		r := runScrutin(t, bin, "version", "--json")
		if r.status != 0 {
			t.Fatalf("status %d, stderr %q", r.status, r.stderr)
		}
		var v map[string]string
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("output %q is not a JSON object of strings: %v", r.stdout, err)
		}
		if len(v) != 2 || v["version"] == "" || v["go"] != runtime.Version() {
			t.Errorf("got %v, want exactly a version and go = %q", v, runtime.Version())
		}
	})

	t.Run("selftest", func(t *testing.T) {
		r := runScrutin(t, bin, "selftest", "--ballots", "20")
		if r.status != 0 {
			t.Fatalf("status %d\nstdout:\n%s\nstderr:\n%s", r.status, r.stdout, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, "selftest passed: ") || !strings.Contains(last, "per ballot") || !strings.Contains(last, "per selection") {
			t.Errorf("last line %q is not the pass line with timings", last)
		}
		if !strings.Contains(r.stdout, "with 20 ballots") {
			t.Errorf("output does not say it used 20 ballots:\n%s", r.stdout)
		}
	})

	t.Run("selftest --json", func(t *testing.T) {
		r := runScrutin(t, bin, "selftest", "--json", "--ballots", "5")
		if r.status != 0 {
			t.Fatalf("status %d, stderr %q", r.status, r.stderr)
		}
		var rep struct {
			OK      bool     `json:"ok"`
			Ballots int      `json:"ballots"`
			Tally   []uint64 `json:"tally"`
			Version string   `json:"version"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("output %q is not JSON: %v", r.stdout, err)
		}
		if !rep.OK || rep.Ballots != 5 || len(rep.Tally) != 3 || rep.Version == "" {
			t.Errorf("got %+v, want ok, 5 ballots, 3 counts and a version", rep)
		}
	})

	t.Run("bad --ballots", func(t *testing.T) {
		r := runScrutin(t, bin, "selftest", "--ballots", "1")
		if r.status != 2 || !strings.Contains(r.stderr, "--ballots must be between") {
			t.Errorf("status %d, stderr %q; want 2 and an explanation", r.status, r.stderr)
		}
	})

	t.Run("help", func(t *testing.T) {
		for _, args := range [][]string{nil, {"help"}} {
			r := runScrutin(t, bin, args...)
			if r.status != 0 || !strings.Contains(r.stdout, "selftest") || !strings.Contains(r.stdout, "version") {
				t.Errorf("scrutin %v: status %d, stdout %q; want 0 and the list of commands", args, r.status, r.stdout)
			}
		}
		r := runScrutin(t, bin, "help", "selftest")
		if r.status != 0 || !strings.Contains(r.stdout, "-ballots") {
			t.Errorf("help selftest: status %d, stdout %q; want 0 and its flags", r.status, r.stdout)
		}
	})

	t.Run("unknown command", func(t *testing.T) {
		r := runScrutin(t, bin, "frobnicate")
		if r.status != 2 {
			t.Errorf("status %d, want 2", r.status)
		}
		if !strings.Contains(r.stderr, `unknown command "frobnicate"`) || !strings.Contains(r.stderr, "selftest") {
			t.Errorf("stderr %q does not name the command and list the commands", r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("stdout %q, want nothing", r.stdout)
		}
	})
}

var execCommand = exec.Command

// TestCommandGroupHelp: "scrutin election -h", "scrutin help election" and a
// bare "scrutin election" list the group's commands, instead of calling
// election an unknown command.
func TestCommandGroupHelp(t *testing.T) {
	for _, c := range []struct {
		args   []string
		status int
	}{
		{[]string{"election", "-h"}, exitOK},
		{[]string{"election", "--help"}, exitOK},
		{[]string{"help", "election"}, exitOK},
		{[]string{"election"}, exitUsage},
		{[]string{"election", "--dir", "x"}, exitUsage},
	} {
		var out, errOut strings.Builder
		status := run(c.args, &out, &errOut)
		all := out.String() + errOut.String()
		if status != c.status || strings.Contains(all, "unknown command") ||
			!strings.Contains(all, "election new") || !strings.Contains(all, "election witnesses") || strings.Contains(all, "trustee deal") {
			t.Errorf("scrutin %s: status %d, want %d\n%s", strings.Join(c.args, " "), status, c.status, all)
		}
	}
	var out, errOut strings.Builder
	if status := run([]string{"electio", "new"}, &out, &errOut); status != exitUsage || !strings.Contains(errOut.String(), "unknown command") {
		t.Errorf("an unknown command: %d %s", status, errOut.String())
	}
}
