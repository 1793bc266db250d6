package server

// Casting: the hot path. A ballot's proofs and signature are checked
// concurrently; its stateful checks and its append happen under the read
// side of the gate, so that many ballots share one commit (group commit in
// the store); then ballots are applied to the state strictly in log order.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
)

// Receipt is what a voter gets for a cast ballot (spec §18.5): its tracker,
// its index in the log, and an inclusion proof against a signed checkpoint.
type Receipt struct {
	Checkpoint     string   `json:"checkpoint"`
	Index          int64    `json:"index"`
	InclusionProof []string `json:"inclusion_proof"`
	Tracker        string   `json:"tracker"`
	// Code is the ballot code (spec §21.1), which the booth showed before
	// the voter chose to cast.
	Code string `json:"code"`
}

// Cast checks a ballot entry and appends it, or refuses it with a reason and
// appends nothing.
func (e *Election) Cast(ctx context.Context, entry []byte) (*Receipt, error) {
	e.mu.Lock()
	view, broken := e.view, e.broken
	e.mu.Unlock()
	if broken != nil {
		return nil, fmt.Errorf("%w: %w", ErrBusy, broken)
	}
	if view == nil {
		return nil, fmt.Errorf("%w: voting is not open", ErrRefused)
	}
	// The checks cost CPU: a few at a time (checkQueue), so that under
	// overload the ballots being checked finish quickly rather than all
	// slowly, and a ballot whose client leaves while it waits costs
	// nothing (nothing has happened to it yet). From the append on, the
	// client's leaving changes nothing.
	q := e.checkQueue()
	if err := q.acquire(ctx, maxCheckWait); err != nil {
		return nil, fmt.Errorf("%w: the ballot was not checked: %w", ErrBusy, err)
	}
	p, err := view.Prepare(entry)
	q.release()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	idx, err := e.appendBallot(ctx, p)
	if err != nil {
		return nil, err
	}
	e.turnout.add(time.Now(), e.voted())
	code, err := election.BallotCode(entry)
	if err != nil {
		return nil, err
	}
	// The ballot is stored; its receipt is for the client, and not made
	// once the client has left (under overload, the store's reads are
	// better spent on voters still waiting). A failure to make it says so.
	rc, err := e.receipt(ctx, idx, p.Tracker(), code)
	if err != nil {
		return nil, fmt.Errorf("%w: the ballot is stored at index %d (tracker %s), but its receipt could not be made now (%v): look the tracker up in a moment for its proof", ErrNoReceipt, idx, p.Tracker(), err)
	}
	return rc, nil
}

// ErrNoReceipt wraps the error of a ballot that was stored but whose
// receipt could not be made.
var ErrNoReceipt = errors.New("no receipt")

// checkQueue is the queue of ballot checks: two slots per CPU, so that
// checks overlap the waits for the store without crowding each other out.
func (e *Election) checkQueue() *checkQueue {
	e.checksOnce.Do(func() { e.checks = newCheckQueue(2 * runtime.GOMAXPROCS(0)) })
	return e.checks
}

// maxCheckWait bounds a ballot's wait for its checks: past it, the voter
// is told to try again (nothing was stored).
const maxCheckWait = 10 * time.Second

func (e *Election) appendBallot(ctx context.Context, p *election.PreparedBallot) (int64, error) {
	e.gate.RLock()
	defer e.gate.RUnlock()
	e.mu.Lock()
	var err error
	if e.broken != nil { // set while this ballot waited
		err = fmt.Errorf("%w: %w", ErrBusy, e.broken)
	} else {
		if err = e.state.CheckBallot(p); err != nil {
			err = fmt.Errorf("%w: %w", ErrRefused, err)
		}
	}
	e.mu.Unlock()
	if err != nil {
		return 0, err
	}
	idx, err := e.storeAppend(ctx, p.Entry())
	e.mu.Lock()
	defer e.mu.Unlock()
	if errors.Is(err, ErrBusy) {
		return 0, err // nothing appended: the state is right
	}
	if err != nil {
		return 0, e.fail(fmt.Errorf("the store failed while appending a ballot: %v", err))
	}
	// Apply in log order; the gate guarantees every appended ballot is in
	// pending before an officer entry is applied.
	e.pending[idx] = p
	for {
		q, ok := e.pending[e.state.Size]
		if !ok {
			break
		}
		delete(e.pending, e.state.Size)
		if err := e.state.ApplyBallot(q); err != nil {
			return 0, e.fail(fmt.Errorf("internal error: a stored ballot does not apply: %v", err))
		}
	}
	return idx, nil
}

// receipt proves the inclusion of entry idx in a checkpoint that covers it.
func (e *Election) receipt(ctx context.Context, idx int64, tracker, code string) (*Receipt, error) {
	cp, err := e.checkpoint(ctx, idx+1)
	if err != nil {
		return nil, err
	}
	proof, err := board.ProveInclusion(ctx, e.st, idx, cp.c.Size)
	if err != nil {
		return nil, err
	}
	r := &Receipt{Checkpoint: string(cp.signed), Index: idx, Tracker: tracker, Code: code, InclusionProof: make([]string, len(proof))}
	for i, h := range proof {
		r.InclusionProof[i] = base64.StdEncoding.EncodeToString(h[:])
	}
	return r, nil
}

// checkpoint returns a signed checkpoint of at least size entries, signing
// a new one if needed; concurrent callers share one signing.
func (e *Election) checkpoint(ctx context.Context, size int64) (*signedCheckpoint, error) {
	e.cpMu.Lock()
	defer e.cpMu.Unlock()
	if e.cp != nil && e.cp.c.Size >= size {
		return e.cp, nil
	}
	c, err := board.CurrentCheckpoint(ctx, e.st, e.origin)
	if err != nil {
		return nil, err
	}
	signed, err := board.Sign(c, e.signer)
	if err != nil {
		return nil, err
	}
	e.cp = &signedCheckpoint{c: c, signed: signed}
	return e.cp, nil
}

// Checkpoint returns a signed checkpoint of the whole log, saved in the
// store. A checkpoint is saved once: reading it again writes nothing, so
// readers cannot load the store with writes.
func (e *Election) Checkpoint(ctx context.Context) (board.Checkpoint, []byte, error) {
	n, err := e.st.Size(ctx)
	if err != nil {
		return board.Checkpoint{}, nil, err
	}
	cp, err := e.checkpoint(ctx, n)
	if err != nil {
		return board.Checkpoint{}, nil, err
	}
	e.saveMu.Lock()
	defer e.saveMu.Unlock()
	if cp.c.Size > e.savedSize {
		if err := e.st.SaveCheckpoint(ctx, cp.c.Size, cp.signed); err != nil {
			return board.Checkpoint{}, nil, err
		}
		e.savedSize = cp.c.Size
	}
	return cp.c, cp.signed, nil
}

// Publish writes the whole log, with a fresh signed checkpoint, to w in the
// published layout (spec §17).
func (e *Election) Publish(ctx context.Context, w board.FileWriter) (board.Checkpoint, error) {
	c, signed, err := e.Checkpoint(ctx)
	if err != nil {
		return c, err
	}
	return c, board.Publish(ctx, e.st, 0, c, signed, w)
}
