package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"github.com/scrutin/scrutin/board"
)

// SQLiteFile is the database file in a data folder.
const SQLiteFile = "scrutin.db"

// OpenSQLite opens (creating if needed) the SQLite database in folder dir.
// The database runs in WAL mode with synchronous=FULL, so that a committed
// append survives a crash or power loss; writers take the lock at the start
// of their transaction (BEGIN IMMEDIATE).
func OpenSQLite(ctx context.Context, dir string) (*DB, error) {
	return openSQLite(ctx, dir, 0)
}

// openSQLite applies the migrations up to version upto (0: all).
func openSQLite(ctx context.Context, dir string, upto int) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the data folder: %w", err)
	}
	path := filepath.Join(dir, SQLiteFile)
	// Readable by its owner only: it holds the staff trail (password
	// hashes) and sessions besides the logs. SQLite makes its write-ahead
	// log with the database's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to create the database: %w", err)
	}
	f.Close()
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, err
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if err := migrateSQL(ctx, db, "sqlite", upto); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return newDB(&sqliteDB{db: db, path: path, write: make(chan struct{}, 1)}), nil
}

// migrateSQL applies the embedded migrations not yet applied, each in its
// own transaction, and refuses a database newer than this binary.
func migrateSQL(ctx context.Context, db *sql.DB, dialect string, upto int) error {
	ms, err := migrations(dialect)
	if err != nil {
		return err
	}
	if upto > 0 {
		ms = ms[:upto]
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return fmt.Errorf("failed to prepare migrations: %w", err)
	}
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var cur int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			tx.Rollback()
			return err
		}
		if cur > len(ms) {
			tx.Rollback()
			return fmt.Errorf("%w (schema version %d, this binary knows %d): upgrade scrutin", ErrTooNew, cur, len(ms))
		}
		if cur == len(ms) {
			return tx.Rollback()
		}
		m := ms[cur]
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", m.version, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, m.version); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
}

// sqliteDB is the catalogue and the logs in one SQLite database.
type sqliteDB struct {
	db   *sql.DB
	path string
	// write serialises this process's write transactions, first come
	// first served: SQLite takes one writer at a time, and a writer
	// waiting on the database's lock polls for it (busy_timeout), so that
	// an election's committer would wait for the lock while another
	// election's flood of commits takes it again and again. A channel
	// hands the lock to its waiters in turn (a sync.Mutex lets the
	// goroutine that just unlocked it take it again).
	write chan struct{}
}

func (d *sqliteDB) lockWrite(ctx context.Context) error {
	select {
	case d.write <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *sqliteDB) unlockWrite() { <-d.write }

// sqliteBackend is one election's log in a sqliteDB.
type sqliteBackend struct {
	d  *sqliteDB
	id string
}

// queryer is what sql.DB and sql.Tx share.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readHashesSQL(ctx context.Context, q queryer, id string, idx []int64) ([]tlog.Hash, error) {
	got := make(map[int64]tlog.Hash, len(idx))
	for start := 0; start < len(idx); start += 500 {
		chunk := idx[start:min(len(idx), start+500)]
		args := make([]any, len(chunk))
		for i, x := range chunk {
			args[i] = x
		}
		rows, err := q.QueryContext(ctx, `SELECT idx, hash FROM hashes WHERE election = ? AND idx IN (`+strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+`)`, append([]any{id}, args...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var i int64
			var b []byte
			if err := rows.Scan(&i, &b); err != nil {
				rows.Close()
				return nil, err
			}
			if len(b) != tlog.HashSize {
				rows.Close()
				return nil, fmt.Errorf("%w: hash %d has %d bytes", ErrCorrupt, i, len(b))
			}
			got[i] = tlog.Hash(b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return hashesByIndex(idx, got)
}

func (b *sqliteBackend) appendBatch(ctx context.Context, items []item) (firsts []int64, refused []error, err error) {
	err = b.inTx(ctx, func(tx *sql.Tx, n, mark int64) (bool, error) {
		taken := make(map[string]bool)
		for _, k := range batchKeys(items) {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM ballot_keys WHERE election = ? AND key = ?`, b.id, k).Scan(&one)
			if err == nil {
				taken[string(k)] = true
			} else if !errors.Is(err, sql.ErrNoRows) {
				return false, err
			}
		}
		var entries, keys [][]byte
		var keyIdx []int64
		var size int64
		firsts, refused, entries, keys, keyIdx, size, mark = admit(items, n, mark, taken)
		if len(entries) == 0 {
			return false, nil
		}
		for i, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO ballot_keys (election, key, idx) VALUES (?, ?, ?)`, b.id, k, keyIdx[i]); err != nil {
				return false, err
			}
		}
		return true, b.insert(ctx, tx, n, entries, size, mark)
	})
	return firsts, refused, err
}

func (b *sqliteBackend) appendLocked(ctx context.Context, check func(ctx context.Context, size int64) ([][]byte, error)) (first int64, err error) {
	err = b.inTx(ctx, func(tx *sql.Tx, n, _ int64) (bool, error) {
		entries, err := check(ctx, n)
		if err != nil {
			return false, err
		}
		first = n
		size := n + int64(len(entries))
		return true, b.insert(ctx, tx, n, entries, size, size)
	})
	return first, err
}

// inTx runs f in a write transaction (which holds the database: SQLite
// has one writer at a time) with the election's head (its size n and
// mark), and commits if f says so.
func (b *sqliteBackend) inTx(ctx context.Context, f func(tx *sql.Tx, n, mark int64) (bool, error)) (err error) {
	if err := b.d.lockWrite(ctx); err != nil {
		return err
	}
	defer b.d.unlockWrite()
	tx, err := b.d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var n, mark int64
	if err := tx.QueryRowContext(ctx, `SELECT size, mark FROM head WHERE election = ?`, b.id).Scan(&n, &mark); err != nil {
		return err
	}
	commit, err := f(tx, n, mark)
	if err != nil {
		return err
	}
	if !commit {
		return tx.Rollback()
	}
	if err := tx.Commit(); err != nil {
		return &commitError{err}
	}
	return nil
}

// insert appends entries at index n (in tx) and moves the head to size
// and mark.
func (b *sqliteBackend) insert(ctx context.Context, tx *sql.Tx, n int64, entries [][]byte, size, mark int64) error {
	hashes, err := board.NewHashes(n, entries, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return readHashesSQL(ctx, tx, b.id, idx) }))
	if err != nil {
		return err
	}
	if err := insertRows(ctx, tx, b.id, "entries", "data", n, entries); err != nil {
		return err
	}
	hb := make([][]byte, len(hashes))
	for i := range hashes {
		hb[i] = hashes[i][:]
	}
	if err := insertRows(ctx, tx, b.id, "hashes", "hash", tlog.StoredHashCount(n), hb); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE head SET size = ?, mark = ? WHERE election = ?`, size, mark, b.id)
	return err
}

// insertRows inserts an election's values at consecutive indexes from
// first, 250 rows per statement.
func insertRows(ctx context.Context, tx *sql.Tx, id, table, column string, first int64, values [][]byte) error {
	for start := 0; start < len(values); start += 250 {
		chunk := values[start:min(len(values), start+250)]
		args := make([]any, 0, 3*len(chunk))
		for i, v := range chunk {
			args = append(args, id, first+int64(start+i), v)
		}
		q := `INSERT INTO ` + table + ` (election, idx, ` + column + `) VALUES ` + strings.TrimSuffix(strings.Repeat("(?,?,?),", len(chunk)), ",")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

func (b *sqliteBackend) size(ctx context.Context) (int64, error) {
	var n int64
	err := b.d.db.QueryRowContext(ctx, `SELECT size FROM head WHERE election = ?`, b.id).Scan(&n)
	return n, err
}

func (b *sqliteBackend) head(ctx context.Context) (n, mark int64, err error) {
	err = b.d.db.QueryRowContext(ctx, `SELECT size, mark FROM head WHERE election = ?`, b.id).Scan(&n, &mark)
	return n, mark, err
}

func (b *sqliteBackend) readEntries(ctx context.Context, start, end int64) ([][]byte, error) {
	rows, err := b.d.db.QueryContext(ctx, `SELECT data FROM entries WHERE election = ? AND idx >= ? AND idx < ? ORDER BY idx`, b.id, start, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var e []byte
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (b *sqliteBackend) readHashes(ctx context.Context, idx []int64) ([]tlog.Hash, error) {
	return readHashesSQL(ctx, b.d.db, b.id, idx)
}

func (b *sqliteBackend) saveCheckpoint(ctx context.Context, size int64, signed []byte) error {
	if err := b.d.lockWrite(ctx); err != nil {
		return err
	}
	defer b.d.unlockWrite()
	_, err := b.d.db.ExecContext(ctx, `INSERT INTO checkpoints (election, size, note) VALUES (?, ?, ?) ON CONFLICT (election, size) DO UPDATE SET note = excluded.note`, b.id, size, signed)
	return err
}

func (b *sqliteBackend) latestCheckpoint(ctx context.Context) (int64, []byte, error) {
	var n int64
	var note []byte
	err := b.d.db.QueryRowContext(ctx, `SELECT size, note FROM checkpoints WHERE election = ? ORDER BY size DESC LIMIT 1`, b.id).Scan(&n, &note)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, ErrNoCheckpoint
	}
	return n, note, err
}

func (b *sqliteBackend) snapshot(ctx context.Context) (n, e, h int64, err error) {
	// One statement reads one snapshot (its implicit read transaction),
	// whatever other connections commit meanwhile.
	err = b.d.db.QueryRowContext(ctx, `SELECT (SELECT size FROM head WHERE election = ?1), (SELECT COALESCE(MAX(idx) + 1, 0) FROM entries WHERE election = ?1), (SELECT COALESCE(MAX(idx) + 1, 0) FROM hashes WHERE election = ?1)`, b.id).Scan(&n, &e, &h)
	return n, e, h, err
}

func (d *sqliteDB) elections(ctx context.Context) ([]Info, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT e.id, e.created_at, e.legacy, e.witnesses, e.summary, e.summary_size, h.size FROM elections e JOIN head h ON h.election = e.id ORDER BY e.created_at, e.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Info
	for rows.Next() {
		var in Info
		var created int64
		var w string
		if err := rows.Scan(&in.ID, &created, &in.Legacy, &w, &in.Summary, &in.SummarySize, &in.Size); err != nil {
			return nil, err
		}
		in.Created = time.UnixMicro(created).UTC()
		in.Witnesses = splitWitnesses(w)
		if in.SummarySize >= 0 && in.Summary == nil {
			in.Summary = []byte{} // an empty summary, saved
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

func (d *sqliteDB) create(ctx context.Context, id string, created time.Time, legacy bool, witnesses string) (err error) {
	if err := d.lockWrite(ctx); err != nil {
		return err
	}
	defer d.unlockWrite()
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	r, err := tx.ExecContext(ctx, `INSERT INTO elections (id, created_at, legacy, witnesses) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, id, created.UnixMicro(), legacy, witnesses)
	if err != nil {
		return err
	}
	if n, err := r.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: %s", ErrExists, id)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO head (election, size) VALUES (?, 0)`, id); err != nil {
		return err
	}
	return tx.Commit()
}

func (d *sqliteDB) log(ctx context.Context, id string) (backend, error) {
	var n int64
	err := d.db.QueryRowContext(ctx, `SELECT size FROM head WHERE election = ?`, id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNoElection, id)
	}
	if err != nil {
		return nil, err
	}
	return &sqliteBackend{d: d, id: id}, nil
}

// updateElection runs an UPDATE of one election's row.
func (d *sqliteDB) updateElection(ctx context.Context, id, query string, args ...any) error {
	if err := d.lockWrite(ctx); err != nil {
		return err
	}
	defer d.unlockWrite()
	r, err := d.db.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, err := r.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("%w: %s", ErrNoElection, id)
	}
	return nil
}

func (d *sqliteDB) saveSummary(ctx context.Context, id string, size int64, summary []byte) error {
	if summary == nil {
		summary = []byte{}
	}
	return d.updateElection(ctx, id, `UPDATE elections SET summary = ?, summary_size = ? WHERE id = ?`, summary, size, id)
}

func (d *sqliteDB) setWitnesses(ctx context.Context, id string, witnesses string) error {
	return d.updateElection(ctx, id, `UPDATE elections SET witnesses = ? WHERE id = ?`, witnesses, id)
}

func (d *sqliteDB) close() error { return d.db.Close() }
