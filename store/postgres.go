package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/board"
)

// OpenPostgres opens the PostgreSQL store at url (applying migrations).
// Several processes may open the same database: appends are serialised by a
// row lock on the log's head, and migrations by an advisory lock.
func OpenPostgres(ctx context.Context, url string) (Store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("failed to open PostgreSQL: %w", err)
	}
	if err := migratePostgres(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return newGroupStore(ctx, &postgresBackend{pool: pool})
}

// migrationLock is the advisory lock key of scrutin's migrations.
const migrationLock = 0x5c7071

func migratePostgres(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := migrations("postgres")
	if err != nil {
		return err
	}
	for {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("failed to reach PostgreSQL: %w", err)
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			tx.Rollback(ctx)
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
			tx.Rollback(ctx)
			return err
		}
		var cur int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
			tx.Rollback(ctx)
			return err
		}
		if cur > len(ms) {
			tx.Rollback(ctx)
			return fmt.Errorf("%w (schema version %d, this binary knows %d): upgrade scrutin", ErrTooNew, cur, len(ms))
		}
		if cur == len(ms) {
			return tx.Rollback(ctx)
		}
		m := ms[cur]
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("migration %d: %w", m.version, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.version); err != nil {
			tx.Rollback(ctx)
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
	}
}

type postgresBackend struct {
	pool *pgxpool.Pool
}

// pgQueryer is what a pool and a transaction share.
type pgQueryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func readHashesPG(ctx context.Context, q pgQueryer, idx []int64) ([]tlog.Hash, error) {
	rows, err := q.Query(ctx, `SELECT idx, hash FROM hashes WHERE idx = ANY($1)`, idx)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := make(map[int64]tlog.Hash, len(idx))
	for rows.Next() {
		var i int64
		var b []byte
		if err := rows.Scan(&i, &b); err != nil {
			return nil, err
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("%w: hash %d has %d bytes", ErrCorrupt, i, len(b))
		}
		got[i] = tlog.Hash(b)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return hashesByIndex(idx, got)
}

func (b *postgresBackend) appendBatch(ctx context.Context, entries [][]byte) (first int64, err error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback(ctx)
		}
	}()
	var n int64
	if err := tx.QueryRow(ctx, `SELECT size FROM head WHERE id = 1 FOR UPDATE`).Scan(&n); err != nil {
		return 0, err
	}
	hashes, err := board.NewHashes(n, entries, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return readHashesPG(ctx, tx, idx) }))
	if err != nil {
		return 0, err
	}
	idx := make([]int64, len(entries))
	for i := range idx {
		idx[i] = n + int64(i)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO entries (idx, data) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, idx, entries); err != nil {
		return 0, err
	}
	base := tlog.StoredHashCount(n)
	hidx := make([]int64, len(hashes))
	hb := make([][]byte, len(hashes))
	for i := range hashes {
		hidx[i] = base + int64(i)
		hb[i] = hashes[i][:]
	}
	if _, err := tx.Exec(ctx, `INSERT INTO hashes (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, hidx, hb); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, `UPDATE head SET size = $1 WHERE id = 1`, n+int64(len(entries))); err != nil {
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, &commitError{err}
	}
	return n, nil
}

func (b *postgresBackend) size(ctx context.Context) (int64, error) {
	var n int64
	err := b.pool.QueryRow(ctx, `SELECT size FROM head WHERE id = 1`).Scan(&n)
	return n, err
}

func (b *postgresBackend) readEntries(ctx context.Context, start, end int64) ([][]byte, error) {
	rows, err := b.pool.Query(ctx, `SELECT data FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`, start, end)
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

func (b *postgresBackend) readHashes(ctx context.Context, idx []int64) ([]tlog.Hash, error) {
	return readHashesPG(ctx, b.pool, idx)
}

func (b *postgresBackend) saveCheckpoint(ctx context.Context, size int64, signed []byte) error {
	_, err := b.pool.Exec(ctx, `INSERT INTO checkpoints (size, note) VALUES ($1, $2) ON CONFLICT (size) DO UPDATE SET note = excluded.note`, size, signed)
	return err
}

func (b *postgresBackend) latestCheckpoint(ctx context.Context) (int64, []byte, error) {
	var n int64
	var note []byte
	err := b.pool.QueryRow(ctx, `SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1`).Scan(&n, &note)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, ErrNoCheckpoint
	}
	return n, note, err
}

func (b *postgresBackend) snapshot(ctx context.Context) (n, e, h int64, err error) {
	// One statement sees one snapshot, whatever other processes commit.
	err = b.pool.QueryRow(ctx, `SELECT (SELECT size FROM head WHERE id = 1), (SELECT COALESCE(MAX(idx) + 1, 0) FROM entries), (SELECT COALESCE(MAX(idx) + 1, 0) FROM hashes)`).Scan(&n, &e, &h)
	return n, e, h, err
}

func (b *postgresBackend) close() error {
	b.pool.Close()
	return nil
}
