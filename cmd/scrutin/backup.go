package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/dirlock"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// The files of a backup folder besides the data folder's keys.
const (
	backupSQLite   = "scrutin.db"   // SQLite's copy (VACUUM INTO)
	backupPostgres = "scrutin.dump" // pg_dump --format=custom
)

// backupKeys returns the data folder's keys a backup holds, as paths
// relative to the folder (log.key, staff.key, each election's sign-in list
// and its key), and where each is in the data folder (--log-key-file and
// --staff-key-file, if given). The checkpoint files and staff-trail.seen
// are never in a backup: they are what tells a restored database that is
// older than what the server acknowledged.
func backupKeys(dir, logKey, staffKey string) (map[string]string, error) {
	files := map[string]string{
		demo.LogKeyFile:  filepath.Join(dir, demo.LogKeyFile),
		accounts.KeyFile: filepath.Join(dir, accounts.KeyFile),
	}
	if logKey != "" {
		files[demo.LogKeyFile] = logKey
	}
	if staffKey != "" {
		files[accounts.KeyFile] = staffKey
	}
	for _, name := range []string{server.SignInKeyFile, server.SignInListFile} {
		m, err := filepath.Glob(filepath.Join(dir, "elections", "*", name))
		if err != nil {
			return nil, err
		}
		for _, p := range m {
			rel, _ := filepath.Rel(dir, p)
			files[rel] = p
		}
	}
	return files, nil
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func printCounts(w io.Writer, verb string, counts map[string]int64) {
	for _, id := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(w, "election %s: %d log entries %s\n", id, counts[id], verb)
	}
}

func backupCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("backup", "--dir DIR [--db URL] --out FOLDER",
		`Backup writes a consistent copy of the store and the data folder's keys
into FOLDER (made, mode 0700), while "scrutin serve" runs on DIR: the
database's copy holds every entry the server had acknowledged when the copy
started (SQLite: VACUUM INTO, one read snapshot; PostgreSQL: pg_dump, which
must be installed, in one snapshot too), and the keys are DIR/log.key,
DIR/staff.key and each election's elections/ID/voters.key and voters.sealed.
The checkpoint files (DIR/checkpoints) and DIR/staff-trail.seen are left
out on purpose: they stay on the server and let it notice, after a restore,
a copy older than what it acknowledged. Restore with "scrutin restore".`)
	dir := fs.String("dir", "", "the server's data folder")
	db := fs.String("db", "", "the server's PostgreSQL URL, if it has one (else SQLite in --dir)")
	out := fs.String("out", "", "folder to write the backup into (must not exist, or be empty)")
	logKey := fs.String("log-key-file", "", "the server's --log-key-file, if it has one")
	staffKey := fs.String("staff-key-file", "", "the server's --staff-key-file, if it has one")
	return fs, func(stdout, stderr io.Writer) int {
		if *dir == "" || *out == "" {
			fmt.Fprintln(stderr, "scrutin backup: --dir and --out are required")
			return exitUsage
		}
		if *db != "" {
			if err := checkDB("--db", *db); err != nil {
				return fail(stderr, "backup", err)
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := os.MkdirAll(*out, 0o700); err != nil {
			return fail(stderr, "backup", err)
		}
		if ents, err := os.ReadDir(*out); err != nil {
			return fail(stderr, "backup", err)
		} else if len(ents) > 0 {
			return fail(stderr, "backup", fmt.Errorf("%s is not empty: give a new folder for each backup", *out))
		}
		keys, err := backupKeys(*dir, *logKey, *staffKey)
		if err != nil {
			return fail(stderr, "backup", err)
		}
		for _, rel := range sortedKeys(keys) {
			b, err := os.ReadFile(keys[rel])
			if err != nil {
				return fail(stderr, "backup", fmt.Errorf("a key the backup needs: %w", err))
			}
			to := filepath.Join(*out, rel)
			if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
				return fail(stderr, "backup", err)
			}
			if err := atrest.WriteFile(to, b, 0o600); err != nil {
				return fail(stderr, "backup", err)
			}
		}
		if store.IsPostgres(*db) {
			// Made 0600 first: pg_dump writes into it (truncating, the
			// mode kept), never a moment open to others.
			f, err := os.OpenFile(filepath.Join(*out, backupPostgres), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fail(stderr, "backup", err)
			}
			f.Close()
			cmd := exec.CommandContext(ctx, "pg_dump", "--format=custom", "--file="+filepath.Join(*out, backupPostgres), *db)
			var msg bytes.Buffer
			cmd.Stdout, cmd.Stderr = &msg, &msg
			if err := cmd.Run(); err != nil {
				return fail(stderr, "backup", fmt.Errorf("pg_dump: %v: %s", err, bytes.TrimSpace(msg.Bytes())))
			}
			if err := os.Chmod(filepath.Join(*out, backupPostgres), 0o600); err != nil {
				return fail(stderr, "backup", err)
			}
		} else if *db != "" {
			fmt.Fprintf(stderr, "scrutin backup: --db is a postgres:// URL, not %q\n", *db)
			return exitUsage
		} else {
			counts, err := store.BackupSQLite(ctx, *dir, filepath.Join(*out, backupSQLite))
			if err != nil {
				return fail(stderr, "backup", err)
			}
			printCounts(stdout, "copied", counts)
		}
		fmt.Fprintf(stdout, "backup written to %s (keep it as secret as the server's keys)\n", *out)
		return exitOK
	}
}

func restoreCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("restore", "--from FOLDER --dir DIR [--db URL] [--accept-rollback]",
		`Restore puts a backup made by "scrutin backup" back, with the server stopped
(on every node, with PostgreSQL): the database (SQLite: DIR/scrutin.db,
replacing it; PostgreSQL: pg_restore --clean, which must be installed) and
the keys the data folder lacks. A key the data folder already has must be
the backup's: restore changes no key. It never touches the checkpoint files
(DIR/checkpoints) nor DIR/staff-trail.seen: "scrutin serve" then refuses an
election whose restored log is older than a checkpoint this server signed.
With SQLite, restore itself refuses such a backup (the database it would
replace holds entries the server acknowledged), unless --accept-rollback.`)
	from := fs.String("from", "", "the backup folder")
	dir := fs.String("dir", "", "the server's data folder")
	db := fs.String("db", "", "the server's PostgreSQL URL, if it has one (else SQLite in --dir)")
	logKey := fs.String("log-key-file", "", "the server's --log-key-file, if it has one")
	staffKey := fs.String("staff-key-file", "", "the server's --staff-key-file, if it has one")
	cpDir := fs.String("checkpoint-dir", "", "the server's --checkpoint-dir, if it has one (default DIR/"+server.CheckpointDir+")")
	acceptRollback := fs.Bool("accept-rollback", false, "restore even a backup older than a checkpoint this server signed (SQLite): what it acknowledged since is lost")
	return fs, func(stdout, stderr io.Writer) int {
		if *from == "" || *dir == "" {
			fmt.Fprintln(stderr, "scrutin restore: --from and --dir are required")
			return exitUsage
		}
		if *db != "" && !store.IsPostgres(*db) {
			fmt.Fprintln(stderr, "scrutin restore: --db is a postgres:// URL")
			return exitUsage
		}
		if *db != "" {
			if err := checkDB("--db", *db); err != nil {
				return fail(stderr, "restore", err)
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return fail(stderr, "restore", err)
		}
		// No server may run on the folder meanwhile.
		l, err := dirlock.TryLock(*dir)
		if err != nil {
			return fail(stderr, "restore", fmt.Errorf("%w: stop \"scrutin serve\" on %s first", err, *dir))
		}
		defer l.Unlock()
		if *cpDir == "" {
			*cpDir = filepath.Join(*dir, server.CheckpointDir)
		}
		// Everything is checked before anything is written.
		dbFile := backupSQLite
		if *db != "" {
			dbFile = backupPostgres
		}
		if _, err := os.Stat(filepath.Join(*from, dbFile)); err != nil {
			return fail(stderr, "restore", fmt.Errorf("%s holds no %s: is it a backup of this kind of store? %w", *from, dbFile, err))
		}
		keys, err := backupKeys(*dir, *logKey, *staffKey)
		if err != nil {
			return fail(stderr, "restore", err)
		}
		inBackup, err := backupKeys(*from, "", "")
		if err != nil {
			return fail(stderr, "restore", err)
		}
		copyKeys := map[string][]byte{}
		for _, rel := range sortedKeys(inBackup) {
			b, err := os.ReadFile(inBackup[rel])
			if err != nil {
				return fail(stderr, "restore", err)
			}
			to, ok := keys[rel]
			if !ok {
				to = filepath.Join(*dir, rel)
			}
			have, err := os.ReadFile(to)
			switch {
			case errors.Is(err, os.ErrNotExist):
				copyKeys[to] = b
			case err != nil:
				return fail(stderr, "restore", err)
			case !bytes.Equal(have, b):
				return fail(stderr, "restore", fmt.Errorf("%s is not the backup's %s: restore changes no key; if the backup's is the right one, move %s away first", to, rel, to))
			}
		}
		var counts map[string]int64
		if *db == "" {
			counts, err = store.SQLiteEntryCounts(ctx, filepath.Join(*from, backupSQLite))
			if err != nil {
				return fail(stderr, "restore", err)
			}
			stale := false
			for id, n := range counts {
				signed := server.SignedCheckpointSize(*cpDir, id)
				if signed < 0 && n > 0 {
					fmt.Fprintf(stdout, "election %s: %s holds no checkpoint of it (a new machine?): scrutin serve cannot tell whether this backup holds everything that was acknowledged, and serves it only with --accept-rollback, given once; if the old server's checkpoint folder survived, copy it here first\n", id, *cpDir)
				}
				if signed > n {
					stale = true
					fmt.Fprintf(stderr, "scrutin restore: election %s: this server signed a checkpoint of %d entries, the backup holds only %d: %d entries it acknowledged are missing from it\n", id, signed, n, signed-n)
				}
			}
			// An election created after the backup was made is not in
			// it at all: restoring loses every entry of it this server
			// acknowledged, as a shorter log would.
			des, err := os.ReadDir(*cpDir)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return fail(stderr, "restore", fmt.Errorf("the checkpoint files: %w", err))
			}
			for _, de := range des {
				id := strings.TrimSuffix(de.Name(), server.WitnessedSuffix)
				if _, ok := counts[id]; ok || de.IsDir() || store.CheckID(id) != nil {
					continue
				}
				if signed := server.SignedCheckpointSize(*cpDir, id); signed > 0 {
					stale = true
					counts[id] = 0 // named once
					fmt.Fprintf(stderr, "scrutin restore: election %s: this server signed a checkpoint of %d entries, the backup does not hold the election at all (made before it was created?)\n", id, signed)
				}
			}
			if stale && !*acceptRollback {
				return fail(stderr, "restore", errors.New("the backup is older than what this server acknowledged: restore a newer one (nothing was changed); only to accept the loss, give --accept-rollback here and to scrutin serve"))
			}
		}
		for _, to := range slices.Sorted(maps.Keys(copyKeys)) {
			if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
				return fail(stderr, "restore", err)
			}
			if err := atrest.WriteFile(to, copyKeys[to], 0o600); err != nil {
				return fail(stderr, "restore", err)
			}
			fmt.Fprintf(stdout, "restored %s\n", to)
		}
		if *db == "" {
			if counts, err = store.RestoreSQLite(ctx, filepath.Join(*from, backupSQLite), *dir); err != nil {
				return fail(stderr, "restore", err)
			}
			printCounts(stdout, "restored", counts)
		} else {
			cmd := exec.CommandContext(ctx, "pg_restore", "--clean", "--if-exists", "--dbname="+*db, filepath.Join(*from, backupPostgres))
			var msg bytes.Buffer
			cmd.Stdout, cmd.Stderr = &msg, &msg
			if err := cmd.Run(); err != nil {
				return fail(stderr, "restore", fmt.Errorf("pg_restore: %v: %s", err, bytes.TrimSpace(msg.Bytes())))
			}
			fmt.Fprintln(stdout, "database restored with pg_restore")
		}
		fmt.Fprintf(stdout, "restored from %s; \"scrutin serve\" checks each log against the checkpoints this server signed (%s)\n", *from, *cpDir)
		return exitOK
	}
}
