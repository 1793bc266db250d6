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
	// Head returns the log's size and its mark, read together: the mark
	// is the size of the log after the last append that was not fenced
	// (AppendFenced), that is after the last entry that may change what a
	// fenced entry is checked against (see Fence).
	Head(ctx context.Context) (size, mark int64, err error)
	// AppendFenced appends entries (ballots) only if the log's mark is
	// still f.Mark and none of f.Keys is taken, in the transaction that
	// appends them; it leaves the mark unchanged. Otherwise nothing is
	// appended, and the error wraps ErrNotAppended and ErrStale (the mark
	// moved) or ErrTaken (a key is taken). Outcomes are as Append's.
	AppendFenced(ctx context.Context, entries [][]byte, f Fence) (int64, error)
	// AppendLocked locks the log against every other appender, in this
	// process or another, calls check with the log's size, and appends the
	// entries check returns, in the same transaction; the mark moves to the
	// new size. An error of check is returned as is (nothing is appended);
	// check must not append or save a checkpoint itself. Other outcomes
	// are as Append's. It is for the entries that change the election's
	// phase (an officer's or a trustee's): check brings the caller's state
	// up to the log's size and checks the entry against it.
	AppendLocked(ctx context.Context, check func(ctx context.Context, size int64) ([][]byte, error)) (int64, error)
	// Changed receives a value (at most one waits) when another writer
	// may have appended to the log (a PostgreSQL notification), and is
	// closed when the store is. A follower also polls: a notification
	// may be lost.
	Changed() <-chan struct{}
	// Close waits for pending appends and closes the store.
	Close() error
}

// Fence is what a fenced append (Store.AppendFenced) was checked against:
// the log's mark, and the entries' unique keys. A ballot is checked against
// a state of the election; as long as no entry but ballots was appended
// since that state (the mark has not moved), the only ballots that could
// make it invalid are the replays of its ballot code (spec §18.5), which
// the keys catch: each ballot's key is its code, unique in the log.
type Fence struct {
	Mark int64
	// Keys holds one key per entry, unique among every fenced entry of
	// the log.
	Keys [][]byte
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
	// ErrStale wraps the error of a fenced append refused because an
	// entry that is not fenced was appended since the mark it carried.
	ErrStale = errors.New("the log changed since the state the entries were checked against")
	// ErrTaken wraps the error of a fenced append refused because one of
	// its keys is taken.
	ErrTaken = errors.New("an entry with the same key is in the log")
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
	// The items' fences are checked in order in the transaction (see
	// admit): it returns each item's first index, or -1 with its refusal
	// in refused; nothing is committed if every item is refused.
	appendBatch(ctx context.Context, items []item) (firsts []int64, refused []error, err error)
	// appendLocked is as Store.AppendLocked, once.
	appendLocked(ctx context.Context, check func(ctx context.Context, size int64) ([][]byte, error)) (int64, error)
	size(ctx context.Context) (int64, error)
	head(ctx context.Context) (size, mark int64, err error)
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
	// locked counts the AppendLocked calls under way, which do not go
	// through the committer: Close waits for them too.
	locked sync.WaitGroup
	// changes is Changed's channel.
	changes chan struct{}
	// onClose, if set, runs once as the store closes (not under mu), and
	// onDrained once its queued appends are committed.
	onClose, onDrained func()
	// dbClosed, if set, reports whether the database under the log is
	// closed: its reads then fail with ErrClosed, at once.
	dbClosed func() bool
}

type appendReq struct {
	item
	first int64
	err   error
	done  chan struct{}
}

// item is one Append's entries in a batch, with their fence (nil: not
// fenced).
type item struct {
	entries [][]byte
	fence   *Fence
}

func newGroupStore(ctx context.Context, b backend) (*groupStore, error) {
	if err := checkConsistent(ctx, b); err != nil {
		return nil, err
	}
	s := &groupStore{b: b, reqs: make(chan *appendReq, 1024), done: make(chan struct{}), changes: make(chan struct{}, 1)}
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

// admit decides, in the transaction that appends a batch, which of its
// items are appended, in order: a fenced item only if the mark is still
// its fence's and none of its keys is taken (taken holds the keys already
// in the log among the batch's), an item not fenced always, moving the
// mark to the size after it. It returns each item's first index (-1 if
// refused, with the reason in refused), the entries and the keys to
// insert (keys[i] is the key of the keyed entry at index keyIdx[i]), and
// the size and the mark after.
func admit(items []item, size, mark int64, taken map[string]bool) (firsts []int64, refused []error, entries [][]byte, keys [][]byte, keyIdx []int64, newSize, newMark int64) {
	firsts, refused = make([]int64, len(items)), make([]error, len(items))
	for i, it := range items {
		if f := it.fence; f != nil {
			if f.Mark != mark {
				firsts[i], refused[i] = -1, fmt.Errorf("%w: %w (the entries were checked against the log's mark %d, and it is %d)", ErrNotAppended, ErrStale, f.Mark, mark)
				continue
			}
			dup := false
			for _, k := range f.Keys {
				if taken[string(k)] {
					dup = true
				}
			}
			if dup {
				firsts[i], refused[i] = -1, fmt.Errorf("%w: %w", ErrNotAppended, ErrTaken)
				continue
			}
			for j, k := range f.Keys {
				taken[string(k)] = true
				keys, keyIdx = append(keys, k), append(keyIdx, size+int64(j))
			}
		}
		firsts[i] = size
		entries = append(entries, it.entries...)
		size += int64(len(it.entries))
		if it.fence == nil {
			mark = size
		}
	}
	return firsts, refused, entries, keys, keyIdx, size, mark
}

// batchKeys returns every key of a batch's fenced items.
func batchKeys(items []item) [][]byte {
	var keys [][]byte
	for _, it := range items {
		if it.fence != nil {
			keys = append(keys, it.fence.Keys...)
		}
	}
	return keys
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
		items := make([]item, len(batch))
		for i, r := range batch {
			items[i] = r.item
		}
		firsts, refused, err := s.commit(items)
		for i, r := range batch {
			switch {
			case err != nil:
				r.err = err
			case refused[i] != nil:
				r.err = refused[i]
			default:
				r.first = firsts[i]
			}
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
func (s *groupStore) commit(items []item) ([]int64, []error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	type result struct {
		firsts  []int64
		refused []error
	}
	r, err := tryCommit(ctx, func() (result, error) {
		firsts, refused, err := s.b.appendBatch(ctx, items)
		return result{firsts, refused}, err
	})
	return r.firsts, r.refused, err
}

// tryCommit runs a transaction that appends, as commit describes.
func tryCommit[T any](ctx context.Context, f func() (T, error)) (T, error) {
	wait := 10 * time.Millisecond
	for try := 1; ; try++ {
		v, err := f()
		if errors.Is(err, errHeadBusy) && ctx.Err() == nil {
			// Another session holds the head (another process appending
			// to this election) or a table: not a failure, wait (up to
			// commitTimeout) without using a try.
			try--
			select {
			case <-time.After(headBusyWait):
				continue
			case <-ctx.Done():
				return v, err
			}
		}
		var ce *commitError
		var ch *checkError
		if err == nil || errors.As(err, &ce) || errors.As(err, &ch) || try == commitTries || ctx.Err() != nil {
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

// checkError is the error of an AppendLocked's check, which is not tried
// again.
type checkError struct{ err error }

func (e *checkError) Error() string { return e.err.Error() }
func (e *checkError) Unwrap() error { return e.err }

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
//
// An append that is not fenced moves the log's mark (see Head).
func (s *groupStore) Append(ctx context.Context, entries [][]byte) (int64, error) {
	return s.append(ctx, entries, nil)
}

func (s *groupStore) AppendFenced(ctx context.Context, entries [][]byte, f Fence) (int64, error) {
	if len(f.Keys) != len(entries) {
		return 0, fmt.Errorf("%w: %d keys for %d entries", ErrNotAppended, len(f.Keys), len(entries))
	}
	for _, k := range f.Keys {
		if len(k) == 0 {
			return 0, fmt.Errorf("%w: an empty key", ErrNotAppended)
		}
	}
	return s.append(ctx, entries, &f)
}

func (s *groupStore) append(ctx context.Context, entries [][]byte, f *Fence) (int64, error) {
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
	if f != nil {
		keys := make([][]byte, len(f.Keys))
		for i, k := range f.Keys {
			keys[i] = bytes.Clone(k)
		}
		f = &Fence{Mark: f.Mark, Keys: keys}
	}
	req := &appendReq{item: item{entries: own, fence: f}, done: make(chan struct{})}
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

func (s *groupStore) AppendLocked(ctx context.Context, check func(ctx context.Context, size int64) ([][]byte, error)) (int64, error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return 0, fmt.Errorf("%w: %w", ErrNotAppended, ErrClosed)
	}
	s.locked.Add(1)
	s.mu.RUnlock()
	defer s.locked.Done()
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotAppended, err)
	}
	// As a group commit, bounded and not cancelled once under way.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	ran := false
	checked := func(ctx context.Context, size int64) ([][]byte, error) {
		ran = true
		entries, err := check(ctx, size)
		if err != nil {
			return nil, &checkError{err}
		}
		if len(entries) == 0 {
			return nil, &checkError{fmt.Errorf("%w: %w: nothing to append", ErrNotAppended, board.ErrEntry)}
		}
		for i, e := range entries {
			if err := board.CheckEntry(e); err != nil {
				return nil, &checkError{fmt.Errorf("%w: entry %d: %w", ErrNotAppended, i, err)}
			}
		}
		return entries, nil
	}
	first, err := tryCommit(cctx, func() (int64, error) {
		first, err := s.b.appendLocked(cctx, checked)
		var ch *checkError
		var ce *commitError
		if err != nil && ran && !errors.As(err, &ch) && !errors.As(err, &ce) {
			// Rolled back after the check: not tried again, since the
			// check may have changed the caller's state.
			err = &checkError{fmt.Errorf("%w: %w", ErrNotAppended, err)}
		}
		return first, err
	})
	var ch *checkError
	if errors.As(err, &ch) {
		// The check's own error, as it returned it.
		return 0, ch.err
	}
	var ce *commitError
	if err != nil && !errors.As(err, &ce) && !errors.Is(err, ErrNotAppended) {
		// Every error but a commit's left the transaction rolled back.
		err = fmt.Errorf("%w: %w", ErrNotAppended, err)
	}
	return first, err
}

func (s *groupStore) Head(ctx context.Context) (size, mark int64, err error) {
	type head struct{ size, mark int64 }
	h, err := read(ctx, s, func() (head, error) {
		n, m, err := s.b.head(ctx)
		return head{n, m}, err
	})
	return h.size, h.mark, err
}

func (s *groupStore) Changed() <-chan struct{} { return s.changes }

// signal tells the log's follower that another writer may have appended.
func (s *groupStore) signal() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return
	}
	select {
	case s.changes <- struct{}{}:
	default:
	}
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
	close(s.changes)
	s.mu.Unlock()
	// Forgotten before the wait, so that a caller asking for the log
	// meanwhile opens it again rather than get this closing one.
	if s.onClose != nil {
		s.onClose()
	}
	<-s.done
	s.locked.Wait()
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
