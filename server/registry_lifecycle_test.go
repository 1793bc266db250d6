package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/scrutin/scrutin/store"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrutin/scrutin/server"
)

// decidedRegistry makes a registry holding one decided election "done".
func decidedRegistry(t *testing.T, cpDir string) (*server.Registry, server.Catalogue, []byte) {
	t.Helper()
	ctx := context.Background()
	master := masterSeed()
	c := newCatalogue(t)
	r := openRegistry(t, c, master, cpDir)
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
	return r, c, master
}

// TestRegistryUnloadLeavesNothing: loading and unloading a decided
// election again and again leaves no goroutine behind (each one kept the
// unloaded election, its whole state, reachable until the server stopped).
func TestRegistryUnloadLeavesNothing(t *testing.T) {
	ctx := context.Background()
	r, _, _ := decidedRegistry(t, filepath.Join(t.TempDir(), "checkpoints"))
	defer r.Close()
	cycle := func() {
		if _, err := r.Election(ctx, "done"); err != nil {
			t.Fatal(err)
		}
		if n := server.UnloadIdle(r, time.Now().Add(2*server.IdleUnload)); n != 1 {
			t.Fatalf("%d elections unloaded; want 1", n)
		}
	}
	cycle()
	time.Sleep(10 * time.Millisecond)
	before := runtime.NumGoroutine()
	for range 20 {
		cycle()
	}
	time.Sleep(10 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+5 {
		t.Fatalf("%d goroutines after 20 loads and unloads, %d before", after, before)
	}
}

// hookCatalogue lets a test stop the registry in SaveSummary and a request
// in ReadEntries.
type hookCatalogue struct {
	*store.DB
	save func() error // called by SaveSummary instead of saving
	read func()       // called before ReadEntries
}

func (c *hookCatalogue) SaveSummary(ctx context.Context, id string, size int64, summary []byte) error {
	if c.save != nil {
		return c.save()
	}
	return c.DB.SaveSummary(ctx, id, size, summary)
}

func (c *hookCatalogue) Log(ctx context.Context, id string) (store.Store, error) {
	st, err := c.DB.Log(ctx, id)
	if err != nil {
		return nil, err
	}
	return hookLog{st, c}, nil
}

type hookLog struct {
	store.Store
	c *hookCatalogue
}

func (l hookLog) ReadEntries(ctx context.Context, start, end int64) ([][]byte, error) {
	if f := l.c.read; f != nil {
		f()
	}
	return l.Store.ReadEntries(ctx, start, end)
}

// TestRegistryUnloadWaitsForRequests: a request that comes while the idle
// election is being unloaded (its summary being saved) keeps it loaded;
// it was unloaded under the request (its log closed), the in-flight
// check having been made before.
func TestRegistryUnloadWaitsForRequests(t *testing.T) {
	ctx := context.Background()
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r0, c0, master := decidedRegistry(t, cpDir)
	r0.Close()
	db := c0.(*store.DB)
	// The stored summary out of date, and saving it failing: it is saved
	// again at the unload, where the test holds the registry.
	infos, err := db.Elections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	size := infos[0].Size
	if err := db.SaveSummary(ctx, "done", size-1, infos[0].Summary); err != nil {
		t.Fatal(err)
	}
	c := &hookCatalogue{DB: db, save: func() error { return errors.New("not now") }}
	r := openRegistry(t, c, master, cpDir)
	defer r.Close()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	if code, body := get(t, srv.URL+"/api/e/done/election"); code != 200 {
		t.Fatalf("done: %d %s", code, body)
	}
	saving, resume := make(chan struct{}), make(chan struct{})
	var saveOnce sync.Once
	c.save = func() error {
		saveOnce.Do(func() { close(saving); <-resume })
		return errors.New("not now")
	}
	unloaded := make(chan int)
	go func() { unloaded <- server.UnloadIdle(r, time.Now().Add(2*server.IdleUnload)) }()
	<-saving
	reading, read := make(chan struct{}), make(chan struct{})
	var once sync.Once
	c.read = func() { once.Do(func() { close(reading); <-read }) }
	got := make(chan int)
	go func() {
		code, _ := get(t, fmt.Sprintf("%s/e/done/log/tile/entries/000.p/%d", srv.URL, size))
		got <- code
	}()
	<-reading
	close(resume)
	n := <-unloaded
	loaded := server.Loaded(r, "done")
	close(read)
	if code := <-got; code != 200 {
		t.Errorf("the tile: %d", code)
	}
	if n != 0 || !loaded {
		t.Fatalf("with a request in flight: %d elections unloaded, done loaded %v", n, loaded)
	}
}

// TestRegistryElectionMissingFromDatabase: a database restored from a
// backup made before an election was created (or replaced by an empty
// one) lacks that election, whose checkpoint file says this server signed
// entries of it: the election is reported failed (rolled back), as a
// single election's server refused such a database, rather than vanish
// without a word; with AcceptRollback its files are set aside.
func TestRegistryElectionMissingFromDatabase(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r := openRegistry(t, newCatalogue(t), master, cpDir)
	e, err := r.Create(ctx, "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	record(t, fixture(t, master, "b", 2), e)
	r.Close()

	restored := newCatalogue(t) // holds no election b
	r = openRegistry(t, restored, master, cpDir)
	var b server.Summary
	for _, s := range r.List() {
		if s.ID == "b" {
			b = s
		}
	}
	srv := httptest.NewServer(r.Handler())
	code, _ := get(t, srv.URL+"/api/e/b/election")
	srv.Close()
	r.Close()
	if !strings.Contains(b.Failed, server.ErrRolledBack.Error()) {
		t.Fatalf("election b, missing from the database: %+v", b)
	}
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/api/e/b/election: %d; want 503 (it failed)", code)
	}

	ra, err := server.OpenRegistry(ctx, server.RegistryOptions{DB: restored, MasterSeed: master, CheckpointDir: cpDir, AcceptRollback: true})
	if err != nil {
		t.Fatal(err)
	}
	if l := ra.List(); len(l) != 0 {
		t.Fatalf("with AcceptRollback: %+v", l)
	}
	ra.Close()
	if _, err := os.Stat(filepath.Join(cpDir, "b")); err == nil {
		t.Fatal("with AcceptRollback, b's checkpoint file is still there")
	}
	r = openRegistry(t, restored, master, cpDir)
	defer r.Close()
	if l := r.List(); len(l) != 0 {
		t.Fatalf("after AcceptRollback: %+v", l)
	}
}

// TestRegistryHidesElectionsNotPublic: an election without its manifest
// (not public: spec §22.3, §22.4) answers every request as an unknown id
// does (status, body, headers), the officers' routes too to anyone who is
// not its officer, and appears in neither /metrics nor /healthz; its
// officer records its manifest through the API, and it is then public.
func TestRegistryHidesElectionsNotPublic(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	c := newCatalogue(t)
	r, err := server.OpenRegistry(ctx, server.RegistryOptions{DB: c, MasterSeed: master, CheckpointDir: filepath.Join(t.TempDir(), "checkpoints"),
		Handler: func(id string, e *server.Election) server.Options {
			return server.Options{NoSignIn: true, Officer: func(req *http.Request, action string) (func(string), error) {
				if req.Header.Get("X-Officer") != id {
					return nil, errors.New("no staff session")
				}
				return func(string) {}, nil
			}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Create(ctx, "hidden", nil); err != nil {
		t.Fatal(err)
	}
	a, err := r.Create(ctx, "a", nil)
	if err != nil {
		t.Fatal(err)
	}
	record(t, fixture(t, master, "a", 2), a)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	do := func(method, p, officer string, body []byte) (int, string, http.Header) {
		req, _ := http.NewRequest(method, srv.URL+p, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if officer != "" {
			req.Header.Set("X-Officer", officer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		resp.Header.Del("Date")
		resp.Header.Del("Content-Length")
		return resp.StatusCode, string(b), resp.Header
	}
	for _, q := range []struct{ method, path string }{
		{"GET", "/election"}, {"GET", "/checkpoint"}, {"GET", "/ballots/abcd"}, {"GET", "/credentials/abcd"},
		{"POST", "/ballots"}, {"POST", "/cosignatures"}, {"POST", "/ceremony"}, {"POST", "/decryptions"},
		{"POST", "/admin/close"}, {"POST", "/admin/entries"}, {"GET", "/nothing"},
	} {
		for _, prefix := range []string{"/api/e/%s" + q.path, "/e/%s/log" + strings.TrimPrefix(q.path, "/api")} {
			uc, ub, uh := do(q.method, fmt.Sprintf(prefix, "zzz"), "", []byte(`{"reason":"x"}`))
			for _, officer := range []string{"", "a"} {
				hc, hb, hh := do(q.method, fmt.Sprintf(prefix, "hidden"), officer, []byte(`{"reason":"x"}`))
				if hc != uc || hb != ub || fmt.Sprint(hh) != fmt.Sprint(uh) {
					t.Errorf("%s %s (officer of %q): %d %s %v; an unknown id's: %d %s %v", q.method, fmt.Sprintf(prefix, "hidden"), officer, hc, hb, hh, uc, ub, uh)
				}
			}
		}
	}
	for _, p := range []string{"/metrics", "/healthz"} {
		if _, b, _ := do("GET", p, "", nil); strings.Contains(b, "hidden") {
			t.Errorf("%s names the election not public:\n%s", p, b)
		}
	}
	// Its officer records its manifest through the API: it is public.
	f := fixture(t, master, "hidden", 2)
	first, err := f.Store.ReadEntries(ctx, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	if code, body, _ := do("POST", "/api/e/hidden/admin/entries", "hidden", first[0]); code != http.StatusCreated {
		t.Fatalf("the manifest by the election's officer: %d %s", code, body)
	}
	if code, body, _ := do("GET", "/api/e/hidden/election", "", nil); code != 200 {
		t.Fatalf("once public: %d %s", code, body)
	}
	if _, b, _ := do("GET", "/metrics", "", nil); !strings.Contains(b, `election="hidden"`) {
		t.Errorf("/metrics lacks the election once public")
	}
}

// TestRegistryBoundsDecidedLoaded: requests to many decided elections
// (a crawler of every public election's log, each more often than the
// idle unload) do not keep them all loaded: past the bound, the least
// recently used one not serving a request is unloaded.
func TestRegistryBoundsDecidedLoaded(t *testing.T) {
	master := masterSeed()
	c := newCatalogue(t)
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r := openRegistry(t, c, master, cpDir)
	ids := []string{"a", "b", "c"}
	decide(t, r, master, ids...)
	r.Close()
	r = openRegistry(t, c, master, cpDir)
	defer r.Close()
	server.SetMaxDecided(r, 2, 0)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	for _, id := range ids {
		if code, body := get(t, srv.URL+"/e/"+id+"/log/checkpoint"); code != 200 {
			t.Fatalf("%s: %d %s", id, code, body)
		}
	}
	if server.Loaded(r, "a") || !server.Loaded(r, "b") || !server.Loaded(r, "c") {
		t.Fatalf("loaded after a, b, c with room for 2: a %v, b %v, c %v; want b and c", server.Loaded(r, "a"), server.Loaded(r, "b"), server.Loaded(r, "c"))
	}
	if code, _ := get(t, srv.URL+"/e/a/log/checkpoint"); code != 200 || !server.Loaded(r, "a") || server.Loaded(r, "b") {
		t.Fatalf("a again: %d; a loaded %v, b loaded %v", code, server.Loaded(r, "a"), server.Loaded(r, "b"))
	}
}

// countingCatalogue counts the elections whose logs are being read at once.
type countingCatalogue struct {
	*store.DB
	mu     sync.Mutex
	active map[string]int
	most   int
}

func (c *countingCatalogue) Log(ctx context.Context, id string) (store.Store, error) {
	st, err := c.DB.Log(ctx, id)
	if err != nil {
		return nil, err
	}
	return countingLog{st, c, id}, nil
}

type countingLog struct {
	store.Store
	c  *countingCatalogue
	id string
}

func (l countingLog) ReadEntries(ctx context.Context, start, end int64) ([][]byte, error) {
	l.c.mu.Lock()
	l.c.active[l.id]++
	l.c.most = max(l.c.most, len(l.c.active))
	l.c.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	defer func() {
		l.c.mu.Lock()
		if l.c.active[l.id]--; l.c.active[l.id] == 0 {
			delete(l.c.active, l.id)
		}
		l.c.mu.Unlock()
	}()
	return l.Store.ReadEntries(ctx, start, end)
}

// TestRegistryBoundsLoadsAtOnce: requests to many decided elections at
// once do not replay all their logs at once (each replay takes every
// processor; a flood of them starved the elections being voted on).
func TestRegistryBoundsLoadsAtOnce(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	db := newCatalogue(t)
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r := openRegistry(t, db, master, cpDir)
	ids := []string{"a", "b", "c"}
	decide(t, r, master, ids...)
	r.Close()
	c := &countingCatalogue{DB: db, active: map[string]int{}}
	r = openRegistry(t, c, master, cpDir)
	defer r.Close()
	server.SetMaxLoads(r, 1)
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if _, err := r.Election(ctx, id); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if server.Replays(r) != 3 {
		t.Fatalf("%d replays; want 3", server.Replays(r))
	}
	if c.most > 1 {
		t.Fatalf("%d elections' logs read at once; want at most 1", c.most)
	}
}

// TestRegistryBoundKeepsRecentlyUsed: the bound on decided elections
// loaded does not unload one used a moment ago (a page of the site may
// still hold it, through Election, to read or append), only one unused
// for a while.
func TestRegistryBoundKeepsRecentlyUsed(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	c := newCatalogue(t)
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r := openRegistry(t, c, master, cpDir)
	decide(t, r, master, "a", "b")
	r.Close()
	r = openRegistry(t, c, master, cpDir)
	defer r.Close()
	server.SetMaxDecided(r, 1, time.Minute)
	for _, id := range []string{"a", "b"} {
		if _, err := r.Election(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if !server.Loaded(r, "a") || !server.Loaded(r, "b") {
		t.Fatalf("a used a moment ago was unloaded to load b: a %v, b %v", server.Loaded(r, "a"), server.Loaded(r, "b"))
	}
}

// listCountingCatalogue counts the reads of the whole catalogue.
type listCountingCatalogue struct {
	*store.DB
	n atomic.Int64
}

func (c *listCountingCatalogue) Elections(ctx context.Context) ([]store.Info, error) {
	c.n.Add(1)
	return c.DB.Elections(ctx)
}

// TestRegistryHealthzDoesNotReadCatalogue: with no election loaded (every
// one decided, and unloaded), /healthz, which anyone may ask for, does not
// read the whole catalogue (every election's summary) each time.
func TestRegistryHealthzDoesNotReadCatalogue(t *testing.T) {
	r0, c0, master := decidedRegistry(t, filepath.Join(t.TempDir(), "checkpoints"))
	r0.Close()
	c := &listCountingCatalogue{DB: c0.(*store.DB)}
	r := openRegistry(t, c, master, "")
	defer r.Close()
	if server.Loaded(r, "done") {
		t.Fatal("the decided election is loaded")
	}
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	before := c.n.Load()
	for range 20 {
		if code, body := get(t, srv.URL+"/healthz"); code != 200 {
			t.Fatalf("/healthz: %d %s", code, body)
		}
	}
	if n := c.n.Load() - before; n > 2 {
		t.Fatalf("20 /healthz read the catalogue %d times", n)
	}
}

// TestRegistryRequestDuringLoad: a request that comes while an election
// is being loaded on demand, once its log is replayed but before its API
// is built (its options: the sign-in list read and opened), is served: it
// found the election and no API, and the server panicked on it.
func TestRegistryRequestDuringLoad(t *testing.T) {
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r0, c, master := decidedRegistry(t, cpDir)
	r0.Close()
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	r, err := server.OpenRegistry(context.Background(), server.RegistryOptions{DB: c, MasterSeed: master, CheckpointDir: cpDir,
		Handler: func(id string, e *server.Election) server.Options {
			if armed.CompareAndSwap(true, false) {
				close(entered)
				<-release
			}
			return server.Options{NoSignIn: true}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	armed.Store(true)
	first := make(chan int)
	go func() {
		code, _ := get(t, srv.URL+"/api/e/done/election")
		first <- code
	}()
	<-entered
	second := make(chan string)
	go func() {
		resp, err := http.Get(srv.URL + "/api/e/done/election")
		if err != nil {
			second <- err.Error()
			return
		}
		resp.Body.Close()
		second <- resp.Status
	}()
	var got string
	select {
	case got = <-second:
	case <-time.After(500 * time.Millisecond): // waits for the load: fine
	}
	close(release)
	if got == "" {
		got = <-second
	}
	if code := <-first; code != 200 || got != "200 OK" {
		t.Fatalf("the request that loaded: %d; the one during the load: %s", code, got)
	}
}

// panickyCatalogue panics once when the log of election id is opened.
type panickyCatalogue struct {
	*store.DB
	id    string
	armed atomic.Bool
}

func (c *panickyCatalogue) Log(ctx context.Context, id string) (store.Store, error) {
	if id == c.id && c.armed.CompareAndSwap(true, false) {
		panic("a bug while opening " + id)
	}
	return c.DB.Log(ctx, id)
}

// TestRegistryPanicWhileLoading: a panic while one election loads (a bug
// on a log no other has) marks it failed; it stopped the whole server at
// start, and on demand left the election locked, every later request to
// it hanging.
func TestRegistryPanicWhileLoading(t *testing.T) {
	ctx := context.Background()
	master := masterSeed()
	db := newCatalogue(t)
	cpDir := filepath.Join(t.TempDir(), "checkpoints")
	r := openRegistry(t, db, master, cpDir)
	for _, id := range []string{"a", "b"} {
		e, err := r.Create(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		record(t, fixture(t, master, id, 2), e)
	}
	r.Close()
	c := &panickyCatalogue{DB: db, id: "b"}
	c.armed.Store(true)
	r = openRegistry(t, c, master, cpDir) // b is loaded at start
	defer r.Close()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	if code, body := get(t, srv.URL+"/api/e/a/election"); code != 200 {
		t.Fatalf("a: %d %s", code, body)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(srv.URL + "/api/e/b/election")
	if err != nil {
		t.Fatalf("b: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("b: %s; want 503 (failed)", resp.Status)
	}
}
