package server

// Casting: the hot path. A ballot's proofs and signature are checked
// concurrently; its stateful checks and its append happen under the read
// side of the gate, so that many ballots share one commit (group commit in
// the store); then ballots are applied to the state strictly in log order.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/store"
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
	// Again is set when the ballot was already in the log: nothing was
	// appended, and this is its original receipt (spec §21.2).
	Again bool `json:"-"`
}

// Cast checks a ballot entry and appends it, or refuses it with a reason and
// appends nothing. A ballot already in the log, byte for byte (a client
// retrying after a lost answer, or anyone replaying it), is not appended
// again: the answer is its original receipt, with Again set (spec §21.2).
func (e *Election) Cast(ctx context.Context, entry []byte) (*Receipt, error) {
	e.mu.Lock()
	view, broken, ends := e.view, e.broken, e.state.Ends()
	e.mu.Unlock()
	if broken != nil {
		return nil, fmt.Errorf("%w: %w", ErrBusy, broken)
	}
	if view == nil {
		return nil, fmt.Errorf("%w: voting is not open", ErrRefused)
	}
	// spec: §18.7 ballots are taken until the end in force (the planned
	// end, or an extension's), even before the officer records the close.
	if now := e.now(); !ends.IsZero() && !now.Before(ends) {
		return nil, fmt.Errorf("%w: %w at %s; the officer will record the close", ErrRefused, ErrEnded, ends.UTC().Format(election.TimeFormat))
	}
	// The checks cost CPU: a few at a time (checkQueue), so that under
	// overload the ballots being checked finish quickly rather than all
	// slowly, and a ballot whose client leaves while it waits costs
	// nothing (nothing has happened to it yet). From the append on, the
	// client's leaving changes nothing.
	deadline := time.Now().Add(maxCheckWait)
	q := e.checkQueue()
	if err := q.acquire(ctx, maxCheckWait); err != nil {
		return nil, fmt.Errorf("%w: the ballot was not checked: %w", ErrBusy, err)
	}
	// On a server of several elections, the processors are shared among
	// them in turn (cpuPool).
	if e.cpu != nil {
		if err := e.cpu.acquire(ctx, e, time.Until(deadline)); err != nil {
			q.release()
			return nil, fmt.Errorf("%w: the ballot was not checked: %w", ErrBusy, err)
		}
	}
	p, err := view.Prepare(entry)
	if e.cpu != nil {
		e.cpu.release()
	}
	q.release()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRefused, err)
	}
	idx, again, err := e.castOnce(ctx, p)
	if err != nil {
		return nil, err
	}
	if !again {
		e.turnout.add(time.Now(), e.voted())
	}
	// The ballot is stored; its receipt is for the client, and not made
	// once the client has left (under overload, the store's reads are
	// better spent on voters still waiting). A failure to make it says so.
	r, err := e.receipt(ctx, idx, p.Tracker(), p.Code())
	if err != nil {
		return nil, fmt.Errorf("%w: the ballot is stored at index %d (tracker %s), but its receipt could not be made now (%v): look the tracker up in a moment for its proof", ErrNoReceipt, idx, p.Tracker(), err)
	}
	r.Again = again
	return r, nil
}

// casting is a ballot between its checks and its application to the state,
// by its code: a second copy sent meanwhile waits for its outcome rather
// than being appended too (spec §18.5: a replay is invalid).
type casting struct {
	done    chan struct{} // closed once the append succeeded or failed
	index   int64         // -1 until the append succeeded
	tracker string
}

// castOnce appends a checked ballot (appendBallot) unless a ballot with its
// code is already in the log or on its way there: then nothing is appended,
// and the answer is that ballot's index with again set if the entry is the
// same, a refusal (a replay) if it is not.
func (e *Election) castOnce(ctx context.Context, p *election.PreparedBallot) (idx int64, again bool, err error) {
	code := p.Code()
	for try := 1; ; try++ {
		e.mu.Lock()
		if idx, tracker, found := e.state.FindCode(code); found {
			e.mu.Unlock()
			return e.sameBallot(p, idx, tracker)
		}
		other, busy := e.casting[code]
		if !busy {
			c := &casting{done: make(chan struct{}), index: -1}
			e.casting[code] = c
			e.mu.Unlock()
			idx, err := e.appendBallot(ctx, p)
			e.mu.Lock()
			if err == nil {
				c.index, c.tracker = idx, p.Tracker() // appendBallot forgets it once applied
			} else if e.casting[code] == c {
				delete(e.casting, code)
			}
			close(c.done)
			e.mu.Unlock()
			if errors.Is(err, errStale) {
				// The log moved on under the state it was checked against
				// (another node appended a phase change, or this ballot's
				// code): nothing was appended; catch up, and check again.
				if try == maxStaleTries {
					return 0, false, fmt.Errorf("%w: the log kept changing while the ballot was checked: %w", ErrBusy, err)
				}
				if err := e.catchUp(ctx); err != nil {
					return 0, false, fmt.Errorf("%w: %w", ErrBusy, err)
				}
				continue
			}
			return idx, false, err
		}
		e.mu.Unlock()
		select {
		case <-other.done:
		case <-ctx.Done():
			// This request appended nothing (the other copy may have).
			return 0, false, fmt.Errorf("%w: the same ballot is being stored by another request: %w", ErrBusy, ctx.Err())
		}
		if other.index >= 0 {
			return e.sameBallot(p, other.index, other.tracker)
		}
		// The other copy was not appended: this one may try.
	}
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
	fence := store.Fence{Mark: e.mark, Keys: [][]byte{p.CodeBytes()}}
	tracker := [32]byte(sha256.Sum256(p.Entry()))
	if err == nil {
		e.appending++
		e.ours[tracker] = p
	}
	e.mu.Unlock()
	if err != nil {
		return 0, err
	}
	// The store appends the ballot only if no entry but ballots was
	// appended since the state it was checked against (by any node), and
	// no ballot with its code: in the same transaction.
	idx, err := e.storeAppendFenced(ctx, p.Entry(), fence)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.appending--
	delete(e.ours, tracker)
	defer e.checkGap()
	if errors.Is(err, store.ErrStale) || errors.Is(err, store.ErrTaken) {
		return 0, fmt.Errorf("%w: %w", errStale, err) // nothing appended
	}
	if errors.Is(err, ErrBusy) {
		return 0, err // nothing appended: the state is right
	}
	if err != nil {
		return 0, e.fail(fmt.Errorf("the store failed while appending a ballot: %v", err))
	}
	if idx < e.state.Size {
		// The follower read it from the log first, and applied it.
		return idx, nil
	}
	// Apply in log order: entries other nodes appended before it are
	// applied by the follower (follow.go), which applies this one too
	// once it gets there.
	e.pending[idx] = p
	if err := e.applyPending(); err != nil {
		return 0, err
	}
	return idx, nil
}

// errStale wraps the error of a ballot that the store refused because
// the log changed since the state it was checked against.
var errStale = errors.New("the log changed since the ballot was checked")

// maxStaleTries bounds the checks of one ballot against a log that keeps
// changing under it.
const maxStaleTries = 8

// applyPending (e.mu held) applies this node's ballots that wait for their
// turn, in log order.
func (e *Election) applyPending() error {
	for {
		q, ok := e.pending[e.state.Size]
		if !ok {
			return nil
		}
		delete(e.pending, e.state.Size)
		delete(e.casting, q.Code()) // spec §18.5: the state knows its code now
		if err := e.state.ApplyBallot(q); err != nil {
			return e.fail(fmt.Errorf("internal error: a stored ballot does not apply: %v", err))
		}
		e.tree.add(q.Entry())
	}
}

// checkGap (e.mu held): a gap before the ballots waiting to be applied
// holds entries another node appended: the follower reads them now.
func (e *Election) checkGap() {
	if len(e.pending) > 0 && e.broken == nil {
		e.wake()
	}
}

// sameBallot answers a ballot whose code is that of the ballot at index
// (spec §21.2): the same entry gets that ballot's receipt; another signature
// on the same encryption is refused as a replay.
func (e *Election) sameBallot(p *election.PreparedBallot, index int64, tracker string) (int64, bool, error) {
	if tracker == p.Tracker() {
		return index, true, nil
	}
	return 0, false, fmt.Errorf("%w: %w: %w at entry %d (same ballot code %s); encrypt afresh", ErrRefused, election.ErrEntry, election.ErrReplay, index, p.Code())
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
		e.wake() // the entries before are another node's
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
		// Stop taking entries; recovery reloads the log, finds the stored
		// hashes disagreeing with the entries, and stops the node for good
		// (Stopped), rather than leave it "recovering" with nothing running.
		e.mu.Lock()
		defer e.mu.Unlock()
		return nil, e.fail(fmt.Errorf("the store's hashes disagree with the entries this server appended (tree of %d entries): the database was changed under the server", t.n))
	}
	signed, err := board.Sign(c, e.signer)
	if err != nil {
		return nil, err
	}
	if err := e.saveCheckpoint(signed); err != nil {
		return nil, err
	}
	e.cp = &signedCheckpoint{c: c, signed: signed}
	e.addManifestWitnesses() // never waits
	e.kickPush()             // never waits (push.go)
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
