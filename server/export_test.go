package server

import "context"

// Reload runs one recovery (reload), for tests and benchmarks.
func (e *Election) Reload(ctx context.Context) error { return e.reload(ctx) }
