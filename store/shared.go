package store

// The state that the nodes on one database share besides the elections'
// logs (issue 18): the voters' sign-in codes and limits, and the staff
// accounts' trail and sessions. One code path serves SQLite and
// PostgreSQL, through database/sql; only a few words of SQL differ
// (placeholders, FOR UPDATE). Every decision that several nodes could race
// on is taken in one transaction, under a row lock (PostgreSQL) or the
// database's write lock (SQLite): never read, then written apart.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// Shared is the shared state of one database. It is safe for concurrent
// use.
type Shared struct {
	db *sql.DB
	// quick, if set, is the handle of inQuickTx (SQLite: a connection that
	// commits without waiting for the disk).
	quick *sql.DB
	pg    bool
	// lock and unlock, if set, serialise this process's writers (SQLite).
	lock   func(context.Context) error
	unlock func()
	// closeDB, if set, closes what Shared opened itself.
	closeDB func() error

	mu    sync.Mutex
	swept time.Time
}

// Shared returns the database's shared state.
func (db *DB) Shared() *Shared {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.shared != nil {
		return db.shared
	}
	switch d := db.d.(type) {
	case *sqliteDB:
		db.shared = &Shared{db: d.db, lock: d.lockWrite, unlock: d.unlockWrite}
		// The sign-in state's transactions commit with synchronous=NORMAL
		// (see inQuickTx), on connections of their own, taking turns with
		// every other writer of this process (lock).
		dsn := "file:" + d.path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_txlock=immediate"
		if q, err := sql.Open("sqlite", dsn); err == nil {
			q.SetMaxOpenConns(2)
			db.shared.quick = q
			db.shared.closeDB = q.Close
		}
	case *postgresDB:
		db.shared = &Shared{db: stdlib.OpenDBFromPool(d.pool), pg: true}
		db.shared.closeDB = db.shared.db.Close
	default:
		panic("store: internal error: a database of an unknown kind")
	}
	return db.shared
}

// OpenShared opens the database at location (as Open does) for its shared
// state only; Close closes it.
func OpenShared(ctx context.Context, location string) (*Shared, error) {
	db, err := Open(ctx, location)
	if err != nil {
		return nil, err
	}
	s := db.Shared()
	return &Shared{db: s.db, quick: s.quick, pg: s.pg, lock: s.lock, unlock: s.unlock, closeDB: db.Close}, nil
}

// MemoryShared is shared state in a private in-memory SQLite database, for
// a process that has no database (tests, tools): the same code as on disk,
// kept until Close.
func MemoryShared(ctx context.Context) (*Shared, error) {
	var b [8]byte
	rand.Read(b[:])
	db, err := sql.Open("sqlite", fmt.Sprintf("file:shared-%x?mode=memory&cache=shared&_txlock=immediate&_pragma=busy_timeout(10000)", b))
	if err != nil {
		return nil, err
	}
	// One connection: the database lives as long as it does, and writers
	// take turns on it.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := migrateSQL(ctx, db, "sqlite", 0); err != nil {
		db.Close()
		return nil, err
	}
	return &Shared{db: db, closeDB: db.Close}, nil
}

// Close closes what OpenShared or MemoryShared opened; the Shared of a DB
// is closed with it.
func (s *Shared) Close() error {
	if s.closeDB != nil {
		return s.closeDB()
	}
	return nil
}

// q adapts a query written with ? placeholders to the database.
func (s *Shared) q(query string) string {
	if !s.pg {
		return strings.ReplaceAll(query, " FOR UPDATE", "")
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Tx is a transaction on the shared state.
type Tx struct {
	ctx context.Context
	s   *Shared
	tx  *sql.Tx
}

func (t *Tx) exec(query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(t.ctx, t.s.q(query), args...)
}

func (t *Tx) queryRow(query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(t.ctx, t.s.q(query), args...)
}

// inTx runs f in one transaction, committed durably if f returns nil. A
// transaction that PostgreSQL aborts for a serialisation conflict or a
// deadlock is run again.
func (s *Shared) inTx(ctx context.Context, f func(*Tx) error) error {
	return s.runTx(ctx, true, f)
}

// inQuickTx is inTx for the voters' sign-in state, committed without
// waiting for the database to flush its log to disk (PostgreSQL:
// synchronous_commit off, for this transaction only; SQLite:
// synchronous=NORMAL): a sign-in then costs a millisecond rather than
// three flushes (12 ms on this machine, docs/performance.md), and a
// ballot's limit no flush of its own. Every
// transaction is still atomic and isolated, so no limit is ever exceeded
// by a race; only a crash of the database server itself (not of a node)
// may lose the last fraction of a second of sign-in state (a code asked
// for, attempts or letters counted), which a server before issue 18 lost,
// all of it, in every restart.
func (s *Shared) inQuickTx(ctx context.Context, f func(*Tx) error) error {
	return s.runTx(ctx, false, f)
}

func (s *Shared) runTx(ctx context.Context, durable bool, f func(*Tx) error) error {
	for try := 0; ; try++ {
		err := s.tryTx(ctx, durable, f)
		if err == nil || try == 4 || !retriable(err) {
			return err
		}
	}
}

func retriable(err error) bool {
	var code interface{ SQLState() string }
	if errors.As(err, &code) {
		switch code.SQLState() {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	return false
}

func (s *Shared) tryTx(ctx context.Context, durable bool, f func(*Tx) error) error {
	if s.lock != nil {
		if err := s.lock(ctx); err != nil {
			return err
		}
		defer s.unlock()
	}
	db := s.db
	if !durable && s.quick != nil {
		db = s.quick
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if s.pg && !durable {
		if _, err := tx.ExecContext(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := f(&Tx{ctx: ctx, s: s, tx: tx}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// --- budgets ---

// Bucket is a token bucket: Burst tokens at most, refilled one every
// Every.
type Bucket struct {
	Every time.Duration
	Burst int
}

// full is how long an untouched bucket takes to be full again, from empty.
func (b Bucket) full() time.Duration { return time.Duration(b.Burst) * b.Every }

// refill is the bucket's tokens at now.
func (b Bucket) refill(tokens float64, at, now time.Time) float64 {
	if now.After(at) {
		return min(float64(b.Burst), tokens+float64(now.Sub(at))/float64(b.Every))
	}
	return tokens
}

// bucket locks the bucket's row (made full if there is none) and returns
// its tokens at now and when one was last taken.
func (t *Tx) bucket(key string, b Bucket, now time.Time) (tokens float64, last time.Time, err error) {
	if _, err := t.exec(`INSERT INTO budgets (key, tokens, at, last, sweep) VALUES (?, ?, ?, 0, ?) ON CONFLICT (key) DO NOTHING`,
		key, float64(b.Burst), micros(now), micros(now.Add(b.full()))); err != nil {
		return 0, time.Time{}, err
	}
	var at, l int64
	if err := t.queryRow(`SELECT tokens, at, last FROM budgets WHERE key = ? FOR UPDATE`, key).Scan(&tokens, &at, &l); err != nil {
		return 0, time.Time{}, err
	}
	if l != 0 {
		last = fromMicros(l)
	}
	return b.refill(tokens, fromMicros(at), now), last, nil
}

func (t *Tx) setBucket(key string, b Bucket, tokens float64, now, last time.Time) error {
	var l int64
	if !last.IsZero() {
		l = micros(last)
	}
	// Empty, the bucket is full again after Burst×Every: the row can go
	// then (as good as new), not before.
	_, err := t.exec(`UPDATE budgets SET tokens = ?, at = ?, last = ?, sweep = ? WHERE key = ?`,
		tokens, micros(now), l, micros(now.Add(b.full())), key)
	return err
}

// take spends a token of the bucket, or returns how long until one is
// there (and when one was last taken).
func (t *Tx) take(key string, b Bucket, now time.Time) (time.Duration, time.Time, error) {
	tokens, last, err := t.bucket(key, b, now)
	if err != nil {
		return 0, time.Time{}, err
	}
	if tokens < 1-1e-9 { // a refill's rounding is no wait
		return max(time.Second, time.Duration((1-tokens)*float64(b.Every))), last, nil
	}
	return 0, now, t.setBucket(key, b, max(0, tokens-1), now, now)
}

// give puts a token back.
func (t *Tx) give(key string, b Bucket, now time.Time) error {
	tokens, last, err := t.bucket(key, b, now)
	if err != nil {
		return err
	}
	return t.setBucket(key, b, min(float64(b.Burst), tokens+1), now, last)
}

// Take spends a token of the bucket named key, atomically on every node;
// it returns 0, or how long until a token is there and when the last one
// was taken.
func (s *Shared) Take(ctx context.Context, key string, b Bucket, now time.Time) (wait time.Duration, last time.Time, err error) {
	err = s.inQuickTx(ctx, func(t *Tx) error {
		var err error
		wait, last, err = t.take(key, b, now)
		return err
	})
	s.maybeSweep(ctx, now)
	return wait, last, err
}

// Give puts a token back into the bucket named key.
func (s *Shared) Give(ctx context.Context, key string, b Bucket, now time.Time) error {
	return s.inQuickTx(ctx, func(t *Tx) error { return t.give(key, b, now) })
}

// maybeSweep deletes, at most once a minute per process, the budgets full
// again, the codes dead for an hour (a code whose letter never went, its
// node having stopped, too) and the strangers' codes.
func (s *Shared) maybeSweep(ctx context.Context, now time.Time) {
	s.mu.Lock()
	due := now.Sub(s.swept) >= time.Minute || now.Before(s.swept)
	if due {
		s.swept = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	s.inQuickTx(ctx, func(t *Tx) error {
		if _, err := t.exec(`DELETE FROM budgets WHERE sweep <= ?`, micros(now)); err != nil {
			return err
		}
		_, err := t.exec(`DELETE FROM signin_codes WHERE expires < ? OR (expires <= ? AND sent < 0)`, micros(now.Add(-time.Hour)), micros(now))
		return err
	})
}

// --- voters' sign-in codes (spec §20.3) ---

// Code is a sign-in code mailed to an address.
type Code struct {
	// Scope names the election's sign-in, Addr the address (a MAC of it,
	// not the address), ID the request it was mailed under.
	Scope, Addr, ID string
	// Short and Long are the MACs of its 8- and 16-digit forms.
	Short, Long [32]byte
	// Stranger marks the code of an address not on the list: kept with
	// the same work as a voter's, but never mailed, dead at once, and
	// gone at the next sweep (a flood of made-up addresses keeps a
	// minute of them, not an hour).
	Stranger bool
}

// IssueCode spends a letter of the address's budget (the bucket named
// letters) and keeps the code (not yet usable: its letter is not sent); or
// returns how long until a letter is there and when the last one went.
// Both in one transaction, on every node at once. The caller does the
// same for an address not on the list, whose code is never sent (so never
// usable) and swept once dead: the same work, so that the time of the
// answer does not tell who is on the list.
func (s *Shared) IssueCode(ctx context.Context, letters string, b Bucket, c Code, ttl time.Duration, now time.Time) (wait time.Duration, last time.Time, err error) {
	err = s.inQuickTx(ctx, func(t *Tx) error {
		var err error
		if wait, last, err = t.take(letters, b, now); err != nil || wait > 0 {
			return err
		}
		sent, expires := int64(0), now.Add(ttl)
		if c.Stranger {
			sent, expires = -1, now // never usable (sent > 0 is): see maybeSweep
		}
		_, err = t.exec(`INSERT INTO signin_codes (scope, addr, id, short, long, sent, expires) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.Scope, c.Addr, c.ID, c.Short[:], c.Long[:], sent, micros(expires))
		return err
	})
	s.maybeSweep(ctx, now)
	return wait, last, err
}

// CodeSent records a letter's fate: handed to the mail server, its code
// lives for ttl from now; not sent, the code is void and gives its letter
// back.
func (s *Shared) CodeSent(ctx context.Context, letters string, b Bucket, scope, addr, id string, ok bool, ttl time.Duration, now time.Time) error {
	return s.inQuickTx(ctx, func(t *Tx) error {
		if ok {
			_, err := t.exec(`UPDATE signin_codes SET sent = ?, expires = ? WHERE scope = ? AND addr = ? AND id = ?`, micros(now), micros(now.Add(ttl)), scope, addr, id)
			return err
		}
		r, err := t.exec(`DELETE FROM signin_codes WHERE scope = ? AND addr = ? AND id = ?`, scope, addr, id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return nil
		}
		return t.give(letters, b, now)
	})
}

// UseShortCode counts an attempt of the short form of the code mailed
// under id, if it is live and has attempts left (fewer than attempts
// counted), and consumes it if match accepts its MAC; a used code gives
// its letter back. The count is one UPDATE … RETURNING: the budget holds
// whatever the nodes race.
func (s *Shared) UseShortCode(ctx context.Context, letters string, b Bucket, scope, addr, id string, attempts int, match func(short []byte) bool, now time.Time) (ok bool, err error) {
	err = s.inQuickTx(ctx, func(t *Tx) error {
		var short []byte
		err := t.queryRow(`UPDATE signin_codes SET attempts = attempts + 1 WHERE scope = ? AND addr = ? AND id = ? AND sent > 0 AND expires > ? AND attempts < ? RETURNING short`,
			scope, addr, id, micros(now), attempts).Scan(&short)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil || !match(short) {
			return err
		}
		return t.consume(letters, b, scope, addr, id, now, &ok)
	})
	return ok, err
}

// UseLongCode consumes the live code of the address whose long form's MAC
// match accepts, under any request; a used code gives its letter back.
func (s *Shared) UseLongCode(ctx context.Context, letters string, b Bucket, scope, addr string, match func(long []byte) bool, now time.Time) (ok bool, err error) {
	err = s.inQuickTx(ctx, func(t *Tx) error {
		rows, err := t.tx.QueryContext(ctx, s.q(`SELECT id, long FROM signin_codes WHERE scope = ? AND addr = ? AND sent > 0 AND expires > ?`), scope, addr, micros(now))
		if err != nil {
			return err
		}
		var found string
		for rows.Next() {
			var id string
			var long []byte
			if err := rows.Scan(&id, &long); err != nil {
				rows.Close()
				return err
			}
			if match(long) {
				found = id
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil || found == "" {
			return err
		}
		return t.consume(letters, b, scope, addr, found, now, &ok)
	})
	return ok, err
}

// consume deletes a code, if no one else did first, and gives its letter
// back: the voter holds the mailbox (spec §20.3).
func (t *Tx) consume(letters string, b Bucket, scope, addr, id string, now time.Time, ok *bool) error {
	r, err := t.exec(`DELETE FROM signin_codes WHERE scope = ? AND addr = ? AND id = ?`, scope, addr, id)
	if err != nil {
		return err
	}
	if n, err := r.RowsAffected(); err != nil || n != 1 {
		return err
	}
	*ok = true
	return t.give(letters, b, now)
}

// --- failure counters (staff sign-in lockouts) ---

// Failed counts a failure under key at now, and returns the count.
func (s *Shared) Failed(ctx context.Context, key string, forget time.Duration, now time.Time) (n int, err error) {
	err = s.inTx(ctx, func(t *Tx) error {
		var f float64
		err := t.queryRow(`INSERT INTO budgets (key, tokens, at, last, sweep) VALUES (?, 1, ?, 0, ?)
			ON CONFLICT (key) DO UPDATE SET tokens = budgets.tokens + 1, at = excluded.at, sweep = excluded.sweep RETURNING tokens`,
			key, micros(now), micros(now.Add(forget))).Scan(&f)
		n = int(f)
		return err
	})
	return n, err
}

// Failures returns the failures counted under key and the time of the
// last (0 and the zero time if none).
func (s *Shared) Failures(ctx context.Context, key string) (n int, last time.Time, err error) {
	var f float64
	var at int64
	err = s.db.QueryRowContext(ctx, s.q(`SELECT tokens, at FROM budgets WHERE key = ?`), key).Scan(&f, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return int(f), fromMicros(at), nil
}

// --- staff sessions ---

// PutSession keeps a new staff session: its hash, account, expiry and
// sealed data.
func (s *Shared) PutSession(ctx context.Context, hash [32]byte, account string, expires time.Time, sealed []byte) error {
	return s.inTx(ctx, func(t *Tx) error {
		_, err := t.exec(`INSERT INTO staff_sessions (hash, account, expires, data) VALUES (?, ?, ?, ?)`, hash[:], account, micros(expires), sealed)
		return err
	})
}

// UpdateSession replaces a kept session's expiry and data; it reports
// whether the session was kept (one ended is never brought back).
func (s *Shared) UpdateSession(ctx context.Context, hash [32]byte, expires time.Time, sealed []byte) (ok bool, err error) {
	err = s.inTx(ctx, func(t *Tx) error {
		r, err := t.exec(`UPDATE staff_sessions SET expires = ?, data = ? WHERE hash = ?`, micros(expires), sealed, hash[:])
		if err == nil {
			n, _ := r.RowsAffected()
			ok = n > 0
		}
		return err
	})
	return ok, err
}

// ReplaceSession deletes the session old and keeps new in its place, in
// one transaction; it returns false (and keeps nothing) if old was gone.
func (s *Shared) ReplaceSession(ctx context.Context, old, new [32]byte, account string, expires time.Time, sealed []byte) (ok bool, err error) {
	err = s.inTx(ctx, func(t *Tx) error {
		r, err := t.exec(`DELETE FROM staff_sessions WHERE hash = ?`, old[:])
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n != 1 {
			return err
		}
		ok = true
		_, err = t.exec(`INSERT INTO staff_sessions (hash, account, expires, data) VALUES (?, ?, ?, ?)`, new[:], account, micros(expires), sealed)
		return err
	})
	return ok, err
}

// Session returns a staff session's account and sealed data, if it is
// kept.
func (s *Shared) Session(ctx context.Context, hash [32]byte) (account string, sealed []byte, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, s.q(`SELECT account, data FROM staff_sessions WHERE hash = ?`), hash[:]).Scan(&account, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, false, nil
	}
	return account, sealed, err == nil, err
}

// DeleteSession deletes a staff session; it reports whether it was kept.
func (s *Shared) DeleteSession(ctx context.Context, hash [32]byte) (ok bool, err error) {
	err = s.inTx(ctx, func(t *Tx) error {
		r, err := t.exec(`DELETE FROM staff_sessions WHERE hash = ?`, hash[:])
		if err == nil {
			n, _ := r.RowsAffected()
			ok = n > 0
		}
		return err
	})
	return ok, err
}

// SessionRow is a kept session.
type SessionRow struct {
	Hash   [32]byte
	Sealed []byte
}

// Sessions returns the account's kept sessions, deleting those expired.
func (s *Shared) Sessions(ctx context.Context, account string, now time.Time) ([]SessionRow, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM staff_sessions WHERE account = ? AND expires < ?`), account, micros(now)); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT hash, data FROM staff_sessions WHERE account = ?`), account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SessionRow
	for rows.Next() {
		var h, d []byte
		if err := rows.Scan(&h, &d); err != nil {
			return nil, err
		}
		if len(h) != 32 {
			return nil, fmt.Errorf("%w: a staff session's hash has %d bytes", ErrCorrupt, len(h))
		}
		out = append(out, SessionRow{Hash: [32]byte(h), Sealed: d})
	}
	return out, rows.Err()
}

// SweepSessions deletes the sessions expired at now.
func (s *Shared) SweepSessions(ctx context.Context, now time.Time) error {
	return s.inTx(ctx, func(t *Tx) error {
		_, err := t.exec(`DELETE FROM staff_sessions WHERE expires < ?`, micros(now))
		return err
	})
}

// --- the staff trail ---

// TrailHead is the trail's head: its last event's number and hash, and
// their MAC ("" for an empty trail).
type TrailHead struct {
	Seq       int64
	Hash, MAC string
}

// TrailTx is a transaction holding the trail's head.
type TrailTx struct {
	t    *Tx
	Head TrailHead
}

// Trail runs f in one transaction holding the trail head's row lock (no
// other node appends meanwhile), committed if f returns nil.
func (s *Shared) Trail(ctx context.Context, f func(*TrailTx) error) error {
	return s.inTx(ctx, func(t *Tx) error {
		tt := &TrailTx{t: t}
		h := &tt.Head
		if err := t.queryRow(`SELECT seq, hash, mac FROM staff_head WHERE id = 1 FOR UPDATE`).Scan(&h.Seq, &h.Hash, &h.MAC); err != nil {
			return err
		}
		return f(tt)
	})
}

// Since returns the lines of the events after seq, in order.
func (tt *TrailTx) Since(ctx context.Context, seq int64) ([][]byte, error) {
	if seq >= tt.Head.Seq {
		return nil, nil
	}
	return trailSince(ctx, tt.t.tx, tt.t.s, seq, tt.Head.Seq)
}

// Append appends events' lines after the head, and moves the head to the
// last, with its hash and MAC.
func (tt *TrailTx) Append(lines [][]byte, head TrailHead) error {
	if head.Seq != tt.Head.Seq+int64(len(lines)) {
		return errors.New("store: internal error: a trail head that does not follow its events")
	}
	for i, l := range lines {
		if _, err := tt.t.exec(`INSERT INTO staff_trail (seq, line) VALUES (?, ?)`, tt.Head.Seq+int64(i)+1, l); err != nil {
			return err
		}
	}
	if _, err := tt.t.exec(`UPDATE staff_head SET seq = ?, hash = ?, mac = ? WHERE id = 1`, head.Seq, head.Hash, head.MAC); err != nil {
		return err
	}
	tt.Head = head
	return nil
}

// DeleteSessions deletes the account's sessions in the transaction (an
// account disabled).
func (tt *TrailTx) DeleteSessions(account string) error {
	_, err := tt.t.exec(`DELETE FROM staff_sessions WHERE account = ?`, account)
	return err
}

// DeleteSession deletes one session in the transaction; it reports
// whether it was kept.
func (tt *TrailTx) DeleteSession(hash [32]byte) (bool, error) {
	r, err := tt.t.exec(`DELETE FROM staff_sessions WHERE hash = ?`, hash[:])
	if err != nil {
		return false, err
	}
	n, err := r.RowsAffected()
	return n > 0, err
}

// TrailSince returns the head and the lines of the events after seq up to
// it, in order. The head is read first: the lines up to it were committed
// with it, and later appends only add lines after it.
func (s *Shared) TrailSince(ctx context.Context, seq int64) ([][]byte, TrailHead, error) {
	var h TrailHead
	if err := s.db.QueryRowContext(ctx, s.q(`SELECT seq, hash, mac FROM staff_head WHERE id = 1`)).Scan(&h.Seq, &h.Hash, &h.MAC); err != nil {
		return nil, h, err
	}
	if h.Seq <= seq {
		return nil, h, nil
	}
	lines, err := trailSince(ctx, s.db, s, seq, h.Seq)
	return lines, h, err
}

// trailSince reads the lines of the events after seq, up to upto.
func trailSince(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, s *Shared, seq, upto int64) ([][]byte, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT seq, line FROM staff_trail WHERE seq > ? AND seq <= ? ORDER BY seq`), seq, upto)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var n int64
		var l []byte
		if err := rows.Scan(&n, &l); err != nil {
			return nil, err
		}
		if n != seq+int64(len(out))+1 {
			return nil, fmt.Errorf("%w: the staff trail skips from event %d to %d", ErrCorrupt, seq+int64(len(out)), n)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if int64(len(out)) != upto-seq {
		return nil, fmt.Errorf("%w: the staff trail's head names event %d, and it ends at %d", ErrCorrupt, upto, seq+int64(len(out)))
	}
	return out, nil
}

// Tokens returns the tokens of the bucket named key at now (a bucket never
// used is full), without taking any.
func (s *Shared) Tokens(ctx context.Context, key string, b Bucket, now time.Time) (float64, error) {
	var tokens float64
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT tokens, at FROM budgets WHERE key = ?`), key).Scan(&tokens, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return float64(b.Burst), nil
	}
	if err != nil {
		return 0, err
	}
	return b.refill(tokens, fromMicros(at), now), nil
}

// Kept counts the budgets kept and the codes kept (live or not yet swept)
// of the sign-in named scope ("" for all): what the sweeps bound, for
// monitoring and tests.
func (s *Shared) Kept(ctx context.Context, scope string) (budgets, codes int, err error) {
	err = s.db.QueryRowContext(ctx, s.q(`SELECT (SELECT COUNT(*) FROM budgets), (SELECT COUNT(*) FROM signin_codes WHERE scope = ? OR ? = '')`), scope, scope).Scan(&budgets, &codes)
	return budgets, codes, err
}
