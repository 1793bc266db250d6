// Package store keeps the public logs of many elections durably in one
// database (a DB): SQLite (modernc.org/sqlite, pure Go) in a data folder as
// the embedded default, and PostgreSQL (pgx) for production, where several
// scrutin processes may share one database. The DB holds a catalogue of the
// elections (see Info) and each election's log, opened with DB.Log as a
// Store.
//
// Every append is one transaction, durable before Append returns, and
// concurrent appends to one election are grouped into shared transactions
// (group commit) so that throughput does not collapse under the cost of
// fsync. Each election has its own committer: appends to different
// elections never wait for each other's batches. Appenders in several
// processes are serialised by a row lock on the election's head, so a log
// never has a gap, a duplicate or a fork. Schema migrations are
// forward-only and embedded in the binary; a database written by scrutin
// before issue 15 (one election) opens as the election "main", marked
// legacy.
//
// Besides the logs, a database holds what the servers sharing it must
// agree on (Shared, issue 18): the voters' sign-in codes and limits, and
// the staff accounts' trail and sessions, each decision taken in one
// transaction, with the same code on SQLite and PostgreSQL.
package store

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/board"
)

// Store is the durable storage of one election's log. Its Append's outcome
// does not depend on the caller's context once the entries are queued, and
// an error wrapping ErrNotAppended means that nothing was appended (see
// groupStore.Append).
type Store interface {
	board.Storage
	// SaveCheckpoint records a signed checkpoint of the given size.
	SaveCheckpoint(ctx context.Context, size int64, signed []byte) error
	// LatestCheckpoint returns the signed checkpoint of the largest size
	// saved, or ErrNoCheckpoint.
	LatestCheckpoint(ctx context.Context) (int64, []byte, error)
	// Close waits for pending appends and closes the store.
	Close() error
}

// Errors a caller may need to tell apart.
var (
	ErrNoCheckpoint = errors.New("no checkpoint saved yet")
	ErrClosed       = errors.New("store is closed")
	ErrCorrupt      = errors.New("store is inconsistent")
	ErrTooNew       = errors.New("the database was written by a newer scrutin")
	// ErrExists is Create's error for an id already taken.
	ErrExists = errors.New("an election with this id exists already")
	// ErrNoElection is the error for an id that names no election.
	ErrNoElection = errors.New("no such election")
	// ErrBadID wraps CheckID's errors.
	ErrBadID = errors.New("not a valid election id")
	// ErrNotAppended wraps the errors of an Append that appended nothing,
	// for certain (see Store.Append).
	ErrNotAppended = errors.New("nothing was appended")
)

// Open opens (creating if needed) the database named by location: a
// postgres:// or postgresql:// URL, or else a folder for SQLite (the file
// SQLiteFile in it).
func Open(ctx context.Context, location string) (*DB, error) {
	if IsPostgres(location) {
		return OpenPostgres(ctx, location)
	}
	return OpenSQLite(ctx, location)
}

// IsPostgres reports whether location names a PostgreSQL database rather
// than a folder.
func IsPostgres(location string) bool {
	return strings.HasPrefix(location, "postgres://") || strings.HasPrefix(location, "postgresql://")
}

//go:embed migrations
var migrationFiles embed.FS

// migration is one forward-only schema step.
type migration struct {
	version int
	sql     string
}

func migrations(dialect string) ([]migration, error) {
	dir := "migrations/" + dialect
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("store: internal error: migration %s has no number", e.Name())
		}
		b, err := fs.ReadFile(migrationFiles, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{v, string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("store: internal error: migrations are not numbered 1, 2, …")
		}
	}
	return ms, nil
}

// backend is one election's log in a database; the group committer and
// the checks are shared.
type backend interface {
	// appendBatch appends entries in one transaction: it locks the head,
	// computes the new hashes with board.NewHashes, inserts entries and
	// hashes, moves the head, and commits durably.
	appendBatch(ctx context.Context, entries [][]byte) (int64, error)
	size(ctx context.Context) (int64, error)
	// snapshot returns the head's size and the number of entries and
	// hashes stored, read in one consistent snapshot.
	snapshot(ctx context.Context) (size, entries, hashes int64, err error)
	readEntries(ctx context.Context, start, end int64) ([][]byte, error)
	readHashes(ctx context.Context, idx []int64) ([]tlog.Hash, error)
	saveCheckpoint(ctx context.Context, size int64, signed []byte) error
	latestCheckpoint(ctx context.Context) (int64, []byte, error)
}

// maxBatch bounds the entries of one group commit.
const maxBatch = 4096

// commitTimeout bounds one group commit: a database that has not committed
// a batch within it has failed, and the batch's appends return an error.
const commitTimeout = time.Minute

// groupStore implements Store over a backend with group commit: one
// committer (commitLoop) per election.
type groupStore struct {
	b      backend
	reqs   chan *appendReq
	done   chan struct{}
	mu     sync.RWMutex
	closed bool
	// onClose, if set, runs once as the store closes (not under mu), and
	// onDrained once its queued appends are committed.
	onClose, onDrained func()
	// dbClosed, if set, reports whether the database under the log is
	// closed: its reads then fail with ErrClosed, at once.
	dbClosed func() bool
}

type appendReq struct {
	entries [][]byte
	first   int64
	err     error
	done    chan struct{}
}

func newGroupStore(ctx context.Context, b backend) (*groupStore, error) {
	if err := checkConsistent(ctx, b); err != nil {
		return nil, err
	}
	s := &groupStore{b: b, reqs: make(chan *appendReq, 1024), done: make(chan struct{})}
	go s.commitLoop()
	return s, nil
}

// checkConsistent refuses a store whose head, entries and hashes disagree
// (which transactions should make impossible).
func checkConsistent(ctx context.Context, b backend) error {
	n, e, h, err := b.snapshot(ctx)
	if err != nil {
		return err
	}
	if e != n || h != tlog.StoredHashCount(n) {
		return fmt.Errorf("%w: the head says %d entries, but %d entries and %d hashes (%d expected) are stored", ErrCorrupt, n, e, h, tlog.StoredHashCount(n))
	}
	return nil
}

// commitLoop takes the waiting appends, up to maxBatch entries, and commits
// them in one transaction.
func (s *groupStore) commitLoop() {
	defer close(s.done)
	for req := range s.reqs {
		batch := []*appendReq{req}
		n := len(req.entries)
	drain:
		for n < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				n += len(r.entries)
			default:
				break drain
			}
		}
		all := make([][]byte, 0, n)
		for _, r := range batch {
			all = append(all, r.entries...)
		}
		first, err := s.commit(all)
		for _, r := range batch {
			r.first, r.err = first, err
			first += int64(len(r.entries))
			close(r.done)
		}
	}
}

// commitError is a failed commit: whether the transaction committed is
// unknown. Every other error of appendBatch left nothing committed.
type commitError struct{ err error }

func (e *commitError) Error() string { return "failed to commit: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// commit appends a batch. The commit belongs to no caller: it is bounded
// (commitTimeout), not cancelled. A batch that failed before its commit
// (a connection the database dropped, a lock it did not get) left nothing
// behind and is tried again, up to commitTries times in all, so that a
// passing failure does not fail the appends.
func (s *groupStore) commit(all [][]byte) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	wait := 10 * time.Millisecond
	for try := 1; ; try++ {
		first, err := s.b.appendBatch(ctx, all)
		if errors.Is(err, errHeadBusy) && ctx.Err() == nil {
			// Another session holds the head (another process appending
			// to this election) or a table: not a failure, wait (up to
			// commitTimeout) without using a try.
			try--
			select {
			case <-time.After(headBusyWait):
				continue
			case <-ctx.Done():
				return 0, err
			}
		}
		var ce *commitError
		if err == nil || errors.As(err, &ce) || try == commitTries || ctx.Err() != nil {
			return first, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return 0, err
		}
		wait = min(2*wait, time.Second)
	}
}

// errHeadBusy is appendBatch's error when another session held a lock the
// batch needs (the election's head, or a table) for longer than the
// backend waits on one connection; nothing was appended.
var errHeadBusy = errors.New("another session holds a lock this append needs (the election's log or a table)")

// headBusyWait is the pause before trying again a batch whose head was
// busy.
const headBusyWait = 5 * time.Millisecond

// commitTries bounds the tries of a batch that fails before its commit (or
// of a read): more than a pool's connections, which a database restart
// drops all at once, each failing one try.
const commitTries = 8

// Append appends entries durably and returns the index of the first.
//
// The outcome never depends on whether the caller is still waiting: once
// the entries are queued for a group commit, Append waits for that commit
// and returns its outcome whatever ctx does (every commit is bounded by
// commitTimeout), so that one caller giving up cannot leave an entry whose
// fate is unknown, nor take other entries of its batch with it. Only
// before the entries are queued does ctx count: if it ends first, or the
// store is closed, or an entry is malformed, nothing is appended and the
// error wraps ErrNotAppended. Any other error is the database's, and the
// entries may or may not have been appended.
func (s *groupStore) Append(ctx context.Context, entries [][]byte) (int64, error) {
	if len(entries) == 0 {
		return 0, fmt.Errorf("%w: %w: nothing to append", ErrNotAppended, board.ErrEntry)
	}
	for i, e := range entries {
		if err := board.CheckEntry(e); err != nil {
			return 0, fmt.Errorf("%w: entry %d: %w", ErrNotAppended, i, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotAppended, err)
	}
	// The request keeps its own copy: the caller may reuse its buffers
	// once Append returns.
	own := make([][]byte, len(entries))
	for i, e := range entries {
		own[i] = bytes.Clone(e)
	}
	req := &appendReq{entries: own, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, fmt.Errorf("%w: %w", ErrNotAppended, ErrClosed)
	}
	select {
	case s.reqs <- req:
		s.mu.RUnlock()
	case <-ctx.Done():
		s.mu.RUnlock()
		return 0, fmt.Errorf("%w: %w", ErrNotAppended, ctx.Err())
	}
	<-req.done
	return req.first, req.err
}

// retry runs a read (or an idempotent write), trying again after a failure
// while ctx lasts, up to commitTries times in all: a connection the
// database dropped fails one try, not the caller.
func retry[T any](ctx context.Context, f func() (T, error)) (T, error) {
	wait := 10 * time.Millisecond
	for try := 1; ; try++ {
		v, err := f()
		if err == nil || try == commitTries || ctx.Err() != nil || permanent(err) {
			return v, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return v, err
		}
		wait = min(2*wait, time.Second)
	}
}

// permanent reports whether an error will not pass by trying again: the
// store's own, and PostgreSQL's refusals of the data or the statement
// (SQLSTATE classes 22 data exception, 23 integrity constraint violation
// and 42 syntax error or access rule violation).
func permanent(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && len(pe.Code) == 5 {
		switch pe.Code[:2] {
		case "22", "23", "42":
			return true
		}
	}
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNoCheckpoint) || errors.Is(err, ErrNoElection) ||
		errors.Is(err, ErrExists) || errors.Is(err, ErrClosed) || errors.Is(err, ErrTooNew)
}

// read runs f as retry does, unless the database is closed.
func read[T any](ctx context.Context, s *groupStore, f func() (T, error)) (T, error) {
	return retry(ctx, func() (T, error) {
		v, err := f()
		if err != nil && s.dbClosed != nil && s.dbClosed() {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		return v, err
	})
}

func (s *groupStore) Size(ctx context.Context) (int64, error) {
	return read(ctx, s, func() (int64, error) { return s.b.size(ctx) })
}

func (s *groupStore) ReadEntries(ctx context.Context, start, end int64) ([][]byte, error) {
	if start < 0 || start > end {
		return nil, fmt.Errorf("bad entry range [%d, %d)", start, end)
	}
	es, err := read(ctx, s, func() ([][]byte, error) { return s.b.readEntries(ctx, start, end) })
	if err != nil {
		return nil, err
	}
	if int64(len(es)) != end-start {
		return nil, fmt.Errorf("entries [%d, %d) are beyond the log's end", start, end)
	}
	return es, nil
}

func (s *groupStore) ReadHashes(ctx context.Context, idx []int64) ([]tlog.Hash, error) {
	return read(ctx, s, func() ([]tlog.Hash, error) { return s.b.readHashes(ctx, idx) })
}

func (s *groupStore) SaveCheckpoint(ctx context.Context, size int64, signed []byte) error {
	_, err := read(ctx, s, func() (struct{}, error) { return struct{}{}, s.b.saveCheckpoint(ctx, size, signed) })
	return err
}

func (s *groupStore) LatestCheckpoint(ctx context.Context) (int64, []byte, error) {
	type cp struct {
		n      int64
		signed []byte
	}
	c, err := read(ctx, s, func() (cp, error) {
		n, signed, err := s.b.latestCheckpoint(ctx)
		return cp{n, signed}, err
	})
	return c.n, c.signed, err
}

// Close waits for the appends queued and closes this log (not the DB).
// Every caller waits, not only the first.
func (s *groupStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	// Forgotten before the wait, so that a caller asking for the log
	// meanwhile opens it again rather than get this closing one.
	if s.onClose != nil {
		s.onClose()
	}
	<-s.done
	if s.onDrained != nil {
		s.onDrained()
	}
	return nil
}

// hashesByIndex orders hashes read from a database by the requested
// indexes, and fails on any missing one.
func hashesByIndex(idx []int64, got map[int64]tlog.Hash) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		h, ok := got[x]
		if !ok {
			return nil, fmt.Errorf("%w: stored hash %d is missing", ErrCorrupt, x)
		}
		out[i] = h
	}
	return out, nil
}
