package server

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scrutin/scrutin/election"
)

// TestCastShedsLeftClients: while every check slot is busy, a ballot whose
// client leaves is let go without being checked (ErrBusy, nothing done);
// with a slot free, it is checked (here: refused as malformed).
func TestCastShedsLeftClients(t *testing.T) {
	e := &Election{state: election.New(), view: &election.Election{}}
	q := e.checkQueue()
	slots := q.free
	for range slots {
		if err := q.acquire(context.Background(), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := e.Cast(ctx, []byte{election.TypeBallot, '{'})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, ErrBusy) || errors.Is(err, ErrRefused) {
		t.Fatalf("a ballot whose client left while the checks were busy: %v", err)
	}
	q.release()
	if _, err := e.Cast(context.Background(), []byte{election.TypeBallot, '{'}); !errors.Is(err, ErrRefused) {
		t.Fatalf("a malformed ballot with a slot free: %v", err)
	}
	if q.free != 1 || len(q.waiting) != 0 {
		t.Fatalf("after Cast: %d slots free, %d waiting; want 1 and 0", q.free, len(q.waiting))
	}
}

// TestCheckQueueOrder: slots go to waiters in arrival order while few
// wait, newest first while many do; a waiter that gives up or waits too
// long leaves the queue, and a slot granted as it gave up is passed on.
func TestCheckQueueOrder(t *testing.T) {
	q := newCheckQueue(1) // newest first above 2 waiting
	ctx := context.Background()
	if err := q.acquire(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 10)
	wait := func(id int, ctx context.Context, max time.Duration) {
		if err := q.acquire(ctx, max); err != nil {
			got <- -id
			return
		}
		got <- id
	}
	enqueue := func(id int, ctx context.Context, max time.Duration) {
		n := len(q.waiting)
		go wait(id, ctx, max)
		for {
			q.mu.Lock()
			m := len(q.waiting)
			q.mu.Unlock()
			if m > n {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Few waiting: first come, first served.
	enqueue(1, ctx, time.Minute)
	enqueue(2, ctx, time.Minute)
	q.release()
	if id := <-got; id != 1 {
		t.Fatalf("with 2 waiting, slot went to %d, want 1", id)
	}
	// Many waiting: newest first.
	for id := 3; id <= 5; id++ {
		enqueue(id, ctx, time.Minute)
	}
	q.release() // 2, 3, 4, 5 waiting
	if id := <-got; id != 5 {
		t.Fatalf("with 4 waiting, slot went to %d, want 5", id)
	}
	// A waiter that gives up, or waits too long, leaves the queue.
	gone, cancel := context.WithCancel(ctx)
	enqueue(6, gone, time.Minute)
	enqueue(7, ctx, 10*time.Millisecond)
	cancel()
	a, b := <-got, <-got
	if min(a, b) != -7 || max(a, b) != -6 {
		t.Fatalf("waiters that left got %d and %d", a, b)
	}
	q.release() // 2, 3, 4 waiting: newest first
	if id := <-got; id != 4 {
		t.Fatalf("with 3 waiting, slot went to %d, want 4", id)
	}
	q.release() // 2, 3 waiting: first come
	if id := <-got; id != 2 {
		t.Fatalf("with 2 waiting, slot went to %d, want 2", id)
	}
	q.release()
	if id := <-got; id != 3 {
		t.Fatalf("slot went to %d, want 3", id)
	}
	q.release()
	if q.free != 1 || len(q.waiting) != 0 {
		t.Fatalf("at the end: %d free, %d waiting", q.free, len(q.waiting))
	}
}
