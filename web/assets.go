package web

// Static files as cached representations (issue 13, defect 7): every file is
// read, hashed and typed once; the WebAssembly module is kept gzipped and,
// for the rare client that does not take gzip, inflated once. Each answer
// carries a strong ETag, and If-None-Match gets 304; a file asked for under
// its version (/static/booth.js?v=…, as the pages link it) is immutable.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// asset is one representation of a static file.
type asset struct {
	body     []byte
	etag     string // quoted
	version  string // the query a versioned link carries
	ctype    string
	encoding string // Content-Encoding, if any
}

func newAsset(name string, body []byte) *asset {
	sum := sha256.Sum256(body)
	v := hex.EncodeToString(sum[:8])
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return &asset{body: body, etag: `"` + v + `"`, version: v, ctype: ct}
}

// assets are the static files but the module, by name.
var assets = sync.OnceValue(func() map[string]*asset {
	m := map[string]*asset{}
	fs.WalkDir(staticFiles, "static", func(p string, d fs.DirEntry, err error) error {
		name := strings.TrimPrefix(p, "static/")
		if err != nil || d.IsDir() || strings.HasSuffix(name, ".gz") || strings.HasSuffix(name, "go-version") {
			return nil
		}
		b, err := staticFiles.ReadFile(p)
		if err == nil {
			m[name] = newAsset(name, b)
		}
		return nil
	})
	return m
})

// wasmVersions are the modules' versions: their gzipped bytes' hashes.
var wasmVersions = sync.OnceValue(func() map[string]string {
	m := map[string]string{}
	for _, name := range wasmModules {
		b, _ := staticFiles.ReadFile("static/" + name + ".gz")
		m[name] = newAsset(name, b).version
	}
	return m
})

// wasmModules are the WebAssembly modules (genwasm.go): the booth and
// verifier, and the same with the trustee page's functions.
var wasmModules = []string{"scrutin.wasm", "scrutin-trustee.wasm"}

// staticURL is a static file's versioned address, for the pages' links.
func staticURL(name string) string {
	if v, ok := wasmVersions()[name]; ok {
		return "/static/" + name + "?v=" + v
	}
	if a := assets()[name]; a != nil {
		return "/static/" + name + "?v=" + a.version
	}
	return "/static/" + name
}

// cacheControl marks an answer immutable if the request names the version
// served, else to be revalidated.
func cacheControl(w http.ResponseWriter, r *http.Request, version string) {
	if v := r.URL.Query().Get("v"); v != "" && v == version {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
}

// module is the WebAssembly module's two representations.
type module struct {
	gz         *asset
	once       sync.Once
	raw        *asset
	err        error
	inflations atomic.Int64 // how many times it was inflated (once)
}

func newModule(name string) (*module, error) {
	b, err := staticFiles.ReadFile("static/" + name + ".gz")
	if err != nil {
		return nil, err
	}
	gz := newAsset(name, b)
	gz.encoding = "gzip"
	gz.etag = `"` + gz.version + `-gzip"`
	return &module{gz: gz}, nil
}

// identity returns the inflated module, inflating it on first use.
func (m *module) identity() (*asset, error) {
	m.once.Do(func() {
		m.inflations.Add(1)
		zr, err := gzip.NewReader(bytes.NewReader(m.gz.body))
		if err != nil {
			m.err = err
			return
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			m.err = err
			return
		}
		m.raw = &asset{body: raw, etag: `"` + m.gz.version + `"`, version: m.gz.version, ctype: "application/wasm"}
	})
	return m.raw, m.err
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip
// (with a q-value above zero).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		q, found := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !found {
			return true
		}
		f, err := strconv.ParseFloat(q, 64)
		return err == nil && f > 0
	}
	return false
}

// Costs of the module against a client's limit (a page costs 1): a
// browser fetches it once, then revalidates it (304, free).
const (
	wasmCost         = 10
	wasmIdentityCost = 25 // 2.8 times as large
)

// serveWasm serves the module gzipped to browsers that take it (all do),
// inflated to others, both from memory. Each copy sent is counted against
// its client's limit: even from memory, 2 or 6 MB.
func (s *Site) serveWasm(w http.ResponseWriter, r *http.Request) {
	m := s.wasm
	if r.URL.Path == "/static/scrutin-trustee.wasm" {
		m = s.trusteeWasm
	}
	w.Header().Set("Vary", "Accept-Encoding")
	cacheControl(w, r, m.gz.version)
	a, cost := m.gz, wasmCost
	if !acceptsGzip(r) {
		cost = wasmIdentityCost
		var err error
		if a, err = m.identity(); err != nil {
			http.Error(w, "the module is damaged", http.StatusInternalServerError)
			return
		}
	}
	if notModified(w, r, a) {
		return
	}
	if ok, d := s.gate.Allow(r, cost); !ok {
		s.gate.TooMany(w, r, d)
		return
	}
	writeAsset(w, r, a)
}

// serveStatic serves the other static files from memory.
func (s *Site) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	a := assets()[name]
	if a == nil {
		http.NotFound(w, r)
		return
	}
	cacheControl(w, r, a.version)
	if notModified(w, r, a) {
		return
	}
	writeAsset(w, r, a)
}

// notModified answers 304 if the request's If-None-Match names a's ETag.
func notModified(w http.ResponseWriter, r *http.Request, a *asset) bool {
	w.Header().Set("ETag", a.etag)
	inm := r.Header.Get("If-None-Match")
	if inm == "" {
		return false
	}
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == a.etag || t == "*" {
			w.WriteHeader(http.StatusNotModified)
			return true
		}
	}
	return false
}

func writeAsset(w http.ResponseWriter, r *http.Request, a *asset) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	if a.encoding != "" {
		h.Set("Content-Encoding", a.encoding)
	}
	h.Set("Content-Length", strconv.Itoa(len(a.body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(a.body)
}
