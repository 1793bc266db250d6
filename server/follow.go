package server

// Following the log. Several nodes may run one election on one PostgreSQL
// database (issue 18): each derives the election's state from the shared
// log, applying the entries the others append, in log order, through the
// same State.Apply as its own (their ballots' proofs are verified again:
// another node's entry is never trusted). An entry that does not apply
// means the stored log is not a valid record: the node stops taking
// entries and reloads the log (fail), which then stops it for good.
//
// The follower wakes on the store's notification of an append (PostgreSQL
// LISTEN/NOTIFY), when a ballot of this node waits for entries before it,
// and every followPoll in any case (a notification may be lost; SQLite
// has none).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/scrutin/scrutin/election"
)

// followPoll bounds how long a node goes without looking at the log's
// size: how far behind it may be when a notification is lost.
const followPoll = 500 * time.Millisecond

// followTimeout bounds one catch-up.
const followTimeout = time.Minute

// startFollowing starts the follower; it ends when the store is closed or
// the node stops for good.
func (e *Election) startFollowing() {
	e.kick = make(chan struct{}, 1)
	changed := e.st.Changed()
	stopped := e.Stopped()
	go func() {
		t := time.NewTicker(followPoll)
		defer t.Stop()
		for {
			select {
			case _, ok := <-changed:
				if !ok {
					return
				}
			case <-e.kick:
			case <-t.C:
			case <-stopped:
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), followTimeout)
			e.follow(ctx) // a failure is tried again at the next wake-up
			cancel()
			if e.followedOfficer.Swap(false) {
				e.notifyChanged()
			}
		}
	}()
}

// notifyChanged calls the changed hook, if set.
func (e *Election) notifyChanged() {
	e.mu.Lock()
	f := e.changed
	e.mu.Unlock()
	if f != nil {
		f()
	}
}

// wake wakes the follower, if it runs.
func (e *Election) wake() {
	if e.kick == nil {
		return
	}
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// follow is catchUp for the follower, which first leaves a moment to this
// node's appends under way: the entries it has not applied yet may all be
// this node's own ballots, about to be applied without being read back.
func (e *Election) follow(ctx context.Context) error {
	e.followMu.Lock()
	defer e.followMu.Unlock()
	n, mark, err := e.st.Head(ctx)
	if err != nil {
		return err
	}
	for range 5 {
		e.mu.Lock()
		gap, ours := n-e.state.Size, e.appending+len(e.pending)
		e.mu.Unlock()
		if gap <= 0 || gap > int64(ours) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return e.catchUpLocked(ctx, n, mark)
}

// catchUp applies the entries of the log, as long as it is now, that the
// state does not hold yet.
func (e *Election) catchUp(ctx context.Context) error {
	e.followMu.Lock()
	defer e.followMu.Unlock()
	n, mark, err := e.st.Head(ctx)
	if err != nil {
		return err
	}
	return e.catchUpLocked(ctx, n, mark)
}

// catchUpLocked (e.followMu held) reads the entries from the state's size
// to n (whose mark is given; -1: unknown), a chunk at a time, verifies the ballots other nodes appended (in
// parallel, without e.mu), and applies them all in order.
func (e *Election) catchUpLocked(ctx context.Context, n, mark int64) error {
	changed := false
	defer func() {
		if changed {
			// Told by the follower, which holds no lock then (the hook
			// writes to the database).
			e.followedOfficer.Store(true)
			e.wake()
		}
	}()
	for {
		e.mu.Lock()
		from, broken, view := e.state.Size, e.broken, e.view
		e.mu.Unlock()
		if broken != nil {
			return broken
		}
		if from >= n {
			break
		}
		es, err := e.st.ReadEntries(ctx, from, min(n, from+replayChunk))
		if err != nil {
			return err
		}
		// This node's own ballots, whose appends have not returned yet,
		// were checked already.
		prepared, errs, verify := make([]*election.PreparedBallot, len(es)), make([]error, len(es)), make([]bool, len(es))
		e.mu.Lock()
		for k, entry := range es {
			if len(entry) == 0 || entry[0] != election.TypeBallot {
				continue
			}
			if p, ok := e.pending[from+int64(k)]; ok {
				prepared[k] = p
			} else if p, ok := e.ours[sha256.Sum256(entry)]; ok {
				prepared[k] = p
			} else {
				verify[k] = view != nil
			}
		}
		e.mu.Unlock()
		e.verifyBallots(view, es, prepared, errs, verify)
		e.mu.Lock()
		officer, err := e.applyFollowed(from, es, prepared, errs)
		e.mu.Unlock()
		changed = changed || officer
		if err != nil {
			return err
		}
		if slices.ContainsFunc(es, func(entry []byte) bool { return entry[0] == election.TypeBallot }) {
			e.turnout.add(time.Now(), e.voted()) // other nodes' voters too
		}
	}
	if mark >= 0 {
		e.mu.Lock()
		// Marks only grow: a later one (this node's own officer entry)
		// is kept.
		if e.state.Size >= n && mark > e.mark {
			e.mark = mark
		}
		e.mu.Unlock()
	}
	return nil
}

// verifyBallots prepares (verifying their proofs) the ballots marked in
// verify, with a worker per processor.
func (e *Election) verifyBallots(view *election.Election, es [][]byte, prepared []*election.PreparedBallot, errs []error, verify []bool) {
	var todo []int
	for k, v := range verify {
		if v {
			todo = append(todo, k)
		}
	}
	if len(todo) == 0 {
		return
	}
	workers := min(runtime.GOMAXPROCS(0), len(todo))
	next := make(chan int)
	done := make(chan struct{})
	for range workers {
		go func() {
			for k := range next {
				prepared[k], errs[k] = view.Prepare(es[k])
			}
			done <- struct{}{}
		}()
	}
	for _, k := range todo {
		next <- k
	}
	close(next)
	for range workers {
		<-done
	}
}

// applyFollowed (e.mu held) applies the entries es, the first at index
// from, that the state does not hold yet, and then this node's ballots
// that waited for them. It reports whether an officer's or trustee's
// entry was applied.
func (e *Election) applyFollowed(from int64, es [][]byte, prepared []*election.PreparedBallot, errs []error) (officer bool, err error) {
	if e.broken != nil {
		return false, e.broken
	}
	for k, entry := range es {
		i := from + int64(k)
		if i < e.state.Size {
			continue // this node's own ballot, applied meanwhile
		}
		if i > e.state.Size {
			return officer, e.fail(fmt.Errorf("internal error: the follower read entry %d, but the state holds %d", i, e.state.Size))
		}
		if p, ok := e.pending[i]; ok {
			if !bytes.Equal(p.Entry(), entry) {
				return officer, e.fail(fmt.Errorf("the log holds at index %d another entry than the ballot this node appended there: the database was changed under the node", i))
			}
			delete(e.pending, i)
		}
		p := prepared[k]
		switch {
		case p != nil && bytes.Equal(p.Entry(), entry):
			err = e.state.ApplyBallot(p)
		case p != nil:
			err = fmt.Errorf("internal error: a prepared ballot is not the entry")
		case errs[k] != nil:
			err = &election.EntryError{Index: i, Type: election.TypeBallot, Err: errs[k]}
		default:
			// An officer's or trustee's entry, or a ballot before voting
			// opened (which Apply refuses).
			err = e.state.Apply(entry)
		}
		if err != nil {
			return officer, e.fail(fmt.Errorf("entry %d, appended by another writer of the log, is not valid (%v): the stored log is not a valid record", i, err))
		}
		e.tree.add(entry)
		if entry[0] == election.TypeBallot {
			if p != nil {
				delete(e.casting, p.Code())
			}
			continue
		}
		officer = true
		if e.signer == nil {
			if err := e.setSigner(e.logSeed); err != nil {
				return officer, e.fail(fmt.Errorf("the election another node created is not signed with this node's log key: %v", err))
			}
		}
		if e.state.Phase == election.PhaseVoting && e.view == nil {
			e.view, _ = e.state.Voter()
		}
	}
	if err := e.applyPending(); err != nil {
		return officer, err
	}
	return officer, nil
}
