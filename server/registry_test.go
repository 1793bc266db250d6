package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

func newCatalogue(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// appendRaw appends entries to election id's log behind the registry's back.
func appendRaw(t testing.TB, db *store.DB, id string, entries ...[]byte) {
	t.Helper()
	st, err := db.Log(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Append(context.Background(), entries); err != nil {
		t.Fatal(err)
	}
}

func masterSeed() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}

// fixture prepares, off the registry, an election (voting open) whose log
// key is that of election id under master.
func fixture(t testing.TB, master []byte, id string, voters int) *demo.Fixture {
	t.Helper()
	f, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: voters, Workers: 2, NoSignIn: true, MasterSeed: master, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Store.Close() })
	return f
}

// record appends the fixture's log to e, entry by entry, through e.
func record(t testing.TB, f *demo.Fixture, e *server.Election) {
	t.Helper()
	ctx := context.Background()
	n, _ := f.Store.Size(ctx)
	es, err := f.Store.ReadEntries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range es {
		if _, err := e.Append(ctx, entry); err != nil {
			t.Fatal(err)
		}
	}
}

// decide creates each election of ids in r and runs it to its result
// (two voters), through r's elections.
func decide(t testing.TB, r *server.Registry, master []byte, ids ...string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range ids {
		f := fixture(t, master, id, 2)
		e, err := r.Create(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		record(t, f, e)
		f.Election = e
		if _, err := f.Finish(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func openRegistry(t testing.TB, c server.Catalogue, master []byte, cpDir string) *server.Registry {
	t.Helper()
	r, err := server.OpenRegistry(context.Background(), server.RegistryOptions{DB: c, MasterSeed: master, CheckpointDir: cpDir,
		Handler: func(id string, e *server.Election) server.Options { return server.Options{NoSignIn: true} }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// castHTTP casts voter i's ballot through the API at base (an election's
// /api/e/{id}).
func castHTTP(t testing.TB, f *demo.Fixture, e *server.Election, base string, i int) (int, string) {
	t.Helper()
	var view *election.Election
	e.State(func(s *election.State) { view, _ = s.Voter() })
	k, err := election.CredentialKey(f.F, f.Codes[i])
	if err != nil {
		t.Fatal(err)
	}
	entry, err := view.NewBallot(nil, k, f.Choices(i, []int{0}, []int{}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/ballots", "application/json", bytes.NewReader(entry[1:]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRegistryTwoElections: one registry serves two elections at once,
// each under its own addresses and with its own log key; a ballot cast to
// A is not in B; an unknown id is 404 with no detail.
func TestRegistryTwoElections(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	c := newCatalogue(t)
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r := openRegistry(t, c, master, cpDir)
	defer r.Close()
	fs := map[string]*demo.Fixture{}
	es := map[string]*server.Election{}
	for _, id := range []string{"a", "b"} {
		fs[id] = fixture(t, master, id, 4)
		e, err := r.Create(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		record(t, fs[id], e)
		es[id] = e
	}
	if _, err := r.Create(ctx, "a", nil); err == nil {
		t.Fatal("a second election a was created")
	}
	if _, err := r.Create(ctx, "Not_an_id", nil); err == nil {
		t.Fatal("an election with a bad id was created")
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()

	for id, f := range fs {
		code, body := get(t, srv.URL+"/api/e/"+id+"/election")
		var got struct {
			Fingerprint string
			LogKey      string `json:"log_key"`
		}
		json.Unmarshal(body, &got)
		if code != 200 || !strings.Contains(string(body), fmt.Sprintf("%x", f.F[:])) || got.LogKey != f.LogKey {
			t.Fatalf("/api/e/%s/election: %d %s", id, code, body)
		}
		code, body = get(t, srv.URL+"/e/"+id+"/log/checkpoint")
		if code != 200 || !strings.HasPrefix(string(body), board.Origin(f.F)+"\n") {
			t.Fatalf("/e/%s/log/checkpoint: %d %q", id, code, body)
		}
	}
	if fs["a"].LogKey == fs["b"].LogKey {
		t.Fatal("two elections share a log key")
	}

	code, body := castHTTP(t, fs["a"], es["a"], srv.URL+"/api/e/a", 0)
	if code != http.StatusCreated {
		t.Fatalf("a ballot to a: %d %s", code, body)
	}
	var rc server.Receipt
	json.Unmarshal([]byte(body), &rc)
	var ba, bb int
	es["a"].State(func(s *election.State) { ba = s.Ballots })
	es["b"].State(func(s *election.State) { bb = s.Ballots })
	if ba != 1 || bb != 0 {
		t.Fatalf("after a ballot to a: a has %d ballots, b %d", ba, bb)
	}
	if code, _ := get(t, srv.URL+"/api/e/a/ballots/"+rc.Tracker); code != 200 {
		t.Fatalf("a's tracker in a: %d", code)
	}
	if code, _ := get(t, srv.URL+"/api/e/b/ballots/"+rc.Tracker); code != 404 {
		t.Fatalf("a's tracker in b: %d", code)
	}
	// A ballot of A's voter posted to B is refused (its credential is not B's).
	if code, body := castHTTP(t, fs["a"], es["a"], srv.URL+"/api/e/b", 1); code == http.StatusCreated {
		t.Fatalf("a ballot of a cast to b: %d %s", code, body)
	}
	for _, p := range []string{"/api/e/zzz/election", "/e/zzz/log/checkpoint", "/api/e/zzz/ballots", "/api/election", "/log/checkpoint", "/api/e/a/nothing", "/api/e/NOT/election"} {
		code, body := get(t, srv.URL+p)
		if code != 404 || strings.Contains(string(body), "zzz") || len(body) > 40 {
			t.Errorf("%s: %d %s; want 404 with no detail", p, code, body)
		}
	}
	if _, err := r.Election(ctx, "zzz"); !errors.Is(err, server.ErrNoElection) {
		t.Fatalf("Election(zzz): %v", err)
	}
	// An election created in the store by another process ("scrutin
	// election new") is found once asked for.
	time.Sleep(time.Second)
	if err := c.Create(ctx, "late", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Election(ctx, "late"); err != nil {
		t.Fatalf("an election created behind the registry: %v", err)
	}
	// Not public (no manifest): its API answers as for an unknown id.
	if code, body := get(t, srv.URL+"/api/e/late/election"); code != http.StatusNotFound || string(body) != get2(t, srv.URL+"/api/e/zzz/election") {
		t.Fatalf("an election created behind the registry, not public: %d %s", code, body)
	}
	metrics := get2(t, srv.URL+"/metrics")
	for _, want := range []string{`scrutin_ballots_accepted_total{election="a"} 1`, `scrutin_ballots_accepted_total{election="b"} 0`, `scrutin_phase{election="b",phase="voting"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, metrics)
		}
	}
	if code, body := get(t, srv.URL+"/healthz"); code != 200 || strings.Contains(string(body), "elections") {
		t.Errorf("/healthz: %d %s", code, body)
	}
	l := r.List()
	if len(l) != 3 || l[0].ID != "late" || l[0].Public || l[0].Phase != election.PhaseEmpty {
		t.Fatalf("List: %+v", l)
	}
	l = l[1:]
	if l[0].ID != "b" || l[1].ID != "a" || !l[0].Public || l[0].Phase != election.PhaseVoting || l[1].Ballots != 1 || l[0].Title["en"] == "" || l[0].Opens.IsZero() {
		t.Fatalf("List: %+v", l)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := os.Stat(filepath.Join(cpDir, id)); err != nil {
			t.Errorf("election %s's checkpoint file: %v", id, err)
		}
	}
}

// TestRegistryFailedElection: an election whose log does not replay is
// marked failed with its reason; the other serves.
func TestRegistryFailedElection(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	c := newCatalogue(t)
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r := openRegistry(t, c, master, cpDir)
	for _, id := range []string{"a", "b"} {
		e, err := r.Create(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		record(t, fixture(t, master, id, 3), e)
	}
	r.Close()
	appendRaw(t, c, "b", []byte{0x7f, 'x'}) // an entry no election takes

	r = openRegistry(t, c, master, cpDir)
	defer r.Close()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	if code, body := get(t, srv.URL+"/api/e/a/election"); code != 200 {
		t.Fatalf("a: %d %s", code, body)
	}
	if code, body := get(t, srv.URL+"/api/e/b/election"); code != http.StatusServiceUnavailable {
		t.Fatalf("b: %d %s", code, body)
	}
	if _, err := r.Election(ctx, "b"); !errors.Is(err, server.ErrFailed) {
		t.Fatalf("Election(b): %v", err)
	}
	var failed string
	for _, s := range r.List() {
		if s.ID == "b" {
			failed = s.Failed
		} else if s.Failed != "" {
			t.Fatalf("a is failed: %s", s.Failed)
		}
	}
	if !strings.Contains(failed, "replay") {
		t.Fatalf("b's failure: %q", failed)
	}
	code, body := get(t, srv.URL+"/healthz")
	var h struct {
		Status    string
		Elections map[string]struct{ Status, Error string }
	}
	json.Unmarshal(body, &h)
	if code != 200 || h.Status != "ok" || h.Elections["b"].Status != "failed" || h.Elections["b"].Error == "" || len(h.Elections) != 1 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if !strings.Contains(get2(t, srv.URL+"/metrics"), `scrutin_elections{state="failed"} 1`) {
		t.Fatal("/metrics does not count the failed election")
	}
}

func get2(t testing.TB, url string) string { _, b := get(t, url); return string(b) }

// TestRegistrySummaries: a decided election whose summary is up to date
// is listed without replaying its log, loaded on first use, and unloaded
// when unused; one whose summary is out of date is replayed once, and its
// summary saved.
func TestRegistrySummaries(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	c := newCatalogue(t)
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r := openRegistry(t, c, master, cpDir)
	f := fixture(t, master, "done", 3)
	e, err := r.Create(ctx, "done", nil)
	if err != nil {
		t.Fatal(err)
	}
	record(t, f, e)
	f.Election = e
	for i := range 3 {
		cast(t, f, e, i, 1)
	}
	if _, err := f.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	// The summary is saved at each officer's or trustee's entry: after the
	// result, it is the decided election's, without waiting for a stop.
	infos, err := c.Elections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if in := infos[0]; in.ID != "done" || in.SummarySize != in.Size || !strings.Contains(string(in.Summary), `"phase":"decided"`) {
		t.Fatalf("done's stored summary after the result: %d of %d entries, %s", in.SummarySize, in.Size, in.Summary)
	}
	v, err := r.Create(ctx, "voting", nil)
	if err != nil {
		t.Fatal(err)
	}
	record(t, fixture(t, master, "voting", 3), v)
	if _, err := r.Create(ctx, "empty", nil); err != nil {
		t.Fatal(err)
	}
	r.Close()

	r = openRegistry(t, c, master, cpDir)
	// Loaded at start: voting and empty; not done.
	if n := server.Replays(r); n != 2 {
		t.Fatalf("%d logs replayed at start; want 2 (the decided election's summary is up to date)", n)
	}
	var done server.Summary
	for _, s := range r.List() {
		if s.ID == "done" {
			done = s
		}
	}
	if done.Phase != election.PhaseDecided || done.Ballots != 3 || done.Title["en"] == "" || !done.Public || done.Closes.IsZero() {
		t.Fatalf("done's summary: %+v", done)
	}
	if server.Loaded(r, "done") {
		t.Fatal("the decided election is loaded at start")
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	if code, body := get(t, srv.URL+"/api/e/done/election"); code != 200 || !strings.Contains(string(body), `"phase":"decided"`) {
		t.Fatalf("done: %d %s", code, body)
	}
	if n := server.Replays(r); n != 3 || !server.Loaded(r, "done") {
		t.Fatalf("after a request to done: %d replays, loaded %v", n, server.Loaded(r, "done"))
	}
	if n := server.UnloadIdle(r, time.Now().Add(server.IdleUnload-time.Minute)); n != 0 {
		t.Fatalf("%d elections unloaded before their time", n)
	}
	if n := server.UnloadIdle(r, time.Now().Add(server.IdleUnload+time.Minute)); n != 1 || server.Loaded(r, "done") || !server.Loaded(r, "voting") {
		t.Fatalf("%d elections unloaded after their time; want done only", n)
	}
	if code, _ := get(t, srv.URL+"/e/done/log/checkpoint"); code != 200 {
		t.Fatalf("done's checkpoint after unloading: %d", code)
	}
	r.Close()

	// A summary out of date (the log grew behind it) is replayed once.
	infos, err = c.Elections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.ID == "done" {
			if err := c.SaveSummary(ctx, "done", in.Size-1, in.Summary); err != nil {
				t.Fatal(err)
			}
		}
	}
	r = openRegistry(t, c, master, cpDir)
	defer r.Close()
	if n := server.Replays(r); n != 3 || server.Loaded(r, "done") {
		t.Fatalf("with done's summary out of date: %d replays (want 3), done loaded %v (want unloaded after)", n, server.Loaded(r, "done"))
	}
	infos, _ = c.Elections(ctx)
	for _, in := range infos {
		if in.SummarySize != in.Size {
			t.Fatalf("election %s's summary is of size %d, its log %d", in.ID, in.SummarySize, in.Size)
		}
	}
}

// TestRegistryConcurrentUse: requests to a decided election while it is
// loaded and unloaded again and again all succeed (a request in flight
// keeps it loaded; a request after an unload loads it again, once).
func TestRegistryConcurrentUse(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	// Reads are slow: an unload while a request reads would close the
	// log under it.
	c := slowCatalogue{newCatalogue(t)}
	r := openRegistry(t, c, master, filepath.Join(t.TempDir(), "checkpoints"))
	defer r.Close()
	f := fixture(t, master, "done", 2)
	e, err := r.Create(ctx, "done", nil)
	if err != nil {
		t.Fatal(err)
	}
	record(t, f, e)
	f.Election = e
	if _, err := f.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	var size int64
	e.State(func(s *election.State) { size = s.Size })
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	stop := make(chan struct{})
	var unloads int
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			unloads += server.UnloadIdle(r, time.Now().Add(2*server.IdleUnload))
			time.Sleep(time.Millisecond)
		}
	}()
	errs := make(chan string, 100)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 15 {
				p := []string{"/api/e/done/election", "/e/done/log/checkpoint", fmt.Sprintf("/e/done/log/tile/entries/000.p/%d", size)}[(g+i)%3]
				code, body := get(t, srv.URL+p)
				if code != 200 {
					errs <- fmt.Sprintf("%s: %d %s", p, code, body)
				}
				// Gaps between requests, for the unloads to find.
				time.Sleep(time.Duration(g+1) * time.Millisecond)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-done
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if unloads == 0 || server.Replays(r) < 2 {
		t.Fatalf("%d unloads, %d loads: the test did not exercise unloading", unloads, server.Replays(r))
	}
}

type slowCatalogue struct{ *store.DB }

func (c slowCatalogue) Log(ctx context.Context, id string) (store.Store, error) {
	st, err := c.DB.Log(ctx, id)
	if err != nil {
		return nil, err
	}
	return slowLog{st}, nil
}

type slowLog struct{ store.Store }

func (l slowLog) ReadEntries(ctx context.Context, start, end int64) ([][]byte, error) {
	time.Sleep(5 * time.Millisecond)
	return l.Store.ReadEntries(ctx, start, end)
}

// TestRegistryRollbackOfDecided: a decided election whose checkpoint file
// names more entries than its log holds (a database restored from a
// backup) is loaded at start, and fails there, though its summary is up to
// date; --accept-rollback loads every election at start.
func TestRegistryRollbackOfDecided(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	c := newCatalogue(t)
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r := openRegistry(t, c, master, cpDir)
	decide(t, r, master, "a", "b")
	r.Close()
	r = openRegistry(t, c, master, cpDir)
	if n := server.Replays(r); n != 0 {
		t.Fatalf("%d decided elections replayed at start", n)
	}
	r.Close()

	cp := filepath.Join(cpDir, "b")
	b, _ := os.ReadFile(cp)
	lines := strings.SplitN(string(b), "\n", 3)
	var n int64
	fmt.Sscan(lines[1], &n)
	os.WriteFile(cp, []byte(lines[0]+"\n"+fmt.Sprint(n+1)+"\n"+lines[2]), 0o600)
	r = openRegistry(t, c, master, cpDir)
	if n := server.Replays(r); n != 1 || server.Loaded(r, "b") {
		t.Fatalf("%d elections replayed at start, b loaded %v; want b only, failed", n, server.Loaded(r, "b"))
	}
	for _, s := range r.List() {
		if (s.ID == "b") != (s.Failed != "") {
			t.Fatalf("%s: failed %q", s.ID, s.Failed)
		}
	}
	r.Close()
	os.WriteFile(cp, b, 0o600)

	ra, err := server.OpenRegistry(ctx, server.RegistryOptions{DB: c, MasterSeed: master, CheckpointDir: cpDir, AcceptRollback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	if n := server.Replays(ra); n != 2 || server.Loaded(ra, "a") {
		t.Fatalf("with AcceptRollback: %d elections replayed at start (want 2), a loaded %v (want unloaded after)", n, server.Loaded(ra, "a"))
	}
}

// TestRegistryOfficerWithoutRole: an officers' route of an election whose
// Officer check says the person has no role in it (ErrNoElection) answers
// exactly as for an unknown election.
func TestRegistryOfficerWithoutRole(t *testing.T) {
	ctx := context.Background()
	c := newCatalogue(t)
	r, err := server.OpenRegistry(ctx, server.RegistryOptions{DB: c, MasterSeed: masterSeed(), Handler: func(id string, e *server.Election) server.Options {
		return server.Options{NoSignIn: true, Officer: func(req *http.Request, action string) (func(string), error) {
			if id == "b" {
				return nil, fmt.Errorf("no role in b: %w", server.ErrNoElection)
			}
			return func(string) {}, nil
		}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, id := range []string{"a", "b"} {
		if _, err := r.Create(ctx, id, nil); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	post := func(p string) (int, string) {
		resp, err := http.Post(srv.URL+p, "application/json", strings.NewReader(`{"reason":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	unknownCode, unknownBody := post("/api/e/zzz/admin/close")
	for _, p := range []string{"/api/e/b/admin/close", "/api/e/b/admin/tally", "/api/e/b/admin/entries"} {
		if code, body := post(p); code != unknownCode || body != unknownBody {
			t.Errorf("%s: %d %q; an unknown election's: %d %q", p, code, body, unknownCode, unknownBody)
		}
	}
	if code, body := post("/api/e/a/admin/close"); code == http.StatusNotFound {
		t.Errorf("a's close, for an officer of a: %d %s", code, body)
	}
}

// TestRegistryElectionLostInRestore: a database restored from a backup taken
// before an election was created has no trace of it, but this server signed
// checkpoints of its log: the election is listed failed, saying so, and the
// others serve; with AcceptRollback its checkpoint is kept aside and it is
// gone.
func TestRegistryElectionLostInRestore(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	dir := t.TempDir()
	cpDir := filepath.Join(dir, "checkpoints")
	open := func() *store.DB {
		db, err := store.Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		return db
	}
	db := open()
	r := openRegistry(t, db, master, cpDir)
	fa := fixture(t, master, "a", 2)
	ea, err := r.Create(ctx, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	record(t, fa, ea)
	r.Close()
	db.Close()
	backup, err := os.ReadFile(filepath.Join(dir, "scrutin.db"))
	if err != nil {
		t.Fatal(err)
	}

	db = open()
	r = openRegistry(t, db, master, cpDir)
	fb := fixture(t, master, "b", 2)
	eb, err := r.Create(ctx, "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	record(t, fb, eb)
	r.Close()
	db.Close()

	// The restore, as the README does it.
	os.Remove(filepath.Join(dir, "scrutin.db-wal"))
	os.Remove(filepath.Join(dir, "scrutin.db-shm"))
	if err := os.WriteFile(filepath.Join(dir, "scrutin.db"), backup, 0o600); err != nil {
		t.Fatal(err)
	}
	db = open()
	defer db.Close()
	r = openRegistry(t, db, master, cpDir)
	failed := map[string]string{}
	for _, s := range r.List() {
		failed[s.ID] = s.Failed
	}
	if len(failed) != 2 || failed["a"] != "" || !strings.Contains(failed["b"], "this server signed a checkpoint of") || !strings.Contains(failed["b"], "holds no election b") {
		t.Fatalf("after the restore: %q", failed)
	}
	if _, err := r.Election(ctx, "b"); !errors.Is(err, server.ErrFailed) {
		t.Fatalf("election b: %v", err)
	}
	r.Close()

	ra, err := server.OpenRegistry(ctx, server.RegistryOptions{DB: db, MasterSeed: master, CheckpointDir: cpDir, AcceptRollback: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ra.Close()
	if l := ra.List(); len(l) != 1 || l[0].ID != "a" || l[0].Failed != "" {
		t.Fatalf("with AcceptRollback: %+v", l)
	}
	if _, err := os.Stat(filepath.Join(cpDir, "b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("b's checkpoint is still in place: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(cpDir, "b.rolled-back-*")); len(m) != 1 {
		t.Fatalf("b's checkpoint kept aside: %v", m)
	}
}
