package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/internal/pgtest"
)

var ctx = context.Background()

// backendCase opens stores of one kind; reopen opens the same database
// again (a second process, or a restart).
type backendCase struct {
	name string
	// location returns a fresh, empty database location for a test.
	location func(t testing.TB) string
}

func backends(t testing.TB) []backendCase {
	return []backendCase{
		{"sqlite", func(t testing.TB) string { return t.TempDir() }},
		{"postgres", postgresLocation},
	}
}

// postgresLocation gives the test a schema of its own (internal/pgtest)
// and returns a URL that uses it.
func postgresLocation(t testing.TB) string {
	t.Helper()
	return pgtest.Schema(t, "scrutin_store")
}

// testElection is the election the single-log tests use.
const testElection = "test"

// mustOpenDB opens the database at loc, closed at the test's end.
func mustOpenDB(t testing.TB, loc string) *DB {
	t.Helper()
	db, err := Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustLog returns the log of election id in db, creating the election if
// needed.
func mustLog(t testing.TB, db *DB, id string) Store {
	t.Helper()
	if err := db.Create(ctx, id, nil); err != nil && !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
	s, err := db.Log(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mustOpen opens a database of its own at loc (as another process would)
// and the test election's log in it.
func mustOpen(t testing.TB, loc string) Store {
	t.Helper()
	return mustLog(t, mustOpenDB(t, loc), testElection)
}

func entriesN(prefix string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// checkAgainstMemory replays every entry of s into a MemStorage and
// requires the same tree hash: the stored hashes are those of the entries.
func checkAgainstMemory(t testing.TB, s Store) int64 {
	t.Helper()
	n, err := s.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		return 0
	}
	all, err := s.ReadEntries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	mem := &board.MemStorage{}
	if _, err := mem.Append(ctx, all); err != nil {
		t.Fatal(err)
	}
	want, _ := board.TreeHash(ctx, mem, n)
	got, err := board.TreeHash(ctx, s, n)
	if err != nil || got != want {
		t.Fatalf("stored tree hash %v (%v), recomputed %v", got, err, want)
	}
	return n
}

func TestContract(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			t.Run("append and read", func(t *testing.T) { testAppendRead(t, bc) })
			t.Run("concurrent appenders", func(t *testing.T) { testConcurrent(t, bc) })
			t.Run("reopen and checkpoints", func(t *testing.T) { testReopen(t, bc) })
			t.Run("proofs", func(t *testing.T) { testProofs(t, bc) })
			t.Run("refusals", func(t *testing.T) { testRefusals(t, bc) })
			t.Run("migrations", func(t *testing.T) { testMigrations(t, bc) })
		})
	}
}

func testAppendRead(t *testing.T, bc backendCase) {
	s := mustOpen(t, bc.location(t))
	if n, _ := s.Size(ctx); n != 0 {
		t.Fatalf("new store has %d entries", n)
	}
	first, err := s.Append(ctx, entriesN("a", 3))
	if err != nil || first != 0 {
		t.Fatalf("first append: %d %v", first, err)
	}
	big := [][]byte{make([]byte, board.MaxEntrySize)}
	if first, err = s.Append(ctx, big); err != nil || first != 3 {
		t.Fatalf("second append: %d %v", first, err)
	}
	got, err := s.ReadEntries(ctx, 0, 4)
	if err != nil || string(got[2]) != "a-2" || len(got[3]) != board.MaxEntrySize {
		t.Fatalf("read: %v", err)
	}
	if _, err := s.ReadEntries(ctx, 2, 9); err == nil {
		t.Fatal("read beyond the end succeeded")
	}
	checkAgainstMemory(t, s)
}

// testConcurrent appends from many goroutines (and, for PostgreSQL, two
// stores on one database, as two processes would): every entry must be
// present exactly once, at the index its Append returned, with no gap.
func testConcurrent(t *testing.T, bc backendCase) {
	loc := bc.location(t)
	stores := []Store{mustOpen(t, loc)}
	if bc.name == "postgres" {
		stores = append(stores, mustOpen(t, loc))
	}
	const goroutines, per = 16, 40
	var mu sync.Mutex
	at := make(map[int64]string)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			s := stores[g%len(stores)]
			for k := range per {
				batch := entriesN(fmt.Sprintf("g%d-k%d", g, k), 1+k%3)
				first, err := s.Append(ctx, batch)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for i, e := range batch {
					if prev, dup := at[first+int64(i)]; dup {
						errs <- fmt.Errorf("index %d given twice (%s, %s)", first+int64(i), prev, e)
					}
					at[first+int64(i)] = string(e)
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
	n := checkAgainstMemory(t, stores[0])
	if n != int64(len(at)) {
		t.Fatalf("%d entries stored, %d acknowledged", n, len(at))
	}
	all, _ := stores[len(stores)-1].ReadEntries(ctx, 0, n)
	for i, e := range all {
		if at[int64(i)] != string(e) {
			t.Fatalf("index %d holds %q, acknowledged %q", i, e, at[int64(i)])
		}
	}
}

func testReopen(t *testing.T, bc backendCase) {
	loc := bc.location(t)
	db := mustOpenDB(t, loc)
	s := mustLog(t, db, testElection)
	if _, _, err := s.LatestCheckpoint(ctx); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("no checkpoint yet: %v", err)
	}
	s.Append(ctx, entriesN("x", 300))
	s.SaveCheckpoint(ctx, 100, []byte("note 100"))
	s.SaveCheckpoint(ctx, 300, []byte("note 300"))
	s.SaveCheckpoint(ctx, 300, []byte("note 300, cosigned"))
	s.Close()
	if _, err := s.Append(ctx, entriesN("y", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	// Opened again in the same DB, and in another (a restart).
	s1, err := db.Log(ctx, testElection)
	if err != nil || s1 == s {
		t.Fatalf("reopening a closed log: %v (the closed one again: %v)", err, s1 == s)
	}
	if n := checkAgainstMemory(t, s1); n != 300 {
		t.Fatalf("after reopening: %d entries", n)
	}
	db.Close()
	if _, err := s1.Append(ctx, entriesN("y", 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after the DB closed: %v", err)
	}
	if _, err := db.Log(ctx, testElection); !errors.Is(err, ErrClosed) {
		t.Fatalf("log of a closed DB: %v", err)
	}
	s2 := mustOpen(t, loc)
	if n := checkAgainstMemory(t, s2); n != 300 {
		t.Fatalf("after reopening: %d entries", n)
	}
	size, note, err := s2.LatestCheckpoint(ctx)
	if err != nil || size != 300 || string(note) != "note 300, cosigned" {
		t.Fatalf("latest checkpoint: %d %q %v", size, note, err)
	}
	if first, _ := s2.Append(ctx, entriesN("z", 2)); first != 300 {
		t.Fatalf("append after reopening at %d", first)
	}
}

func testProofs(t *testing.T, bc backendCase) {
	s := mustOpen(t, bc.location(t))
	for k := range 10 {
		s.Append(ctx, entriesN(fmt.Sprint(k), 37))
	}
	c, err := board.CurrentCheckpoint(ctx, s, "o")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []int64{0, 1, 100, 255, 256, 369} {
		e, _ := s.ReadEntries(ctx, i, i+1)
		p, err := board.ProveInclusion(ctx, s, i, c.Size)
		if err != nil || board.VerifyInclusion(p, i, e[0], c) != nil {
			t.Fatalf("inclusion of %d: %v", i, err)
		}
	}
	old := board.Checkpoint{Origin: "o", Size: 100}
	old.Hash, _ = board.TreeHash(ctx, s, 100)
	p, err := board.ProveConsistency(ctx, s, 100, c.Size)
	if err != nil || board.VerifyConsistency(p, old, c) != nil {
		t.Fatalf("consistency: %v", err)
	}
}

func testRefusals(t *testing.T, bc backendCase) {
	s := mustOpen(t, bc.location(t))
	for name, batch := range map[string][][]byte{
		"nothing":       nil,
		"empty entry":   {[]byte("ok"), {}},
		"entry too big": {make([]byte, board.MaxEntrySize+1)},
	} {
		if _, err := s.Append(ctx, batch); err == nil {
			t.Errorf("%s: appended", name)
		}
	}
	if n, _ := s.Size(ctx); n != 0 {
		t.Fatalf("a refused batch left %d entries", n)
	}
}

func testMigrations(t *testing.T, bc backendCase) {
	loc := bc.location(t)
	db, err := Open(ctx, loc)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	// A database written by a newer scrutin is refused, not altered.
	switch bc.name {
	case "sqlite":
		db, _ := OpenSQLite(ctx, loc)
		db.d.(*sqliteDB).db.Exec(`INSERT INTO schema_migrations (version) VALUES (99)`)
		db.Close()
	case "postgres":
		conn, err := pgx.Connect(ctx, loc)
		if err != nil {
			t.Fatal(err)
		}
		conn.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES (99)`)
		conn.Close(ctx)
	}
	if _, err := Open(ctx, loc); !errors.Is(err, ErrTooNew) {
		t.Fatalf("newer schema: %v", err)
	}
}

func TestMigrationFilesAreNumbered(t *testing.T) {
	for _, d := range []string{"sqlite", "postgres"} {
		ms, err := migrations(d)
		if err != nil || len(ms) == 0 {
			t.Fatalf("%s: %v", d, err)
		}
	}
	a, _ := migrations("sqlite")
	b, _ := migrations("postgres")
	if len(a) != len(b) {
		t.Fatal("the two stores have different numbers of migrations")
	}
}
