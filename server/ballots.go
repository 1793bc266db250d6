package server

// Casting: the hot path. A ballot's proofs and signature are checked
// concurrently; its stateful checks and its append happen under the read
// side of the gate, so that many ballots share one commit (group commit in
// the store); then ballots are applied to the state strictly in log order.

import (
	"context"
	"encoding/base64"
	"fmt"
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
		return nil, broken
	}
	if view == nil {
		return nil, fmt.Errorf("%w: voting is not open", ErrRefused)
	}
	p, err := view.Prepare(entry)
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
	return e.receipt(ctx, idx, p.Tracker(), code)
}

func (e *Election) appendBallot(ctx context.Context, p *election.PreparedBallot) (int64, error) {
	e.gate.RLock()
	defer e.gate.RUnlock()
	e.mu.Lock()
	err := e.state.CheckBallot(p)
	e.mu.Unlock()
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	idx, err := e.st.Append(ctx, [][]byte{p.Entry()})
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.broken = fmt.Errorf("the store failed while appending a ballot (restart the server to reload the log): %v", err)
		return 0, e.broken
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
			e.broken = fmt.Errorf("internal error: a stored ballot does not apply: %v", err)
			return 0, e.broken
		}
		e.tree.add(q.Entry())
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
// a new one if needed; concurrent callers share one signing. The node signs
// only the tree it computed itself from the entries it verified and applied
// (with the ballots it appended, waiting to be applied in order), after
// checking that the store's hashes agree, and saves the signed checkpoint in
// its checkpoint file before anyone is given it.
func (e *Election) checkpoint(ctx context.Context, size int64) (*signedCheckpoint, error) {
	e.cpMu.Lock()
	defer e.cpMu.Unlock()
	if e.cp != nil && e.cp.c.Size >= size {
		return e.cp, nil
	}
	var t treeEdge
	for {
		e.mu.Lock()
		t = e.tree.clone()
		for q, ok := e.pending[t.n]; ok; q, ok = e.pending[t.n] {
			t.add(q.Entry())
		}
		broken := e.broken
		e.mu.Unlock()
		if broken != nil {
			return nil, broken
		}
		if t.n >= size {
			break
		}
		// A ballot before the one to prove is appended, but its request
		// has not handed it over yet.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	if t.n == 0 {
		return nil, fmt.Errorf("%w: the log is empty; append the genesis entry first", board.ErrCheckpoint)
	}
	c := board.Checkpoint{Origin: e.origin, Size: t.n, Hash: t.root()}
	stored, err := board.TreeHash(ctx, e.st, t.n)
	if err != nil {
		return nil, err
	}
	if stored != c.Hash {
		e.mu.Lock()
		e.broken = fmt.Errorf("the store's hashes disagree with the entries this server appended (tree of %d entries): the database was changed under the server", t.n)
		e.mu.Unlock()
		return nil, e.broken
	}
	signed, err := board.Sign(c, e.signer)
	if err != nil {
		return nil, err
	}
	if err := e.saveCheckpoint(signed); err != nil {
		return nil, err
	}
	e.cp = &signedCheckpoint{c: c, signed: signed}
	return e.cp, nil
}

// Checkpoint returns a signed checkpoint of the whole log this node has
// applied, saved in the store. A checkpoint is saved once: reading it again
// writes nothing, so readers cannot load the store with writes.
func (e *Election) Checkpoint(ctx context.Context) (board.Checkpoint, []byte, error) {
	e.mu.Lock()
	n := e.tree.n
	e.mu.Unlock()
	if n == 0 {
		return board.Checkpoint{}, nil, fmt.Errorf("%w: the log is empty; append the genesis entry first", board.ErrCheckpoint)
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
