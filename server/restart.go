package server

// Restarting a node. A node keeps the latest checkpoint it signed in a file
// of its own, outside the database, written before any receipt carrying it
// is given out; at start it refuses a log that is not a consistent
// extension of that checkpoint (a database restored from an older backup,
// or replaced), and it replays the log with the stored ballots verified in
// parallel. Entries covered by that checkpoint are the ones this node
// verified before appending them (it signs only roots it computed itself
// from the entries it applied, see Election.checkpoint): once the root
// recomputed from the stored entries matches the checkpoint, their proofs
// need not be verified again.

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/store"
)

// CheckpointFile is the usual name, in a server's data folder, of the file
// holding the latest checkpoint it signed.
const CheckpointFile = "log.checkpoint"

// WitnessedSuffix names, after the checkpoint file's name, the file holding
// the latest checkpoint witnesses cosigned, with their cosignatures.
const WitnessedSuffix = ".witnessed"

// OpenOptions configure OpenWith.
type OpenOptions struct {
	// CheckpointFile is where the node keeps the latest checkpoint it
	// signed: a file outside the database (for SQLite, beside it in the data
	// folder), so that restoring the database from a backup does not roll
	// it back. "" keeps none, and then a rolled-back log goes unnoticed.
	CheckpointFile string
	// AcceptRollback starts on a log that does not extend the saved
	// checkpoint, or without a saved checkpoint while the log has entries:
	// the operator's explicit choice to accept the loss of the entries the
	// node had signed. The old file is kept aside (CheckpointFile +
	// ".rolled-back-" + time), the choice is logged, and every stored ballot
	// is verified again.
	AcceptRollback bool
	// Joining says that the node shares the database with other nodes
	// (several "scrutin serve" on one PostgreSQL): a checkpoint file that
	// is missing while the log has entries is then that of a node that
	// never signed a checkpoint of this election (it joined, or only
	// followed the others), not a sign of a replaced database. The log is
	// verified in full, and the node signs and saves a checkpoint of it at
	// once. A checkpoint file that is there is checked as always.
	Joining bool
	// Logger receives the progress of the replay and the operator's choices.
	Logger *slog.Logger
	// Workers verify stored ballots concurrently (default: GOMAXPROCS).
	Workers int
}

// ErrRolledBack is wrapped by the error of OpenWith when the stored log is
// not a consistent extension of the latest checkpoint the node signed.
var ErrRolledBack = errors.New("the stored log does not extend the latest checkpoint this server signed")

// RollbackError says how the stored log fails to extend the saved
// checkpoint, and what to do.
type RollbackError struct {
	File   string // the checkpoint file
	Saved  int64  // the saved checkpoint's size (-1: none could be read)
	Stored int64  // entries in the store
	Reason string
}

func (e *RollbackError) Error() string {
	what := fmt.Sprintf("%s: %s", ErrRolledBack, e.Reason)
	if e.Saved > e.Stored {
		what += fmt.Sprintf("; %d entries this server acknowledged (and voters may hold receipts for) are missing", e.Saved-e.Stored)
	}
	return what + fmt.Sprintf(". The database was probably restored from an older backup, or replaced. Restore the latest backup (one holding at least the %d entries of %s), or, only if the loss is accepted, start once with the explicit choice to accept the rollback (it is logged, and the old checkpoint kept aside)", max(e.Saved, 0), e.File)
}

func (e *RollbackError) Unwrap() error { return ErrRolledBack }

// OpenWith loads an election from its store, as Open does, and checks the
// stored log against the checkpoint saved in o.CheckpointFile.
func OpenWith(ctx context.Context, st store.Store, logSeed []byte, o OpenOptions) (*Election, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	e := &Election{st: st, state: election.New(), pending: make(map[int64]*election.PreparedBallot), casting: make(map[string]*casting), ours: make(map[[32]byte]*election.PreparedBallot), logSeed: logSeed, cpFile: o.CheckpointFile}
	// The log's first n entries are replayed; the mark read with n is
	// theirs. Other nodes may append meanwhile: the follower, started once
	// the node is open, catches up.
	n, mark, err := st.Head(ctx)
	if err != nil {
		return nil, err
	}
	e.mark = mark
	var saved, witnessed []byte
	if o.CheckpointFile != "" {
		saved, err = os.ReadFile(o.CheckpointFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("failed to read the saved checkpoint: %w", err)
		}
		witnessed, err = os.ReadFile(o.CheckpointFile + WitnessedSuffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("failed to read the witnessed checkpoint: %w", err)
		}
	}
	refuse := func(savedSize int64, reason string) error {
		rerr := &RollbackError{File: o.CheckpointFile, Saved: savedSize, Stored: n, Reason: reason}
		if !o.AcceptRollback {
			return rerr
		}
		o.Logger.Warn("starting on a rolled-back log, as the operator chose", "error", rerr.Error())
		stamp := ".rolled-back-" + time.Now().UTC().Format("20060102T150405Z")
		for _, f := range []struct {
			name string
			data []byte
		}{{o.CheckpointFile, saved}, {o.CheckpointFile + WitnessedSuffix, witnessed}} {
			if f.data == nil {
				continue
			}
			if err := os.Rename(f.name, f.name+stamp); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("failed to keep the old checkpoint aside: %w", err)
			}
			o.Logger.Warn("the old checkpoint is kept aside", "file", f.name+stamp)
		}
		saved, witnessed = nil, nil
		return nil
	}
	if n == 0 {
		if saved != nil || witnessed != nil {
			if err := refuse(-1, "the store is empty, but this server signed a checkpoint before"); err != nil {
				return nil, err
			}
		}
		e.startFollowing()
		return e, nil
	}

	// The saved checkpoint must verify under the log's key, for the origin
	// of the stored manifest: only this server can have made it.
	var want *board.Checkpoint
	joined := false
	if saved == nil && o.CheckpointFile != "" && o.Joining {
		o.Logger.Info("no checkpoint of this election signed by this node yet: verifying the whole log, as a node joining others", "entries", n)
		joined = true
	} else if saved == nil && o.CheckpointFile != "" {
		if err := refuse(-1, fmt.Sprintf("%s is missing, though the store holds %d entries, so the server cannot tell whether the database was rolled back", o.CheckpointFile, n)); err != nil {
			return nil, err
		}
	}
	var v note.Verifier
	if saved != nil || witnessed != nil {
		first, err := st.ReadEntries(ctx, 0, 1)
		if err != nil {
			return nil, err
		}
		if v, err = logVerifier(board.Fingerprint(first[0]), logSeed); err != nil {
			return nil, err
		}
	}
	// The witnesses' cosignatures it holds: whoever holds the checkpoint
	// they cosigned can prove a log that does not extend it forked.
	witnessNote := ""
	var wc *board.Checkpoint
	var witnessErr error
	if witnessed != nil {
		c, wn, err := board.Open(witnessed, v.Name(), v, nil, 0)
		var names []string
		if err == nil {
			for _, s := range wn.UnverifiedSigs {
				names = append(names, s.Name)
			}
			witnessNote = fmt.Sprintf("; the witnesses %s cosigned its checkpoint of %d entries, and will refuse a log that does not extend it", strings.Join(names, ", "), c.Size)
		}
		if err != nil {
			witnessErr = fmt.Errorf("the checkpoint in %s is not one of this election's log signed with this server's key (%v)", o.CheckpointFile+WitnessedSuffix, err)
		} else {
			wc = &c
		}
	}
	if saved != nil {
		c, _, err := board.Open(saved, v.Name(), v, nil, 0)
		switch {
		case err != nil:
			if err := refuse(-1, fmt.Sprintf("the checkpoint in %s is not one of this election's log signed with this server's key (%v)", o.CheckpointFile, err)); err != nil {
				return nil, err
			}
		case c.Size > n:
			if err := refuse(c.Size, fmt.Sprintf("this server signed a checkpoint of %d entries, the store holds only %d%s", c.Size, n, witnessNote)); err != nil {
				return nil, err
			}
		default:
			want = &c
		}
	}
	switch {
	case witnessErr != nil:
		if err := refuse(-1, witnessErr.Error()); err != nil {
			return nil, err
		}
		wc = nil
	case wc != nil && wc.Size > n:
		if err := refuse(wc.Size, fmt.Sprintf("the store holds only %d entries%s", n, witnessNote)); err != nil {
			return nil, err
		}
		wc = nil
	}
	if o.AcceptRollback && saved == nil {
		wc = nil // set aside
	}
	var wants []board.Checkpoint
	for _, c := range []*board.Checkpoint{want, wc} {
		if c != nil {
			wants = append(wants, *c)
		}
	}
	trusted := int64(0)
	if want != nil && !o.AcceptRollback {
		trusted = want.Size
	}
	start := time.Now()
	o.Logger.Info("replaying the log", "entries", n, "trusted", trusted)
	root, err := e.replay(ctx, n, trusted, wants, o.Workers)
	var fork *forkError
	if errors.As(err, &fork) {
		if err := refuse(fork.size, fmt.Sprintf("its first %d entries are not those of the checkpoint this server signed: the log was forked%s", fork.size, witnessNote)); err != nil {
			return nil, err
		}
		// Nothing was trusted (AcceptRollback): finish the replay.
		root, err = e.replay(ctx, n, 0, nil, o.Workers)
	}
	if err != nil {
		return nil, err
	}
	if wc != nil && witnessed != nil { // not set aside
		// A cosignature of an older checkpoint, posted later (anyone may
		// post one), must not replace the latest kept (saveWitnessed).
		e.witnesses.saved, e.witnesses.savedSize = witnessed, wc.Size
	}
	// The stored hashes, from which inclusion proofs are made, must agree
	// with the entries.
	stored, err := board.TreeHash(ctx, st, n)
	if err != nil {
		return nil, err
	}
	if stored != root {
		return nil, fmt.Errorf("%w: the stored hashes do not match the stored entries (tree of %d entries)", store.ErrCorrupt, n)
	}
	o.Logger.Info("the log is replayed", "entries", n, "seconds", time.Since(start).Seconds())
	if err := e.setSigner(logSeed); err != nil {
		return nil, err
	}
	if e.state.Phase == election.PhaseVoting {
		e.view, _ = e.state.Voter()
	}
	if o.CheckpointFile != "" && (o.AcceptRollback || joined) {
		// The log accepted is the one this node now stands by: its
		// checkpoint is saved at once, so that the choice is made once, and
		// a restart before anything is appended opens this log again.
		if _, err := e.checkpoint(ctx, n); err != nil {
			return nil, err
		}
	}
	e.startFollowing()
	return e, nil
}

// logVerifier is the verifier of the log key whose seed the server holds.
func logVerifier(f [32]byte, seed []byte) (note.Verifier, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("a log key seed is %d bytes", ed25519.SeedSize)
	}
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(board.Origin(f), pub)
	if err != nil {
		return nil, err
	}
	return note.NewVerifier(vkey)
}

type forkError struct{ size int64 }

func (*forkError) Error() string { return "the log was forked" }

// replayChunk is how many entries are read and verified at once.
const replayChunk = 4096

// replay applies the n stored entries to the state, in order. Ballots are
// prepared (decoded and, beyond the first trusted entries, verified)
// concurrently, a chunk at a time, while the next chunk is read. Each of
// wants is a checkpoint the first entries must match; when they do not,
// replay returns a *forkError. It returns the tree hash of the n entries,
// computed from the entries themselves.
func (e *Election) replay(ctx context.Context, n, trusted int64, wants []board.Checkpoint, workers int) (tlog.Hash, error) {
	s, tree, err := replayLog(ctx, e.st, n, trusted, wants, workers)
	if err != nil {
		return tlog.Hash{}, err
	}
	e.state, e.tree = s, tree
	return tree.root(), nil
}

// errNoReplay wraps the error of a stored log that does not replay.
var errNoReplay = errors.New("the stored log does not replay")

// replayLog rebuilds the state and the tree of the first n entries of st,
// as replay describes, without touching any node.
//
// Three stages run at once, each on the chunks in log order: reading from
// the store (two chunks at a time), preparing a chunk's ballots (decoding
// or verifying them, and hashing every entry, with workers goroutines),
// and applying them to the state, which only this goroutine does. A chunk
// is prepared ahead only once voting is open (the ballots' checks need the
// election's voting view, fixed from then on); until then, and for a chunk
// read before the opening was applied, the applying stage prepares it.
func replayLog(ctx context.Context, st store.Store, n, trusted int64, wants []board.Checkpoint, workers int) (*election.State, treeEdge, error) {
	s := election.New()
	var tree treeEdge
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Two chunks are read at once, and handed over in order.
	const readers = 2
	read := make(chan chan *replayBatch, readers)
	go func() {
		defer close(read)
		sem := make(chan struct{}, readers)
		for i := int64(0); i < n; i += replayChunk {
			next := make(chan *replayBatch, 1)
			select {
			case read <- next:
			case <-ctx.Done():
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-sem }()
				es, err := st.ReadEntries(ctx, i, min(n, i+replayChunk))
				next <- &replayBatch{start: i, entries: es, err: err, preparedFrom: len(es)}
			}()
		}
	}()
	// The voting view, once the applying stage has applied the opening.
	var voting atomic.Pointer[election.Election]
	prepared := make(chan *replayBatch, 1)
	go func() {
		defer close(prepared)
		for next := range read {
			var c *replayBatch
			select {
			case c = <-next:
			case <-ctx.Done():
				return
			}
			if view := voting.Load(); view != nil && c.err == nil {
				c.prepare(view, 0, trusted, workers)
			}
			select {
			case prepared <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	for c := range prepared {
		if c.err != nil {
			return nil, treeEdge{}, c.err
		}
		for pos := 0; pos < len(c.entries); pos++ {
			// Until voting opens, entries apply one by one; from then on,
			// the rest of a chunk not prepared ahead is prepared here.
			if s.Phase == election.PhaseVoting && c.preparedFrom == len(c.entries) {
				view, err := s.Voter()
				if err != nil {
					return nil, treeEdge{}, err
				}
				voting.Store(view)
				c.prepare(view, pos, trusted, workers)
			}
			entry := c.entries[pos]
			var err error
			switch {
			case pos < c.preparedFrom:
				err = s.Apply(entry)
			case c.ballots[pos] != nil:
				err = s.ApplyBallot(c.ballots[pos])
			case c.errs[pos] != nil:
				err = &election.EntryError{Index: s.Size, Type: election.TypeBallot, Err: c.errs[pos]}
			default:
				err = s.Apply(entry)
			}
			if err != nil {
				for _, w := range wants {
					if s.Size < w.Size {
						// Before the checkpoint: is it the log that was signed?
						return nil, treeEdge{}, checkPrefix(ctx, st, &w)
					}
				}
				return nil, treeEdge{}, fmt.Errorf("%w: %w", errNoReplay, err)
			}
			if pos >= c.preparedFrom {
				tree.addHash(c.leaves[pos])
			} else {
				tree.add(entry)
			}
			for _, w := range wants {
				if tree.n == w.Size && tree.root() != w.Hash {
					return nil, treeEdge{}, &forkError{w.Size}
				}
			}
		}
	}
	if ctx.Err() != nil {
		return nil, treeEdge{}, ctx.Err()
	}
	return s, tree, nil
}

// replayBatch is a chunk of the log on its way through replayLog: its
// entries from preparedFrom on are prepared (ballots, errs, leaves).
type replayBatch struct {
	start        int64
	entries      [][]byte
	err          error
	preparedFrom int
	ballots      []*election.PreparedBallot
	errs         []error
	leaves       []tlog.Hash
}

// prepare prepares the batch's entries from pos on.
func (c *replayBatch) prepare(view *election.Election, pos int, trusted int64, workers int) {
	m := len(c.entries)
	c.ballots, c.errs, c.leaves = make([]*election.PreparedBallot, m), make([]error, m), make([]tlog.Hash, m)
	prepareAll(view, c.entries[pos:], c.ballots[pos:], c.errs[pos:], c.leaves[pos:], c.start+int64(pos), trusted, workers)
	c.preparedFrom = pos
}

// prepareAll prepares the ballots among entries (the first at index
// first) with workers goroutines: decoded only below trusted, verified
// beyond; it also computes every entry's record hash.
func prepareAll(view *election.Election, entries [][]byte, prepared []*election.PreparedBallot, errs []error, leaves []tlog.Hash, first, trusted int64, workers int) {
	var wg sync.WaitGroup
	var next atomic.Int64
	const step = 64
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(step) - step)
				if k >= len(entries) {
					return
				}
				for j := k; j < min(k+step, len(entries)); j++ {
					entry := entries[j]
					leaves[j] = tlog.RecordHash(entry)
					if len(entry) == 0 || entry[0] != election.TypeBallot {
						continue
					}
					if first+int64(j) < trusted {
						prepared[j], errs[j] = view.PrepareVerified(entry)
					} else {
						prepared[j], errs[j] = view.Prepare(entry)
					}
				}
			}
		})
	}
	wg.Wait()
}

// checkPrefix tells whether the first want.Size stored entries hash to
// want's tree: a *forkError if not, else an internal error (the node signed
// a log that does not replay).
func checkPrefix(ctx context.Context, st store.Store, want *board.Checkpoint) error {
	var t treeEdge
	for i := int64(0); i < want.Size; i += replayChunk {
		es, err := st.ReadEntries(ctx, i, min(want.Size, i+replayChunk))
		if err != nil {
			return err
		}
		for _, entry := range es {
			t.add(entry)
		}
	}
	if t.root() != want.Hash {
		return &forkError{want.Size}
	}
	return fmt.Errorf("%w: internal error: the log this server signed does not replay", errNoReplay)
}

// treeEdge is the right edge of a Merkle tree (spec §16, tlog's hashing):
// the hashes of its maximal complete subtrees, largest first, enough to
// compute its root and to extend it.
type treeEdge struct {
	n      int64
	hashes []tlog.Hash
}

func (t *treeEdge) add(entry []byte) { t.addHash(tlog.RecordHash(entry)) }

// addHash adds an entry by its record hash.
func (t *treeEdge) addHash(h tlog.Hash) {
	t.hashes = append(t.hashes, h)
	for k := t.n; k&1 == 1; k >>= 1 {
		l := len(t.hashes)
		t.hashes[l-2] = tlog.NodeHash(t.hashes[l-2], t.hashes[l-1])
		t.hashes = t.hashes[:l-1]
	}
	t.n++
}

func (t *treeEdge) clone() treeEdge {
	return treeEdge{n: t.n, hashes: append([]tlog.Hash(nil), t.hashes...)}
}

// root is the tree hash (tlog.TreeHash) of the t.n entries.
func (t *treeEdge) root() tlog.Hash {
	if len(t.hashes) == 0 {
		return tlog.Hash{}
	}
	h := t.hashes[len(t.hashes)-1]
	for i := len(t.hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(t.hashes[i], h)
	}
	return h
}

// saveCheckpoint writes a signed checkpoint to the checkpoint file,
// atomically and durably, before anyone is given it.
func (e *Election) saveCheckpoint(signed []byte) error {
	if e.cpFile == "" {
		return nil
	}
	if err := atrest.WriteFile(e.cpFile, signed, 0o600); err != nil {
		return fmt.Errorf("failed to save the signed checkpoint: %w", err)
	}
	return nil
}

// Starting is the handler a server gives while it loads: every request,
// /healthz included, gets 503 "starting".
func Starting() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "starting", "error": "starting: the server is loading the log"})
	})
}

// Switch is a handler that serves Starting until Set gives it the real one.
type Switch struct{ h atomic.Pointer[http.Handler] }

// Set makes s serve h from now on.
func (s *Switch) Set(h http.Handler) { s.h.Store(&h) }

func (s *Switch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := s.h.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	Starting().ServeHTTP(w, r)
}
