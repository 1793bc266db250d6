package server

import (
	"context"
	"time"
)

// Reload runs one recovery (reload), for tests and benchmarks.
func (e *Election) Reload(ctx context.Context) error { return e.reload(ctx) }

// Replays is the number of logs r replayed (loads).
func Replays(r *Registry) int64 { return r.replays.Load() }

// Loaded tells whether election id is loaded.
func Loaded(r *Registry, id string) bool {
	s := r.slot(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.e != nil
}

// UnloadIdle unloads the decided elections unused as of now.
func UnloadIdle(r *Registry, now time.Time) int { return r.unloadIdle(now) }

// SetMaxDecided sets how many decided elections r keeps loaded at most,
// and how long one stays loaded, at least, after its last use.
func SetMaxDecided(r *Registry, n int, after time.Duration) {
	r.maxDecided = n
	r.evictAfter = after
}

// SetMaxLoads sets how many elections r loads at once on demand.
func SetMaxLoads(r *Registry, n int) { r.loads = make(chan struct{}, n) }

// SetPushTimings sets the pushers' request timeout and first back-off, and
// returns a function restoring them.
func SetPushTimings(timeout, backoff time.Duration) func() {
	t, b := pushTimeout, pushMinBackoff
	pushTimeout, pushMinBackoff = timeout, backoff
	pushClient.Timeout = timeout
	return func() { pushTimeout, pushMinBackoff, pushClient.Timeout = t, b, t }
}
