package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/pgtest"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// caster casts ballots of the demo's members on a server without sign-in.
type caster struct {
	url   string
	codes []string
	view  *election.Election
}

func newCaster(t *testing.T, url, dir string) *caster {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "elections", "demo", "credentials.csv"))
	if err != nil {
		t.Fatal(err)
	}
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
	c := &caster{url: url, view: &election.Election{Manifest: info.Manifest, Fingerprint: fp, Key: &key}}
	for _, row := range rows[1:] {
		c.codes = append(c.codes, row[3])
	}
	return c
}

// cast casts a ballot of member i (choosing the first option of every
// contest the member may vote in) and returns its receipt, or an error
// message.
func (c *caster) cast(i int) (server.Receipt, string) {
	k, _ := election.CredentialKey(c.view.Fingerprint, c.codes[i%len(c.codes)])
	ct, _ := k.PublicKey().MarshalText()
	resp, err := http.Get(c.url + "/api/e/demo/credentials/" + string(ct))
	if err != nil {
		return server.Receipt{}, err.Error()
	}
	var elig struct{ Contests []string }
	json.NewDecoder(resp.Body).Decode(&elig)
	resp.Body.Close()
	choices := make([][]int, len(c.view.Manifest.Contests))
	for j, contest := range c.view.Manifest.Contests {
		if slices.Contains(elig.Contests, contest.ID) {
			choices[j] = []int{i % 2}
		}
	}
	ballot, err := c.view.NewBallot(nil, k, choices)
	if err != nil {
		return server.Receipt{}, err.Error()
	}
	resp, err = http.Post(c.url+"/api/e/demo/ballots", "application/json", bytes.NewReader(ballot[1:]))
	if err != nil {
		return server.Receipt{}, err.Error()
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return server.Receipt{}, resp.Status + " " + string(body)
	}
	var r server.Receipt
	if err := json.Unmarshal(body, &r); err != nil || r.Tracker == "" {
		return server.Receipt{}, "no receipt: " + string(body)
	}
	return r, ""
}

// ballotsMissing returns the trackers of receipts the server at url does not
// find in its log (waiting when the browsing budget, a burst of 60 then 5
// a second, answers 429).
func ballotsMissing(t *testing.T, url string, receipts []server.Receipt) []string {
	t.Helper()
	var out []string
	deadline := time.Now().Add(2 * time.Minute)
	for _, r := range receipts {
		for {
			resp, err := http.Get(url + "/api/e/demo/ballots/" + r.Tracker)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusTooManyRequests && time.Now().Before(deadline) {
				time.Sleep(time.Second)
				continue
			}
			switch resp.StatusCode {
			case http.StatusOK:
			case http.StatusNotFound:
				out = append(out, r.Tracker)
			default:
				t.Fatalf("GET ballots/%s: %s", r.Tracker, resp.Status)
			}
			break
		}
	}
	return out
}

// TestBackupRestore (issue 23) runs "scrutin backup" while voters cast
// ballots, on both stores, and "scrutin restore":
//   - the copy made while ballots were being appended restores (onto a new
//     machine: a fresh folder and database) into a log the server loads and
//     serves, holding every ballot acknowledged before the backup started;
//   - restored onto the server that acknowledged ballots after it, the same
//     copy is refused as stale (by restore itself with SQLite, by serve with
//     PostgreSQL, where restore cannot count the dump), naming how many
//     acknowledged entries are missing;
//   - a backup made after the last acknowledgement restores onto that
//     server, which starts without --accept-rollback and finds every
//     ballot it acknowledged.
func TestBackupRestore(t *testing.T) {
	bin := buildScrutin(t)
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			dir, backups := t.TempDir(), t.TempDir()
			var db string
			withDB := func(db string, args ...string) []string {
				if db != "" {
					args = append(args, "--db", db)
				}
				return args
			}
			if kind == "postgres" {
				requireTool(t, "pg_dump")
				requireTool(t, "pg_restore")
				db = postgresDatabase(t)
			}
			if r := runScrutin(t, bin, withDB(db, "demo", "--voters", "6", "--dir", dir, "--no-vote")...); r.status != 0 {
				t.Fatalf("demo --no-vote: %s", r.stderr)
			}
			url, stop := startServeURL(t, bin, withDB(db, "--dir", dir, "--sign-in", "off")...)
			defer stop()
			c := newCaster(t, url, dir)

			// Voters cast all along; the backup runs in the middle.
			var mu sync.Mutex
			var acked []server.Receipt
			var castErr string
			quit, done := make(chan struct{}), make(chan struct{})
			count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
			go func() {
				defer close(done)
				for i := 0; ; i++ {
					select {
					case <-quit:
						return
					default:
					}
					r, msg := c.cast(i)
					mu.Lock()
					if msg != "" {
						castErr = msg
						mu.Unlock()
						return
					}
					acked = append(acked, r)
					mu.Unlock()
					time.Sleep(20 * time.Millisecond) // a steady stream, not a flood

				}
			}()
			waitFor := func(n int) {
				for count() < n {
					mu.Lock()
					e := castErr
					mu.Unlock()
					if e != "" {
						t.Fatalf("cast: %s", e)
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			waitFor(3)
			before := count()
			mid := filepath.Join(backups, "mid")
			if r := runScrutin(t, bin, withDB(db, "backup", "--dir", dir, "--out", mid)...); r.status != 0 {
				t.Fatalf("backup while casting: %s", r.stderr)
			}
			waitFor(count() + 3) // acknowledged after the backup
			close(quit)
			<-done
			mu.Lock()
			all := slices.Clone(acked)
			mu.Unlock()
			final := filepath.Join(backups, "final")
			if r := runScrutin(t, bin, withDB(db, "backup", "--dir", dir, "--out", final)...); r.status != 0 {
				t.Fatalf("backup after the last ballot: %s", r.stderr)
			}
			if r := runScrutin(t, bin, withDB(db, "restore", "--from", final, "--dir", dir)...); r.status == 0 || !strings.Contains(r.stderr, "in use") {
				t.Fatalf("restore while the server runs: %d %s", r.status, r.stderr)
			}
			stop()
			t.Logf("%d ballots acknowledged before the backup started, %d in all", before, len(all))

			// A new machine: the copy made while casting serves, with every
			// ballot acknowledged before it started.
			fresh, freshDB := t.TempDir(), ""
			if kind == "postgres" {
				freshDB = pgtest.Database(t, "scrutin_restore_fresh")
			}
			if r := runScrutin(t, bin, withDB(freshDB, "restore", "--from", mid, "--dir", fresh)...); r.status != 0 || kind == "sqlite" && !strings.Contains(r.stdout, "--accept-rollback") {
				t.Fatalf("restore onto a new folder: %s%s", r.stdout, r.stderr)
			}
			// (SQLite: a folder without checkpoint files is served only
			// with --accept-rollback, which restore says; a PostgreSQL node
			// that never signed a checkpoint verifies the whole log.)
			freshArgs := withDB(freshDB, "--dir", fresh, "--sign-in", "off")
			if kind == "sqlite" {
				if r := runScrutin(t, bin, append([]string{"serve", "--addr", "127.0.0.1:0"}, freshArgs...)...); r.status == 0 || !strings.Contains(r.stderr, "checkpoints/demo is missing") {
					t.Fatalf("serve on a new folder without checkpoints: %d %s", r.status, r.stderr)
				}
				freshArgs = append(freshArgs, "--accept-rollback")
			}
			furl, fstop := startServeURL(t, bin, freshArgs...)
			if m := ballotsMissing(t, furl, all[:before]); len(m) > 0 {
				t.Fatalf("the backup lacks %d ballots acknowledged before it started: %v", len(m), m)
			}
			if m := ballotsMissing(t, furl, all[len(all)-1:]); len(m) == 0 {
				t.Fatal("the backup made in the middle holds the ballots cast after it: the test proves nothing")
			}
			fstop()

			// The same copy onto the server that acknowledged more.
			r := runScrutin(t, bin, withDB(db, "restore", "--from", mid, "--dir", dir)...)
			if kind == "sqlite" {
				if r.status == 0 || !strings.Contains(r.stderr, "entries it acknowledged are missing") {
					t.Fatalf("restore of a stale backup: %d %s", r.status, r.stderr)
				}
			} else {
				if r.status != 0 {
					t.Fatalf("restore: %s", r.stderr)
				}
				r = runScrutin(t, bin, "serve", "--addr", "127.0.0.1:0", "--dir", dir, "--db", db, "--sign-in", "off")
				if r.status == 0 || !strings.Contains(r.stderr, "entries this server acknowledged") {
					t.Fatalf("serve on a stale backup: %d %s", r.status, r.stderr)
				}
			}

			// The backup made after the last ballot: nothing acknowledged is
			// lost, and the server starts without --accept-rollback.
			if kind == "sqlite" {
				os.Remove(filepath.Join(dir, "scrutin.db")) // the disk lost it
			}
			if r := runScrutin(t, bin, withDB(db, "restore", "--from", final, "--dir", dir)...); r.status != 0 {
				t.Fatalf("restore of the latest backup: %s", r.stderr)
			}
			url, stop = startServeURL(t, bin, withDB(db, "--dir", dir, "--sign-in", "off")...)
			defer stop()
			if m := ballotsMissing(t, url, all); len(m) > 0 {
				t.Fatalf("the restored server lacks %d ballots it acknowledged: %v", len(m), m)
			}
		})
	}
}

// TestRestoreRefusesBackupWithoutAnElection (issue 23 review): a backup
// made before an election was created lacks it entirely; restoring it
// loses every entry of that election the server acknowledged. restore
// says it refuses a stale backup with SQLite "(nothing was changed)": it
// must refuse this one too, before replacing the database, not leave it
// to serve once the live database is gone.
func TestRestoreRefusesBackupWithoutAnElection(t *testing.T) {
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, k := range []string{demo.LogKeyFile, accounts.KeyFile} {
		if _, _, err := atrest.LoadOrCreateKey(filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if status := run([]string{"backup", "--dir", dir, "--out", out}, &stdout, &stderr); status != exitOK {
		t.Fatalf("backup: %d %s", status, stderr.String())
	}
	// Since the backup, election e2 was created and this server signed a
	// checkpoint of 7 of its entries.
	cp := filepath.Join(dir, server.CheckpointDir)
	if err := os.MkdirAll(cp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cp, "e2"), []byte("scrutin/e2\n7\nAAAA\n\n— sig\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	live, err := os.ReadFile(filepath.Join(dir, store.SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	stderr.Reset()
	if status := run([]string{"restore", "--from", out, "--dir", dir}, &stdout, &stderr); status == exitOK {
		t.Errorf("restore of a backup without election e2, of which this server signed 7 entries, succeeded:\n%s%s", stdout.String(), stderr.String())
	}
	if after, _ := os.ReadFile(filepath.Join(dir, store.SQLiteFile)); !bytes.Equal(after, live) {
		t.Error("the refused restore replaced the database")
	}
	if !strings.Contains(stderr.String(), "e2") {
		t.Errorf("restore does not name the missing election: %s", stderr.String())
	}
	// --accept-rollback restores it, as for a shorter log.
	stdout.Reset()
	stderr.Reset()
	if status := run([]string{"restore", "--from", out, "--dir", dir, "--accept-rollback"}, &stdout, &stderr); status != exitOK {
		t.Errorf("restore --accept-rollback: %d %s", status, stderr.String())
	}
}

// TestBackupRefusesPasswordInDB (issue 23 review): backup and restore give
// --db to pg_dump and pg_restore on their command line, which every user
// of the machine can read (ps, /proc/PID/cmdline): a password written in
// the URL is refused, as serve refuses it, before anything runs.
func TestBackupRefusesPasswordInDB(t *testing.T) {
	dir, out := t.TempDir(), filepath.Join(t.TempDir(), "backup")
	for _, db := range []string{"postgres://scrutin:Pa55@127.0.0.1:1/scrutin", "postgres://scrutin@127.0.0.1:1/scrutin?password=Pa55"} {
		for _, args := range [][]string{
			{"backup", "--dir", dir, "--out", out, "--db", db},
			{"restore", "--dir", dir, "--from", out, "--db", db},
		} {
			var stdout, stderr bytes.Buffer
			status := run(args, &stdout, &stderr)
			if status == exitOK || !strings.Contains(stderr.String(), "passfile") || strings.Contains(stdout.String()+stderr.String(), "Pa55") {
				t.Errorf("%s --db %s: %d, want a refusal naming passfile, password not shown:\n%s%s", args[0], db, status, stdout.String(), stderr.String())
			}
		}
	}
}

// TestBackupDumpNeverOpen (issue 23 review): pg_dump makes its --file with
// the caller's umask (0644 from a shell) and backup closed it only
// afterwards: while the dump was written, any user who could reach the
// folder (an --out made beforehand) could open it and keep reading. The
// file is made 0600 before pg_dump writes into it. A stand-in pg_dump on
// PATH reports the file's mode as it starts.
func TestBackupDumpNeverOpen(t *testing.T) {
	dir, bin, out := t.TempDir(), t.TempDir(), t.TempDir()
	for _, k := range []string{demo.LogKeyFile, accounts.KeyFile} {
		if _, _, err := atrest.LoadOrCreateKey(filepath.Join(dir, k)); err != nil {
			t.Fatal(err)
		}
	}
	seen := filepath.Join(t.TempDir(), "seen")
	script := "#!/bin/sh\nfor a; do case $a in --file=*) f=${a#--file=};; esac; done\n" +
		"stat -c %a \"$f\" > " + seen + " 2>/dev/null || echo none > " + seen + "\numask 022\necho dump >> \"$f\"\n"
	if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr bytes.Buffer
	if status := run([]string{"backup", "--dir", dir, "--out", out, "--db", "postgres://scrutin@127.0.0.1:1/scrutin"}, &stdout, &stderr); status != exitOK {
		t.Fatalf("backup: %d %s", status, stderr.String())
	}
	if b, _ := os.ReadFile(seen); strings.TrimSpace(string(b)) != "600" {
		t.Errorf("the dump file as pg_dump started: mode %q, want 600", strings.TrimSpace(string(b)))
	}
	if st, err := os.Stat(filepath.Join(out, "scrutin.dump")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the dump file: %v %v", st, err)
	}
}
