package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/board"
)

// OpenPostgres opens the PostgreSQL database at url (applying migrations).
// Several processes may open the same database: appends to an election are
// serialised by a row lock on its head, and migrations by an advisory lock.
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	return openPostgres(ctx, url, 0)
}

// openPostgres applies the migrations up to version upto (0: all).
func openPostgres(ctx context.Context, url string, upto int) (*DB, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("failed to open PostgreSQL: %w", err)
	}
	if err := migratePostgres(ctx, pool, upto); err != nil {
		pool.Close()
		return nil, err
	}
	d := &postgresDB{pool: pool}
	db := newDB(d)
	ctx, d.stop = context.WithCancel(context.Background())
	d.listening.Add(1)
	go d.listen(ctx, db)
	return db, nil
}

// listen receives the notifications of appends (by every process on the
// database, this one included) on a connection of its own, and tells the
// election's open log (groupStore.signal). A lost connection is made
// again, and every open log is told then: notifications may have been
// missed meanwhile.
func (d *postgresDB) listen(ctx context.Context, db *DB) {
	defer d.listening.Done()
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, d.pool.Config().ConnConfig.Copy())
		if err == nil {
			if _, err = conn.Exec(ctx, `LISTEN `+notifyChannel); err == nil {
				wait = 100 * time.Millisecond
				db.signalAll()
				for {
					n, err := conn.WaitForNotification(ctx)
					if err != nil {
						break
					}
					id, _, _ := strings.Cut(n.Payload, " ")
					db.signal(id)
				}
			}
			conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// migrationLock is the advisory lock key of scrutin's migrations.
const migrationLock = 0x5c7071

func migratePostgres(ctx context.Context, pool *pgxpool.Pool, upto int) error {
	ms, err := migrations("postgres")
	if err != nil {
		return err
	}
	if upto > 0 {
		ms = ms[:upto]
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

// postgresDB is the catalogue and the logs in one PostgreSQL database.
type postgresDB struct {
	pool *pgxpool.Pool
	// stop ends listen, and listening is done when it has.
	stop      context.CancelFunc
	listening sync.WaitGroup
}

// postgresBackend is one election's log in a postgresDB.
type postgresBackend struct {
	pool *pgxpool.Pool
	id   string
}

// pgQueryer is what a pool and a transaction share.
type pgQueryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readHashesQueryPG reads an election's hashes by index, with one index
// lookup per hash whatever the plan: pgx prepares its statements, and
// PostgreSQL's generic plan for "election = $1 AND idx = ANY($2)", made
// while the table was small, scans every hash of the election (seen: 7 ms
// a read at 100,000 hashes, a third of the throughput of appends).
const readHashesQueryPG = `SELECT w.idx, h.hash FROM unnest($2::bigint[]) AS w (idx)
	CROSS JOIN LATERAL (SELECT hash FROM hashes WHERE election = $1 AND idx = w.idx LIMIT 1) AS h`

func readHashesPG(ctx context.Context, q pgQueryer, id string, idx []int64) ([]tlog.Hash, error) {
	rows, err := q.Query(ctx, readHashesQueryPG, id, idx)
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

func (b *postgresBackend) appendBatch(ctx context.Context, items []item) (firsts []int64, refused []error, err error) {
	err = b.inTx(ctx, func(tx pgx.Tx, n, mark int64) (bool, error) {
		taken := make(map[string]bool)
		if keys := batchKeys(items); len(keys) > 0 {
			rows, err := tx.Query(ctx, `SELECT key FROM ballot_keys WHERE election = $1 AND key = ANY($2::bytea[])`, b.id, keys)
			if err != nil {
				return false, err
			}
			for rows.Next() {
				var k []byte
				if err := rows.Scan(&k); err != nil {
					rows.Close()
					return false, err
				}
				taken[string(k)] = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
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
		if len(keys) > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO ballot_keys (election, key, idx) SELECT $1, * FROM unnest($2::bytea[], $3::bigint[])`, b.id, keys, keyIdx); err != nil {
				return false, err
			}
		}
		return true, b.insert(ctx, tx, n, entries, size, mark)
	})
	return firsts, refused, err
}

func (b *postgresBackend) appendLocked(ctx context.Context, check func(ctx context.Context, size int64) ([][]byte, error)) (first int64, err error) {
	err = b.inTx(ctx, func(tx pgx.Tx, n, _ int64) (bool, error) {
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

// inTx runs f in a transaction holding the election's head (its size n
// and mark), and commits if f says so.
func (b *postgresBackend) inTx(ctx context.Context, f func(tx pgx.Tx, n, mark int64) (bool, error)) (err error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback(ctx)
			var pe *pgconn.PgError
			var ce *commitError
			if !errors.As(err, &ce) && errors.As(err, &pe) && pe.Code == "55P03" { // lock_not_available
				err = fmt.Errorf("%w: %w", errHeadBusy, err)
			}
		}
	}()
	// A committer waiting for a lock that another session holds (the
	// election's head, most often; or a table) gives its pooled
	// connection back every 200 ms (errHeadBusy, and commit tries again
	// until commitTimeout): otherwise as many elections held elsewhere as
	// the pool has connections would hold up every other election.
	if _, err := tx.Exec(ctx, headLockTimeoutSQL); err != nil {
		return err
	}
	var n, mark int64
	if err := tx.QueryRow(ctx, `SELECT size, mark FROM head WHERE election = $1 FOR UPDATE`, b.id).Scan(&n, &mark); err != nil {
		return err
	}
	commit, err := f(tx, n, mark)
	if err != nil {
		return err
	}
	if !commit {
		return tx.Rollback(ctx)
	}
	if err := tx.Commit(ctx); err != nil {
		return &commitError{err}
	}
	return nil
}

// insert appends entries at index n (in tx, which holds the head), moves
// the head to size and mark, and notifies the other nodes (delivered at
// the commit).
func (b *postgresBackend) insert(ctx context.Context, tx pgx.Tx, n int64, entries [][]byte, size, mark int64) error {
	hashes, err := board.NewHashes(n, entries, tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return readHashesPG(ctx, tx, b.id, idx) }))
	if err != nil {
		return err
	}
	idx := make([]int64, len(entries))
	for i := range idx {
		idx[i] = n + int64(i)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO entries (election, idx, data) SELECT $1, * FROM unnest($2::bigint[], $3::bytea[])`, b.id, idx, entries); err != nil {
		return err
	}
	base := tlog.StoredHashCount(n)
	hidx := make([]int64, len(hashes))
	hb := make([][]byte, len(hashes))
	for i := range hashes {
		hidx[i] = base + int64(i)
		hb[i] = hashes[i][:]
	}
	if _, err := tx.Exec(ctx, `INSERT INTO hashes (election, idx, hash) SELECT $1, * FROM unnest($2::bigint[], $3::bytea[])`, b.id, hidx, hb); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE head SET size = $1, mark = $2 WHERE election = $3`, size, mark, b.id); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, b.id+" "+strconv.FormatInt(size, 10))
	return err
}

// notifyChannel is the PostgreSQL notification channel on which every
// append names its election and the log's new size.
const notifyChannel = "scrutin_log"

// headLockTimeoutSQL bounds an append's wait for a lock (its election's
// head, or a table) on one connection (lock_timeout, for this transaction
// only).
const headLockTimeoutSQL = `SET LOCAL lock_timeout = '200ms'`

func (b *postgresBackend) size(ctx context.Context) (int64, error) {
	var n int64
	err := b.pool.QueryRow(ctx, `SELECT size FROM head WHERE election = $1`, b.id).Scan(&n)
	return n, err
}

func (b *postgresBackend) head(ctx context.Context) (n, mark int64, err error) {
	err = b.pool.QueryRow(ctx, `SELECT size, mark FROM head WHERE election = $1`, b.id).Scan(&n, &mark)
	return n, mark, err
}

func (b *postgresBackend) readEntries(ctx context.Context, start, end int64) ([][]byte, error) {
	rows, err := b.pool.Query(ctx, `SELECT data FROM entries WHERE election = $1 AND idx >= $2 AND idx < $3 ORDER BY idx`, b.id, start, end)
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
	return readHashesPG(ctx, b.pool, b.id, idx)
}

func (b *postgresBackend) saveCheckpoint(ctx context.Context, size int64, signed []byte) error {
	_, err := b.pool.Exec(ctx, `INSERT INTO checkpoints (election, size, note) VALUES ($1, $2, $3) ON CONFLICT (election, size) DO UPDATE SET note = excluded.note`, b.id, size, signed)
	return err
}

func (b *postgresBackend) latestCheckpoint(ctx context.Context) (int64, []byte, error) {
	var n int64
	var note []byte
	err := b.pool.QueryRow(ctx, `SELECT size, note FROM checkpoints WHERE election = $1 ORDER BY size DESC LIMIT 1`, b.id).Scan(&n, &note)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, ErrNoCheckpoint
	}
	return n, note, err
}

func (b *postgresBackend) snapshot(ctx context.Context) (n, e, h int64, err error) {
	// One statement sees one snapshot, whatever other processes commit.
	err = b.pool.QueryRow(ctx, `SELECT (SELECT size FROM head WHERE election = $1), (SELECT COALESCE(MAX(idx) + 1, 0) FROM entries WHERE election = $1), (SELECT COALESCE(MAX(idx) + 1, 0) FROM hashes WHERE election = $1)`, b.id).Scan(&n, &e, &h)
	return n, e, h, err
}

func (d *postgresDB) elections(ctx context.Context) ([]Info, error) {
	rows, err := d.pool.Query(ctx, `SELECT e.id, e.created_at, e.legacy, e.witnesses, e.summary, e.summary_size, h.size FROM elections e JOIN head h ON h.election = e.id ORDER BY e.created_at, e.id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Info
	for rows.Next() {
		var in Info
		var w string
		if err := rows.Scan(&in.ID, &in.Created, &in.Legacy, &w, &in.Summary, &in.SummarySize, &in.Size); err != nil {
			return nil, err
		}
		in.Created = in.Created.UTC()
		in.Witnesses = splitWitnesses(w)
		if in.SummarySize >= 0 && in.Summary == nil {
			in.Summary = []byte{} // an empty summary, saved
		}
		out = append(out, in)
	}
	return out, rows.Err()
}

func (d *postgresDB) create(ctx context.Context, id string, created time.Time, legacy bool, witnesses string) (err error) {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback(ctx)
		}
	}()
	r, err := tx.Exec(ctx, `INSERT INTO elections (id, created_at, legacy, witnesses) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`, id, created, legacy, witnesses)
	if err != nil {
		return err
	}
	if r.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrExists, id)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO head (election, size) VALUES ($1, 0)`, id); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (d *postgresDB) log(ctx context.Context, id string) (backend, error) {
	var n int64
	err := d.pool.QueryRow(ctx, `SELECT size FROM head WHERE election = $1`, id).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNoElection, id)
	}
	if err != nil {
		return nil, err
	}
	return &postgresBackend{pool: d.pool, id: id}, nil
}

// updateElection runs an UPDATE of one election's row.
func (d *postgresDB) updateElection(ctx context.Context, id, query string, args ...any) error {
	r, err := d.pool.Exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if r.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrNoElection, id)
	}
	return nil
}

func (d *postgresDB) saveSummary(ctx context.Context, id string, size int64, summary []byte) error {
	if summary == nil {
		summary = []byte{}
	}
	return d.updateElection(ctx, id, `UPDATE elections SET summary = $1, summary_size = $2 WHERE id = $3`, summary, size, id)
}

func (d *postgresDB) setWitnesses(ctx context.Context, id string, witnesses string) error {
	return d.updateElection(ctx, id, `UPDATE elections SET witnesses = $1 WHERE id = $2`, witnesses, id)
}

func (d *postgresDB) close() error {
	d.stop()
	d.listening.Wait()
	d.pool.Close()
	return nil
}
