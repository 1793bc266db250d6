package server

// Stopping and recovering. The outcome of an append never depends on the
// client that asked for it: entries go to the store under a context that the
// request's end does not cancel, bounded by appendTimeout. When the store
// nevertheless fails during an append (the database is down, a commit
// failed), whether the entry was stored is unknown, so the state may
// disagree with the log: the node stops taking entries, says why on
// /healthz, and reloads the log from the store in the background until it
// can, checking the reloaded log against what it has already acknowledged.
// A log that contradicts the node's signed checkpoint, or lost entries it
// had applied, cannot be recovered from in place: the node is then stopped
// for good (Stopped), and "scrutin serve" exits with an error.

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/store"
)

// appendTimeout bounds how long a request waits for the store to take its
// entry (the store bounds the commit itself): past it, nothing was
// appended and the client is asked to try again.
const appendTimeout = 20 * time.Second

// ErrBusy wraps the errors of requests whose entry was, for certain, not
// appended, and which the client may send again.
var ErrBusy = errors.New("the server is busy: nothing was stored")

// storeAppendFenced appends a ballot, fenced (store.Fence), detached from
// ctx's cancellation: a client that leaves does not decide the outcome.
func (e *Election) storeAppendFenced(ctx context.Context, entry []byte, f store.Fence) (int64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	i, err := e.st.AppendFenced(ctx, [][]byte{entry}, f)
	if errors.Is(err, store.ErrNotAppended) {
		return 0, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return i, err
}

// fail stops the node after a store failure (e.mu held): every request is
// refused with err until recovery reloads the log.
func (e *Election) fail(err error) error {
	if e.broken == nil {
		e.broken = err
		if e.stopped == nil {
			e.stopped = make(chan struct{})
		}
		go e.recoverLoop()
	}
	return e.broken
}

// Health is nil while the node takes entries; otherwise it says why not,
// and whether the node is recovering by itself.
func (e *Election) Health() (recovering bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fatal != nil {
		return false, e.fatal
	}
	if e.broken != nil {
		if e.lastRecovery != nil {
			return true, fmt.Errorf("%w; recovering (last attempt: %v)", e.broken, e.lastRecovery)
		}
		return true, fmt.Errorf("%w; recovering", e.broken)
	}
	return false, nil
}

// Stopped is closed when the node has stopped for good: Err says why. A
// process running the election should then exit with an error, so that it
// is restarted on a fresh reading of the store or an operator looks.
func (e *Election) Stopped() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped == nil {
		e.stopped = make(chan struct{})
	}
	return e.stopped
}

// Err is why the node stopped for good, or nil.
func (e *Election) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.fatal
}

// errUnrecoverable marks a reloaded log that contradicts the node.
var errUnrecoverable = errors.New("the stored log contradicts what this node acknowledged")

func (e *Election) recoverLoop() {
	wait := 100 * time.Millisecond
	for {
		time.Sleep(wait)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		err := e.reload(ctx)
		cancel()
		e.mu.Lock()
		switch {
		case err == nil:
			e.broken, e.lastRecovery = nil, nil
			e.recoveries++
			e.mu.Unlock()
			return
		case errors.Is(err, errUnrecoverable):
			e.fatal = fmt.Errorf("stopped: %w (after: %v)", err, e.broken)
			close(e.stopped)
			e.mu.Unlock()
			return
		}
		e.lastRecovery = err
		e.mu.Unlock()
		wait = min(2*wait, 5*time.Second)
	}
}

// reload reloads the log from the store into a new state and, if it is a
// faithful extension of what the node had applied and signed, makes it the
// node's state.
func (e *Election) reload(ctx context.Context) error {
	// With the gate held, no ballot is between its check and its append,
	// and no officer entry is being applied.
	e.gate.Lock()
	defer e.gate.Unlock()
	// Nor is the follower applying entries.
	e.followMu.Lock()
	defer e.followMu.Unlock()
	n, mark, err := e.st.Head(ctx)
	if err != nil {
		return err
	}
	// Every receipt given is against a checkpoint no larger than the last
	// one signed: the reloaded log must extend it, as recomputed from the
	// entries themselves (the tree the node signs from).
	e.cpMu.Lock()
	cp := e.cp
	e.cpMu.Unlock()
	// The entries known to be stored are those of e.tree (added only once
	// the store took them; stable while the gate is held): the reloaded log
	// must begin with them. The state may hold one more, an officer's entry
	// applied before the store was asked, whose append failed: it may or
	// may not be in the log.
	e.mu.Lock()
	old, known := e.state, e.tree.clone()
	e.mu.Unlock()
	// The log is replayed as at a restart (replayLog): the entries this
	// node applied (known) were verified by it, or trusted under a
	// checkpoint it signed, so they are only decoded, once the recomputed
	// tree shows they are the same; the rest are verified in parallel. A
	// full sequential verification would hold the gate for minutes, or
	// never finish within the reload's time on a large log.
	var wants []board.Checkpoint
	if known.n > 0 {
		wants = append(wants, board.Checkpoint{Size: known.n, Hash: known.root()})
	}
	if cp != nil {
		wants = append(wants, cp.c)
	}
	if n < known.n {
		return fmt.Errorf("%w: the store holds %d entries, but %d were stored and applied", errUnrecoverable, n, known.n)
	}
	if cp != nil && n < cp.c.Size {
		return fmt.Errorf("%w: the store holds %d entries, but this node signed a checkpoint of %d", errUnrecoverable, n, cp.c.Size)
	}
	s, tree, err := replayLog(ctx, e.st, n, known.n, wants, runtime.GOMAXPROCS(0))
	var fork *forkError
	switch {
	case errors.As(err, &fork):
		return fmt.Errorf("%w: the log's first %d entries are not those this node applied or signed", errUnrecoverable, fork.size)
	case errors.Is(err, errNoReplay):
		return fmt.Errorf("%w: %v", errUnrecoverable, err)
	case err != nil:
		return err
	}
	if known.n > 0 && (s.Fingerprint != old.Fingerprint || s.LogKey != old.LogKey) {
		return fmt.Errorf("%w: the store holds another election", errUnrecoverable)
	}
	// The stored hashes, from which inclusion proofs are made, must agree
	// with the entries.
	if stored, err := board.TreeHash(ctx, e.st, n); err != nil {
		return err
	} else if stored != tree.root() {
		return fmt.Errorf("%w: the stored hashes do not match the stored entries (tree of %d entries)", errUnrecoverable, n)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.state, e.tree, e.mark = s, tree, mark
	e.pending = make(map[int64]*election.PreparedBallot)
	// Ballots whose append has ended are in the reloaded state or not in
	// the log at all: only those still on their way stay in casting.
	for code, c := range e.casting {
		select {
		case <-c.done:
			delete(e.casting, code)
		default:
		}
	}
	if e.signer == nil && s.Size > 0 {
		if err := e.setSigner(e.logSeed); err != nil {
			return fmt.Errorf("%w: %v", errUnrecoverable, err)
		}
	}
	if s.Phase == election.PhaseVoting && e.view == nil {
		e.view, _ = s.Voter()
	}
	return nil
}
