package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// othersCanRead lists what under dir other users than its owner can read,
// write or enter.
func othersCanRead(t *testing.T, dir string) []string {
	t.Helper()
	var open []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		st, err := os.Lstat(path)
		if err != nil {
			return nil // removed meanwhile (a temporary file)
		}
		if st.Mode().Perm()&0o077 != 0 {
			open = append(open, path+" "+st.Mode().Perm().String())
		}
		return nil
	})
	return open
}

// TestFirstStart (issue 23, item 4): "scrutin serve --dir DIR" makes a
// folder that does not exist yet (mode 0700, parents too), and every file
// it makes there, SQLite's write-ahead log and shared memory included, is
// readable by its owner only, whatever the umask; a folder that exists with
// looser modes (made with mkdir under umask 022) is made 0700; a log key
// given with --log-key-file that others can read is refused.
func TestFirstStart(t *testing.T) {
	bin := buildScrutin(t)
	// umask 000: the modes are the program's, not the umask's.
	sh := func(args ...string) []string {
		return append([]string{"-c", `umask 000; exec "$0" "$@"`, bin}, args...)
	}
	shell := func(t *testing.T, args ...string) result { return runScrutin(t, "/bin/sh", sh(args...)...) }

	root := t.TempDir()
	dir := filepath.Join(root, "new", "data")
	if r := shell(t, "demo", "--voters", "3", "--no-vote", "--dir", filepath.Join(root, "demo")); r.status != 0 {
		t.Fatalf("demo: %s", r.stderr)
	}
	p := startServeWith(t, "/bin/sh", sh("serve", "--addr", "127.0.0.1:0", "--dir", dir, "--sign-in", "off")...)
	if open := othersCanRead(t, filepath.Join(root, "new")); len(open) > 0 {
		t.Errorf("a first start left these open to other users: %v", open)
	}
	p.cmd.Process.Kill()
	<-p.exited

	// A folder made beforehand with mkdir (0755), holding an election.
	if err := os.Chmod(filepath.Join(root, "demo"), 0o755); err != nil {
		t.Fatal(err)
	}
	p = startServeWith(t, "/bin/sh", sh("serve", "--addr", "127.0.0.1:0", "--dir", filepath.Join(root, "demo"), "--sign-in", "off")...)
	if open := othersCanRead(t, filepath.Join(root, "demo")); len(open) > 0 {
		t.Errorf("serve left these open to other users: %v", open)
	}
	p.cmd.Process.Kill()
	<-p.exited

	// A log key others can read is refused, given by path as by default.
	key := filepath.Join(root, "demo", "log.key")
	os.Chmod(key, 0o644)
	other := filepath.Join(root, "other.key")
	b, _ := os.ReadFile(key)
	os.WriteFile(other, b, 0o644)
	for _, args := range [][]string{{"--dir", filepath.Join(root, "demo")}, {"--dir", filepath.Join(root, "demo"), "--log-key-file", other}} {
		r := runBounded(t, 20e9, bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--sign-in", "off"}, args...)...)
		if r.status == 0 || !strings.Contains(r.stderr, "chmod 600") {
			t.Errorf("serve %v with a log key others can read: %d %s", args, r.status, r.stderr)
		}
	}
}
