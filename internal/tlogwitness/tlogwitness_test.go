package tlogwitness

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
)

// TestHandler: the HTTP answers of a witness, over a folder's state; two
// logs pushing the same checkpoint at once both get a cosignature and the
// witness keeps one state; a fork is refused with its evidence.
func TestHandler(t *testing.T) {
	ctx := context.Background()
	mem := &board.MemStorage{}
	origin := board.Origin(board.Fingerprint([]byte("genesis")))
	skey, vkey, _ := note.GenerateKey(rand.Reader, origin)
	ls, _ := note.NewSigner(skey)
	lv, _ := note.NewVerifier(vkey)
	cskey, cvkey, _ := board.GenerateCosigner(rand.Reader, "w.example/a")
	cs, _ := board.NewCosigner(cskey)
	cv, _ := board.NewWitnessVerifier(cvkey)
	var forks []*board.ForkError
	var mu sync.Mutex
	dir := t.TempDir()
	h := &Handler{Logs: map[string]*board.Witness{origin: {Signer: cs, Origin: origin, LogKey: lv}}, State: Dir(dir),
		Fork: func(o string, f *board.ForkError) { mu.Lock(); forks = append(forks, f); mu.Unlock() }}
	srv := httptest.NewServer(h)
	defer srv.Close()
	grow := func(entries ...string) (board.Checkpoint, []byte) {
		var b [][]byte
		for _, e := range entries {
			b = append(b, []byte(e))
		}
		mem.Append(ctx, b)
		c, _ := board.CurrentCheckpoint(ctx, mem, origin)
		signed, _ := board.Sign(c, ls)
		return c, signed
	}
	post := func(path string, body []byte) (int, string, string) {
		resp, err := http.Post(srv.URL+path, "text/plain", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	_, s1 := grow("genesis", "a", "b")
	// Two at once: both cosigned (idempotent), one state.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, body := post("/add-checkpoint", board.AddCheckpoint{Checkpoint: s1}.Marshal())
			if code == http.StatusConflict && body == "3\n" {
				code, _, body = post("/add-checkpoint", board.AddCheckpoint{OldSize: 3, Checkpoint: s1}.Marshal())
			}
			if code != 200 {
				t.Errorf("add: %d %s", code, body)
				return
			}
			if _, _, err := board.Open(append(bytes.Clone(s1), body...), origin, lv, []note.Verifier{cv}, 1); err != nil {
				t.Errorf("the answer is not a cosignature: %v", err)
			}
		}()
	}
	wg.Wait()
	code, ct, body := post("/add-checkpoint", board.AddCheckpoint{Checkpoint: s1}.Marshal())
	if code != http.StatusConflict || ct != board.ConflictContentType || body != "3\n" {
		t.Errorf("old 0 after 3: %d %q %q", code, ct, body)
	}
	c5, s5 := grow("c", "d")
	proof, _ := board.ProveConsistency(ctx, mem, 3, 5)
	if code, _, body := post("/add-checkpoint", board.AddCheckpoint{OldSize: 3, Proof: proof, Checkpoint: s5}.Marshal()); code != 200 {
		t.Fatalf("3 to 5: %d %s", code, body)
	}
	// The monitoring endpoint serves it.
	sum := sha256.Sum256([]byte(origin))
	resp, err := http.Get(fmt.Sprintf("%s/%x/checkpoint", srv.URL, sum))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, s5) {
		t.Errorf("monitoring: %s %q", resp.Status, got)
	}
	// A fork of size 5.
	fork := &board.MemStorage{}
	fork.Append(ctx, [][]byte{[]byte("genesis"), []byte("a"), []byte("b"), []byte("c"), []byte("forged")})
	fc, _ := board.CurrentCheckpoint(ctx, fork, origin)
	fs, _ := board.Sign(fc, ls)
	if fc.Hash == c5.Hash {
		t.Fatal("no fork")
	}
	if code, _, body := post("/add-checkpoint", board.AddCheckpoint{OldSize: 5, Checkpoint: fs}.Marshal()); code != 422 {
		t.Errorf("fork: %d %s", code, body)
	}
	if len(forks) != 1 || !bytes.Equal(forks[0].Old, s5) || !bytes.Equal(forks[0].New, fs) {
		t.Errorf("fork evidence: %v", forks)
	}
	if last, _ := Dir(dir).Last(origin); !bytes.Equal(last, s5) {
		t.Error("the fork changed the state")
	}
	// Other requests.
	if code, _, _ := post("/add-checkpoint", bytes.Repeat([]byte("x"), board.MaxAddCheckpoint+1)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("too large: %d", code)
	}
	if code, _, _ := post("/add-checkpoint", []byte("old 0\n\nother.example/log\n1\n"+strings.Repeat("A", 43)+"=\n\n— other.example/log AAAAAAAA\n")); code != 404 {
		t.Errorf("another log: %d", code)
	}
	if code, _, _ := post("/other", nil); code != 404 {
		t.Errorf("another path: %d", code)
	}
	if code, _, _ := post("/add-checkpoint", []byte("old 5\n")); code != 400 {
		t.Errorf("no checkpoint: %d", code)
	}
}
