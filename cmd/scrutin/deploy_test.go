package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// requireTool returns the path of a command the test needs, or skips
// without it (fails under SCRUTIN_REQUIRE_TOOLS, as in CI: .ci/run
// installs it).
func requireTool(t *testing.T, name string, also ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range also {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("SCRUTIN_REQUIRE_TOOLS") != "" {
		t.Fatalf("the %s command is not installed (.ci/run installs it)", name)
	}
	t.Skipf("the %s command is not installed", name)
	return ""
}

// unitValue returns the value of the (last) line "key=…" of a unit file.
func unitValue(unit, key string) string {
	v := ""
	for _, line := range strings.Split(unit, "\n") {
		if rest, ok := strings.CutPrefix(line, key+"="); ok {
			v = rest
		}
	}
	return v
}

// TestSystemdUnit (issue 23): deploy/scrutin.service passes
// "systemd-analyze verify" with no complaint, its sandbox scores at most
// 2.0 on "systemd-analyze security --offline=yes" (lower is better; 1.4
// when written), it leaves the server time to drain on SIGTERM, and its
// ExecStart line as shipped refuses to start without a mail server, and
// the README's drop-in ExecStart, run as printed (with a temporary data
// folder and port), serves, is backed up by the backup unit's command, and
// stops with 0 on SIGTERM within TimeoutStopSec.
func TestSystemdUnit(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	b, err := os.ReadFile("../../deploy/scrutin.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	bin := buildScrutin(t)
	const installed = "/usr/local/bin/scrutin"
	start := unitValue(unit, "ExecStart")
	if !strings.HasPrefix(start, installed+" serve ") {
		t.Fatalf("ExecStart=%s: want %s serve …", start, installed)
	}
	// verify checks that the binary exists: point it at the one just built.
	verify := func(unit string) string {
		dir := t.TempDir()
		path := filepath.Join(dir, "scrutin.service")
		os.WriteFile(path, []byte(strings.ReplaceAll(unit, installed+" ", bin+" ")), 0o644)
		out, err := exec.Command(analyze, "verify", path).CombinedOutput()
		if err != nil && len(out) == 0 {
			out = []byte(err.Error())
		}
		return strings.TrimSpace(string(out))
	}
	if out := verify(unit); out != "" {
		t.Fatalf("systemd-analyze verify deploy/scrutin.service:\n%s", out)
	}
	// The backup's service and timer, side by side.
	{
		dir := t.TempDir()
		for _, name := range []string{"scrutin-backup.service", "scrutin-backup.timer"} {
			b, err := os.ReadFile("../../deploy/" + name)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, name), []byte(strings.ReplaceAll(string(b), installed+" ", bin+" ")), 0o644)
		}
		out, err := exec.Command(analyze, "verify", filepath.Join(dir, "scrutin-backup.service"), filepath.Join(dir, "scrutin-backup.timer")).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Fatalf("systemd-analyze verify deploy/scrutin-backup.*: %v\n%s", err, out)
		}
	}
	// The check can fail: a misspelt system call group is reported.
	if out := verify(strings.Replace(unit, "SystemCallFilter=@system-service", "SystemCallFilter=@system-servic", 1)); !strings.Contains(out, "system-servic") {
		t.Fatalf("systemd-analyze verify accepted a misspelt SystemCallFilter: %q", out)
	}
	for _, name := range []string{"scrutin.service", "scrutin-backup.service"} {
		out, err := exec.Command(analyze, "security", "--offline=yes", "--no-pager", "../../deploy/"+name).CombinedOutput()
		if err != nil {
			t.Fatalf("systemd-analyze security --offline=yes: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`Overall exposure level for ` + regexp.QuoteMeta(name) + `: ([0-9.]+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no exposure level in:\n%s", out)
		}
		score, _ := strconv.ParseFloat(string(m[1]), 64)
		t.Logf("systemd-analyze security --offline=yes deploy/%s: %.1f", name, score)
		if score > 2.0 {
			t.Fatalf("exposure level %.1f, want at most 2.0:\n%s", score, out)
		}
	}
	for _, want := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes", "User=scrutin", "StateDirectory=scrutin", "StateDirectoryMode=0700", "UMask=0077", "MemoryDenyWriteExecute=yes", "SystemCallFilter=@system-service", "KillSignal=SIGTERM"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("the unit lacks %s", want)
		}
	}
	stopTimeout, err := time.ParseDuration(unitValue(unit, "TimeoutStopSec"))
	if err != nil || stopTimeout < drainTimeout+10*time.Second {
		t.Fatalf("TimeoutStopSec=%s: want at least the drain (%s) and 10 s to close the store", unitValue(unit, "TimeoutStopSec"), drainTimeout)
	}

	// The ExecStart line as shipped refuses to start, saying what it lacks.
	dir := t.TempDir()
	args := strings.Fields(strings.NewReplacer("/var/lib/scrutin", dir, "127.0.0.1:8080", "127.0.0.1:0").Replace(start))[1:]
	if r := runScrutin(t, bin, args...); r.status == 0 || !strings.Contains(r.stderr, "give --smtp and --smtp-from") {
		t.Fatalf("the unit's ExecStart as shipped: %d %s", r.status, r.stderr)
	}
	// The README's drop-in (Running in production), on a data folder that
	// exists (step 2), with its password file (step 3).
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?m)^ExecStart=(/usr/local/bin/scrutin serve .*)$").FindSubmatch(readme)
	if m == nil {
		t.Fatal("the README prints no drop-in ExecStart")
	}
	os.WriteFile(filepath.Join(dir, "smtp-password"), []byte("secret\n"), 0o600)
	words, err := splitCommand(strings.NewReplacer("/var/lib/scrutin", dir, "127.0.0.1:8080", "127.0.0.1:0").Replace(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, words[1:]...)
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	serving := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "serving ") {
			serving = true
			break
		}
	}
	if !serving {
		cmd.Wait()
		t.Fatalf("the README's ExecStart did not serve: %s", stderr.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	// The backup unit's ExecStart, as systemd would run it (quotes, %% and
	// $$ undone), while the server serves.
	b, err = os.ReadFile("../../deploy/scrutin-backup.service")
	if err != nil {
		t.Fatal(err)
	}
	line, ok := strings.CutPrefix(unitValue(string(b), "ExecStart"), "/bin/sh -c '")
	if !ok || !strings.HasSuffix(line, "'") {
		t.Fatalf("scrutin-backup.service: ExecStart=%s", unitValue(string(b), "ExecStart"))
	}
	backups := t.TempDir()
	line = strings.NewReplacer("%%", "%", "$$", "$", installed+" ", bin+" ", "/var/lib/scrutin-backup", backups, "/var/lib/scrutin", dir).Replace(strings.TrimSuffix(line, "'"))
	if out, err := exec.Command("/bin/sh", "-c", line).CombinedOutput(); err != nil {
		t.Fatalf("the backup unit's command %s: %v\n%s", line, err, out)
	}
	if m, _ := filepath.Glob(filepath.Join(backups, "*", "log.key")); len(m) != 1 {
		t.Fatalf("the backup unit's command made no backup folder in %s", backups)
	}
	t0 := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after SIGTERM: %v\n%s", err, stderr.String())
	}
	if d := time.Since(t0); d > stopTimeout {
		t.Fatalf("stopped in %s, more than TimeoutStopSec=%s", d, stopTimeout)
	}
}

// composeCommand returns the command list of service name in a compose
// file written as deploy/compose.yaml is (a "command:" followed by lines
// "- ARG").
func composeCommand(t *testing.T, compose, name string) []string {
	t.Helper()
	_, svc, ok := strings.Cut(compose, "\n  "+name+":\n")
	if !ok {
		t.Fatalf("no service %s", name)
	}
	_, cmd, ok := strings.Cut(svc, "\n    command:\n")
	if !ok {
		t.Fatalf("service %s has no command list", name)
	}
	var args []string
	for _, line := range strings.Split(cmd, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		a, ok := strings.CutPrefix(line, "      - ")
		if !ok {
			break
		}
		args = append(args, a)
	}
	return args
}

// TestComposeFile (issue 23): deploy/compose.yaml passes "docker-compose
// config" (Debian's docker-compose: the file's syntax and types), a
// broken copy does not, and scrutin's command in it parses with serve's
// real flags.
func TestComposeFile(t *testing.T) {
	dc := requireTool(t, "docker-compose")
	b, err := os.ReadFile("../../deploy/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	check := func(compose string) (string, error) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(compose), 0o644)
		for _, s := range []string{"db-password", "pgpass"} {
			os.WriteFile(filepath.Join(dir, s), []byte("x\n"), 0o600)
		}
		cmd := exec.Command(dc, "--file", "compose.yaml", "config", "--quiet")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := check(string(b)); err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	if out, err := check(strings.Replace(string(b), "internal: true", "internal: sometimes", 1)); err == nil {
		t.Fatalf("docker-compose config accepted a broken file: %s", out)
	}
	args := composeCommand(t, string(b), "scrutin")
	if len(args) < 2 || args[0] != "serve" {
		t.Fatalf("scrutin's command: %q", args)
	}
	fs, _ := serveCommand()
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
		t.Fatalf("scrutin %q: %v %q", args, err, fs.Args())
	}
	if fs.Lookup("dir").Value.String() != "/data" || !strings.HasPrefix(fs.Lookup("db").Value.String(), "postgres://") {
		t.Fatalf("scrutin's command does not use the volume and the database: %q", args)
	}
}

// parseScrutin checks that args (without "scrutin") name a command and
// parse with its real flags.
func parseScrutin(args []string) error {
	cmd, rest, ok := findCommand(args)
	if !ok {
		return fmt.Errorf("no such scrutin command")
	}
	fs, _ := cmd.setup()
	fs.SetOutput(io.Discard)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if fs.NArg() > 0 && !cmd.args {
		return fmt.Errorf("scrutin %s takes no argument", cmd.name)
	}
	return nil
}

// TestProductionCommands (issue 23): the README's "Running in production"
// prints commands that exist: every scrutin command (as the service's user,
// in the unit's drop-in, in "docker run" and "docker exec") parses with the
// command's real flags, the files it installs are in deploy/, the image
// builder takes its flags, and the build line builds.
func TestProductionCommands(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## Running in production\n")
	if !ok {
		t.Fatal("the README has no section Running in production")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var lines []string
	in := false
	for _, line := range strings.Split(sec, "\n") {
		if strings.HasPrefix(line, "```") {
			in = !in
			continue
		}
		if in && strings.TrimSpace(line) != "" {
			lines = append(lines, strings.TrimSpace(line))
		}
	}
	parsed, files := 0, 0
	for _, line := range lines {
		words, err := splitCommand(line)
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		var args []string
		switch {
		case strings.HasPrefix(line, "sudo -u scrutin scrutin "):
			args = words[4:]
		case strings.HasPrefix(line, "docker exec scrutin scrutin "):
			args = words[4:]
		case strings.HasPrefix(line, "ExecStart=/usr/local/bin/scrutin "):
			args = words[1:]
		case strings.HasPrefix(line, "docker run "):
			i := slices.Index(words, "scrutin:latest")
			if i < 0 {
				t.Errorf("%q: not the image scrutin:latest", line)
				continue
			}
			args = words[i+1:]
		case strings.HasPrefix(line, "go run ./cmd/scrutin-image "):
			out, err := exec.Command("go", "run", "../scrutin-image", "-h").CombinedOutput()
			for _, w := range words[3:] {
				if strings.HasPrefix(w, "--") && !strings.Contains(string(out), " -"+strings.TrimPrefix(w, "--")+" ") {
					t.Errorf("%q: scrutin-image has no flag %s: %v\n%s", line, w, err, out)
				}
			}
			continue
		case strings.HasPrefix(line, "CGO_ENABLED=0 go build "):
			bin := filepath.Join(t.TempDir(), "scrutin")
			cmd := exec.Command("sh", "-c", strings.Replace(line, "-o scrutin ", "-o "+bin+" ", 1))
			cmd.Dir = "../.."
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%q: %v\n%s", line, err, out)
			}
			continue
		}
		for _, w := range words {
			if name, ok := strings.CutPrefix(w, "deploy/"); ok || strings.HasPrefix(w, "scrutin.service") || strings.HasPrefix(w, "scrutin-backup.") {
				if !ok {
					name = w
				}
				if _, err := os.Stat("../../deploy/" + name); err != nil {
					t.Errorf("%q names a file deploy/ lacks: %v", line, err)
				}
				files++
			}
		}
		if args == nil {
			continue
		}
		if err := parseScrutin(args); err != nil {
			t.Errorf("%q: %v", line, err)
		}
		parsed++
	}
	t.Logf("%d scrutin command lines parsed, %d unit files named", parsed, files)
	if parsed < 6 || files < 6 {
		t.Fatalf("only %d scrutin commands and %d files found in the section", parsed, files)
	}
}
