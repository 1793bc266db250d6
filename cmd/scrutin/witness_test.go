package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/store"
)

// publishedLog is a log in a SQLite store, published to a folder.
type publishedLog struct {
	s      store.Store
	signer note.Signer
	vkey   string
	origin string
	dir    string
	size   int64
}

func newPublishedLog(t *testing.T, skey, vkey, genesis string, dir string) *publishedLog {
	t.Helper()
	s, err := store.OpenLog(context.Background(), t.TempDir(), "main")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	l := &publishedLog{s: s, signer: signer, vkey: vkey, origin: board.Origin(board.Fingerprint([]byte(genesis))), dir: dir}
	l.grow(t, genesis)
	return l
}

func (l *publishedLog) grow(t *testing.T, entries ...string) {
	t.Helper()
	ctx := context.Background()
	var b [][]byte
	for _, e := range entries {
		b = append(b, []byte(e))
	}
	if _, err := l.s.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	c, err := board.CurrentCheckpoint(ctx, l.s, l.origin)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := board.Sign(c, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := board.Publish(ctx, l.s, l.size, c, signed, mirror.Dir(l.dir)); err != nil {
		t.Fatal(err)
	}
	l.size = c.Size
}

func numbered(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

func TestWitnessAndLogCheck(t *testing.T) {
	bin := buildScrutin(t)
	root := t.TempDir()
	genesis := "manifest of the test election"
	origin := board.Origin(board.Fingerprint([]byte(genesis)))
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	logDir := filepath.Join(root, "log")
	l := newPublishedLog(t, skey, vkey, genesis, logDir)
	l.grow(t, numbered("ballot", 1, 600)...)

	w1, w2 := filepath.Join(root, "w1"), filepath.Join(root, "w2")
	pub := map[string]string{}
	for name, dir := range map[string]string{"observers.example/one": w1, "observers.example/two": w2} {
		r := runScrutin(t, bin, "witness", "init", "--name", name, "--dir", dir)
		if r.status != 0 {
			t.Fatalf("witness init: %s", r.stderr)
		}
		b, _ := os.ReadFile(filepath.Join(dir, witnessPubFile))
		pub[dir] = strings.TrimSpace(string(b))
	}
	if fi, _ := os.Stat(filepath.Join(w1, witnessKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("witness key mode %v", fi.Mode())
	}
	check := func(loc string, extra ...string) result {
		return runScrutin(t, bin, append([]string{"log", "check", "--log", loc, "--log-key", vkey}, extra...)...)
	}
	if r := check(logDir); r.status != 0 || !strings.Contains(r.stdout, "600 entries") {
		t.Fatalf("log check: %d %s%s", r.status, r.stdout, r.stderr)
	}

	// Witness one follows the folder; witness two follows it over HTTP and
	// cosigns after witness one. The operator republishes the checkpoint
	// with both cosignatures.
	srv := httptest.NewServer(http.FileServer(http.Dir(logDir)))
	defer srv.Close()
	witness := func(dir, loc string) result {
		return runScrutin(t, bin, "witness", "run", "--once", "--dir", dir, "--log", loc, "--log-key", vkey, "--out", filepath.Join(dir, "out"))
	}
	if r := witness(w1, logDir); r.status != 0 || !strings.Contains(r.stdout, "cosigned") {
		t.Fatalf("witness one: %s%s", r.stdout, r.stderr)
	}
	copyFile(t, filepath.Join(w1, "out", "checkpoint"), filepath.Join(logDir, "checkpoint"))
	if r := witness(w2, srv.URL); r.status != 0 {
		t.Fatalf("witness two over HTTP: %s%s", r.stdout, r.stderr)
	}
	copyFile(t, filepath.Join(w2, "out", "checkpoint"), filepath.Join(logDir, "checkpoint"))
	if r := check(srv.URL, "--witness", pub[w1], "--witness", pub[w2]); r.status != 0 {
		t.Fatalf("quorum of 2 over HTTP: %s%s", r.stdout, r.stderr)
	}

	// The log grows; witness one cosigns the new checkpoint, which lacks
	// witness two's cosignature, so a quorum of 2 fails and 1 passes.
	l.grow(t, numbered("ballot", 600, 1000)...)
	if r := witness(w1, logDir); r.status != 0 || !strings.Contains(r.stdout, "1000 entries") {
		t.Fatalf("witness one after growth: %s%s", r.stdout, r.stderr)
	}
	copyFile(t, filepath.Join(w1, "out", "checkpoint"), filepath.Join(logDir, "checkpoint"))
	if r := check(logDir, "--witness", pub[w1], "--witness", pub[w2]); r.status == 0 || !strings.Contains(r.stderr, "observers.example/two") {
		t.Fatalf("quorum of 2 with one cosignature: %d %s", r.status, r.stderr)
	}
	if r := check(logDir, "--witness", pub[w1], "--witness", pub[w2], "--quorum", "1"); r.status != 0 {
		t.Fatalf("quorum of 1: %s", r.stderr)
	}

	// A fork signed by the same log key: history rewritten at entry 5.
	forkDir := filepath.Join(root, "fork")
	f := newPublishedLog(t, skey, vkey, genesis, forkDir)
	f.grow(t, numbered("ballot", 1, 5)...)
	f.grow(t, "a different ballot 5")
	f.grow(t, numbered("ballot", 6, 1200)...)
	r := witness(w1, forkDir)
	if r.status != 1 || !strings.Contains(r.stderr, "REFUSED") {
		t.Fatalf("fork: %d %s%s", r.status, r.stdout, r.stderr)
	}
	ev, _ := filepath.Glob(filepath.Join(w1, "evidence", "*", "*.checkpoint"))
	if len(ev) != 2 {
		t.Fatalf("evidence: %v", ev)
	}
	// A reader who kept the real log's checkpoint detects the fork too.
	copyFile(t, filepath.Join(w1, "out", "checkpoint"), filepath.Join(root, "seen.checkpoint"))
	if r := check(forkDir, "--previous", filepath.Join(root, "seen.checkpoint")); r.status == 0 || !strings.Contains(r.stderr, "forked") {
		t.Fatalf("reader with a previous checkpoint: %d %s", r.status, r.stderr)
	}
	if r := check(logDir, "--previous", filepath.Join(root, "seen.checkpoint")); r.status != 0 {
		t.Fatalf("the real log refused: %s", r.stderr)
	}
	// The witness still follows the real log afterwards.
	if r := witness(w1, logDir); r.status != 0 {
		t.Fatalf("after refusing a fork: %s", r.stderr)
	}

	// A tile with one changed byte is rejected, naming it.
	tile := filepath.Join(logDir, "tile", "0", "001")
	b, _ := os.ReadFile(tile)
	b[77] ^= 1
	os.WriteFile(tile, b, 0o644)
	if r := check(logDir); r.status == 0 || !strings.Contains(r.stderr, "tile/0/001") {
		t.Fatalf("tampered tile: %d %s", r.status, r.stderr)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
