package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestFences: a fenced append is made only while the mark is the one it
// carries and its keys are free; an append that is not fenced, and a
// locked one, move the mark; a locked append's check sees the log's size
// and its refusal appends nothing. In one transaction each, on both
// databases, with the log opened by two processes.
func TestFences(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			s, other := mustOpen(t, loc), mustOpen(t, loc)
			head := func(wantSize, wantMark int64) {
				t.Helper()
				for _, st := range []Store{s, other} {
					n, m, err := st.Head(ctx)
					if err != nil || n != wantSize || m != wantMark {
						t.Fatalf("head: %d, %d, %v; want %d, %d", n, m, err, wantSize, wantMark)
					}
				}
			}
			head(0, 0)
			if _, err := s.Append(ctx, entriesN("officer", 1)); err != nil {
				t.Fatal(err)
			}
			head(1, 1)
			if i, err := other.AppendFenced(ctx, entriesN("ballot-a", 2), Fence{Mark: 1, Keys: [][]byte{[]byte("a0"), []byte("a1")}}); err != nil || i != 1 {
				t.Fatalf("fenced append: %d, %v", i, err)
			}
			head(3, 1)
			if _, err := s.AppendFenced(ctx, entriesN("ballot-b", 1), Fence{Mark: 1, Keys: [][]byte{[]byte("a1")}}); !errors.Is(err, ErrTaken) || !errors.Is(err, ErrNotAppended) {
				t.Fatalf("a taken key: %v", err)
			}
			head(3, 1)
			refusal := errors.New("the check refuses")
			if _, err := other.AppendLocked(ctx, func(_ context.Context, size int64) ([][]byte, error) { return nil, refusal }); err != refusal {
				t.Fatalf("a refusing check: %v", err)
			}
			head(3, 1)
			var seen int64 = -1
			if i, err := other.AppendLocked(ctx, func(_ context.Context, size int64) ([][]byte, error) {
				seen = size
				return entriesN("close", 1), nil
			}); err != nil || i != 3 || seen != 3 {
				t.Fatalf("locked append: %d, %v, check saw %d", i, err, seen)
			}
			head(4, 4)
			if _, err := s.AppendFenced(ctx, entriesN("ballot-c", 1), Fence{Mark: 1, Keys: [][]byte{[]byte("c")}}); !errors.Is(err, ErrStale) || !errors.Is(err, ErrNotAppended) {
				t.Fatalf("a ballot checked before the close: %v", err)
			}
			if i, err := s.AppendFenced(ctx, entriesN("ballot-c", 1), Fence{Mark: 4, Keys: [][]byte{[]byte("c")}}); err != nil || i != 4 {
				t.Fatalf("a ballot checked after the close: %d, %v", i, err)
			}
			head(5, 4)
			checkAgainstMemory(t, s)
		})
	}
}

// TestFencedBallotsRaceALockedAppend: ballots fenced with the mark of an
// open election, appended from two processes, race a locked append (the
// close) from a third: no ballot lands after the close, and every ballot
// either was appended before it or got ErrStale.
func TestFencedBallotsRaceALockedAppend(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			for round := range 5 {
				loc := bc.location(t)
				a, b, c := mustOpen(t, loc), mustOpen(t, loc), mustOpen(t, loc)
				if _, err := a.Append(ctx, entriesN("open", 1)); err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				var appended []int64
				var wg sync.WaitGroup
				stop := make(chan struct{})
				for w, st := range []Store{a, b} {
					for g := range 4 {
						wg.Go(func() {
							for k := 0; ; k++ {
								select {
								case <-stop:
									return
								default:
								}
								key := fmt.Sprintf("%d-%d-%d", w, g, k)
								i, err := st.AppendFenced(ctx, [][]byte{[]byte("ballot " + key)}, Fence{Mark: 1, Keys: [][]byte{[]byte(key)}})
								if errors.Is(err, ErrStale) {
									return
								}
								if err != nil {
									t.Error(err)
									return
								}
								mu.Lock()
								appended = append(appended, i)
								mu.Unlock()
							}
						})
					}
				}
				time.Sleep(time.Duration(20+10*round) * time.Millisecond)
				closed, err := c.AppendLocked(ctx, func(_ context.Context, size int64) ([][]byte, error) { return entriesN("close", 1), nil })
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(20 * time.Millisecond)
				close(stop)
				wg.Wait()
				for _, i := range appended {
					if i >= closed {
						t.Fatalf("round %d: a ballot was appended at %d, after the close at %d", round, i, closed)
					}
				}
				n, _, _ := a.Head(ctx)
				if n != closed+1 || int64(len(appended)) != closed-1 {
					t.Fatalf("round %d: %d entries, close at %d, %d ballots appended", round, n, closed, len(appended))
				}
			}
		})
	}
}

// TestChangedAcrossProcesses: on PostgreSQL, an append by one process is
// notified to the log opened by another.
func TestChangedAcrossProcesses(t *testing.T) {
	loc := postgresLocation(t)
	a, b := mustOpen(t, loc), mustOpen(t, loc)
	time.Sleep(200 * time.Millisecond) // b's listener connects
	for {
		select {
		case <-b.Changed():
			continue // from before
		default:
		}
		break
	}
	if _, err := a.Append(ctx, entriesN("e", 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b.Changed():
	case <-time.After(5 * time.Second):
		t.Fatal("no notification of the other process's append")
	}
}
