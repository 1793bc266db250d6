package main

// Security review findings (failing tests until fixed).

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/internal/mirror"
)

type reviewLog struct {
	origin string
	signer note.Signer
	key    note.Verifier
}

func newReviewLog(t *testing.T, genesis string) *reviewLog {
	t.Helper()
	origin := board.Origin(board.Fingerprint([]byte(genesis)))
	sk, vk, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(sk)
	v, _ := note.NewVerifier(vk)
	return &reviewLog{origin, s, v}
}

// publish writes a log of the given entries, signed, to a new folder.
func (l *reviewLog) publish(t *testing.T, entries ...string) string {
	t.Helper()
	ctx := context.Background()
	s := &board.MemStorage{}
	for _, e := range entries {
		if _, err := s.Append(ctx, [][]byte{[]byte(e)}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := board.CurrentCheckpoint(ctx, s, l.origin)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := board.Sign(c, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := board.Publish(ctx, s, 0, c, signed, mirror.Dir(dir)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newReviewWitness(t *testing.T, l *reviewLog) *board.Witness {
	t.Helper()
	sk, _, err := note.GenerateKey(rand.Reader, "review-witness")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(sk)
	return &board.Witness{Signer: s, Origin: l.origin, LogKey: l.key}
}

// TestReviewConcurrentWitnessRunsCosignSplitView: witnessOnce reads its
// state, checks, then writes it, with no lock on the witness folder. Two
// runs on the same folder that overlap (a daemon and a manual --once, a
// restart, a cron job) each check against the same old state, so a log
// showing each of them one side of a fork gets both sides cosigned by the
// same witness key: a split view that no quorum can detect.
func TestReviewConcurrentWitnessRunsCosignSplitView(t *testing.T) {
	ctx := context.Background()
	l := newReviewLog(t, "genesis")
	w := newReviewWitness(t, l)
	wdir := t.TempDir()
	if err := witnessOnce(ctx, w, wdir, t.TempDir(), l.publish(t, "genesis"), "", io.Discard); err != nil {
		t.Fatal(err)
	}
	forkA := l.publish(t, "genesis", "ballot for A", "more A")
	forkB := l.publish(t, "genesis", "ballot for B", "more B")

	// The log's server answers tile requests once both runs are asking.
	var mu sync.Mutex
	arrived := map[string]bool{}
	release := make(chan struct{})
	mux := http.NewServeMux()
	for name, dir := range map[string]string{"a": forkA, "b": forkB} {
		fs := http.StripPrefix("/"+name, http.FileServer(http.Dir(dir)))
		mux.Handle("/"+name+"/", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/tile/") {
				mu.Lock()
				if !arrived[name] {
					arrived[name] = true
					if len(arrived) == 2 {
						close(release)
					}
				}
				mu.Unlock()
				select {
				case <-release:
				case <-time.After(3 * time.Second):
				}
			}
			fs.ServeHTTP(rw, r)
		}))
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	outs := []string{t.TempDir(), t.TempDir()}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, loc := range []string{srv.URL + "/a/", srv.URL + "/b/"} {
		wg.Go(func() { errs[i] = witnessOnce(ctx, w, wdir, outs[i], loc, "", io.Discard) })
	}
	wg.Wait()
	if errs[0] == nil && errs[1] == nil {
		a, _ := os.ReadFile(filepath.Join(outs[0], board.CheckpointFile))
		b, _ := os.ReadFile(filepath.Join(outs[1], board.CheckpointFile))
		t.Fatalf("the witness cosigned both sides of a fork:\n%s\n%s", a, b)
	}
}

// TestReviewForkEvidenceOverwritten: evidence folders are named by the
// second, and write errors are ignored; two refusals in the same second
// (two forks, or --interval under 1s) keep only the last pair, so the
// first fork's signed checkpoint is lost although the message says it is
// kept.
func TestReviewForkEvidenceOverwritten(t *testing.T) {
	ctx := context.Background()
	l := newReviewLog(t, "genesis")
	w := newReviewWitness(t, l)
	wdir := t.TempDir()
	if err := witnessOnce(ctx, w, wdir, t.TempDir(), l.publish(t, "genesis", "x", "y"), "", io.Discard); err != nil {
		t.Fatal(err)
	}
	forkA := l.publish(t, "genesis", "A", "y")
	forkB := l.publish(t, "genesis", "B", "y")
	for time.Now().Nanosecond() > 500e6 { // start early in a second
		time.Sleep(10 * time.Millisecond)
	}
	for _, f := range []string{forkA, forkB} {
		if err := witnessOnce(ctx, w, wdir, t.TempDir(), f, "", io.Discard); err == nil {
			t.Fatal("a fork was cosigned")
		}
	}
	want, _ := os.ReadFile(filepath.Join(forkA, board.CheckpointFile))
	found := false
	filepath.Walk(filepath.Join(wdir, "evidence"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if b, _ := os.ReadFile(p); string(b) == string(want) {
				found = true
			}
		}
		return nil
	})
	if !found {
		t.Fatal("the first fork's signed checkpoint is no longer in the evidence folder")
	}
}
