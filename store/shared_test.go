package store

// Contract tests of the shared state, on SQLite and PostgreSQL alike: two
// handles on one database stand for two nodes (on SQLite, two processes of
// one node, as a restart overlapping the old process would be).

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// twoShared opens the database at a fresh location twice.
func twoShared(t *testing.T, bc backendCase) (*Shared, *Shared) {
	t.Helper()
	loc := bc.location(t)
	var out [2]*Shared
	for i := range out {
		s, err := OpenShared(ctx, loc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out[i] = s
	}
	return out[0], out[1]
}

var t0 = time.Unix(1_800_000_000, 0)

// TestSharedBudgetAtomic: N goroutines on two handles take from one
// bucket at once: exactly its burst succeeds; it refills with time, and
// a token given back is there for the next.
func TestSharedBudgetAtomic(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			a, b := twoShared(t, bc)
			bk := Bucket{Every: time.Minute, Burst: 7}
			var ok atomic.Int32
			var wg sync.WaitGroup
			for i := range 40 {
				wg.Go(func() {
					wait, _, err := []*Shared{a, b}[i%2].Take(ctx, "k", bk, t0)
					if err != nil {
						t.Error(err)
					} else if wait == 0 {
						ok.Add(1)
					}
				})
			}
			wg.Wait()
			if ok.Load() != 7 {
				t.Fatalf("%d tokens taken from a bucket of 7", ok.Load())
			}
			wait, last, err := b.Take(ctx, "k", bk, t0.Add(30*time.Second))
			if err != nil || wait != 30*time.Second || !last.Equal(t0) {
				t.Fatalf("an empty bucket: wait %v, last %v, %v", wait, last, err)
			}
			if wait, _, _ := a.Take(ctx, "k", bk, t0.Add(time.Minute)); wait != 0 {
				t.Fatalf("a minute later: wait %v", wait)
			}
			if err := a.Give(ctx, "k", bk, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if wait, _, _ := b.Take(ctx, "k", bk, t0.Add(time.Minute)); wait != 0 {
				t.Fatalf("a token given back: wait %v", wait)
			}
			// Another key has its own bucket.
			if wait, _, _ := b.Take(ctx, "other", bk, t0); wait != 0 {
				t.Fatal("another key's bucket is empty")
			}
		})
	}
}

// TestSharedCodeAttemptsAtomic: wrong attempts of a short code from many
// goroutines on two handles are all counted, so that exactly attempts of
// them are compared; a code is consumed once; a code whose letter is not
// sent is not usable; its letter comes back when it is used or not sent.
func TestSharedCodeAttemptsAtomic(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			a, b := twoShared(t, bc)
			bk := Bucket{Every: 6 * time.Minute, Burst: 2}
			c := Code{Scope: "s", Addr: "ada", ID: "ch1", Short: sha256.Sum256([]byte("short")), Long: sha256.Sum256([]byte("long"))}
			if wait, _, err := a.IssueCode(ctx, "letters", bk, c, 10*time.Minute, t0); wait != 0 || err != nil {
				t.Fatal(wait, err)
			}
			right := func(mac []byte) bool { return bytes.Equal(mac, c.Short[:]) }
			wrong := func([]byte) bool { return false }
			if ok, err := b.UseShortCode(ctx, "letters", bk, "s", "ada", "ch1", 5, right, t0); ok || err != nil {
				t.Fatalf("a code whose letter was not sent: %v %v", ok, err)
			}
			if err := b.CodeSent(ctx, "letters", bk, "s", "ada", "ch1", true, 10*time.Minute, t0); err != nil {
				t.Fatal(err)
			}
			var compared atomic.Int32
			var wg sync.WaitGroup
			for i := range 30 {
				wg.Go(func() {
					_, err := []*Shared{a, b}[i%2].UseShortCode(ctx, "letters", bk, "s", "ada", "ch1", 5, func(m []byte) bool { compared.Add(1); return wrong(m) }, t0)
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if compared.Load() != 5 {
				t.Fatalf("30 wrong attempts on two handles: %d compared, want 5", compared.Load())
			}
			if ok, _ := a.UseShortCode(ctx, "letters", bk, "s", "ada", "ch1", 5, right, t0); ok {
				t.Fatal("the right short code after its attempts")
			}
			// The long form still works, once, from any number of
			// goroutines.
			var used atomic.Int32
			for i := range 20 {
				wg.Go(func() {
					ok, err := []*Shared{a, b}[i%2].UseLongCode(ctx, "letters", bk, "s", "ada", func(m []byte) bool { return bytes.Equal(m, c.Long[:]) }, t0)
					if err != nil {
						t.Error(err)
					}
					if ok {
						used.Add(1)
					}
				})
			}
			wg.Wait()
			if used.Load() != 1 {
				t.Fatalf("a long code used %d times", used.Load())
			}
			// Its letter came back: two letters again.
			if n, _ := a.Tokens(ctx, "letters", bk, t0); n != 2 {
				t.Fatalf("%v letters after a code used", n)
			}
			// A letter not sent gives its letter back and voids its code.
			c.ID = "ch2"
			a.IssueCode(ctx, "letters", bk, c, 10*time.Minute, t0)
			if err := b.CodeSent(ctx, "letters", bk, "s", "ada", "ch2", false, 10*time.Minute, t0); err != nil {
				t.Fatal(err)
			}
			if n, _ := a.Tokens(ctx, "letters", bk, t0); n != 2 {
				t.Fatalf("%v letters after a letter not sent", n)
			}
			if _, codes, _ := a.Kept(ctx, "s"); codes != 0 {
				t.Fatalf("%d codes kept", codes)
			}
			// Expired codes do not work.
			c.ID = "ch3"
			a.IssueCode(ctx, "letters", bk, c, 10*time.Minute, t0)
			a.CodeSent(ctx, "letters", bk, "s", "ada", "ch3", true, 10*time.Minute, t0)
			if ok, _ := b.UseShortCode(ctx, "letters", bk, "s", "ada", "ch3", 5, right, t0.Add(10*time.Minute)); ok {
				t.Fatal("an expired code worked")
			}
		})
	}
}

// TestSharedTrailNeverForks: appends from many goroutines on two handles,
// each checking the head it read, make one chain.
func TestSharedTrailNeverForks(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			a, b := twoShared(t, bc)
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					err := []*Shared{a, b}[i%2].Trail(ctx, func(tt *TrailTx) error {
						return tt.Append([][]byte{[]byte(tt.Head.Hash + ">")}, TrailHead{Seq: tt.Head.Seq + 1, Hash: string(rune('a' + tt.Head.Seq))})
					})
					if err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			lines, head, err := b.TrailSince(ctx, 0)
			if err != nil || head.Seq != 20 || len(lines) != 20 {
				t.Fatalf("%d lines, head %+v, %v", len(lines), head, err)
			}
			for i, l := range lines {
				want := ""
				if i > 0 {
					want = string(rune('a' + i - 1))
				}
				if string(l) != want+">" {
					t.Fatalf("line %d is %q: the chain forked", i+1, l)
				}
			}
		})
	}
}

// TestSharedSessions: a session kept on one handle is read on the other;
// deleted, it is not brought back by an update.
func TestSharedSessions(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			a, b := twoShared(t, bc)
			h := sha256.Sum256([]byte("cookie"))
			if err := a.PutSession(ctx, h, "acct", t0.Add(time.Hour), []byte("sealed")); err != nil {
				t.Fatal(err)
			}
			if acct, d, ok, err := b.Session(ctx, h); !ok || err != nil || acct != "acct" || string(d) != "sealed" {
				t.Fatalf("%q %q %v %v", acct, d, ok, err)
			}
			if ok, _ := b.DeleteSession(ctx, h); !ok {
				t.Fatal("not deleted")
			}
			if ok, err := a.UpdateSession(ctx, h, t0.Add(time.Hour), []byte("again")); ok || err != nil {
				t.Fatalf("a deleted session updated: %v %v", ok, err)
			}
			if _, _, ok, _ := a.Session(ctx, h); ok {
				t.Fatal("a deleted session came back")
			}
		})
	}
}
