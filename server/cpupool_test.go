package server

import (
	"context"
	"testing"
	"time"
)

// TestCPUPoolTurns: a freed slot goes to the elections with ballots
// waiting in turn, not in arrival order: B's one ballot, arrived after
// three of A's, is second; a ballot that gives up leaves the queue, and a
// slot granted as it gave up is passed on.
func TestCPUPoolTurns(t *testing.T) {
	p := newCPUPool(1)
	a, b := &Election{}, &Election{}
	ctx := context.Background()
	if err := p.acquire(ctx, a, time.Second); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	enqueue := func(name string, e *Election, ctx context.Context) {
		n := len(p.waiting[e])
		go func() {
			if err := p.acquire(ctx, e, time.Minute); err != nil {
				got <- "-" + name
				return
			}
			got <- name
		}()
		for {
			p.mu.Lock()
			m := len(p.waiting[e])
			p.mu.Unlock()
			if m > n {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	enqueue("a1", a, ctx)
	enqueue("a2", a, ctx)
	gone, cancel := context.WithCancel(ctx)
	enqueue("a3", a, gone)
	enqueue("b1", b, ctx)
	cancel()
	if g := <-got; g != "-a3" {
		t.Fatalf("the ballot that gave up: %s", g)
	}
	var order []string
	for range 3 {
		p.release()
		order = append(order, <-got)
	}
	if order[0] != "a1" || order[1] != "b1" || order[2] != "a2" {
		t.Fatalf("granted in the order %v; want a1, b1, a2", order)
	}
	p.release()
	if p.free != 1 || len(p.turn) != 0 || len(p.waiting) != 0 {
		t.Fatalf("after: %d free, turns %v, waiting %v", p.free, p.turn, p.waiting)
	}
}
