package main

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestNoDefaultSecret: a fresh "scrutin serve" has no account and no
// password, only a one-time setup link; every secret it needs is made on
// first start, readable only by its owner, and different on every install;
// none of them is in the binary; and no Go source outside the tests holds a
// literal password, token or secret.
func TestNoDefaultSecret(t *testing.T) {
	bin := buildScrutin(t)
	binary, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	type install struct {
		dir, link string
	}
	start := func() install {
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "serve", "--dir", dir, "--addr", "127.0.0.1:0", "--sign-in", "off")
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var link string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.Contains(line, "/setup?token=") {
				link = line
			}
			if strings.HasPrefix(line, "serving ") {
				break
			}
		}
		cancel()
		cmd.Wait()
		if link == "" {
			t.Fatal("a fresh server printed no setup link")
		}
		return install{dir, link}
	}
	a, b := start(), start()
	if a.link == b.link {
		t.Fatal("two installs have the same setup link")
	}
	// The database holds the staff trail (with password hashes) and
	// sessions.
	secretFiles := []string{"log.key", "staff.key", "setup-link", "scrutin.db"}
	for _, name := range secretFiles {
		for _, in := range []install{a, b} {
			st, err := os.Stat(filepath.Join(in.dir, name))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s is mode %v, not 0600", name, st.Mode().Perm())
			}
		}
	}
	for _, name := range []string{"log.key", "staff.key"} {
		ka, _ := os.ReadFile(filepath.Join(a.dir, name))
		kb, _ := os.ReadFile(filepath.Join(b.dir, name))
		if bytes.Equal(ka, kb) {
			t.Errorf("two installs share %s", name)
		}
		if bytes.Contains(binary, ka) {
			t.Errorf("%s is in the binary", name)
		}
	}
	token := a.link[strings.Index(a.link, "token=")+len("token="):]
	if bytes.Contains(binary, []byte(token)) {
		t.Error("the setup token is in the binary")
	}
	for _, f := range []string{"scrutin.db", "scrutin.db-wal"} {
		trail, _ := os.ReadFile(filepath.Join(a.dir, f))
		if bytes.Contains(trail, []byte("account.")) {
			t.Error("a fresh install has an account")
		}
	}
	// Well-known default credentials.
	for _, s := range []string{"admin:admin", "root:root", "changeme", "admin123", "password123", "default_password", "defaultpassword"} {
		if bytes.Contains(bytes.ToLower(binary), []byte(s)) {
			t.Errorf("the binary contains %q", s)
		}
	}
	// No literal secret in the sources.
	literal := regexp.MustCompile(`(?i)\b(password|passwd|passphrase|secret|token|apikey|api_key)\s*(:=|=|:)\s*"[^"]+"`)
	root := filepath.Join("..", "..")
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if m := literal.FindString(line); m != "" {
				t.Errorf("%s:%d: a literal secret? %s", path, i+1, m)
			}
		}
		return nil
	})
}
