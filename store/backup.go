package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
)

// BackupSQLite writes a consistent copy of the SQLite database of data
// folder dir to the file dest (which must not exist), mode 0600, while a
// server may be writing to it: VACUUM INTO reads one snapshot of the
// database (a read transaction, which in WAL mode never blocks the
// writer nor is blocked by it), so the copy holds every transaction
// committed before it started and none after. It returns the number of
// log entries of each election in the copy.
func BackupSQLite(ctx context.Context, dir, dest string) (map[string]int64, error) {
	path := filepath.Join(dir, SQLiteFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database to back up: %w", err)
	}
	if _, err := os.Lstat(dest); err == nil {
		return nil, fmt.Errorf("%s already exists", dest)
	}
	// Made first with mode 0600 (VACUUM INTO writes into an empty file),
	// so the copy is never readable by others, even for a moment.
	f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	f.Close()
	ok := false
	defer func() {
		if !ok {
			os.Remove(dest)
		}
	}()
	// VACUUM INTO only reads the live database.
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dest); err != nil {
		return nil, fmt.Errorf("VACUUM INTO %s: %w", dest, err)
	}
	counts, err := SQLiteEntryCounts(ctx, dest)
	if err != nil {
		return nil, fmt.Errorf("the copy %s cannot be read: %w", dest, err)
	}
	if err := syncFile(dest); err != nil {
		return nil, err
	}
	ok = true
	return counts, nil
}

// SQLiteEntryCounts returns the number of log entries of each election in
// the SQLite database file path, and checks the file's integrity.
func SQLiteEntryCounts(ctx context.Context, path string) (map[string]int64, error) {
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&check); err != nil {
		return nil, err
	}
	if check != "ok" {
		return nil, fmt.Errorf("quick_check: %s", check)
	}
	rows, err := db.QueryContext(ctx, "SELECT e.id, (SELECT count(*) FROM entries WHERE election = e.id) FROM elections e ORDER BY e.id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		counts[id] = n
	}
	return counts, rows.Err()
}

// RestoreSQLite puts the SQLite backup file src (made by BackupSQLite) in
// place of data folder dir's database, which no process may have open: it
// checks the copy, removes the old write-ahead log and shared memory
// files, and renames a synced copy over DIR/scrutin.db. It returns the
// number of log entries of each election restored.
func RestoreSQLite(ctx context.Context, src, dir string) (map[string]int64, error) {
	counts, err := SQLiteEntryCounts(ctx, src)
	if err != nil {
		return nil, fmt.Errorf("%s is not a scrutin backup: %w", src, err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, SQLiteFile)
	tmp := path + ".restoring"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, err
	}
	defer os.Remove(tmp)
	if err := syncFile(tmp); err != nil {
		return nil, err
	}
	// The old database's write-ahead log would be replayed into the
	// restored one.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, err
	}
	return counts, syncFile(dir)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
