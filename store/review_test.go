package store

// Security review findings (failing tests until fixed).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestReviewCancelledAppendPoisonsBatch: a caller whose context ends while
// its request is queued must neither lose track of its entry nor poison the
// batch it is in. (The review found that Append returned on the cancelled
// context, leaving the request queued with the caller's slice, which the
// caller could then reuse. Since issue 13, Append keeps its own copy and
// returns the commit's outcome whatever the context does.)
func TestReviewCancelledAppendPoisonsBatch(t *testing.T) {
	dir := t.TempDir()
	st := mustOpen(t, dir)
	gs := st.(*groupStore)
	if _, err := st.Append(ctx, [][]byte{[]byte("genesis")}); err != nil {
		t.Fatal(err)
	}

	// Another connection holds the write lock, so the commit loop stalls
	// on its first batch and the next requests queue up behind it.
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, SQLiteFile)+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	lock, err := raw.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}

	errs := make(chan error, 2)
	go func() { _, err := st.Append(ctx, [][]byte{[]byte("first")}); errs <- err }()
	waitFor(t, "the commit loop to take the first request", func() bool { return len(gs.reqs) == 0 })
	time.Sleep(50 * time.Millisecond)

	ctx2, cancel := context.WithCancel(ctx)
	buf := [][]byte{[]byte("abandoned")}
	done2 := make(chan error)
	go func() { _, err := st.Append(ctx2, buf); done2 <- err }()
	waitFor(t, "the second request to queue", func() bool { return len(gs.reqs) == 1 })
	cancel()
	select {
	case err := <-done2:
		t.Fatalf("a queued Append returned on its cancelled context (%v): its entry's fate is unknown", err)
	case <-time.After(50 * time.Millisecond):
	}

	victim := make(chan error)
	go func() { _, err := st.Append(ctx, [][]byte{[]byte("an honest voter's ballot")}); victim <- err }()
	waitFor(t, "the third request to queue", func() bool { return len(gs.reqs) == 2 })
	lock.Rollback()

	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if err := <-done2; err != nil {
		t.Fatalf("the cancelled caller's entry: %v", err)
	}
	buf[0] = nil // the caller reuses its own slice after Append returned
	if err := <-victim; err != nil {
		t.Fatalf("a valid append failed because another caller's cancelled request was batched with it: %v", err)
	}
	all, err := st.ReadEntries(ctx, 0, 4)
	if err != nil || string(all[2]) != "abandoned" {
		t.Fatalf("entries: %q %v", all, err)
	}
}

// TestReviewOpenWhileAppendingIsNotCorrupt: checkConsistent reads the head
// and the row counts in separate statements, outside a transaction; opening
// a store while another process appends (the documented multi-process
// setup) can see an append commit in between and refuse the database as
// ErrCorrupt.
func TestReviewOpenWhileAppendingIsNotCorrupt(t *testing.T) {
	// PostgreSQL, where several processes sharing one database is the
	// documented production setup; SQLite runs the same unlocked check.
	for _, bc := range backends(t)[1:] {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			writer := mustOpen(t, loc)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for w := range 4 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						if _, err := writer.Append(ctx, entriesN(fmt.Sprintf("w%d-%d", w, i), 3)); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			defer func() { close(stop); wg.Wait() }()
			deadline := time.Now().Add(3 * time.Second)
			opens := 0
			for time.Now().Before(deadline) {
				db, err := Open(ctx, loc)
				if err != nil {
					t.Fatal(err)
				}
				_, err = db.Log(ctx, testElection)
				if errors.Is(err, ErrCorrupt) {
					t.Fatalf("open %d while another store appends: %v", opens, err)
				}
				if err != nil {
					t.Fatal(err)
				}
				db.Close()
				opens++
			}
			t.Logf("%d opens, none refused", opens)
		})
	}
}
