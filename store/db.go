package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// DB is one database holding the logs of every election, and their
// catalogue. It is safe for concurrent use.
type DB struct {
	d database

	mu     sync.Mutex
	closed bool
	logs   map[string]*openLog
	// open counts the logs opened and not yet drained, including those
	// closing (which logs forgets before they drain): Close waits for
	// them before it closes the database.
	open sync.WaitGroup

	shared *Shared // made by Shared

	// wrap, if set (by tests), wraps each log's backend as it is opened.
	wrap func(id string, b backend) backend
}

// openLog is a log being opened (ready not yet closed) or open.
type openLog struct {
	ready chan struct{}
	s     *groupStore
	err   error
}

// Info is an election as the catalogue describes it.
type Info struct {
	ID string
	// Created is when the election was created (UTC, to the microsecond);
	// for the legacy election, when its database was migrated.
	Created time.Time
	// Legacy marks the election "main" of a database written by scrutin
	// before it held several elections.
	Legacy    bool
	Witnesses []string
	// Size is the log's size, in entries.
	Size int64
	// Summary is the last summary saved (SaveSummary), of the log's first
	// SummarySize entries; SummarySize is -1 (and Summary nil) if none was.
	Summary     []byte
	SummarySize int64
}

// database is what each kind of database provides: the catalogue, and each
// election's log as a backend.
type database interface {
	elections(ctx context.Context) ([]Info, error)
	// create adds an election with an empty log, or returns ErrExists.
	create(ctx context.Context, id string, created time.Time, legacy bool, witnesses string) error
	// log returns the election's log, or ErrNoElection.
	log(ctx context.Context, id string) (backend, error)
	// saveSummary and setWitnesses return ErrNoElection if there is no
	// such election.
	saveSummary(ctx context.Context, id string, size int64, summary []byte) error
	setWitnesses(ctx context.Context, id string, witnesses string) error
	// runner runs the trustees' statements (trustees.go).
	runner() sqlRunner
	close() error
}

func newDB(d database) *DB {
	return &DB{d: d, logs: make(map[string]*openLog)}
}

// CheckID returns an error (wrapping ErrBadID) unless id is a valid
// election id: 1 to 32 characters, lowercase ASCII letters, digits and
// hyphens, starting and ending with a letter or a digit.
func CheckID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: an election id cannot be empty", ErrBadID)
	case len(id) > 32:
		return fmt.Errorf("%w: an election id has at most 32 characters, and %q has %d", ErrBadID, id, len(id))
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("%w: an election id may hold only lowercase letters a to z, digits and hyphens, and %q holds other characters", ErrBadID, id)
		}
	}
	if id[0] == '-' || id[len(id)-1] == '-' {
		return fmt.Errorf("%w: an election id cannot start or end with a hyphen, and %q does", ErrBadID, id)
	}
	return nil
}

// checkWitnesses refuses witness keys that could not be stored one a line,
// or that one of the databases could not hold (PostgreSQL's text takes
// neither a NUL nor invalid UTF-8): a note's verifier key is printable
// text.
func checkWitnesses(witnesses []string) (string, error) {
	for _, w := range witnesses {
		if w == "" || !utf8.ValidString(w) || strings.IndexFunc(w, unicode.IsControl) >= 0 {
			return "", fmt.Errorf("a witness key cannot be empty, hold a line break or another control character, or not be UTF-8: %q", w)
		}
	}
	return strings.Join(witnesses, "\n"), nil
}

func splitWitnesses(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Elections returns every election of the database, oldest first.
func (db *DB) Elections(ctx context.Context) ([]Info, error) {
	if db.isClosed() {
		return nil, ErrClosed
	}
	return retry(ctx, func() ([]Info, error) { return db.d.elections(ctx) })
}

// Create adds an election with an empty log and the given witnesses'
// verifier keys. It returns ErrExists if the id is taken, and CheckID's
// error if the id is not valid.
func (db *DB) Create(ctx context.Context, id string, witnesses []string) error {
	return db.create(ctx, id, witnesses, false)
}

func (db *DB) create(ctx context.Context, id string, witnesses []string, legacy bool) error {
	if err := CheckID(id); err != nil {
		return err
	}
	w, err := checkWitnesses(witnesses)
	if err != nil {
		return err
	}
	if db.isClosed() {
		return ErrClosed
	}
	return db.d.create(ctx, id, time.Now().UTC().Truncate(time.Microsecond), legacy, w)
}

// Log returns the election's log, or an error wrapping ErrNoElection. The
// log is opened once (checking that its rows agree) and shared: every call
// until it is closed returns the same Store. Its Close closes this log
// only; a later Log opens it again.
func (db *DB) Log(ctx context.Context, id string) (Store, error) {
	if err := CheckID(id); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoElection, err)
	}
	for {
		db.mu.Lock()
		if db.closed {
			db.mu.Unlock()
			return nil, ErrClosed
		}
		o, ok := db.logs[id]
		if ok {
			db.mu.Unlock()
			select {
			case <-o.ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if o.err != nil {
				// The opener failed (perhaps its context ended): try
				// with ours.
				if ctx.Err() != nil {
					return nil, o.err
				}
				continue
			}
			return o.s, nil
		}
		o = &openLog{ready: make(chan struct{})}
		db.logs[id] = o
		db.mu.Unlock()

		s, err := db.openLog(ctx, id)
		db.mu.Lock()
		if err == nil && db.closed {
			// DB.Close ran meanwhile: it waits for ready, but this log is
			// closed here rather than handed out.
			s.onClose = nil
			s.Close()
			err = ErrClosed
		}
		if err != nil {
			delete(db.logs, id)
			o.err = err
		} else {
			o.s = s
		}
		db.mu.Unlock()
		close(o.ready)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

func (db *DB) openLog(ctx context.Context, id string) (*groupStore, error) {
	b, err := retry(ctx, func() (backend, error) { return db.d.log(ctx, id) })
	if err != nil {
		return nil, err
	}
	if db.wrap != nil {
		b = db.wrap(id, b)
	}
	s, err := newGroupStore(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("election %s: %w", id, err)
	}
	s.onClose = func() {
		db.mu.Lock()
		if o, ok := db.logs[id]; ok && o.s == s {
			delete(db.logs, id)
		}
		db.mu.Unlock()
	}
	// Added before the opener's ready is closed: Close waits for that
	// before it waits for open.
	db.open.Add(1)
	s.onDrained = db.open.Done
	s.dbClosed = db.isClosed
	return s, nil
}

// SaveSummary records the server's summary of the election's log's first
// size entries, replacing the one saved before (whatever its size: a log
// restored from a backup may be shorter than the last summary).
func (db *DB) SaveSummary(ctx context.Context, id string, size int64, summary []byte) error {
	if err := CheckID(id); err != nil {
		return fmt.Errorf("%w: %w", ErrNoElection, err)
	}
	if size < 0 {
		return fmt.Errorf("a summary of %d entries", size)
	}
	if db.isClosed() {
		return ErrClosed
	}
	_, err := retry(ctx, func() (struct{}, error) { return struct{}{}, db.d.saveSummary(ctx, id, size, summary) })
	return err
}

// SetWitnesses replaces the election's witnesses' verifier keys.
func (db *DB) SetWitnesses(ctx context.Context, id string, witnesses []string) error {
	if err := CheckID(id); err != nil {
		return fmt.Errorf("%w: %w", ErrNoElection, err)
	}
	w, err := checkWitnesses(witnesses)
	if err != nil {
		return err
	}
	if db.isClosed() {
		return ErrClosed
	}
	_, err = retry(ctx, func() (struct{}, error) { return struct{}{}, db.d.setWitnesses(ctx, id, w) })
	return err
}

// signal tells election id's open log, if any, that another writer may
// have appended to it.
func (db *DB) signal(id string) {
	db.mu.Lock()
	o := db.logs[id]
	db.mu.Unlock()
	if o == nil {
		return
	}
	select {
	case <-o.ready:
		if o.s != nil {
			o.s.signal()
		}
	default:
	}
}

// signalAll tells every open log that another writer may have appended.
func (db *DB) signalAll() {
	db.mu.Lock()
	ids := make([]string, 0, len(db.logs))
	for id := range db.logs {
		ids = append(ids, id)
	}
	db.mu.Unlock()
	for _, id := range ids {
		db.signal(id)
	}
}

func (db *DB) isClosed() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.closed
}

// Close closes every log opened (waiting for their queued appends) and
// the database.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	var open []*openLog
	for _, o := range db.logs {
		open = append(open, o)
	}
	db.mu.Unlock()
	for _, o := range open {
		<-o.ready
		if o.s != nil {
			o.s.Close()
		}
	}
	// Logs closed by their holders before (forgotten by logs) may still
	// be committing what was queued on them.
	db.open.Wait()
	if db.shared != nil && db.shared.closeDB != nil {
		db.shared.closeDB()
	}
	return db.d.close()
}

// OpenLog opens the database at location and the log of election id,
// creating the election (marked legacy: signed with the master seed) if it
// does not exist; closing the Store closes the database. It is for tests
// and tools that work on one election's log; a server opens the database
// with Open and each election's log with DB.Log.
func OpenLog(ctx context.Context, location, id string) (Store, error) {
	db, err := Open(ctx, location)
	if err != nil {
		return nil, err
	}
	s, err := db.Log(ctx, id)
	if errors.Is(err, ErrNoElection) {
		if err = db.create(ctx, id, nil, true); err == nil || errors.Is(err, ErrExists) {
			s, err = db.Log(ctx, id)
		}
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return &ownedLog{Store: s, db: db}, nil
}

// ownedLog is a log whose Close closes its database too.
type ownedLog struct {
	Store
	db *DB
}

func (l *ownedLog) Close() error {
	err := l.Store.Close()
	if err2 := l.db.Close(); err == nil {
		err = err2
	}
	return err
}
