// Package web is scrutin in the browser: the voting booth, the public pages
// and the staff console, as server-rendered HTML (html/template) with small
// plain scripts. The booth's encryption and the in-browser verifier are the
// packages crypto, election and verify compiled to WebAssembly (./wasm), the
// same code the server and the command line run; the trustee page's module
// is the same build with the trustee's steps (internal/trustee, build tag
// trustee), downloaded by trustees only.
//
// Every page is in English and French, from the catalogs in catalog/; the
// language is the visitor's choice, remembered in a cookie. Pages carry a
// strict Content-Security-Policy (no inline script or style), and every
// state-changing request from another origin is refused.
package web

//go:generate go run genwasm.go

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/browse"
	"github.com/scrutin/scrutin/internal/clientip"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

//go:embed catalog/*.json
var catalogFiles embed.FS

// Languages the pages are written in; the first is the default.
var Languages = []string{"en", "fr"}

// Options configure the web front end.
type Options struct {
	// Elections are the server's elections (server.Registry): the site
	// serves their pages under /e/{id}/, and their API and logs
	// (Elections.Handler) under /api/e/{id}/, /e/{id}/log/, /healthz and
	// /metrics.
	Elections Elections
	Logger    *slog.Logger
	// Accounts are the staff accounts behind the console; nil: no console.
	Accounts *accounts.Service
	// PublicURL is the site's address as voters and staff reach it (for
	// invitation links), e.g. https://vote.example.org.
	PublicURL string
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client, for the staff sign-in's per-client limits.
	TrustedProxies []netip.Prefix
	// HSTS sends Strict-Transport-Security: set it when the server is
	// reached over HTTPS (directly or through a proxy). Cookies are always
	// Secure (browsers accept them from http://localhost too).
	HSTS bool
	// Contact is whom voters write to when no sign-in code arrives (a
	// name and address as in a From line, "Local 42 Elections
	// <elections@example.org>"): the booth names it to everyone who asks
	// for a code, on the roll or not (a lapsed member is told whom to ask,
	// and nobody learns who is on the roll).
	Contact string
	// Trustees keeps the trustees' invitations and the roster made from
	// them (a *store.DB); nil: the console has no invitations.
	Trustees TrusteeStore
	// Mail sends an e-mail (the trustees' invitations); nil: the console
	// shows the invitation link to copy instead.
	Mail func(ctx context.Context, to, subject, body string) error
	// Members reads an election's members: its sign-in list (its key and
	// rows), for telling them from the console; nil: members cannot be
	// told from here.
	Members func(id string) (key []byte, voters []server.Voter, err error)
	// Mailings keeps who was mailed which send (a *store.Shared); nil:
	// members cannot be told from here.
	Mailings MailingStore
	// MailRate is how many letters a second a send to members hands to
	// the mail server at most (0: DefaultMailRate).
	MailRate float64
	// Now is the clock (nil: time.Now), for tests.
	Now func() time.Time
	// Browse bounds what anonymous reading costs (internal/browse): pages,
	// receipts, the module and the log's tiles. Nil: browse.DefaultLimits
	// with TrustedProxies.
	Browse *browse.Gate
}

// Site is the web front end of a server's elections.
type Site struct {
	o     Options
	log   *slog.Logger
	pages map[string]*template.Template // by language
	cat   map[string]map[string]string  // by language, then key
	wasm  *module
	// trusteeWasm is the module with the trustee page's functions.
	trusteeWasm *module
	gate        *browse.Gate
	mux         *http.ServeMux
	// contact is Options.Contact, parsed.
	contact *contact
	// identityLimits are the per-client limits of the trustees' identity
	// API.
	identityLimits *clientip.Limiters

	mu    sync.Mutex
	sites map[string]*electionSite // by election id
	// sending holds the sends to members this node is sending, by
	// election id and send id.
	sending sync.Map
	// published holds the ids of the elections whose manifest is
	// recorded, as the API's gate found them.
	published sync.Map
}

// New returns the site, or an error if a template or catalog is broken.
func New(o Options) (*Site, error) {
	s := &Site{o: o, log: o.Logger, pages: map[string]*template.Template{}, cat: map[string]map[string]string{}, sites: map[string]*electionSite{},
		identityLimits: identityLimitsFor()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	cat, err := loadCatalogs()
	if err != nil {
		return nil, err
	}
	s.cat = cat
	if o.Contact != "" {
		a, err := mail.ParseAddress(o.Contact)
		if err != nil {
			return nil, fmt.Errorf("the voters' contact %q is not an e-mail address (like \"Elections <elections@example.org>\"): %w", o.Contact, err)
		}
		s.contact = &contact{Name: a.Name, Address: a.Address, Text: a.Address}
		if a.Name != "" {
			s.contact.Text = a.Name + " (" + a.Address + ")"
		}
	}
	for _, lang := range Languages {
		t, err := parseTemplates(lang, cat[lang])
		if err != nil {
			return nil, err
		}
		s.pages[lang] = t
	}
	if s.wasm, err = newModule("scrutin.wasm"); err != nil {
		return nil, err
	}
	if s.trusteeWasm, err = newModule("scrutin-trustee.wasm"); err != nil {
		return nil, err
	}
	if s.gate = o.Browse; s.gate == nil {
		lim := browse.DefaultLimits
		lim.TrustedProxies = o.TrustedProxies
		s.gate = browse.New(lim)
	}
	s.routes()
	return s, nil
}

// loadCatalogs reads the message catalogs; every language must have exactly
// the keys of the first.
func loadCatalogs() (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for _, lang := range Languages {
		b, err := catalogFiles.ReadFile("catalog/" + lang + ".json")
		if err != nil {
			return nil, err
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("catalog %s: %w", lang, err)
		}
		out[lang] = m
	}
	for _, lang := range Languages[1:] {
		for k := range out[Languages[0]] {
			if _, ok := out[lang][k]; !ok {
				return nil, fmt.Errorf("catalog %s lacks %q", lang, k)
			}
		}
		for k := range out[lang] {
			if _, ok := out[Languages[0]][k]; !ok {
				return nil, fmt.Errorf("catalog %s has %q, which %s lacks", lang, k, Languages[0])
			}
		}
	}
	return out, nil
}

func parseTemplates(lang string, cat map[string]string) (*template.Template, error) {
	funcs := template.FuncMap{
		// t is a catalog string; with arguments, a fmt format.
		"t": func(key string, args ...any) string {
			s, ok := cat[key]
			if !ok {
				return "MISSING:" + key // the tests render every page and look for this
			}
			if len(args) > 0 {
				return fmt.Sprintf(s, args...)
			}
			return s
		},
		"text": func(t election.Text) string { return t.In(lang) },
		// plural names the form of key for n: key.one or key.other
		// (French counts 0 and 1 as one, English only 1).
		"plural": func(key string, n int) string {
			if n == 1 || lang == "fr" && n == 0 {
				return key + ".one"
			}
			return key + ".other"
		},
		"lang": func() string { return lang },
		"add":  func(a, b int) int { return a + b },
		"pct": func(n, total int) int {
			if total == 0 {
				return 0
			}
			return n * 100 / total
		},
		"group": func(s string) string { return groupHex(s) },
		"when":  func(t time.Time) string { return when(lang, t) },
		// at is a time as a <time> element: the instant in its datetime
		// attribute, the text as when writes it (local.js rewrites it in
		// the reader's zone); a manifest's times are RFC 3339 strings.
		"at": func(v any) template.HTML { return at(lang, v) },
		// th is a catalog string, escaped, with arguments that are HTML
		// already (from at) or text (escaped).
		"th": func(key string, args ...any) template.HTML {
			s, ok := cat[key]
			if !ok {
				return template.HTML("MISSING:" + template.HTMLEscapeString(key))
			}
			for i, a := range args {
				if _, ok := a.(template.HTML); !ok {
					args[i] = template.HTMLEscapeString(fmt.Sprint(a))
				}
			}
			return template.HTML(fmt.Sprintf(template.HTMLEscapeString(s), args...))
		},
		"num": func(n any) string {
			switch n := n.(type) {
			case int:
				return number(lang, n)
			case int64:
				return number(lang, int(n))
			}
			return fmt.Sprint(n)
		},
		"n64":     func(n int64) string { return number(lang, int(n)) },
		"percent": func(n, total int) string { return percent(lang, n, total) },
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"static":  staticURL,
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return t, nil
}

// months are the months' names by language.
var months = map[string][12]string{
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	"fr": {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
}

// when writes a time as a reader of the language writes it, in UTC (a
// script, local.js, rewrites it in the reader's time zone).
func when(lang string, t time.Time) string {
	t = t.UTC()
	m := months[lang]
	if lang == "fr" {
		day := strconv.Itoa(t.Day())
		if day == "1" {
			day = "1er"
		}
		return fmt.Sprintf("%s %s %d à %d h %02d UTC", day, m[t.Month()-1], t.Year(), t.Hour(), t.Minute())
	}
	if lang != "en" {
		m = months["en"]
	}
	return fmt.Sprintf("%d %s %d, %02d:%02d UTC", t.Day(), m[t.Month()-1], t.Year(), t.Hour(), t.Minute())
}

// whenIn writes a time as when does, in the zone loc, naming it.
func whenIn(lang string, t time.Time, loc *time.Location) string {
	if loc == nil || loc.String() == "UTC" {
		return when(lang, t)
	}
	l := t.In(loc)
	shifted := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), 0, 0, time.UTC)
	return strings.TrimSuffix(when(lang, shifted), " UTC") + " (" + loc.String() + ")"
}

// at writes a time (a time.Time, or an RFC 3339 string as a manifest
// holds them) as a <time> element: the instant, in UTC, in its datetime
// attribute, for local.js to write in the reader's zone, and the text in
// UTC for a reader without scripts. A string that is not a time is
// written as it is.
func at(lang string, v any) template.HTML {
	var t time.Time
	switch v := v.(type) {
	case time.Time:
		t = v
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339, v); err != nil {
			return template.HTML(template.HTMLEscapeString(v))
		}
	default:
		return template.HTML(template.HTMLEscapeString(fmt.Sprint(v)))
	}
	return template.HTML(`<time datetime="` + t.UTC().Format(time.RFC3339) + `">` + template.HTMLEscapeString(when(lang, t)) + `</time>`)
}

// narrowNBSP separates a French number's thousands, and a number from
// its % sign, without letting a line break there.
const narrowNBSP = "\u202f"

// number writes a whole number as a reader of the language does: 12,345
// in English, 12 345 in French.
func number(lang string, n int) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	digits := strconv.Itoa(n)
	sep := ","
	if lang == "fr" {
		sep = narrowNBSP
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(d)
	}
	return sign + b.String()
}

// percent writes n out of total as a percentage with one decimal: 33.3%
// in English, 33,3 % in French; "" when total is 0.
func percent(lang string, n, total int) string {
	if total == 0 {
		return ""
	}
	p := strconv.FormatFloat(float64(n)*100/float64(total), 'f', 1, 64)
	if lang == "fr" {
		return strings.Replace(p, ".", ",", 1) + narrowNBSP + "%"
	}
	return p + "%"
}

// groupHex writes a long hex string in groups of four, for reading aloud.
func groupHex(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(len(s), i+4)])
	}
	return b.String()
}

// ServeHTTP serves the site and, under it, the API.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Site) routes() {
	mux := http.NewServeMux()
	if s.o.Elections != nil {
		all := s.o.Elections.Handler()
		for _, p := range []string{"/api/", "/healthz", "/metrics"} {
			mux.Handle(p, all)
		}
		// An election's API and log: as for none to whoever may not see
		// it yet (no manifest, and no role in it).
		api := s.unlisted(all)
		for _, p := range []string{"/api/e/{id}/", "/e/{id}/log/"} {
			mux.Handle(p, api)
		}
		// Reading the log and proving receipts read the store: in turns
		// (taken by the API only when it reads the store, not for a tile
		// it keeps), within the client's rate. A tile kept is free (a
		// verifier reads them all); one read from the store counts.
		mux.Handle("GET /e/{id}/log/", s.gate.Pass(false, api))
		mux.Handle("GET /api/e/{id}/ballots/{tracker}", s.gate.Pass(true, api))
		// The officers' routes of an election the staff member has no
		// role in answer as for an election that does not exist.
		mux.Handle("/api/e/{id}/admin/", s.officersOnly(api))
		// A manifest sent whole holds the console's roster, as one
		// uploaded in the console does.
		mux.Handle("POST /api/e/{id}/admin/entries", s.officersOnly(s.manifestRosterGuard(api)))
		// A trustee's identity comes before the manifest, from someone
		// with no role: the invitation is the permission (spec §22.3).
		mux.HandleFunc("POST /api/e/{id}/trustee-identities", s.identityAPI)
	}
	page := func(pattern, name string, h func(w http.ResponseWriter, r *http.Request, p *pageData)) {
		mux.Handle(pattern, s.gate.Handler(true, s.pageHandler(name, h)))
	}
	// el is a page of one election (an election without a manifest yet is
	// shown only to its staff).
	el := s.electionPage
	page("GET /{$}", "elections", s.serverHome)
	page("GET /console", "console", s.consoleList)
	page("POST /console/create", "console", s.createElection)
	mux.Handle("GET /e/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/e/"+url.PathEscape(r.PathValue("id"))+"/", http.StatusMovedPermanently)
	}))
	mux.Handle("GET /e/{id}/{$}", s.gate.Handler(true, el("home", s.home)))
	// The booth's page is part of casting: as cheap as the API's answers,
	// it counts against its client's rate but waits for no turn, so that
	// browsing never keeps a voter from the booth.
	mux.Handle("GET /e/{id}/vote", s.gate.Pass(true, el("vote", s.scripted("vote.html"))))
	for _, pg := range []struct {
		pattern, name string
		h             func(w http.ResponseWriter, r *http.Request, p *pageData)
	}{
		{"GET /e/{id}/ballots", "ballots", s.ballots},
		{"GET /e/{id}/ballots/{tracker}", "tracker", s.tracker},
		{"GET /e/{id}/board", "board", s.board},
		{"GET /e/{id}/results", "results", s.results},
		{"GET /e/{id}/results.csv", "results", s.resultDownload("csv")},
		{"GET /e/{id}/results.json", "results", s.resultDownload("json")},
		{"GET /e/{id}/verify", "verify", s.scripted("verify.html")},
		{"GET /e/{id}/audit", "audit", s.scripted("audit.html")},
	} {
		mux.Handle(pg.pattern, s.gate.Handler(true, el(pg.name, pg.h)))
	}
	mux.Handle("GET /e/{id}/trustee", s.gate.Handler(true, http.HandlerFunc(s.trusteePage)))
	mux.Handle("GET /e/{id}/console", s.gate.Handler(true, s.consolePage("console", s.console)))
	mux.Handle("POST /e/{id}/console/{action}", s.gate.Handler(true, s.consolePage("console", s.consoleAction)))
	mux.Handle("GET /e/{id}/console/form", s.gate.Handler(true, s.consolePage("manifestForm", s.manifestFormPage)))
	mux.Handle("POST /e/{id}/console/form", s.gate.Handler(true, s.consolePage("manifestForm", s.manifestFormAction)))
	mux.Handle("GET /e/{id}/console/roll", s.gate.Handler(true, s.consolePage("rollImport", s.rollPage)))
	mux.Handle("POST /e/{id}/console/roll", s.gate.Handler(true, s.consolePage("rollImport", s.rollAction)))
	mux.Handle("GET /e/{id}/console/members", s.gate.Handler(true, s.consolePage("members", s.membersPage)))
	mux.Handle("POST /e/{id}/console/members/{action}", s.gate.Handler(true, s.consolePage("members", s.membersAction)))
	mux.Handle("GET /e/{id}/console/trail", s.gate.Handler(true, s.consolePage("trail", s.electionTrail)))
	mux.Handle("POST /e/{id}/console/trustees/{action}", s.gate.Handler(true, s.consolePage("console", s.trusteesAction)))
	mux.Handle("GET /e/{id}/console/roster.json", s.gate.Handler(true, s.consolePage("console", s.rosterDownload)))
	s.staffRoutes(page, mux)
	mux.HandleFunc("POST /lang", s.setLanguage)
	mux.HandleFunc("GET /static/scrutin.wasm", s.serveWasm)
	mux.HandleFunc("GET /static/scrutin-trustee.wasm", s.serveWasm)
	mux.HandleFunc("GET /static/", s.serveStatic)
	// Cross-origin state-changing requests are refused everywhere (CSRF).
	cop := http.NewCrossOriginProtection()
	s.mux = http.NewServeMux()
	s.mux.Handle("/", s.headers(cop.Handler(mux)))
}

// headers sets the pages' security headers; the API sets its own stricter
// ones.
func (s *Site) headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(), usb=()")
		if s.o.HSTS {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// language is the visitor's language: the cookie, else the browser's first
// preference we have, else English.
func language(r *http.Request) string {
	if c, err := r.Cookie("lang"); err == nil {
		for _, l := range Languages {
			if c.Value == l {
				return l
			}
		}
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag, _, _ = strings.Cut(tag, "-")
		for _, l := range Languages {
			if strings.EqualFold(tag, l) {
				return l
			}
		}
	}
	return Languages[0]
}

// setLanguage remembers the chosen language and goes back to the page.
func (s *Site) setLanguage(w http.ResponseWriter, r *http.Request) {
	lang := r.FormValue("lang")
	ok := false
	for _, l := range Languages {
		ok = ok || l == lang
	}
	if !ok {
		http.Error(w, "unknown language", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: "lang", Value: lang, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	back := r.FormValue("back")
	if !localPath(back) {
		back = "/"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// localPath reports whether p is a path on this site and nothing else: it
// starts with one slash, and holds only printable ASCII without backslashes
// (browsers drop tabs and newlines, and read "\\" as "/", so "/\t/host" and
// "/\\host" would lead elsewhere).
func localPath(p string) bool {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || len(p) > 200 {
		return false
	}
	for _, c := range []byte(p) {
		if c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil
}

// contact is whom voters write to when no sign-in code arrives.
type contact struct {
	Name, Address string
	Text          string // "Name (address)", or the address
}

// pageData is what every page template gets.
type pageData struct {
	Lang, Path string
	Page       string // the catalog key of the page's name
	Title      string // the election's title in the page's language
	Phase      string
	ID         string // the election's id, on its pages
	Base       string // the election's pages' base path: "/e/{id}", on its pages
	URL        string // the election's address, for the command line
	State      *summary
	Data       any
	Staff      *staffView // the signed-in staff member, if any
	Error      string
	Contact    *contact // whom voters write to, if the server names one

	el *electionSite // on an election's pages
}

// summary is the public state of the election, read once per page.
type summary struct {
	Manifest    *election.Manifest
	Fingerprint string
	Phase       string
	Voters      int
	Voted       int
	Ballots     int
	Result      *election.Result
	Trustees    int
	Dealt       int
	Complete    bool
	Credentials int
	Size        int64
	Answers     []int // per contest, the counted ballots that answer it
	// Ends is the end of voting in force (spec §18.7), and Extensions the
	// recorded extensions of the window, oldest first.
	Ends       time.Time
	Extensions []extensionView
	// Replacements are the replacements of lost credentials (spec §18.8),
	// and Authority whether the credential authority's key is recorded.
	Replacements []replacementView
	Authority    bool
	// Ended: voting is open but its end in force has passed, so ballots
	// are refused until the officer records the close.
	Ended bool
}

// replacementView is one replacement of a lost credential (spec §18.8).
type replacementView struct {
	Index    int64
	At       time.Time
	Old, New string
}

// extensionView is one extension of the voting window (spec §18.7).
type extensionView struct {
	Index      int64
	At, Closes time.Time
	Reason     string
}

func (es *electionSite) summary() *summary {
	var sm summary
	es.e.State(func(st *election.State) {
		sm.Manifest, sm.Phase, sm.Ballots, sm.Result = st.Manifest, st.Phase.String(), st.Ballots, st.Result
		if st.Manifest != nil {
			sm.Fingerprint = fmt.Sprintf("%x", st.Fingerprint[:])
		}
		sm.Voted, sm.Credentials, sm.Size = st.Voted(), len(st.Credentials), st.Size
		if st.Result != nil {
			sm.Answers = st.Answers()
		}
		if st.Roll != nil {
			sm.Voters = st.Roll.Voters
		}
		if st.Manifest != nil {
			sm.Trustees = len(st.Manifest.Roster.Trustees)
		}
		if st.Ceremony != nil {
			sm.Complete = st.Ceremony.Complete
		}
		sm.Ends = st.Ends()
		for i, x := range st.Extensions {
			at, _ := time.Parse(election.TimeFormat, x.At)
			closes, _ := time.Parse(election.TimeFormat, x.Closes)
			sm.Extensions = append(sm.Extensions, extensionView{Index: st.ExtendedAt[i], At: at, Closes: closes, Reason: x.Reason})
		}
		sm.Authority = st.Authority != nil
		sm.Ended = st.Phase == election.PhaseVoting && !sm.Ends.IsZero() && !es.e.Now().Before(sm.Ends)
		for i, r := range st.Replacements {
			at, _ := time.Parse(election.TimeFormat, r.At)
			o, _ := r.Old.MarshalText()
			n, _ := r.New.MarshalText()
			sm.Replacements = append(sm.Replacements, replacementView{Index: st.ReplacedAt[i], At: at, Old: string(o), New: string(n)})
		}
	})
	return &sm
}

// pageHandler serves a server-wide page.
func (s *Site) pageHandler(name string, h func(w http.ResponseWriter, r *http.Request, p *pageData)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := language(r)
		p := &pageData{Lang: lang, Path: r.URL.Path, Page: "page." + name}
		p.Staff = s.staffView(r, nil)
		h(w, r, p)
	})
}

// electionPage serves a page of the election named in the path: 404 for
// an unknown one, and for one without a manifest yet unless the visitor
// has a role in it.
func (s *Site) electionPage(name string, h func(w http.ResponseWriter, r *http.Request, p *pageData)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lang := language(r)
		es, status := s.election(r.Context(), r.PathValue("id"))
		if es == nil || !es.public() {
			if !s.mayKnow(r, r.PathValue("id"), es, status) {
				s.notFound(w, r, http.StatusNotFound)
				return
			}
			if es == nil {
				s.notFound(w, r, status)
				return
			}
		}
		p := s.electionData(r, es, lang, name)
		h(w, r, p)
	})
}

// consolePage serves a console page of an election: someone not signed in
// goes to sign in first (before anything is looked up), and someone
// without a role in the election gets 404, as for one that does not exist.
func (s *Site) consolePage(name string, h func(w http.ResponseWriter, r *http.Request, p *pageData)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.noAccounts(w) {
			return
		}
		se, _, ok := s.actingSession(w, r)
		if !ok {
			return
		}
		id := r.PathValue("id")
		es, status := s.election(r.Context(), id)
		if es == nil || !s.allowed(se, accounts.ReadElection, es) {
			// An election that cannot be served now is said to be so
			// only to its staff.
			if status == 0 || !s.hasRole(r.Context(), se, id) {
				status = http.StatusNotFound
			}
			s.notFound(w, r, status)
			return
		}
		h(w, r, s.electionData(r, es, language(r), name))
	})
}

func (s *Site) electionData(r *http.Request, es *electionSite, lang, name string) *pageData {
	p := &pageData{Lang: lang, Path: r.URL.Path, Page: "page." + name, ID: es.id, Base: es.base, State: es.summary(), el: es}
	p.URL = s.baseURL(r) + es.base
	p.Staff = s.staffView(r, es)
	p.Contact = s.contact
	p.Phase = p.State.Phase
	if p.State.Manifest != nil {
		p.Title = p.State.Manifest.Title.In(lang)
	}
	return p
}

// notFound answers 404 (or 503 for an election that cannot be served now)
// with no detail: the same for every unknown or hidden election.
func (s *Site) notFound(w http.ResponseWriter, r *http.Request, status int) {
	if status == 0 {
		status = http.StatusNotFound
	}
	p := &pageData{Lang: language(r), Path: "/", Page: "page.notFound"}
	key := "notFound.text"
	if status == http.StatusServiceUnavailable {
		p.Page, key = "page.unavailable", "unavailable.text"
	}
	p.Data = s.msg(p.Lang, key)
	s.render(w, status, "notfound.html", p)
}

// officersOnly answers 404 to a signed-in staff member (past the second
// step) who has no role in the election: its officers' routes answer as
// for an election that does not exist. Others go on to the API, which
// asks for a session (Officer).
func (s *Site) officersOnly(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		se, a := s.session(r)
		if se != nil && se.SecondFactor && a.HasSecondFactor() && !s.hasRole(r.Context(), se, r.PathValue("id")) {
			apiNotFound(w)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// unlisted serves an election's API and log only to those who may know
// the election exists (mayKnow); others, and requests about an unknown
// election, get the API's answer for an unknown election.
func (s *Site) unlisted(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Not through s.election: the API's requests (every ballot) do
		// not churn the pages' caches.
		id := r.PathValue("id")
		if _, ok := s.published.Load(id); ok {
			api.ServeHTTP(w, r)
			return
		}
		if store.CheckID(id) != nil {
			apiNotFound(w)
			return
		}
		e, err := s.o.Elections.Election(r.Context(), id)
		switch {
		case err == nil && e.Fingerprint() != (crypto.Fingerprint{}):
			s.published.Store(id, true) // for good: a log only grows
		case errors.Is(err, ErrNoElection):
			apiNotFound(w)
			return
		case err != nil && r.Context().Err() != nil:
			return
		default: // no manifest yet, or failed
			status := 0
			if err != nil {
				status = http.StatusServiceUnavailable
			}
			if !s.mayKnow(r, id, nil, status) {
				apiNotFound(w)
				return
			}
		}
		api.ServeHTTP(w, r)
	})
}

// apiNotFound is the API's answer for an unknown election (the same as
// server.Registry's).
func apiNotFound(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusNotFound)
	w.Write([]byte(`{"error":"not found"}` + "\n"))
}

// mayKnow reports, for an election that is not public (es nil: not
// loaded here) or could not be loaded (status 503), whether the request
// may know it exists: a failed election that was public, or a visitor
// with a role in it (spec §22.3, §22.4: only its staff see an election
// before its manifest is recorded).
func (s *Site) mayKnow(r *http.Request, id string, es *electionSite, status int) bool {
	if es == nil && status == http.StatusNotFound {
		return false
	}
	if status == http.StatusServiceUnavailable && s.o.Elections != nil {
		for _, sm := range s.o.Elections.List() {
			if sm.ID == id && sm.Public {
				return true
			}
		}
	}
	se, _ := s.session(r)
	if se == nil {
		return false
	}
	if es != nil {
		return s.allowed(se, accounts.ReadElection, es)
	}
	return s.hasRole(r.Context(), se, id)
}

// render writes a page; a template error is logged and answered with 500.
func (s *Site) render(w http.ResponseWriter, status int, name string, p *pageData) {
	var b bytes.Buffer
	if err := s.pages[p.Lang].ExecuteTemplate(&b, name, p); err != nil {
		s.log.Error("page failed", "page", name, "err", err)
		http.Error(w, "this page failed; the error is logged", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

func (s *Site) msg(lang, key string) string {
	if m, ok := s.cat[lang][key]; ok {
		return m
	}
	return key
}

func (s *Site) home(w http.ResponseWriter, r *http.Request, p *pageData) {
	s.render(w, http.StatusOK, "home.html", p)
}

// scripted renders a page whose script needs the catalog's "js." messages,
// given to it as JSON in a data attribute (no inline script).
func (s *Site) scripted(name string) func(w http.ResponseWriter, r *http.Request, p *pageData) {
	return func(w http.ResponseWriter, r *http.Request, p *pageData) {
		msgs := map[string]string{}
		for k, v := range s.cat[p.Lang] {
			if rest, ok := strings.CutPrefix(k, "js."); ok {
				msgs[rest] = v
			}
		}
		b, _ := json.Marshal(msgs)
		p.Data = string(b)
		s.render(w, http.StatusOK, name, p)
	}
}

// ballotsPage is one page of the list of cast ballots.
type ballotsPage struct {
	Rows       []server.BallotRow
	From, Next int64
	Prev       int64
	HasPrev    bool
	HasNext    bool
	Base       string        // the election's pages' base path
	Table      template.HTML // the rows' table, rendered from Rows (cached)
}

const ballotsPerPage = 500 // entries scanned per page

func (s *Site) ballots(w http.ResponseWriter, r *http.Request, p *pageData) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	es := p.el
	size, err := es.e.Size(ctx)
	if err != nil {
		http.Error(w, "the log cannot be read now", http.StatusServiceUnavailable)
		return
	}
	from, _ := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	from = max(0, min(from, size))
	from -= from % ballotsPerPage // the page that holds it, which is kept
	to := min(size, from+ballotsPerPage)
	rows, err := es.rows.get(ctx, es.e, from, to)
	if err != nil {
		http.Error(w, "the log cannot be read now", http.StatusServiceUnavailable)
		return
	}
	bp := &ballotsPage{Base: p.Base, Rows: rows, From: from, Next: to, HasNext: to < size, Prev: max(0, from-ballotsPerPage), HasPrev: from > 0}
	bp.Table, err = es.rows.table(p.Lang, from, to, rows, func() (template.HTML, error) {
		var b bytes.Buffer
		err := s.pages[p.Lang].ExecuteTemplate(&b, "ballots.table", bp)
		return template.HTML(b.String()), err // escaped by the template
	})
	if err != nil {
		s.log.Error("page failed", "page", "ballots.table", "err", err)
		http.Error(w, "this page failed; the error is logged", http.StatusInternalServerError)
		return
	}
	p.Data = bp
	s.render(w, http.StatusOK, "ballots.html", p)
}

// trackerView is the check of one tracker.
type trackerView struct {
	Tracker string
	Found   bool
	Receipt *server.Receipt
	Counted bool
	// Revoked: the ballot's credential was replaced since (spec §18.8),
	// so it does not count, whether or not its voter voted again.
	Revoked bool
}

func (s *Site) tracker(w http.ResponseWriter, r *http.Request, p *pageData) {
	t := strings.ToLower(strings.TrimSpace(r.PathValue("tracker")))
	if t == "find" { // the search form
		q := strings.ToLower(strings.Join(strings.Fields(r.URL.Query().Get("tracker")), ""))
		if q == "" || strings.Trim(q, "0123456789abcdef") != "" {
			q = "invalid"
		}
		http.Redirect(w, r, p.Base+"/ballots/"+q, http.StatusSeeOther)
		return
	}
	if !isTracker(t) {
		p.Path, p.Data = p.Base+"/ballots", &trackerView{} // nothing of the address is echoed
		s.render(w, http.StatusNotFound, "tracker.html", p)
		return
	}
	v := &trackerView{Tracker: t}
	var idx int64
	p.el.e.State(func(st *election.State) {
		idx, v.Counted, v.Found = st.FindTracker(t)
		v.Revoked = st.TrackerRevoked(t)
	})
	status := http.StatusOK
	if v.Found {
		rc, err := p.el.e.Receipt(r.Context(), idx, t)
		if err != nil {
			http.Error(w, "the log cannot be read now", http.StatusServiceUnavailable)
			return
		}
		v.Receipt = rc
	} else {
		status = http.StatusNotFound
	}
	p.Data = v
	s.render(w, status, "tracker.html", p)
}

// isTracker reports whether t is written as a tracker: 64 lower-case hex
// digits (nothing else from the address is shown on the page).
func isTracker(t string) bool {
	if len(t) != 64 {
		return false
	}
	for _, c := range t {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// boardView is the current checkpoint and its signatures.
type boardView struct {
	Checkpoint string
	Size       int64
	Hash       string
	Signatures []string // the names of the keys that signed it
	Witnesses  []server.WitnessStatus
}

func (s *Site) board(w http.ResponseWriter, r *http.Request, p *pageData) {
	c, signed, err := p.el.e.PublicCheckpoint(r.Context())
	v := &boardView{Witnesses: p.el.e.Witnesses()}
	if err == nil {
		v.Checkpoint, v.Size, v.Hash = string(signed), c.Size, c.Hash.String()
		_, sigs, _ := strings.Cut(string(signed), "\n\n")
		for _, line := range strings.Split(strings.TrimSpace(sigs), "\n") {
			if name, _, ok := strings.Cut(strings.TrimPrefix(line, "— "), " "); ok {
				v.Signatures = append(v.Signatures, name)
			}
		}
	}
	p.Data = v
	s.render(w, http.StatusOK, "board.html", p)
}

// resultsView is the result, or the turnout while there is none.
type resultsView struct {
	Contests []contestResult
	Turnout  []server.TurnoutPoint
	Chart    *turnoutChart
	// Voted of Voters members voted (the roll's members, not its rows).
	Voted, Voters int
}

type contestResult struct {
	ID    string
	Title election.Text
	Rule  string
	Max   int // choices a ballot may make
	Total int // the choices counted
	// Answered is the number of counted ballots that answer the contest;
	// Blank those that chose nothing, or -1 where there are none (a
	// choice is required) or the counts do not tell (several choices).
	Answered, Blank int
	// Base is what the percentages are of: the ballots that answer the
	// contest (blank ones included), or the choices counted if unknown.
	Base    int
	Options []optionResult
}

type optionResult struct {
	ID     string
	Title  election.Text
	Count  int
	Width  int // of the bar, out of 300
	Winner bool
}

// resultView reads the published result, or nil while there is none.
func resultView(st *summary) []contestResult {
	if st.Result == nil || st.Manifest == nil {
		return nil
	}
	var out []contestResult
	for c, ct := range st.Manifest.Contests {
		if c >= len(st.Result.Contests) {
			break
		}
		rc := st.Result.Contests[c]
		cr := contestResult{ID: ct.ID, Title: ct.Title, Rule: ct.Rule(), Max: ct.Max, Blank: -1}
		if c < len(st.Answers) {
			cr.Answered = st.Answers[c]
		}
		top := 0
		for _, n := range rc.Counts {
			cr.Total += int(n)
			top = max(top, int(n))
		}
		cr.Base = cr.Answered
		if cr.Base == 0 {
			cr.Base = cr.Total
		}
		if ct.Max == 1 && ct.Min == 0 {
			cr.Blank = max(0, cr.Answered-cr.Total)
		}
		for o, opt := range ct.Options {
			n := 0
			if o < len(rc.Counts) {
				n = int(rc.Counts[o])
			}
			or := optionResult{ID: opt.ID, Title: opt.Title, Count: n, Winner: slices.Contains(rc.Winners, opt.ID)}
			if top > 0 {
				or.Width = n * 300 / top
			}
			cr.Options = append(cr.Options, or)
		}
		out = append(out, cr)
	}
	return out
}

func (s *Site) results(w http.ResponseWriter, r *http.Request, p *pageData) {
	st := p.State
	v := &resultsView{Contests: resultView(st), Voted: st.Voted, Voters: st.Voters}
	if v.Contests == nil {
		v.Turnout = p.el.e.Turnout()
		v.Chart = newTurnoutChart(v.Turnout, st.Voters)
	}
	p.Data = v
	s.render(w, http.StatusOK, "results.html", p)
}

// resultDownload is the published result as a file: CSV (one row per
// option, titles in the reader's language) or JSON (both languages).
func (s *Site) resultDownload(format string) func(w http.ResponseWriter, r *http.Request, p *pageData) {
	return func(w http.ResponseWriter, r *http.Request, p *pageData) {
		contests := resultView(p.State)
		if contests == nil {
			s.notFound(w, r, http.StatusNotFound)
			return
		}
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		name := "result-" + p.ID
		var b bytes.Buffer
		switch format {
		case "csv":
			h.Set("Content-Type", "text/csv; charset=utf-8")
			cw := csv.NewWriter(&b)
			cw.Write([]string{"contest", "contest_title", "option", "option_title", "votes", "winner", "ballots_answering", "blank"})
			for _, c := range contests {
				blank := ""
				if c.Blank >= 0 {
					blank = strconv.Itoa(c.Blank)
				}
				for _, o := range c.Options {
					cw.Write([]string{c.ID, c.Title.In(p.Lang), o.ID, o.Title.In(p.Lang), strconv.Itoa(o.Count), strconv.FormatBool(o.Winner), strconv.Itoa(c.Answered), blank})
				}
			}
			cw.Flush()
		default:
			h.Set("Content-Type", "application/json")
			type jsonOption struct {
				ID     string        `json:"id"`
				Title  election.Text `json:"title"`
				Votes  int           `json:"votes"`
				Winner bool          `json:"winner"`
			}
			type jsonContest struct {
				ID       string        `json:"id"`
				Title    election.Text `json:"title"`
				Answered int           `json:"ballots_answering"`
				Blank    *int          `json:"blank,omitempty"`
				Options  []jsonOption  `json:"options"`
				Counts   []int         `json:"counts"`
			}
			out := struct {
				Election    string        `json:"election"`
				Fingerprint string        `json:"fingerprint"`
				Title       election.Text `json:"title"`
				Voted       int           `json:"voted"`
				Members     int           `json:"members"`
				Contests    []jsonContest `json:"contests"`
			}{Election: p.ID, Fingerprint: p.State.Fingerprint, Title: p.State.Manifest.Title, Voted: p.State.Voted, Members: p.State.Voters}
			for _, c := range contests {
				jc := jsonContest{ID: c.ID, Title: c.Title, Answered: c.Answered}
				if c.Blank >= 0 {
					jc.Blank = &c.Blank
				}
				for _, o := range c.Options {
					jc.Options = append(jc.Options, jsonOption{o.ID, o.Title, o.Count, o.Winner})
					jc.Counts = append(jc.Counts, o.Count)
				}
				out.Contests = append(out.Contests, jc)
			}
			enc := json.NewEncoder(&b)
			enc.SetIndent("", "  ")
			enc.Encode(out)
		}
		h.Set("Content-Disposition", `attachment; filename="`+name+"."+format+`"`)
		w.WriteHeader(http.StatusOK)
		w.Write(b.Bytes())
	}
}

// turnoutChart is an SVG line of voters over time.
type turnoutChart struct {
	Points      string // SVG polyline points
	First, Last time.Time
	Max         int
}

func newTurnoutChart(pts []server.TurnoutPoint, voters int) *turnoutChart {
	if len(pts) == 0 {
		return nil
	}
	const width, height = 600, 200
	t0, t1 := pts[0].At, pts[len(pts)-1].At
	span := t1.Sub(t0)
	top := max(voters, pts[len(pts)-1].Voters, 1)
	var b strings.Builder
	for i, pt := range pts {
		x := width
		if span > 0 {
			x = int(float64(width) * float64(pt.At.Sub(t0)) / float64(span))
		}
		y := height - pt.Voters*height/top
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d,%d", x, y)
	}
	return &turnoutChart{Points: b.String(), First: t0, Last: t1, Max: top}
}

// Officer returns the check of the officers' API of the election with this
// id (server.Options.Officer): it lets a request through only if it comes
// with a staff session that passed its second step and may run this
// election; it returns what records the action, with its outcome, in the
// audit trail.
func (s *Site) Officer(id string) func(r *http.Request, action string) (func(result string), error) {
	return func(r *http.Request, action string) (func(result string), error) {
		if s.o.Accounts == nil {
			return nil, accounts.ErrDenied
		}
		se, _ := s.session(r)
		if se == nil {
			return nil, accounts.ErrDenied
		}
		es, _ := s.election(r.Context(), id)
		if es == nil {
			return nil, server.ErrNoElection
		}
		key, err := s.roleKey(se, accounts.ManageElection, es)
		if err != nil {
			if _, a := s.session(r); se.SecondFactor && a != nil && a.HasSecondFactor() && !s.allowed(se, accounts.ReadElection, es) {
				// No role at all here: the API answers as for an
				// election that does not exist.
				return nil, fmt.Errorf("%w: %v", server.ErrNoElection, err)
			}
			return nil, err
		}
		c := s.staffClient(r)
		return func(result string) {
			if err := s.o.Accounts.Record(se, accounts.ManageElection, key, "api-"+action, map[string]string{"result": result}, c); err != nil {
				s.log.Error("the audit trail refused an API action", "election", id, "action", action, "err", err)
			}
		}, nil
	}
}

func randomID() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
