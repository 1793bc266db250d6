// Package server runs an election: it turns requests into log entries,
// appends them to the store, and derives the election's state by applying
// the same entries with package election, the one code path that decides
// what a valid entry is. It serves the casting API (JSON over HTTP), the
// receipts with inclusion proofs against signed checkpoints, and the
// published log.
package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/store"
)

// Election is one election being run.
type Election struct {
	st     store.Store
	signer note.Signer
	origin string

	// gate: ballots hold it for reading from their check to their append;
	// officer actions (close, tally, …) hold it for writing, so that no
	// ballot slips in after a close.
	gate sync.RWMutex

	// mu guards state; entries are applied strictly in log order.
	mu      sync.Mutex
	state   *election.State
	pending map[int64]*election.PreparedBallot
	casting map[string]*casting // ballots appended or being appended, not yet applied, by code
	// appending counts the ballots between their check and the end of
	// their append (under mu).
	appending int
	// ours holds this node's ballots between their check and their
	// application, by tracker: a follower that reads one from the log
	// before its append has returned applies it as checked already.
	ours map[[32]byte]*election.PreparedBallot
	// mark is the log's mark (store.Store.Head) as of the state: the
	// fence of the ballots checked against it (under mu).
	mark int64

	// followMu: one catch-up with the log at a time (follow.go); taken
	// after gate and before mu.
	followMu sync.Mutex
	// kick wakes the follower (a ballot of this node waits for entries
	// another node appended before it).
	kick chan struct{}

	cpMu   sync.Mutex // one checkpoint signing at a time
	cp     *signedCheckpoint
	cpFile string   // where the latest signed checkpoint is kept ("": nowhere)
	tree   treeEdge // the Merkle tree of the entries applied to state (under mu)

	saveMu    sync.Mutex
	savedSize int64 // of the last checkpoint saved in the store

	logSeed []byte
	view    *election.Election // fixed once voting opens
	// broken is set when the store failed during an append: whether the
	// entry was stored is unknown, so the state may disagree with the log,
	// and every entry is refused until recovery reloads the log (see
	// recover.go). fatal is set when it cannot, and stopped is then closed.
	broken, fatal, lastRecovery error
	recoveries                  int
	stopped                     chan struct{}

	turnout   turnout
	witnesses witnessState

	checksOnce sync.Once
	checks     *checkQueue

	// changed, if set (under mu), is called after each officer's or
	// trustee's entry is appended or followed (a Registry saves the
	// election's summary); followedOfficer tells the follower to call it.
	changed         func()
	followedOfficer atomic.Bool
	// cpu, if set, shares the processors with the other elections of the
	// server (a Registry's).
	cpu *cpuPool

	// clock, if set, replaces time.Now for the end of voting (spec §18.7):
	// ballots are refused from the end in force on, and extensions are
	// dated by it.
	clock atomic.Pointer[func() time.Time]
}

// SetClock makes the election read the time from now instead of the
// system's clock (tests of deadlines).
func (e *Election) SetClock(now func() time.Time) { e.clock.Store(&now) }

// Now is the election's clock: the time by which ballots are refused after
// the end in force and extensions are dated.
func (e *Election) Now() time.Time { return e.now() }

func (e *Election) now() time.Time {
	if f := e.clock.Load(); f != nil {
		return (*f)()
	}
	return time.Now()
}

// ErrEnded refuses a ballot received at or after the end of voting in
// force (spec §18.7), before the officer records the close entry.
var ErrEnded = errors.New("voting has ended")

// Ends returns the end of voting in force (spec §18.7): the manifest's
// window.closes, or the last extension's new end; zero before the manifest.
func (e *Election) Ends() time.Time {
	var t time.Time
	e.State(func(s *election.State) { t = s.Ends() })
	return t
}

// Extend records an extension of the voting window (spec §18.7) to the new
// end closes, with the officer's reason, dated by the election's clock.
func (e *Election) Extend(ctx context.Context, closes time.Time, reason string) (int64, error) {
	x := &election.Extension{At: election.Now(e.now()), Closes: election.Now(closes), Reason: reason}
	if !closes.Equal(closes.Truncate(time.Second)) {
		return 0, fmt.Errorf("%w: the new end is given to the second", ErrRefused)
	}
	return e.Append(ctx, x.Entry())
}

type signedCheckpoint struct {
	c      board.Checkpoint
	signed []byte
}

// Open loads an election from its store, replaying every entry, with the
// log's signing key seed (32 bytes). An empty store is an election yet to
// be created (see Create). It keeps no checkpoint file: a server uses
// OpenWith.
func Open(ctx context.Context, st store.Store, logSeed []byte) (*Election, error) {
	return OpenWith(ctx, st, logSeed, OpenOptions{})
}

func (e *Election) setSigner(seed []byte) error {
	s, err := election.LogSigner(e.state.Fingerprint, seed)
	if err != nil {
		return err
	}
	v, err := note.NewVerifier(e.state.LogKey)
	if err != nil {
		return err
	}
	if s.Name() != v.Name() || s.KeyHash() != v.KeyHash() {
		return errors.New("the log key given is not the one in the election's manifest")
	}
	e.signer, e.origin = s, board.Origin(e.state.Fingerprint)
	return nil
}

// LogPublicKey returns the public half of the election's log signing key,
// from the seed it was opened with: the log_key its manifest must hold
// (spec §18.3), for a manifest made on the server (the console's form).
// It is nil if the election was opened without a seed.
func (e *Election) LogPublicKey() []byte {
	if len(e.logSeed) != ed25519.SeedSize {
		return nil
	}
	return ed25519.NewKeyFromSeed(e.logSeed).Public().(ed25519.PublicKey)
}

// ErrRefused wraps every refused request; the message says why.
var ErrRefused = errors.New("refused")

// Append validates an officer's or trustee's entry (anything but a ballot)
// against the state and appends it, then signs a checkpoint covering it
// (and saves it in the checkpoint file), so that a node that has appended
// anything always has a saved checkpoint.
func (e *Election) Append(ctx context.Context, entry []byte) (int64, error) {
	if len(entry) > 0 && entry[0] == election.TypeBallot {
		r, err := e.Cast(ctx, entry)
		if err != nil {
			return 0, err
		}
		return r.Index, nil
	}
	i, err := e.appendEntry(ctx, entry)
	if err != nil {
		return 0, err
	}
	if _, err := e.checkpoint(ctx, i+1); err != nil {
		return 0, err
	}
	e.notifyChanged()
	return i, nil
}

// appendEntry appends an officer's or trustee's entry under the log's
// lock (store.Store.AppendLocked): with no other node able to append
// meanwhile, the node catches up with the log, checks the entry against
// the state (applying it), and the entry is appended in the same
// transaction. A state that is not the log's cannot be appended against.
func (e *Election) appendEntry(ctx context.Context, entry []byte) (int64, error) {
	e.gate.Lock()
	defer e.gate.Unlock()
	// Most of the way first, without the log's lock, which other nodes'
	// appends wait for.
	if err := e.catchUp(ctx); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBusy, err)
	}
	applied := false
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendTimeout)
	defer cancel()
	// The follower waits until the outcome is known: once the check has
	// applied the entry, the state is ahead of the log until the commit,
	// and if the transaction fails, other nodes may append at once; the
	// follower must not apply their entries on top of one that was never
	// stored (the state and tree would leave the log). Taken before mu,
	// as everywhere.
	e.followMu.Lock()
	defer e.followMu.Unlock()
	i, err := e.st.AppendLocked(ctx, func(ctx context.Context, size int64) ([][]byte, error) {
		if err := e.catchUpLocked(ctx, size, -1); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBusy, err)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.broken != nil {
			return nil, fmt.Errorf("%w: %w", ErrBusy, e.broken)
		}
		if e.state.Size != size {
			return nil, fmt.Errorf("%w: internal error: the state holds %d entries after catching up with a log of %d", ErrBusy, e.state.Size, size)
		}
		// spec: §18.8 a server appends no replacement from the end in force
		// on by its clock, whatever the authority dated it: nobody could
		// vote again. Checked under the log's lock, against the end in
		// force of the whole log (an extension another node appended
		// included).
		if len(entry) > 0 && entry[0] == election.TypeReplacement && e.state.Manifest != nil && !e.now().Before(e.state.Ends()) {
			return nil, fmt.Errorf("%w: voting ended at %s: a credential is not replaced once nobody can vote again", ErrRefused, e.state.Ends().UTC().Format(election.TimeFormat))
		}
		first := e.state.Size == 0
		// Apply leaves the state unchanged when it refuses the entry;
		// once it accepts, the entry must reach the store, or the node
		// reloads the log.
		if err := e.state.Apply(entry); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrRefused, err)
		}
		if first {
			if err := e.setSigner(e.logSeed); err != nil {
				e.state = election.New()
				return nil, fmt.Errorf("%w: %w", ErrRefused, err)
			}
		}
		applied = true
		return [][]byte{entry}, nil
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		if !applied {
			if errors.Is(err, ErrRefused) || errors.Is(err, ErrBusy) {
				return 0, err
			}
			// Nothing was checked, nor appended.
			return 0, fmt.Errorf("%w: %w", ErrBusy, err)
		}
		// The state holds the entry: on any failure, even one that
		// appended nothing, the log is reloaded (fail).
		return 0, e.fail(fmt.Errorf("the store failed while appending entry %d: %v", e.state.Size-1, err))
	}
	if i != e.state.Size-1 {
		return 0, e.fail(fmt.Errorf("internal error: entry %d was appended at %d", e.state.Size-1, i))
	}
	e.tree.add(entry)
	e.mark = i + 1
	if e.state.Phase == election.PhaseVoting && e.view == nil {
		e.view, _ = e.state.Voter()
	}
	return i, nil
}

// State calls f with the election's state, which f must not change.
func (e *Election) State(f func(s *election.State)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e.state)
}

// Title is the election's title in English, for letters to voters; ""
// before the manifest.
func (e *Election) Title() string {
	var t string
	e.State(func(s *election.State) {
		if s.Manifest != nil {
			t = s.Manifest.Title["en"]
		}
	})
	return t
}

// Fingerprint is the election's F (zero before the manifest).
func (e *Election) Fingerprint() crypto.Fingerprint {
	var f crypto.Fingerprint
	e.State(func(s *election.State) { f = s.Fingerprint })
	return f
}
