package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/internal/browse"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// serveOne sends one request to h from the address remote.
func serveOne(h http.Handler, method, target, remote string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestStaticRepresentations is issue 13, defect 7: static files are served
// from representations made once (the module is inflated once, not per
// request), with ETags that If-None-Match turns into 304, and versioned
// links are immutable.
func TestStaticRepresentations(t *testing.T) {
	site, err := web.New(web.Options{Browse: browse.New(browse.Limits{})})
	if err != nil {
		t.Fatal(err)
	}
	const ip = "192.0.2.1:1"
	w := serveOne(site, "GET", "/static/booth.js", ip)
	etag := w.Header().Get("ETag")
	if w.Code != 200 || len(etag) < 10 || w.Header().Get("Cache-Control") != "no-cache" || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("booth.js: %d %v", w.Code, w.Header())
	}
	if w := serveOne(site, "GET", "/static/booth.js", ip, "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
		t.Fatalf("booth.js, If-None-Match: %d, %d bytes", w.Code, w.Body.Len())
	}
	v := strings.Trim(etag, `"`)
	if w := serveOne(site, "GET", "/static/booth.js?v="+v, ip); w.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("versioned booth.js: %q", w.Header().Get("Cache-Control"))
	}
	if w := serveOne(site, "GET", "/static/booth.js?v=0123", ip); w.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("booth.js under another version: %q", w.Header().Get("Cache-Control"))
	}
	for _, p := range []string{"/static/scrutin.wasm.gz", "/static/scrutin.wasm.go-version", "/static/", "/static/nothing.js"} {
		if w := serveOne(site, "GET", p, ip); w.Code != 404 {
			t.Errorf("%s: %d", p, w.Code)
		}
	}

	// The module: gzipped, or inflated once for clients without gzip.
	gz := serveOne(site, "GET", "/static/scrutin.wasm", ip, "Accept-Encoding", "br, gzip")
	if gz.Header().Get("Content-Encoding") != "gzip" || gz.Header().Get("Content-Type") != "application/wasm" || gz.Header().Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzipped module: %v", gz.Header())
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	for i, ae := range []string{"", "identity", "gzip;q=0", "br"} {
		w := serveOne(site, "GET", "/static/scrutin.wasm", ip, "Accept-Encoding", ae)
		if w.Header().Get("Content-Encoding") != "" || !bytes.Equal(w.Body.Bytes(), raw) || w.Header().Get("Content-Length") != strconv.Itoa(len(raw)) {
			t.Fatalf("Accept-Encoding %q: %v, %d bytes", ae, w.Header(), w.Body.Len())
		}
		if w.Header().Get("ETag") == gz.Header().Get("ETag") {
			t.Fatal("both encodings have one ETag")
		}
		if i == 0 {
			if w := serveOne(site, "GET", "/static/scrutin.wasm", ip, "If-None-Match", w.Header().Get("ETag")); w.Code != http.StatusNotModified {
				t.Fatalf("inflated module, If-None-Match: %d", w.Code)
			}
		}
	}
	if w := serveOne(site, "GET", "/static/scrutin.wasm", ip, "Accept-Encoding", "gzip", "If-None-Match", gz.Header().Get("ETag")); w.Code != http.StatusNotModified {
		t.Fatalf("gzipped module, If-None-Match: %d", w.Code)
	}
	// The module under its version, as the pages link it, is immutable.
	v = strings.TrimSuffix(strings.Trim(gz.Header().Get("ETag"), `"`), "-gzip")
	if w := serveOne(site, "GET", "/static/scrutin.wasm?v="+v, ip, "Accept-Encoding", "gzip"); w.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" || w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("versioned module: %v", w.Header())
	}
	if gz.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("unversioned module: %q", gz.Header().Get("Cache-Control"))
	}
	if n := web.Inflations(site); n != 1 {
		t.Fatalf("the module was inflated %d times for 5 requests", n)
	}
}

// TestBrowseLimits: over its client's rate, a costly GET gets 429 with
// Retry-After (a 304 costs nothing); with every turn taken, 503 with
// Retry-After; and ballots never wait for a turn.
func TestBrowseLimits(t *testing.T) {
	f, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	gate := browse.New(browse.Limits{PerClient: 1, Burst: 12, Concurrent: 1, Wait: 50 * time.Millisecond, Hold: time.Millisecond})
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, f.Election, f.Election.Handler(server.Options{NoSignIn: true})), Browse: gate})
	if err != nil {
		t.Fatal(err)
	}
	const ip = "192.0.2.1:1"
	etag := serveOne(site, "GET", "/static/scrutin.wasm", ip, "Accept-Encoding", "gzip").Header().Get("ETag")
	for _, p := range []string{el + "/ballots", "/"} {
		if w := serveOne(site, "GET", p, ip); w.Code != 200 {
			t.Fatalf("%s: %d", p, w.Code)
		}
	}
	for range 5 {
		if w := serveOne(site, "GET", "/static/scrutin.wasm", ip, "Accept-Encoding", "gzip", "If-None-Match", etag); w.Code != http.StatusNotModified {
			t.Fatalf("304: %d", w.Code)
		}
	}
	for _, p := range []string{el + "/ballots", "/static/scrutin.wasm", "/api" + el + "/ballots/" + strings.Repeat("0", 64)} {
		w := serveOne(site, "GET", p, ip)
		if s, _ := strconv.Atoi(w.Header().Get("Retry-After")); w.Code != http.StatusTooManyRequests || s < 1 {
			t.Fatalf("%s over the client's limit: %d, Retry-After %q", p, w.Code, w.Header().Get("Retry-After"))
		}
	}
	if w := serveOne(site, "GET", el+"/ballots", "192.0.2.2:1"); w.Code != 200 {
		t.Fatalf("another client: %d", w.Code)
	}
	// Every turn taken: browsing waits, then is told to come back; a
	// ballot does not wait.
	release, _ := gate.Acquire(context.Background())
	w := serveOne(site, "GET", el+"/ballots", "192.0.2.3:1")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("no turn free: %d, Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	// (A ballot waiting for a turn would get 503 after the Wait.)
	r := httptest.NewRequest("POST", "/api"+el+"/ballots", strings.NewReader(`{}`))
	r.Header.Set("Content-Type", "application/json")
	r.RemoteAddr = "192.0.2.3:1"
	bw := httptest.NewRecorder()
	site.ServeHTTP(bw, r)
	if bw.Code != http.StatusBadRequest {
		t.Fatalf("a malformed ballot while browsing holds every turn: %d %s", bw.Code, bw.Body)
	}
	release()
	if w := serveOne(site, "GET", el+"/ballots", "192.0.2.3:1"); w.Code != 200 {
		t.Fatalf("turn free again: %d", w.Code)
	}
}

// TestListOfBallotsCached: the list of ballots reads each entry of the
// store once, and still shows which ballots count.
func TestListOfBallotsCached(t *testing.T) {
	f, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 4, Workers: 2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	api := f.Election.Handler(server.Options{NoSignIn: true})
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, f.Election, api), Browse: browse.New(browse.Limits{})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	defer srv.Close()
	f.Opts.NoSignIn = true
	if _, err := f.Vote(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	// The pages link static files and the module by version.
	vote := serveOne(site, "GET", el+"/vote", "192.0.2.1:1").Body.String()
	for _, want := range []string{`src="/static/booth.js?v=`, `data-wasm="/static/scrutin.wasm?v=`, `href="/static/style.css?v=`} {
		if !strings.Contains(vote, want) {
			t.Errorf("the booth's page has no %s", want)
		}
	}
	size, _ := f.Election.Size(context.Background())
	page := func() string {
		w := serveOne(site, "GET", el+"/ballots", "192.0.2.1:1")
		if w.Code != 200 {
			t.Fatalf("/ballots: %d", w.Code)
		}
		return w.Body.String()
	}
	first := page()
	if n := web.EntriesRead(site); n != size {
		t.Fatalf("%d entries read for a log of %d", n, size)
	}
	if second := page(); second != first || web.EntriesRead(site) != size || web.TablesRendered(site) != 1 {
		t.Fatalf("the second look read %d more entries, rendered %d tables, or differs", web.EntriesRead(site)-size, web.TablesRendered(site))
	}
	if n := len(regexp.MustCompile(`/ballots/[0-9a-f]{64}`).FindAllString(first, -1)); n < 4 {
		t.Fatalf("%d ballots listed", n)
	}
	// Everyone votes again: the same rows, now replaced, are shown so.
	if _, err := f.Vote(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	third := page()
	replaced := func(s string) int { return strings.Count(s, ">replaced by a later ballot<") }
	if replaced(third) <= replaced(first) || replaced(third) < 4 {
		t.Fatalf("after re-voting, %d replaced (%d before)", replaced(third), replaced(first))
	}
	newSize, _ := f.Election.Size(context.Background())
	if web.EntriesRead(site) != newSize {
		t.Fatalf("%d entries read for a log of %d", web.EntriesRead(site), newSize)
	}
}

// TestTilesCached: a full tile is read from the store once, served with a
// strong ETag (If-None-Match: 304) and immutable; a partial one is read
// afresh and not cached.
func TestTilesCached(t *testing.T) {
	if testing.Short() {
		t.Skip("casts 260 ballots")
	}
	f, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 260, Workers: 2, Seed: 7, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	api := f.Election.Handler(server.Options{NoSignIn: true})
	gate := browse.New(browse.Limits{Concurrent: 1, Wait: 20 * time.Millisecond})
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, f.Election, api), Browse: gate})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	defer srv.Close()
	if _, err := f.Vote(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
	size, _ := f.Election.Size(context.Background())
	if size < 256 {
		t.Fatalf("only %d entries", size)
	}
	const ip = "192.0.2.1:1"
	for _, p := range []string{el + "/log/tile/0/000", el + "/log/tile/entries/000"} {
		before := tilesRead(t, site)
		w := serveOne(site, "GET", p, ip)
		etag := w.Header().Get("ETag")
		if w.Code != 200 || etag == "" || w.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Fatalf("%s: %d %v", p, w.Code, w.Header())
		}
		body := w.Body.String()
		if w := serveOne(site, "GET", p, ip); w.Body.String() != body || w.Header().Get("ETag") != etag {
			t.Fatalf("%s changed", p)
		}
		if w := serveOne(site, "GET", p, ip, "If-None-Match", etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Fatalf("%s, If-None-Match: %d", p, w.Code)
		}
		if n := tilesRead(t, site) - before; n != 1 {
			t.Fatalf("%s read %d times for 3 requests", p, n)
		}
	}
	// With every turn taken, a tile kept is still served; one to read
	// from the store waits, then is told to come back.
	release, _ := gate.Acquire(context.Background())
	if w := serveOne(site, "GET", el+"/log/tile/0/000", ip); w.Code != 200 {
		t.Fatalf("a kept tile while browsing holds every turn: %d", w.Code)
	}
	if w := serveOne(site, "GET", el+"/log/tile/1/000.p/1", ip); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("a tile to read while browsing holds every turn: %d", w.Code)
	}
	release()
	partial := el + "/log/tile/0/001.p/" + strconv.Itoa(int(size-256))
	if size-256 > 0 {
		before := tilesRead(t, site)
		for range 2 {
			if w := serveOne(site, "GET", partial, ip); w.Code != 200 || w.Header().Get("ETag") != "" || w.Header().Get("Cache-Control") == "public, max-age=31536000, immutable" {
				t.Fatalf("%s: %d %v", partial, w.Code, w.Header())
			}
		}
		if n := tilesRead(t, site) - before; n != 2 {
			t.Fatalf("a partial tile read %d times for 2 requests", n)
		}
	}
}

// tilesRead is the server's count of tiles read from the store.
func tilesRead(t *testing.T, site http.Handler) int {
	w := serveOne(site, "GET", "/metrics", "127.0.0.1:1")
	m := regexp.MustCompile(`(?m)^scrutin_log_tiles_read_total (\d+)$`).FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatal("no scrutin_log_tiles_read_total in /metrics")
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// BenchmarkBallotsPage is the cost of GET /ballots over a log of 500
// ballots: rendered from the cached rows (as served), and the store read
// and tracker hashing each request did before (issue 13, defect 7).
func BenchmarkBallotsPage(b *testing.B) {
	f, err := demo.Setup(context.Background(), demo.Options{Dir: b.TempDir(), Voters: 500, Workers: 2, Seed: 7, NoSignIn: true})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Store.Close()
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, f.Election, f.Election.Handler(server.Options{NoSignIn: true})), Browse: browse.New(browse.Limits{})})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(site)
	defer srv.Close()
	if _, err := f.Vote(context.Background(), srv.URL); err != nil {
		b.Fatal(err)
	}
	b.Run("served", func(b *testing.B) {
		for b.Loop() {
			if w := serveOne(site, "GET", el+"/ballots", "192.0.2.1:1"); w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
	b.Run("rows-from-store", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.Election.Ballots(context.Background(), 0, 500); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestTileReadsCountedPerClient: a tile the server does not keep (a
// partial one, or a full one dropped from its cache) is read from the
// store afresh and copied into memory for each request, so each such read
// counts against its client's rate, like a receipt: one client asking for
// partial tiles in a loop can neither hold every browsing turn (every
// other visitor's pages, the booth's included, would get 503) nor fill the
// server's memory with copies waiting for slow readers.
func TestTileReadsCountedPerClient(t *testing.T) {
	f, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	gate := browse.New(browse.Limits{PerClient: 1, Burst: 5, Concurrent: 1, Wait: 50 * time.Millisecond, Hold: time.Millisecond})
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, f.Election, f.Election.Handler(server.Options{NoSignIn: true})), Browse: gate})
	if err != nil {
		t.Fatal(err)
	}
	size, _ := f.Election.Size(context.Background())
	if size < 2 {
		t.Fatalf("only %d entries", size)
	}
	const ip = "192.0.2.1:1"
	before := tilesRead(t, site)
	refused := 0
	for i := range 20 {
		w := serveOne(site, "GET", el+"/log/tile/entries/000.p/"+strconv.Itoa(1+i%int(size-1)), ip)
		switch w.Code {
		case http.StatusOK:
		case http.StatusTooManyRequests:
			if w.Header().Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			refused++
		default:
			t.Fatalf("partial tile: %d", w.Code)
		}
	}
	if n := tilesRead(t, site) - before; n > 6 || refused < 14 {
		t.Fatalf("one client read %d partial tiles from the store in a row (burst 5), %d refused", n, refused)
	}
	// Another client is not affected.
	if w := serveOne(site, "GET", el+"/log/tile/entries/000.p/1", "192.0.2.2:1"); w.Code != 200 {
		t.Fatalf("another client: %d", w.Code)
	}
}

// TestBoothPageTakesNoTurn: the booth's page is part of casting, as cheap
// to render as the API's answers, and must not wait behind browsing: with
// every browsing turn taken (by many clients each within its rate, reading
// lists and tiles), a voter still opens /vote. It still counts against its
// client's rate.
func TestBoothPageTakesNoTurn(t *testing.T) {
	f, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	gate := browse.New(browse.Limits{PerClient: 1, Burst: 2, Concurrent: 1, Wait: 20 * time.Millisecond, Hold: time.Millisecond})
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, f.Election, f.Election.Handler(server.Options{NoSignIn: true})), Browse: gate})
	if err != nil {
		t.Fatal(err)
	}
	release, _ := gate.Acquire(context.Background())
	defer release()
	if w := serveOne(site, "GET", el+"/ballots", "192.0.2.1:1"); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("/ballots with every turn taken: %d", w.Code)
	}
	const ip = "192.0.2.2:1"
	for range 2 {
		if w := serveOne(site, "GET", el+"/vote", ip); w.Code != 200 || !strings.Contains(w.Body.String(), "form-email") {
			t.Fatalf("/vote with every turn taken: %d", w.Code)
		}
	}
	if w := serveOne(site, "GET", el+"/vote", ip); w.Code != http.StatusTooManyRequests {
		t.Fatalf("/vote over the client's rate: %d", w.Code)
	}
}

// TestListOfBallotsAnyOffsetCached: a list asked for from any entry (the
// site links pages of 500, but ?from= takes any number) is served from the
// page that holds that entry, so that no offset makes each request read
// and hash 500 entries again.
func TestListOfBallotsAnyOffsetCached(t *testing.T) {
	f, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, f.Election, f.Election.Handler(server.Options{NoSignIn: true})), Browse: browse.New(browse.Limits{})})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if w := serveOne(site, "GET", el+"/ballots?from="+strconv.Itoa(1+i), "192.0.2.1:1"); w.Code != 200 {
			t.Fatalf("/ballots?from=%d: %d", 1+i, w.Code)
		}
	}
	size, _ := f.Election.Size(context.Background())
	if n := web.EntriesRead(site); n > size {
		t.Fatalf("4 lists from odd offsets read %d entries of a log of %d", n, size)
	}
}
