package server

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// checkQueue grants the slots in which ballots are checked (the costly,
// CPU-bound part of casting): in arrival order while few ballots wait, the
// newest first while many do (adaptive LIFO). Under overload the ballots
// checked are then those whose voters are still waiting, rather than the
// oldest, whose voters are about to give up; a ballot whose voter gives up
// while it waits leaves the queue having cost nothing.
type checkQueue struct {
	mu      sync.Mutex
	free    int
	lifo    int             // newest first above this many waiting
	waiting []chan struct{} // in arrival order
}

func newCheckQueue(slots int) *checkQueue {
	return &checkQueue{free: slots, lifo: 2 * slots}
}

// errQueueWait is the error of a ballot that waited too long for a slot.
var errQueueWait = errors.New("waited too long to be checked")

// acquire waits for a slot, until ctx ends or maxWait passes.
func (q *checkQueue) acquire(ctx context.Context, maxWait time.Duration) error {
	q.mu.Lock()
	if q.free > 0 && len(q.waiting) == 0 {
		q.free--
		q.mu.Unlock()
		return nil
	}
	w := make(chan struct{})
	q.waiting = append(q.waiting, w)
	q.mu.Unlock()
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
	q.mu.Lock()
	defer q.mu.Unlock()
	if i := slices.Index(q.waiting, w); i >= 0 {
		q.waiting = slices.Delete(q.waiting, i, i+1)
	} else {
		q.grantLocked() // granted meanwhile: pass it on
	}
	return err
}

func (q *checkQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.grantLocked()
}

func (q *checkQueue) grantLocked() {
	n := len(q.waiting)
	if n == 0 {
		q.free++
		return
	}
	i := 0
	if n > q.lifo {
		i = n - 1
	}
	close(q.waiting[i])
	q.waiting = slices.Delete(q.waiting, i, i+1)
}
