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
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
)

// startServe starts "scrutin serve" and returns its URL once it serves.
func startServe(t *testing.T, bin string, args ...string) (string, func()) {
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

// TestServeRefusesRestoredBackup follows the README's "Backup and restore"
// on the embedded store: a backup taken with sqlite3 while the server runs,
// a ballot cast after it, the backup restored: the server refuses to start,
// saying what happened and what to do, and starts only with
// --accept-rollback.
func TestServeRefusesRestoredBackup(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("the sqlite3 command is not installed")
	}
	bin := buildScrutin(t)
	dir, backups := t.TempDir(), t.TempDir()
	if r := runScrutin(t, bin, "demo", "--voters", "5", "--dir", dir, "--no-vote"); r.status != 0 {
		t.Fatalf("demo --no-vote: %s", r.stderr)
	}
	url, stop := startServe(t, bin, "--dir", dir, "--sign-in", "off")
	defer stop()
	// The README's online backup, as printed (with DIR and the backup's name).
	backup := filepath.Join(backups, "scrutin-backup.db")
	if out, err := exec.Command("sqlite3", filepath.Join(dir, "scrutin.db"), ".backup '"+backup+"'").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3 .backup: %v %s", err, out)
	}

	// A member casts a ballot after the backup.
	f, _ := os.Open(filepath.Join(dir, "credentials.csv"))
	rows, _ := csv.NewReader(f).ReadAll()
	f.Close()
	resp, err := http.Get(url + "/api/election")
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
	resp, err = http.Get(url + "/api/credentials/" + string(ct))
	if err != nil {
		t.Fatal(err)
	}
	var elig struct{ Contests []string }
	json.NewDecoder(resp.Body).Decode(&elig)
	resp.Body.Close()
	choices := make([][]int, len(info.Manifest.Contests))
	for c, contest := range info.Manifest.Contests {
		for _, id := range elig.Contests {
			if id == contest.ID {
				choices[c] = []int{0}
			}
		}
	}
	ballot, err := view.NewBallot(nil, k, choices)
	if err != nil {
		t.Fatal(err)
	}
	resp, err = http.Post(url+"/api/ballots", "application/json", bytes.NewReader(ballot[1:]))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("ballot: %d %s", resp.StatusCode, body)
	}
	stop()

	// The README's restore, with the server stopped.
	for _, name := range []string{"scrutin.db-wal", "scrutin.db-shm"} {
		os.Remove(filepath.Join(dir, name))
	}
	if out, err := exec.Command("cp", backup, filepath.Join(dir, "scrutin.db")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	r := runScrutin(t, bin, "serve", "--dir", dir, "--sign-in", "off", "--addr", "127.0.0.1:0")
	if r.status == 0 || !strings.Contains(r.stderr, "1 entries this server acknowledged") || !strings.Contains(r.stderr, "--accept-rollback") {
		t.Fatalf("serve on a restored backup: %d %s", r.status, r.stderr)
	}
	_, stop = startServe(t, bin, "--dir", dir, "--sign-in", "off", "--accept-rollback")
	stop()
	if aside, _ := filepath.Glob(filepath.Join(dir, "log.checkpoint.rolled-back-*")); len(aside) != 1 {
		t.Fatalf("the old checkpoint was not kept aside: %v", aside)
	}
}
