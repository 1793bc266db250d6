package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/pgtest"
)

// startServe starts "scrutin serve" and returns its URL once it serves.
func startServeURL(t *testing.T, bin string, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { cancel(); cmd.Wait() }
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "serving "); ok {
			go io.Copy(io.Discard, stdout)
			return u, stop
		}
	}
	stop()
	t.Fatalf("serve did not start: %s", stderr.String())
	return "", nil
}

// readmeCommands returns the command lines of the README's code blocks in
// the section titled title, with DIR and URL replaced.
func readmeCommands(t *testing.T, title, dir, url string) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("the README has no section %q", title)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var out []string
	in := false
	for _, line := range strings.Split(sec, "\n") {
		if line == "```" {
			in = !in
			continue
		}
		if in && line != "" {
			out = append(out, strings.NewReplacer("DIR", dir, "URL", url).Replace(line))
		}
	}
	return out
}

// run runs a README command line in the shell, in folder cwd.
func runLine(t *testing.T, cwd, line string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = cwd
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
}

// castFirstMember casts a ballot of the first member of the demo in dir
// (credentials.csv) on a server without sign-in.
func castFirstMember(t *testing.T, url, dir string) {
	t.Helper()
	f, _ := os.Open(filepath.Join(dir, "elections", "demo", "credentials.csv"))
	rows, _ := csv.NewReader(f).ReadAll()
	f.Close()
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
	fp, _ := parseFingerprint(info.Fingerprint)
	var key crypto.PublicKey
	key.UnmarshalText([]byte(info.ElectionKey))
	view := &election.Election{Manifest: info.Manifest, Fingerprint: fp, Key: &key}
	k, _ := election.CredentialKey(fp, rows[1][3])
	ct, _ := k.PublicKey().MarshalText()
	resp, err = http.Get(url + "/api/e/demo/credentials/" + string(ct))
	if err != nil {
		t.Fatal(err)
	}
	var elig struct{ Contests []string }
	json.NewDecoder(resp.Body).Decode(&elig)
	resp.Body.Close()
	choices := make([][]int, len(info.Manifest.Contests))
	for c, contest := range info.Manifest.Contests {
		if slices.Contains(elig.Contests, contest.ID) {
			choices[c] = []int{0}
		}
	}
	ballot, err := view.NewBallot(nil, k, choices)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Post(url+"/api/e/demo/ballots", "application/json", bytes.NewReader(ballot[1:]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("ballot: %d %s", resp.StatusCode, body)
	}
}

// postgresDatabase makes an empty database of its own on the test server
// and returns its URL, or skips without a server (fails in CI).
func postgresDatabase(t *testing.T) string {
	t.Helper()
	return pgtest.Database(t, "scrutin_restore")
}

// TestServeRefusesRestoredBackup follows the README's "Backup and restore",
// running its commands as printed, on both stores: a backup taken while
// the server runs, a ballot cast after it, the backup restored: the server
// refuses to start, saying what happened and what to do, and starts only
// with --accept-rollback, keeping the old checkpoint aside.
func TestServeRefusesRestoredBackup(t *testing.T) {
	bin := buildScrutin(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			tool := map[string]string{"sqlite": "sqlite3", "postgres": "pg_dump"}[kind]
			if _, err := exec.LookPath(tool); err != nil {
				if os.Getenv("SCRUTIN_REQUIRE_TOOLS") != "" {
					t.Fatalf("the %s command is not installed (.ci/run installs it)", tool)
				}
				t.Skipf("the %s command is not installed", tool)
			}
			dir, backups := t.TempDir(), t.TempDir()
			db := ""
			args := []string{"--dir", dir, "--sign-in", "off"}
			if kind == "postgres" {
				db = postgresDatabase(t)
				args = append(args, "--db", db)
			}
			demoArgs := []string{"demo", "--voters", "5", "--dir", dir, "--no-vote"}
			if db != "" {
				demoArgs = append(demoArgs, "--db", db)
			}
			if r := runScrutin(t, bin, demoArgs...); r.status != 0 {
				t.Fatalf("demo --no-vote: %s", r.stderr)
			}
			var backup, restore []string
			for _, line := range readmeCommands(t, "Backup and restore", dir, db) {
				switch {
				case kind == "sqlite" && strings.HasPrefix(line, "sqlite3 "), kind == "postgres" && strings.HasPrefix(line, "pg_dump "):
					backup = append(backup, line)
				case kind == "sqlite" && (strings.HasPrefix(line, "rm ") || strings.HasPrefix(line, "cp ")), kind == "postgres" && strings.HasPrefix(line, "pg_restore "):
					restore = append(restore, line)
				}
			}
			if len(backup) == 0 || len(restore) == 0 {
				t.Fatalf("the README prints no backup or no restore for %s: %q %q", kind, backup, restore)
			}
			url, stop := startServeURL(t, bin, args...)
			defer stop()
			for _, line := range backup {
				runLine(t, backups, line)
			}
			if kind == "sqlite" {
				// The README's other online copy, printed inline.
				b, _ := os.ReadFile("../../README.md")
				m := regexp.MustCompile("`(sqlite3 DIR/scrutin.db \"VACUUM INTO [^`]*)`").FindSubmatch(b)
				if m == nil {
					t.Fatal("the README's VACUUM INTO line is gone")
				}
				other := t.TempDir()
				runLine(t, other, strings.ReplaceAll(string(m[1]), "DIR", dir))
				count := func(db string) string {
					out, err := exec.Command("sqlite3", db, "SELECT count(*) FROM entries").CombinedOutput()
					if err != nil {
						t.Fatalf("sqlite3 %s: %v %s", db, err, out)
					}
					return strings.TrimSpace(string(out))
				}
				if got, want := count(filepath.Join(other, "scrutin-backup.db")), count(filepath.Join(dir, "scrutin.db")); got != want || want == "0" {
					t.Fatalf("VACUUM INTO copied %s entries of %s", got, want)
				}
			}
			castFirstMember(t, url, dir)
			stop()
			for _, line := range restore {
				runLine(t, backups, line)
			}
			r := runScrutin(t, bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...)
			if r.status == 0 || !strings.Contains(r.stderr, "1 entries this server acknowledged") || !strings.Contains(r.stderr, "--accept-rollback") {
				t.Fatalf("serve on a restored backup: %d %s", r.status, r.stderr)
			}
			_, stop = startServeURL(t, bin, append(args, "--accept-rollback")...)
			stop()
			if aside, _ := filepath.Glob(filepath.Join(dir, "checkpoints", "demo.rolled-back-*")); len(aside) != 1 {
				t.Fatalf("the old checkpoint was not kept aside: %v", aside)
			}
		})
	}
}
