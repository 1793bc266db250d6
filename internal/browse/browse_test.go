package browse

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/scrutin/scrutin/internal/clientip"
)

func TestPerClientLimit(t *testing.T) {
	g := New(Limits{PerClient: 1, Burst: 3, Hold: time.Millisecond, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	clock := time.Unix(1_800_000_000, 0)
	g.now = func() time.Time { return clock }
	calls := 0
	h := g.Handler(true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Write([]byte("page"))
	}))
	get := func(remote, xff string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/ballots", nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 3 {
		if w := get("192.0.2.1:1", ""); w.Code != http.StatusOK || w.Body.String() != "page" || w.Header().Get("Content-Length") != "4" {
			t.Fatalf("request %d: %d %q", i, w.Code, w.Body)
		}
	}
	w := get("192.0.2.1:2", "")
	if s, _ := strconv.Atoi(w.Header().Get("Retry-After")); w.Code != http.StatusTooManyRequests || s < 1 {
		t.Fatalf("over the limit: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	if calls != 3 {
		t.Fatalf("a refused request was computed: %d calls", calls)
	}
	// Another client, or the same one named by a trusted proxy, has its own.
	if w := get("192.0.2.2:1", ""); w.Code != http.StatusOK {
		t.Fatalf("another client: %d", w.Code)
	}
	if w := get("10.0.0.1:1", "192.0.2.3"); w.Code != http.StatusOK {
		t.Fatalf("through the proxy: %d", w.Code)
	}
	if w := get("10.0.0.1:1", "192.0.2.1"); w.Code != http.StatusTooManyRequests {
		t.Fatalf("the same client through the proxy: %d", w.Code)
	}
	clock = clock.Add(time.Second)
	if w := get("192.0.2.1:1", ""); w.Code != http.StatusOK {
		t.Fatalf("after a second: %d", w.Code)
	}
	// POSTs are not this gate's business.
	r := httptest.NewRequest(http.MethodPost, "/x", nil)
	r.RemoteAddr = "192.0.2.1:1"
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, r)
	if rw.Code != http.StatusOK {
		t.Fatalf("POST: %d", rw.Code)
	}
}

// TestTurns: at most Concurrent answers are computed at once; a request
// that finds no turn within Wait is told to come back, and a slow reader
// holds no turn.
func TestTurns(t *testing.T) {
	g := New(Limits{Concurrent: 2, Wait: 50 * time.Millisecond})
	release := make(chan struct{})
	var mu sync.Mutex
	running, most := 0, 0
	h := g.Handler(false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		w.Write([]byte("ok"))
	}))
	codes := make(chan int, 3)
	for range 3 {
		go func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			if w.Code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			codes <- w.Code
		}()
	}
	if c := <-codes; c != http.StatusServiceUnavailable {
		t.Fatalf("the third request: %d", c)
	}
	close(release)
	for range 2 {
		if c := <-codes; c != http.StatusOK {
			t.Fatalf("%d", c)
		}
	}
	if most != 2 {
		t.Fatalf("%d computed at once", most)
	}
	// The turn is given back before the answer is written.
	h2 := g.Handler(false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }))
	for range 2 {
		h2.ServeHTTP(blockedWriter{t, g}, httptest.NewRequest(http.MethodGet, "/", nil))
	}
}

// blockedWriter checks, when the answer is written, that every turn is
// free.
type blockedWriter struct {
	t *testing.T
	g *Gate
}

func (b blockedWriter) Header() http.Header { return http.Header{} }
func (b blockedWriter) WriteHeader(int)     {}
func (b blockedWriter) Write(p []byte) (int, error) {
	if n := len(b.g.turns); n != 0 {
		b.t.Errorf("%d turns held while writing", n)
	}
	return len(p), nil
}

// TestCost: a costly answer spends its cost; one above the burst spends the
// whole burst.
func TestCost(t *testing.T) {
	g := New(Limits{PerClient: 1, Burst: 10})
	clock := time.Unix(1_800_000_000, 0)
	g.now = func() time.Time { return clock }
	r := httptest.NewRequest(http.MethodGet, "/static/scrutin.wasm", nil)
	if ok, _ := g.Allow(r, 8); !ok {
		t.Fatal("8 of 10")
	}
	if ok, d := g.Allow(r, 8); ok || d != 6*time.Second {
		t.Fatalf("8 more: %v, wait %v", ok, d)
	}
	clock = clock.Add(time.Hour)
	if ok, _ := g.Allow(r, 25); !ok {
		t.Fatal("above the burst, with the burst full")
	}
	if ok, _ := g.Allow(r, 1); ok {
		t.Fatal("the burst was not spent")
	}
}

// TestRefusalHeldBack: a refusal waits as long as the client should have,
// at most Hold.
func TestRefusalHeldBack(t *testing.T) {
	g := New(Limits{PerClient: 1, Burst: 1, Hold: 30 * time.Millisecond})
	h := g.Handler(true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	start := time.Now()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if d := time.Since(start); w.Code != http.StatusTooManyRequests || d < 30*time.Millisecond {
		t.Fatalf("%d after %v", w.Code, d)
	}
}

// TestPass: Pass counts the client's rate and lends the Gate to the
// handler, which takes a turn only when it computes; without Pass, Turn
// never waits.
func TestPass(t *testing.T) {
	g := New(Limits{PerClient: 1, Burst: 2, Concurrent: 1, Wait: 20 * time.Millisecond, Hold: time.Millisecond})
	computed := 0
	h := g.Pass(true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/cached" {
			w.Write([]byte("hit"))
			return
		}
		release, ok := Turn(w, r)
		if !ok {
			return
		}
		computed++
		release()
		w.Write([]byte("miss"))
	}))
	release, _ := g.Acquire(context.Background())
	for _, c := range []struct {
		path string
		want int
	}{{"/cached", 200}, {"/computed", 503}, {"/cached", 429}} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, c.path, nil))
		if w.Code != c.want {
			t.Fatalf("%s: %d, want %d", c.path, w.Code, c.want)
		}
	}
	release()
	if release, ok := Turn(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)); !ok {
		t.Fatal("no Gate, no turn")
	} else {
		release()
	}
}

// TestClientTableFull: once the per-client limiters kept reach their bound,
// those full again (as good as never seen) make room for new clients,
// rather than every new client sharing one limiter that one of them drains.
func TestClientTableFull(t *testing.T) {
	g := New(Limits{PerClient: 5, Burst: 60})
	clock := time.Unix(1_800_000_000, 0)
	g.now = func() time.Time { return clock }
	from := func(remote string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		return r
	}
	for i := range clientip.MaxLimiters {
		if ok, _ := g.Allow(from(fmt.Sprintf("[2001:db8:%x:%x::1]:1", i>>16, i&0xffff)), 1); !ok {
			t.Fatalf("client %d refused", i)
		}
	}
	clock = clock.Add(13 * time.Second) // every limiter is full again
	g.Allow(from("198.51.100.66:1"), 60)
	if ok, _ := g.Allow(from("192.0.2.7:1"), 1); !ok {
		t.Fatal("a new client is refused while the table is full of limiters full again")
	}
	if n := g.clients.Len(); n > clientip.MaxLimiters {
		t.Fatalf("%d limiters kept", n)
	}
}
