package server

import (
	"context"
	"slices"
	"sync"
	"time"
)

// cpuPool shares the processors among the elections of a server (a
// Registry): at most slots ballot checks run at once, and a slot that
// frees goes to the elections with ballots waiting in turn, so that a
// flood of ballots on one election delays another's by at most about one
// check, not by its share of every check under way. Each election's own
// checkQueue comes first (its order, its bound on waiting ballots).
type cpuPool struct {
	mu      sync.Mutex
	free    int
	waiting map[*Election][]chan struct{}
	turn    []*Election // the elections with ballots waiting, next served first
}

func newCPUPool(slots int) *cpuPool {
	return &cpuPool{free: slots, waiting: make(map[*Election][]chan struct{})}
}

// acquire waits for a slot for a ballot of e, until ctx ends or maxWait
// passes.
func (p *cpuPool) acquire(ctx context.Context, e *Election, maxWait time.Duration) error {
	p.mu.Lock()
	if p.free > 0 && len(p.turn) == 0 {
		p.free--
		p.mu.Unlock()
		return nil
	}
	w := make(chan struct{})
	if len(p.waiting[e]) == 0 {
		p.turn = append(p.turn, e)
	}
	p.waiting[e] = append(p.waiting[e], w)
	p.mu.Unlock()
	timer := time.NewTimer(maxWait)
	defer timer.Stop()
	var err error
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timer.C:
		err = errQueueWait
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := p.waiting[e]
	if i := slices.Index(ws, w); i >= 0 {
		p.setWaiting(e, slices.Delete(ws, i, i+1))
	} else {
		p.grantLocked() // granted meanwhile: pass it on
	}
	return err
}

// setWaiting records e's waiting ballots, and takes e out of the turns when
// it has none.
func (p *cpuPool) setWaiting(e *Election, ws []chan struct{}) {
	if len(ws) > 0 {
		p.waiting[e] = ws
		return
	}
	delete(p.waiting, e)
	if i := slices.Index(p.turn, e); i >= 0 {
		p.turn = slices.Delete(p.turn, i, i+1)
	}
}

func (p *cpuPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.grantLocked()
}

// grantLocked gives a free slot to the first waiting ballot of the
// election whose turn it is, which then goes last in the turns.
func (p *cpuPool) grantLocked() {
	if len(p.turn) == 0 {
		p.free++
		return
	}
	e := p.turn[0]
	p.turn = p.turn[1:]
	ws := p.waiting[e]
	close(ws[0])
	if ws = ws[1:]; len(ws) > 0 {
		p.waiting[e] = ws
		p.turn = append(p.turn, e)
	} else {
		delete(p.waiting, e)
	}
}
