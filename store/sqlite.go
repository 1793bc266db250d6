package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"

	"github.com/scrutin/scrutin/board"
)

// SQLiteFile is the database file in a data folder.
const SQLiteFile = "scrutin.db"

// OpenSQLite opens (creating if needed) the SQLite store in folder dir. The
// database runs in WAL mode with synchronous=FULL, so that a committed
// append survives a crash or power loss; writers take the lock at the start
// of their transaction (BEGIN IMMEDIATE).
func OpenSQLite(ctx context.Context, dir string) (Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the data folder: %w", err)
	}
	path := filepath.Join(dir, SQLiteFile)
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(4)
	if err := migrateSQL(ctx, db, "sqlite"); err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return newGroupStore(ctx, &sqliteBackend{db: db})
}

// migrateSQL applies the embedded migrations not yet applied, each in its
// own transaction, and refuses a database newer than this binary.
func migrateSQL(ctx context.Context, db *sql.DB, dialect string) error {
	ms, err := migrations(dialect)
	if err != nil {
		return err
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

type sqliteBackend struct {
	db *sql.DB
}

// queryer is what sql.DB and sql.Tx share.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readHashesSQL(ctx context.Context, q queryer, idx []int64) ([]tlog.Hash, error) {
	got := make(map[int64]tlog.Hash, len(idx))
	for start := 0; start < len(idx); start += 500 {
		chunk := idx[start:min(len(idx), start+500)]
		args := make([]any, len(chunk))
		for i, x := range chunk {
			args[i] = x
		}
		rows, err := q.QueryContext(ctx, `SELECT idx, hash FROM hashes WHERE idx IN (`+strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+`)`, args...)
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

func (b *sqliteBackend) appendBatch(ctx context.Context, entries [][]byte) (first int64, err error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT size FROM head WHERE id = 1`).Scan(&n); err != nil {
		return 0, err
	}
	hashes, err := board.NewHashes(n, entries, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return readHashesSQL(ctx, tx, idx) }))
	if err != nil {
		return 0, err
	}
	if err := insertRows(ctx, tx, "entries", "data", n, entries); err != nil {
		return 0, err
	}
	hb := make([][]byte, len(hashes))
	for i := range hashes {
		hb[i] = hashes[i][:]
	}
	if err := insertRows(ctx, tx, "hashes", "hash", tlog.StoredHashCount(n), hb); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE head SET size = ? WHERE id = 1`, n+int64(len(entries))); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, &commitError{err}
	}
	return n, nil
}

// insertRows inserts values at consecutive indexes from first, 250 rows
// per statement.
func insertRows(ctx context.Context, tx *sql.Tx, table, column string, first int64, values [][]byte) error {
	for start := 0; start < len(values); start += 250 {
		chunk := values[start:min(len(values), start+250)]
		args := make([]any, 0, 2*len(chunk))
		for i, v := range chunk {
			args = append(args, first+int64(start+i), v)
		}
		q := `INSERT INTO ` + table + ` (idx, ` + column + `) VALUES ` + strings.TrimSuffix(strings.Repeat("(?,?),", len(chunk)), ",")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

func (b *sqliteBackend) size(ctx context.Context) (int64, error) {
	var n int64
	err := b.db.QueryRowContext(ctx, `SELECT size FROM head WHERE id = 1`).Scan(&n)
	return n, err
}

func (b *sqliteBackend) readEntries(ctx context.Context, start, end int64) ([][]byte, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx`, start, end)
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
	return readHashesSQL(ctx, b.db, idx)
}

func (b *sqliteBackend) saveCheckpoint(ctx context.Context, size int64, signed []byte) error {
	_, err := b.db.ExecContext(ctx, `INSERT INTO checkpoints (size, note) VALUES (?, ?) ON CONFLICT (size) DO UPDATE SET note = excluded.note`, size, signed)
	return err
}

func (b *sqliteBackend) latestCheckpoint(ctx context.Context) (int64, []byte, error) {
	var n int64
	var note []byte
	err := b.db.QueryRowContext(ctx, `SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1`).Scan(&n, &note)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, ErrNoCheckpoint
	}
	return n, note, err
}

func (b *sqliteBackend) snapshot(ctx context.Context) (n, e, h int64, err error) {
	// One statement reads one snapshot (its implicit read transaction),
	// whatever other connections commit meanwhile.
	err = b.db.QueryRowContext(ctx, `SELECT (SELECT size FROM head WHERE id = 1), (SELECT COALESCE(MAX(idx) + 1, 0) FROM entries), (SELECT COALESCE(MAX(idx) + 1, 0) FROM hashes)`).Scan(&n, &e, &h)
	return n, e, h, err
}

func (b *sqliteBackend) close() error { return b.db.Close() }
