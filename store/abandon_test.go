package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// gatedBackend holds every commit until its gate opens.
type gatedBackend struct {
	backend
	gate chan struct{}
}

func (g *gatedBackend) appendBatch(ctx context.Context, entries []item) ([]int64, []error, error) {
	<-g.gate
	return g.backend.appendBatch(ctx, entries)
}

// TestAppendOutcomeIgnoresCallerLeaving is issue 13's defect 1 at the
// store: callers whose context ends while their entries wait for the group
// commit get the commit's outcome (an index, no error), and their entries
// are appended once, as are the other entries of the batch; a caller whose
// context ended before Append gets ErrNotAppended and nothing is appended.
func TestAppendOutcomeIgnoresCallerLeaving(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			inner := mustOpen(t, bc.location(t)).(*groupStore)
			g := &gatedBackend{backend: inner.b, gate: make(chan struct{})}
			s := &groupStore{b: g, reqs: make(chan *appendReq, 1024), done: make(chan struct{})}
			go s.commitLoop()
			defer func() {
				// Not s.Close: that would close the database inner owns.
				s.mu.Lock()
				s.closed = true
				close(s.reqs)
				s.mu.Unlock()
				<-s.done
			}()

			gone, cancel := context.WithCancel(ctx)
			cancel()
			if _, err := s.Append(gone, [][]byte{[]byte("never")}); !errors.Is(err, ErrNotAppended) || !errors.Is(err, context.Canceled) {
				t.Fatalf("append with an ended context: %v", err)
			}

			// Ten callers queue an entry each; half of them give up while
			// the commit is held.
			type outcome struct {
				i   int64
				err error
			}
			out := make([]outcome, 10)
			var wg sync.WaitGroup
			var cancels []context.CancelFunc
			for k := range 10 {
				c, cancel := context.WithCancel(ctx)
				if k%2 == 0 {
					cancels = append(cancels, cancel)
				} else {
					defer cancel()
				}
				wg.Go(func() {
					i, err := s.Append(c, [][]byte{fmt.Appendf(nil, "entry %d", k)})
					out[k] = outcome{i, err}
				})
			}
			time.Sleep(100 * time.Millisecond) // all queued (or being committed)
			for _, cancel := range cancels {
				cancel()
			}
			time.Sleep(50 * time.Millisecond)
			close(g.gate)
			wg.Wait()

			n, err := inner.Size(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n != 10 {
				t.Fatalf("%d entries stored, want 10", n)
			}
			all, err := inner.ReadEntries(ctx, 0, n)
			if err != nil {
				t.Fatal(err)
			}
			for k, o := range out {
				if o.err != nil {
					t.Fatalf("caller %d: %v", k, o.err)
				}
				if want := fmt.Sprintf("entry %d", k); string(all[o.i]) != want {
					t.Fatalf("caller %d: index %d holds %q", k, o.i, all[o.i])
				}
			}
			checkAgainstMemory(t, inner)
		})
	}
}

// flakyBackend fails its next appendBatch calls: fails before any commit,
// then commitFails with an unknown outcome; and its next readFails reads.
type flakyBackend struct {
	backend
	mu                            sync.Mutex
	fails, commitFails, readFails int
	calls                         int
}

func (f *flakyBackend) appendBatch(ctx context.Context, entries []item) ([]int64, []error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fails > 0 {
		f.fails--
		return nil, nil, errors.New("connection reset before commit")
	}
	if f.commitFails > 0 {
		f.commitFails--
		if _, _, err := f.backend.appendBatch(ctx, entries); err != nil {
			return nil, nil, err
		}
		return nil, nil, &commitError{errors.New("connection reset during commit")}
	}
	return f.backend.appendBatch(ctx, entries)
}

func (f *flakyBackend) size(ctx context.Context) (int64, error) {
	f.mu.Lock()
	if f.readFails > 0 {
		f.readFails--
		f.mu.Unlock()
		return 0, errors.New("connection reset")
	}
	f.mu.Unlock()
	return f.backend.size(ctx)
}

// TestPassingFailuresAreRetried: a batch that failed before its commit is
// tried again (nothing was committed), so the append succeeds, once; a
// commit with an unknown outcome is not tried again (that could append
// twice) and its error reaches the caller, not wrapping ErrNotAppended; a
// read that fails once is tried again.
func TestPassingFailuresAreRetried(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			inner := mustOpen(t, bc.location(t)).(*groupStore)
			fb := &flakyBackend{backend: inner.b}
			s := &groupStore{b: fb, reqs: make(chan *appendReq, 1024), done: make(chan struct{})}
			go s.commitLoop()
			defer func() {
				s.mu.Lock()
				s.closed = true
				close(s.reqs)
				s.mu.Unlock()
				<-s.done
			}()

			fb.fails = 3
			if i, err := s.Append(ctx, [][]byte{[]byte("a")}); err != nil || i != 0 {
				t.Fatalf("append after 3 failures before commit: %d %v", i, err)
			}
			if fb.calls != 4 {
				t.Fatalf("%d tries, want 4", fb.calls)
			}
			fb.fails = commitTries
			if _, err := s.Append(ctx, [][]byte{[]byte("b")}); err == nil || errors.Is(err, ErrNotAppended) {
				t.Fatalf("append failing every try: %v", err)
			}
			fb.calls = 0
			fb.commitFails = 1
			if _, err := s.Append(ctx, [][]byte{[]byte("c")}); err == nil || errors.Is(err, ErrNotAppended) || !strings.Contains(err.Error(), "during commit") {
				t.Fatalf("append whose commit's outcome is unknown: %v", err)
			}
			if fb.calls != 1 {
				t.Fatalf("a commit with an unknown outcome was tried %d times", fb.calls)
			}
			fb.readFails = 2
			if n, err := s.Size(ctx); err != nil || n != 2 {
				t.Fatalf("size after 2 failed reads: %d %v (want 2: a and c)", n, err)
			}
			checkAgainstMemory(t, inner)
		})
	}
}
