package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/board"
)

func TestCheckID(t *testing.T) {
	for _, id := range []string{"a", "7", "main", "demo", "board-2027", "a-b-c", "0-0", strings.Repeat("x", 32), "a--b"} {
		if err := CheckID(id); err != nil {
			t.Errorf("%q refused: %v", id, err)
		}
	}
	for _, id := range []string{"", "-", "-a", "a-", "Main", "a_b", "a.b", "a b", "é", "a/b", "../a", "a\x00", strings.Repeat("x", 33), "ａ"} {
		err := CheckID(id)
		if !errors.Is(err, ErrBadID) {
			t.Errorf("%q accepted (%v)", id, err)
		}
	}
}

// rawExec runs a statement on the database under db, written with ?
// placeholders (numbered for PostgreSQL).
func rawExec(t testing.TB, db *DB, query string, args ...any) error {
	t.Helper()
	switch d := db.d.(type) {
	case *sqliteDB:
		_, err := d.db.ExecContext(ctx, query, args...)
		return err
	case *postgresDB:
		var b strings.Builder
		n := 0
		for _, c := range query {
			if c == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
			} else {
				b.WriteRune(c)
			}
		}
		_, err := d.pool.Exec(ctx, b.String(), args...)
		return err
	}
	t.Fatalf("unknown database %T", db.d)
	return nil
}

// TestIDCheckedByTheDatabase: the catalogue refuses a bad id even from a
// writer that skips CheckID.
func TestIDCheckedByTheDatabase(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			db := mustOpenDB(t, bc.location(t))
			insert := func(id string) error {
				return rawExec(t, db, `INSERT INTO elections (id, created_at) VALUES (?, ?)`, id, createdAt(db, time.Now()))
			}
			for _, id := range []string{"", "-a", "a-", "Main", "a_b", "a b", "é", strings.Repeat("x", 33)} {
				if insert(id) == nil {
					t.Errorf("the database took the id %q", id)
				}
			}
			for _, id := range []string{"a", "board-2027", strings.Repeat("x", 32)} {
				if err := insert(id); err != nil {
					t.Errorf("the database refused the id %q: %v", id, err)
				}
			}
		})
	}
}

// createdAt is a creation time as the database's column holds it.
func createdAt(db *DB, tm time.Time) any {
	if _, ok := db.d.(*sqliteDB); ok {
		return tm.UnixMicro()
	}
	return tm
}

func TestCatalogue(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			db := mustOpenDB(t, loc)
			if es, err := db.Elections(ctx); err != nil || len(es) != 0 {
				t.Fatalf("a new database lists %v (%v)", es, err)
			}
			before := time.Now()
			if err := db.Create(ctx, "board-2027", []string{"w1+abc+def", "w2+ghi+jkl"}); err != nil {
				t.Fatal(err)
			}
			if err := db.Create(ctx, "referendum", nil); err != nil {
				t.Fatal(err)
			}
			if err := db.Create(ctx, "board-2027", nil); !errors.Is(err, ErrExists) {
				t.Fatalf("creating an election twice: %v", err)
			}
			if err := db.Create(ctx, "Board", nil); !errors.Is(err, ErrBadID) {
				t.Fatalf("creating a bad id: %v", err)
			}
			if err := db.Create(ctx, "w", []string{"a\nb"}); err == nil {
				t.Fatal("a witness key with a line break was taken")
			}
			for _, id := range []string{"nothing", "Board", ""} {
				if _, err := db.Log(ctx, id); !errors.Is(err, ErrNoElection) {
					t.Fatalf("log of %q: %v", id, err)
				}
				if err := db.SaveSummary(ctx, id, 1, []byte("s")); !errors.Is(err, ErrNoElection) {
					t.Fatalf("summary of %q: %v", id, err)
				}
				if err := db.SetWitnesses(ctx, id, nil); !errors.Is(err, ErrNoElection) {
					t.Fatalf("witnesses of %q: %v", id, err)
				}
			}

			a, err := db.Log(ctx, "board-2027")
			if err != nil {
				t.Fatal(err)
			}
			if again, err := db.Log(ctx, "board-2027"); err != nil || again != a {
				t.Fatalf("the log opened twice: %v (same store: %v)", err, again == a)
			}
			a.Append(ctx, entriesN("a", 5))

			es, err := db.Elections(ctx)
			if err != nil || len(es) != 2 {
				t.Fatalf("elections: %v %v", es, err)
			}
			e0, e1 := es[0], es[1]
			if e0.ID != "board-2027" || e1.ID != "referendum" {
				t.Fatalf("not oldest first: %s, %s", e0.ID, e1.ID)
			}
			if e0.Size != 5 || e1.Size != 0 || e0.Legacy || e1.Legacy {
				t.Fatalf("sizes %d %d, legacy %v %v", e0.Size, e1.Size, e0.Legacy, e1.Legacy)
			}
			if e0.Created.Before(before.Add(-time.Second)) || e0.Created.After(time.Now()) || e1.Created.Before(e0.Created) {
				t.Fatalf("created %v and %v (test began %v)", e0.Created, e1.Created, before)
			}
			if !slices.Equal(e0.Witnesses, []string{"w1+abc+def", "w2+ghi+jkl"}) || e1.Witnesses != nil {
				t.Fatalf("witnesses %q and %q", e0.Witnesses, e1.Witnesses)
			}
			if e0.Summary != nil || e0.SummarySize != -1 {
				t.Fatalf("no summary saved, but %q of %d", e0.Summary, e0.SummarySize)
			}

			// Summaries and witnesses, saved and read back after a restart.
			if err := db.SaveSummary(ctx, "board-2027", 3, []byte("summary of 3")); err != nil {
				t.Fatal(err)
			}
			if err := db.SaveSummary(ctx, "board-2027", 5, []byte("summary of 5")); err != nil {
				t.Fatal(err)
			}
			if err := db.SaveSummary(ctx, "referendum", 0, []byte{}); err != nil {
				t.Fatal(err)
			}
			if err := db.SetWitnesses(ctx, "board-2027", nil); err != nil {
				t.Fatal(err)
			}
			if err := db.SetWitnesses(ctx, "referendum", []string{"w3+mno+pqr"}); err != nil {
				t.Fatal(err)
			}
			if err := db.SetWitnesses(ctx, "referendum", []string{""}); err == nil {
				t.Fatal("an empty witness key was taken")
			}
			db.Close()
			if _, err := db.Elections(ctx); !errors.Is(err, ErrClosed) {
				t.Fatalf("elections of a closed DB: %v", err)
			}
			db = mustOpenDB(t, loc)
			es, err = db.Elections(ctx)
			if err != nil || len(es) != 2 {
				t.Fatalf("elections after a restart: %v %v", es, err)
			}
			if string(es[0].Summary) != "summary of 5" || es[0].SummarySize != 5 || es[0].Witnesses != nil {
				t.Fatalf("board-2027: summary %q of %d, witnesses %q", es[0].Summary, es[0].SummarySize, es[0].Witnesses)
			}
			if es[1].Summary == nil || len(es[1].Summary) != 0 || es[1].SummarySize != 0 || !slices.Equal(es[1].Witnesses, []string{"w3+mno+pqr"}) {
				t.Fatalf("referendum: summary %q of %d, witnesses %q", es[1].Summary, es[1].SummarySize, es[1].Witnesses)
			}
			if es[0].Created != e0.Created {
				t.Fatalf("created %v, read back as %v", e0.Created, es[0].Created)
			}
			// Creation order is kept across restarts.
			if err := db.Create(ctx, "aaa", nil); err != nil {
				t.Fatal(err)
			}
			es, _ = db.Elections(ctx)
			if len(es) != 3 || es[2].ID != "aaa" {
				t.Fatalf("the newest election is not last: %v", es)
			}
		})
	}
}

// TestElectionsStaySeparate appends to two elections at once, from many
// goroutines (and for PostgreSQL from two DBs on one database, as two
// processes would): each log holds exactly its own entries, each at the
// index its Append returned, with no gap, duplicate or fork.
func TestElectionsStaySeparate(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			ids := []string{"alpha", "beta"}
			dbs := []*DB{mustOpenDB(t, loc)}
			if bc.name == "postgres" {
				dbs = append(dbs, mustOpenDB(t, loc))
			}
			for _, id := range ids {
				if err := dbs[0].Create(ctx, id, nil); err != nil {
					t.Fatal(err)
				}
			}
			const goroutines, per = 16, 30
			var mu sync.Mutex
			at := map[string]map[int64]string{"alpha": {}, "beta": {}}
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Go(func() {
					db := dbs[g%len(dbs)]
					for k := range per {
						id := ids[(g+k)%2]
						s, err := db.Log(ctx, id)
						if err != nil {
							errs <- err
							return
						}
						batch := entriesN(fmt.Sprintf("%s-g%d-k%d", id, g, k), 1+k%3)
						first, err := s.Append(ctx, batch)
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						for i, e := range batch {
							if prev, dup := at[id][first+int64(i)]; dup {
								errs <- fmt.Errorf("%s: index %d given twice (%s, %s)", id, first+int64(i), prev, e)
							}
							at[id][first+int64(i)] = string(e)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			for _, id := range ids {
				s := mustLog(t, dbs[len(dbs)-1], id)
				n := checkAgainstMemory(t, s)
				if n != int64(len(at[id])) {
					t.Fatalf("%s: %d entries stored, %d acknowledged", id, n, len(at[id]))
				}
				all, _ := s.ReadEntries(ctx, 0, n)
				for i, e := range all {
					if !strings.HasPrefix(string(e), id+"-") || at[id][int64(i)] != string(e) {
						t.Fatalf("%s: index %d holds %q, acknowledged %q", id, i, e, at[id][int64(i)])
					}
				}
			}
			es, err := dbs[0].Elections(ctx)
			if err != nil || len(es) != 2 || es[0].Size != int64(len(at["alpha"])) || es[1].Size != int64(len(at["beta"])) {
				t.Fatalf("catalogue: %+v %v", es, err)
			}
		})
	}
}

// TestElectionsDoNotWaitForEachOther: while one election's commit is held
// (its committer stuck in a slow transaction), another's appends go
// through.
func TestElectionsDoNotWaitForEachOther(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			db := mustOpenDB(t, bc.location(t))
			gate := make(chan struct{})
			db.wrap = func(id string, b backend) backend {
				if id == "slow" {
					return &gatedBackend{backend: b, gate: gate}
				}
				return b
			}
			slow, fast := mustLog(t, db, "slow"), mustLog(t, db, "fast")
			held := make(chan error, 1)
			go func() { _, err := slow.Append(ctx, entriesN("slow", 1)); held <- err }()
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			for k := range 10 {
				if i, err := fast.Append(c, entriesN(fmt.Sprint(k), 2)); err != nil || i != int64(2*k) {
					t.Fatalf("an append to another election while one is held: %d %v", i, err)
				}
			}
			select {
			case err := <-held:
				t.Fatalf("the held append returned: %v", err)
			default:
			}
			close(gate)
			if err := <-held; err != nil {
				t.Fatal(err)
			}
			checkAgainstMemory(t, slow)
			checkAgainstMemory(t, fast)
		})
	}
}

// TestPostgresHeadRowIsTheLock: in PostgreSQL an election's appends lock
// its head row only: another process holding one election's lock holds up
// that election's appends, not another's.
func TestPostgresHeadRowIsTheLock(t *testing.T) {
	db := mustOpenDB(t, postgresLocation(t))
	a, b := mustLog(t, db, "a"), mustLog(t, db, "b")
	pool := db.d.(*postgresDB).pool
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT size FROM head WHERE election = 'a' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	held := make(chan error, 1)
	go func() { _, err := a.Append(ctx, entriesN("a", 1)); held <- err }()
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := b.Append(c, entriesN("b", 3)); err != nil {
		t.Fatalf("append to b while a's head is locked: %v", err)
	}
	select {
	case err := <-held:
		t.Fatalf("an append to a went through its locked head: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	tx.Rollback(ctx)
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if n := checkAgainstMemory(t, a); n != 1 {
		t.Fatalf("a has %d entries", n)
	}
}

// v1Log is a log as scrutin wrote it before issue 15, for building
// version 1 databases.
type v1Log struct {
	entries     [][]byte
	hashes      []tlog.Hash
	checkpoints map[int64][]byte
}

// buildV1 makes a version 1 database at loc (migration 1 only), holding l.
// Entries are appended in batches of 7 (as group commit would have).
func buildV1(t testing.TB, bc backendCase, loc string, l *v1Log) {
	t.Helper()
	var db *DB
	var err error
	switch bc.name {
	case "sqlite":
		db, err = openSQLite(ctx, loc, 1)
	case "postgres":
		db, err = openPostgres(ctx, loc, 1)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l.hashes = nil
	read := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = l.hashes[x]
		}
		return out, nil
	})
	for start := 0; start < len(l.entries); start += 7 {
		batch := l.entries[start:min(start+7, len(l.entries))]
		hs, err := board.NewHashes(int64(start), batch, read)
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range batch {
			if err := rawExec(t, db, `INSERT INTO entries (idx, data) VALUES (?, ?)`, int64(start+i), e); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range hs {
			if err := rawExec(t, db, `INSERT INTO hashes (idx, hash) VALUES (?, ?)`, int64(len(l.hashes)), h[:]); err != nil {
				t.Fatal(err)
			}
			l.hashes = append(l.hashes, h)
		}
	}
	if err := rawExec(t, db, `UPDATE head SET size = ? WHERE id = 1`, int64(len(l.entries))); err != nil {
		t.Fatal(err)
	}
	for n, note := range l.checkpoints {
		if err := rawExec(t, db, `INSERT INTO checkpoints (size, note) VALUES (?, ?)`, n, note); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateV1 builds version 1 databases (one election's log) and opens
// them: a log becomes the election "main", marked legacy, with the same
// entries, stored hashes and checkpoints; an empty one becomes an empty
// catalogue.
func TestMigrateV1(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			t.Run("log", func(t *testing.T) {
				loc := bc.location(t)
				l := &v1Log{entries: entriesN("v1", 300), checkpoints: map[int64][]byte{
					7: []byte("note 7"), 100: []byte("note 100"), 300: []byte("note 300"),
				}}
				buildV1(t, bc, loc, l)
				db := mustOpenDB(t, loc)
				es, err := db.Elections(ctx)
				if err != nil || len(es) != 1 {
					t.Fatalf("elections: %v %v", es, err)
				}
				if e := es[0]; e.ID != "main" || !e.Legacy || e.Size != 300 || e.SummarySize != -1 || e.Witnesses != nil || time.Since(e.Created) > time.Minute {
					t.Fatalf("the migrated election: %+v", e)
				}
				s, err := db.Log(ctx, "main")
				if err != nil {
					t.Fatal(err)
				}
				checkV1(t, db, s, l)
				// The migrated log goes on.
				if i, err := s.Append(ctx, entriesN("v2", 3)); err != nil || i != 300 {
					t.Fatalf("append to the migrated log: %d %v", i, err)
				}
				checkAgainstMemory(t, s)
				db.Close()
				// Opening again migrates nothing more.
				db = mustOpenDB(t, loc)
				if es, _ := db.Elections(ctx); len(es) != 1 || es[0].Size != 303 || !es[0].Legacy {
					t.Fatalf("after reopening: %+v", es)
				}
			})
			t.Run("empty", func(t *testing.T) {
				loc := bc.location(t)
				buildV1(t, bc, loc, &v1Log{})
				db := mustOpenDB(t, loc)
				if es, err := db.Elections(ctx); err != nil || len(es) != 0 {
					t.Fatalf("an empty v1 database lists %+v (%v)", es, err)
				}
				if _, err := db.Log(ctx, "main"); !errors.Is(err, ErrNoElection) {
					t.Fatalf("main in an empty v1 database: %v", err)
				}
				if err := db.Create(ctx, "main", nil); err != nil {
					t.Fatal(err)
				}
				if es, _ := db.Elections(ctx); len(es) != 1 || es[0].Legacy {
					t.Fatalf("main created after the migration: %+v", es)
				}
			})
			t.Run("checkpoint only", func(t *testing.T) {
				// Not made by scrutin, but nothing is dropped.
				loc := bc.location(t)
				buildV1(t, bc, loc, &v1Log{checkpoints: map[int64][]byte{0: []byte("note 0")}})
				db := mustOpenDB(t, loc)
				s, err := db.Log(ctx, "main")
				if err != nil {
					t.Fatal(err)
				}
				if n, note, err := s.LatestCheckpoint(ctx); err != nil || n != 0 || string(note) != "note 0" {
					t.Fatalf("checkpoint: %d %q %v", n, note, err)
				}
			})
		})
	}
}

// checkV1 checks that s holds l's entries, stored hashes and checkpoints.
func checkV1(t *testing.T, db *DB, s Store, l *v1Log) {
	t.Helper()
	n := int64(len(l.entries))
	if got, err := s.Size(ctx); err != nil || got != n {
		t.Fatalf("size %d %v, want %d", got, err, n)
	}
	all, err := s.ReadEntries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range all {
		if !bytes.Equal(all[i], l.entries[i]) {
			t.Fatalf("entry %d: %q, want %q", i, all[i], l.entries[i])
		}
	}
	idx := make([]int64, len(l.hashes))
	for i := range idx {
		idx[i] = int64(i)
	}
	hs, err := s.ReadHashes(ctx, idx)
	if err != nil || !slices.Equal(hs, l.hashes) {
		t.Fatalf("the stored hashes differ (%v)", err)
	}
	if int64(len(l.hashes)) != tlog.StoredHashCount(n) {
		t.Fatalf("%d hashes for %d entries", len(l.hashes), n)
	}
	checkAgainstMemory(t, s)
	var want int64 = -1
	for size := range l.checkpoints {
		want = max(want, size)
	}
	size, note, err := s.LatestCheckpoint(ctx)
	if want < 0 {
		if !errors.Is(err, ErrNoCheckpoint) {
			t.Fatalf("no checkpoint was saved, but %d %q %v", size, note, err)
		}
	} else if err != nil || size != want || !bytes.Equal(note, l.checkpoints[want]) {
		t.Fatalf("latest checkpoint %d %q %v", size, note, err)
	}
	// Every checkpoint is kept, not only the latest.
	for size, note := range l.checkpoints {
		var got []byte
		var err error
		switch d := db.d.(type) {
		case *sqliteDB:
			err = d.db.QueryRowContext(ctx, `SELECT note FROM checkpoints WHERE election = 'main' AND size = ?`, size).Scan(&got)
		case *postgresDB:
			err = d.pool.QueryRow(ctx, `SELECT note FROM checkpoints WHERE election = 'main' AND size = $1`, size).Scan(&got)
		}
		if err != nil || !bytes.Equal(got, note) {
			t.Fatalf("checkpoint %d: %q %v", size, got, err)
		}
	}
	// The version 1 tables are gone.
	if err := rawExec(t, db, `SELECT 1 FROM v1_entries`); err == nil {
		t.Fatal("the v1 tables are still there")
	}
}

// TestV1DemoFolder opens a copy of a data folder's database made by
// "scrutin demo --voters 5" before issue 15 (testdata/legacy/decided): it becomes
// the election "main", whose log is the one its checkpoint file signed.
func TestV1DemoFolder(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "legacy", "decided", SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SQLiteFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Read as it is, with SQL, before scrutin opens it.
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, SQLiteFile))
	if err != nil {
		t.Fatal(err)
	}
	var version int
	if err := raw.QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil || version != 1 {
		t.Fatalf("testdata is not a version 1 database: %d %v", version, err)
	}
	l := &v1Log{}
	rows, err := raw.Query(`SELECT data FROM entries ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e []byte
		rows.Scan(&e)
		l.entries = append(l.entries, e)
	}
	rows.Close()
	rows, err = raw.Query(`SELECT hash FROM hashes ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var h []byte
		rows.Scan(&h)
		l.hashes = append(l.hashes, tlog.Hash(h))
	}
	rows.Close()
	raw.Close()

	db := mustOpenDB(t, dir)
	es, err := db.Elections(ctx)
	if err != nil || len(es) != 1 || es[0].ID != "main" || !es[0].Legacy || es[0].Size != 30 {
		t.Fatalf("elections: %+v %v", es, err)
	}
	s, err := db.Log(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	checkV1(t, db, s, l)
	signed, err := os.ReadFile(filepath.Join("..", "testdata", "legacy", "decided", "log.checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	body, _, _ := bytes.Cut(signed, []byte("\n\n"))
	c, err := board.ParseCheckpoint(append(body, '\n'))
	if err != nil {
		t.Fatal(err)
	}
	if h, err := board.TreeHash(ctx, s, c.Size); err != nil || c.Size != 30 || h != c.Hash {
		t.Fatalf("the migrated log's tree of %d: %v %v, the checkpoint file signed %v", c.Size, h, err, c.Hash)
	}
}

// BenchmarkElections1000 opens a database holding 1,000 elections (3
// entries each) and lists them, as a server does at start.
func BenchmarkElections1000(b *testing.B) {
	for _, bc := range backends(b) {
		b.Run(bc.name, func(b *testing.B) {
			loc := bc.location(b)
			db := mustOpenDB(b, loc)
			const n = 1000
			var wg sync.WaitGroup
			work := make(chan int)
			for range 8 {
				wg.Go(func() {
					for i := range work {
						id := fmt.Sprintf("election-%04d", i)
						s := mustLog(b, db, id)
						if _, err := s.Append(ctx, entriesN(id, 3)); err != nil {
							b.Error(err)
						}
						s.Close()
					}
				})
			}
			for i := range n {
				work <- i
			}
			close(work)
			wg.Wait()
			db.Close()
			b.ResetTimer()
			for b.Loop() {
				db, err := Open(ctx, loc)
				if err != nil {
					b.Fatal(err)
				}
				es, err := db.Elections(ctx)
				if err != nil || len(es) != n || es[n-1].Size != 3 {
					b.Fatalf("%d elections, %v", len(es), err)
				}
				db.Close()
			}
		})
	}
}

// TestPostgresHashReadsUseTheIndex: the generic plan PostgreSQL may cache
// for reading hashes looks each one up in the index, even when the plan
// was made while the table was empty.
func TestPostgresHashReadsUseTheIndex(t *testing.T) {
	db := mustOpenDB(t, postgresLocation(t))
	s := mustLog(t, db, "a")
	conn, err := db.d.(*postgresDB).pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for _, q := range []string{
		`SET plan_cache_mode = force_generic_plan`,
		`PREPARE read_hashes (text, bigint[]) AS ` + readHashesQueryPG,
		`EXECUTE read_hashes ('a', '{0}')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	defer conn.Exec(ctx, `DEALLOCATE read_hashes; RESET plan_cache_mode`)
	for i := 0; i < 20_000; i += 4000 {
		if _, err := s.Append(ctx, entriesN(fmt.Sprint(i), 4000)); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := conn.Query(ctx, `EXPLAIN EXECUTE read_hashes ('a', '{5, 100}')`)
	if err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	for rows.Next() {
		var line string
		rows.Scan(&line)
		plan.WriteString(line + "\n")
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	if p := plan.String(); !strings.Contains(p, "Index Cond: ((election = $1) AND (idx = w.idx))") || strings.Contains(p, "Seq Scan on hashes") || strings.Contains(p, "Bitmap") {
		t.Fatalf("the generic plan of reading hashes:\n%s", p)
	}
}

// TestLogOpenedOnce: callers asking for one election's log at once share
// one Store (one committer); after its Close, Log opens it again; DB.Close
// closes every log, after their queued appends.
func TestLogOpenedOnce(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			db := mustOpenDB(t, loc)
			for _, id := range []string{"x", "y"} {
				if err := db.Create(ctx, id, nil); err != nil {
					t.Fatal(err)
				}
			}
			got := make([]Store, 20)
			var wg sync.WaitGroup
			for i := range got {
				wg.Go(func() {
					s, err := db.Log(ctx, "x")
					if err != nil {
						t.Error(err)
					}
					got[i] = s
				})
			}
			wg.Wait()
			for _, s := range got {
				if s != got[0] {
					t.Fatal("one election's log opened twice")
				}
			}
			x := got[0]
			y := mustLog(t, db, "y")
			// Appends queued on both logs when the DB closes are committed.
			errs := make(chan error, 40)
			for i := range 40 {
				s := []Store{x, y}[i%2]
				wg.Go(func() {
					_, err := s.Append(ctx, entriesN(fmt.Sprint(i), 2))
					errs <- err
				})
			}
			time.Sleep(20 * time.Millisecond)
			db.Close()
			wg.Wait()
			close(errs)
			committed := 0
			for err := range errs {
				if err == nil {
					committed += 2
				} else if !errors.Is(err, ErrNotAppended) || !errors.Is(err, ErrClosed) {
					t.Fatalf("an append as the DB closed: %v", err)
				}
			}
			db = mustOpenDB(t, loc)
			es, err := db.Elections(ctx)
			if err != nil || int(es[0].Size+es[1].Size) != committed {
				t.Fatalf("%d entries acknowledged, the catalogue says %+v (%v)", committed, es, err)
			}
		})
	}
}

// TestOpenLog: the deprecated single-election opener creates the election
// (legacy, as a single-election server's log is) and closes the DB with
// the log.
func TestOpenLog(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenLog(ctx, dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, entriesN("a", 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenLog(ctx, dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Size(ctx); n != 2 {
		t.Fatalf("size %d after reopening", n)
	}
	s.Close()
	db := s.(*ownedLog).db
	if _, err := db.Elections(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("the DB of a closed OpenLog: %v", err)
	}
	db = mustOpenDB(t, dir)
	if es, _ := db.Elections(ctx); len(es) != 1 || es[0].ID != "main" || !es[0].Legacy {
		t.Fatalf("elections %+v", es)
	}
}

// TestLogClosingIsNotHandedOut: while a log drains its queued appends on
// Close, Log opens the election's log again rather than hand out the one
// closing (whose appends would fail with ErrClosed).
func TestLogClosingIsNotHandedOut(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			db := mustOpenDB(t, bc.location(t))
			gate := make(chan struct{})
			opened := 0
			db.wrap = func(id string, b backend) backend {
				if opened++; opened == 1 {
					return &gatedBackend{backend: b, gate: gate}
				}
				return b
			}
			old := mustLog(t, db, "e")
			queued := make(chan error, 1)
			go func() { _, err := old.Append(ctx, entriesN("old", 1)); queued <- err }()
			time.Sleep(20 * time.Millisecond)
			closed := make(chan error, 1)
			go func() { closed <- old.Close() }()
			waitFor(t, "the log to close", func() bool {
				old := old.(*groupStore)
				old.mu.RLock()
				defer old.mu.RUnlock()
				return old.closed
			})
			time.Sleep(20 * time.Millisecond)
			s, err := db.Log(ctx, "e")
			if err != nil {
				t.Fatal(err)
			}
			if s == old {
				t.Fatal("Log handed out the log being closed")
			}
			if _, err := s.Append(ctx, entriesN("new", 1)); err != nil {
				t.Fatal(err)
			}
			close(gate)
			if err := <-queued; err != nil {
				t.Fatal(err)
			}
			<-closed
			if n := checkAgainstMemory(t, s); n != 2 {
				t.Fatalf("%d entries", n)
			}
		})
	}
}
