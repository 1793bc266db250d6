// Package browse bounds what anonymous reading of an election's site can
// cost its server, so that casting stays ahead of browsing (issue 13): a
// per-client rate of costly requests (pages rendered, receipts proved, large
// files sent), and a limit on how many costly answers are computed at once.
// An answer is computed into memory while its request holds a turn, and
// written to the network after the turn is given back, so a slow reader
// holds no turn. Ballots and sign-in requests never pass through a Gate,
// and the booth's page takes no turn: whatever the browsing load, they
// wait behind none of it.
package browse

import (
	"bytes"
	"context"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/scrutin/scrutin/internal/clientip"
)

// Limits configure a Gate; zero fields take the defaults noted.
type Limits struct {
	// PerClient is the rate of costly requests per client (an IPv4
	// address or an IPv6 /64), with a burst of Burst; 0 means no limit.
	PerClient rate.Limit
	Burst     int
	// Concurrent is how many costly answers are computed at once
	// (default: one fewer than the processors the Go runtime uses, at
	// least one), so that at least one processor is left to casting.
	Concurrent int
	// Wait is how long a request waits for a turn before it is told to
	// come back (default 1 s).
	Wait time.Duration
	// Hold is the longest a refusal over the client's rate is held back
	// (default 1 s; see TooMany).
	Hold time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client.
	TrustedProxies []netip.Prefix
}

// DefaultLimits are a production server's: a visitor opening the booth
// spends 11 (the page 1, the WebAssembly module 10; small static files and
// revalidations are free) of a burst of 60, refilled at 5 a second.
var DefaultLimits = Limits{PerClient: 5, Burst: 60}

// Gate applies Limits. Safe for concurrent use.
type Gate struct {
	lim     Limits
	turns   chan struct{}
	now     func() time.Time
	clients *clientip.Limiters
}

// New returns a Gate with the limits l.
func New(l Limits) *Gate {
	if l.Concurrent <= 0 {
		l.Concurrent = max(1, runtime.GOMAXPROCS(0)-1)
	}
	if l.Wait <= 0 {
		l.Wait = time.Second
	}
	if l.Hold <= 0 {
		l.Hold = time.Second
	}
	if l.Burst <= 0 {
		l.Burst = 1
	}
	return &Gate{lim: l, turns: make(chan struct{}, l.Concurrent), now: time.Now,
		clients: clientip.NewLimiters(l.PerClient, l.Burst)}
}

// Allow spends cost of the client's costly requests (a page costs 1), or
// says how long to wait until it could.
func (g *Gate) Allow(r *http.Request, cost int) (bool, time.Duration) {
	if g.lim.PerClient == 0 {
		return true, 0
	}
	key := r.RemoteAddr
	if a, ok := clientip.FromRequest(r, g.lim.TrustedProxies); ok {
		key = clientip.Key(a)
	}
	return g.clients.Reserve(key, g.now(), cost)
}

// Acquire waits for a turn to compute a costly answer, at most the Gate's
// Wait; release gives it back.
func (g *Gate) Acquire(ctx context.Context) (release func(), ok bool) {
	t := time.NewTimer(g.lim.Wait)
	defer t.Stop()
	select {
	case g.turns <- struct{}{}:
		return func() { <-g.turns }, true
	case <-t.C:
		return nil, false
	case <-ctx.Done():
		return nil, false
	}
}

// TooMany answers a request over its client's limit: 429 with Retry-After,
// after holding it back for as long as the client should have waited (at
// most Hold), so that a client asking again at once, without waiting as
// told, asks at most about once a Hold per connection, at the cost of a
// sleeping goroutine rather than of a processor.
func (g *Gate) TooMany(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	t := time.NewTimer(min(wait, g.lim.Hold))
	select {
	case <-t.C:
	case <-r.Context().Done():
		t.Stop()
	}
	tooMany(w, wait)
}

func tooMany(w http.ResponseWriter, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "too many requests from your network; wait a little and try again", http.StatusTooManyRequests)
}

// Busy answers a request that found no turn: 503 with Retry-After.
func Busy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", "1")
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, "the server is busy; try again in a moment", http.StatusServiceUnavailable)
}

// Handler wraps next, which computes a costly answer: GET and HEAD requests
// are counted against their client's rate if perClient, and computed in a
// turn into memory, then written; other methods go straight to next.
func (g *Gate) Handler(perClient bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if perClient {
			if ok, d := g.Allow(r, 1); !ok {
				g.TooMany(w, r, d)
				return
			}
		}
		release, ok := g.Acquire(r.Context())
		if !ok {
			Busy(w)
			return
		}
		b := &buffered{w: w}
		func() {
			defer release()
			next.ServeHTTP(b, r)
		}()
		b.flush()
	})
}

type gateKey struct{}

// passed is what Pass lends a handler: the Gate, and whether the request
// is still to be counted against its client's rate when it takes a turn.
type passed struct {
	g      *Gate
	charge bool
}

// Pass wraps next, a handler that takes its turns itself (Turn) and only
// when it must compute: GET and HEAD requests carry the Gate in their
// context, and are counted against their client's rate at once if
// perClient, else only if they take a turn (an answer kept in memory is
// free; one read from the store is not, whoever asks).
func (g *Gate) Pass(perClient bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		if perClient {
			if ok, d := g.Allow(r, 1); !ok {
				g.TooMany(w, r, d)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), gateKey{}, passed{g, !perClient})))
	})
}

// Turn takes a turn of the Gate that Pass put in r's context, if any (else
// it returns at once), first counting the request against its client's
// rate if Pass did not; release gives it back, and must be called before
// the answer is written. If the client is over its rate (429) or no turn
// frees in time (503), Turn writes that answer and ok is false.
func Turn(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	p, _ := r.Context().Value(gateKey{}).(passed)
	if p.g == nil {
		return func() {}, true
	}
	if p.charge {
		if ok, d := p.g.Allow(r, 1); !ok {
			p.g.TooMany(w, r, d)
			return nil, false
		}
	}
	if release, ok = p.g.Acquire(r.Context()); !ok {
		Busy(w)
	}
	return release, ok
}

// buffered holds an answer's status and body until its turn is over; its
// headers are the real writer's.
type buffered struct {
	w      http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (b *buffered) Header() http.Header { return b.w.Header() }

func (b *buffered) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *buffered) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *buffered) flush() {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.w.Header().Get("Content-Length") == "" && b.status != http.StatusNotModified {
		b.w.Header().Set("Content-Length", strconv.Itoa(b.body.Len()))
	}
	b.w.WriteHeader(b.status)
	b.w.Write(b.body.Bytes())
}
