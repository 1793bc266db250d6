package web

// The staff console: an officer records the manifest, the roll and the
// credentials (prepared on the officer's own machine, so that members'
// personal data never reach the server), follows the trustees' ceremony,
// opens and closes voting, records the tally and publishes the result.
//
// Until staff accounts exist it is opened with the officer token, the
// secret "scrutin serve" generates on first start: sessions are random,
// kept in memory only, and end after 8 hours or at sign-out.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/roll"
)

const (
	staffCookie     = "scrutin-staff"
	staffSessionTTL = 8 * time.Hour
	maxUpload       = 8 << 20
)

type staffSessions struct {
	token []byte // SHA-256 of the officer token, nil: console closed
	mu    sync.Mutex
	live  map[[32]byte]time.Time // SHA-256 of the session id → expiry
	// failures limits wrong tokens per client address. The right token is
	// never refused: nobody can lock the officer out, and the token's 256
	// random bits make guessing hopeless anyway.
	failures map[string]*rate.Limiter
}

// maxFailureClients bounds the table of clients that sent wrong tokens.
const maxFailureClients = 10000

// failed records a wrong token from a client and reports whether it may
// try again now.
func (s *staffSessions) failed(client string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.failures[client]
	if !ok {
		if len(s.failures) >= maxFailureClients {
			clear(s.failures)
		}
		l = rate.NewLimiter(rate.Every(6*time.Second), 5)
		s.failures[client] = l
	}
	return l.Allow()
}

func newStaffSessions(token string) *staffSessions {
	s := &staffSessions{live: map[[32]byte]time.Time{}, failures: map[string]*rate.Limiter{}}
	if token != "" {
		h := sha256.Sum256([]byte(token))
		s.token = h[:]
	}
	return s
}

func (s *staffSessions) check(token string) bool {
	if s.token == nil {
		return false
	}
	h := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(h[:], s.token) == 1
}

func (s *staffSessions) start() string {
	var id [32]byte
	rand.Read(id[:])
	v := hex.EncodeToString(id[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, exp := range s.live {
		if now.After(exp) {
			delete(s.live, k)
		}
	}
	s.live[sha256.Sum256([]byte(v))] = now.Add(staffSessionTTL)
	return v
}

func (s *staffSessions) valid(r *http.Request) bool {
	c, err := r.Cookie(staffCookie)
	if err != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.live[sha256.Sum256([]byte(c.Value))]
	return ok && time.Now().Before(exp)
}

func (s *staffSessions) end(r *http.Request) {
	if c, err := r.Cookie(staffCookie); err == nil {
		s.mu.Lock()
		delete(s.live, sha256.Sum256([]byte(c.Value)))
		s.mu.Unlock()
	}
}

// require lets only a signed-in officer through.
func (s *staffSessions) require(next func(w http.ResponseWriter, r *http.Request, p *pageData)) func(w http.ResponseWriter, r *http.Request, p *pageData) {
	return func(w http.ResponseWriter, r *http.Request, p *pageData) {
		if !p.Staff {
			http.Error(w, "sign in to the console first", http.StatusUnauthorized)
			return
		}
		next(w, r, p)
	}
}

func (s *Site) setStaffCookie(w http.ResponseWriter, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// consoleView is what the console shows.
type consoleView struct {
	Closed     bool // no officer token: the console cannot be opened
	Done       string
	Report     *roll.Report
	Faults     []string
	Confirmed  int
	Qualified  int
	Threshold  int
	Decrypted  int
	CanOpen    bool
	CanClose   bool
	CanTally   bool
	CanResult  bool
	NeedsSetup bool
}

func (s *Site) console(w http.ResponseWriter, r *http.Request, p *pageData) {
	v := &consoleView{Closed: s.staff.token == nil}
	if p.Staff {
		s.fillConsole(v, p)
		if done := r.URL.Query().Get("done"); slices.Contains(consoleActions, done) {
			v.Done = done
		}
	}
	p.Data = v
	s.render(w, http.StatusOK, "console.html", p)
}

func (s *Site) fillConsole(v *consoleView, p *pageData) {
	s.o.Election.State(func(st *election.State) {
		v.NeedsSetup = st.Manifest == nil
		if st.Manifest != nil {
			v.Threshold = st.Manifest.Roster.Threshold
		}
		if out := st.Ceremony; out != nil {
			v.Confirmed, v.Qualified = len(out.Confirmed), len(out.Qualified)
			for _, f := range out.Faults {
				v.Faults = append(v.Faults, fmt.Sprint(f))
			}
		}
		v.CanOpen = st.Phase == election.PhaseSetup && st.Roll != nil && len(st.Credentials) > 0 && st.Ceremony != nil && st.Ceremony.Complete
		v.CanClose = st.Phase == election.PhaseVoting
		_, err := st.ExpectedTally()
		v.CanTally = st.Phase > election.PhaseVoting && st.Tally == nil && err == nil
		_, err = st.ExpectedResult()
		v.CanResult = st.Tally != nil && st.Result == nil && err == nil
	})
	v.Report = s.report()
}

// consoleActions are the actions of POST /console/{action}.
var consoleActions = []string{"manifest", "entry", "open", "close", "tally", "result"}

func (s *Site) report() *roll.Report {
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	return s.rollReport
}

func (s *Site) consoleSignIn(w http.ResponseWriter, r *http.Request, p *pageData) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if !s.staff.check(r.PostFormValue("token")) {
		s.log.Warn("console sign-in refused", "client", r.RemoteAddr)
		client, _, _ := net.SplitHostPort(r.RemoteAddr)
		if !s.staff.failed(client) {
			w.Header().Set("Retry-After", "60")
			p.Data, p.Error = &consoleView{}, s.msg(p.Lang, "console.tooMany")
			s.render(w, http.StatusTooManyRequests, "console.html", p)
			return
		}
		p.Data, p.Error = &consoleView{Closed: s.staff.token == nil}, s.msg(p.Lang, "console.badToken")
		s.render(w, http.StatusUnauthorized, "console.html", p)
		return
	}
	s.log.Info("console sign-in", "client", r.RemoteAddr)
	s.setStaffCookie(w, s.staff.start(), int(staffSessionTTL/time.Second))
	http.Redirect(w, r, "/console", http.StatusSeeOther)
}

func (s *Site) consoleSignOut(w http.ResponseWriter, r *http.Request, p *pageData) {
	s.staff.end(r)
	s.setStaffCookie(w, "", -1)
	http.Redirect(w, r, "/console", http.StatusSeeOther)
}

// consoleAction does one officer action and goes back to the console,
// saying what was done or why it was refused.
func (s *Site) consoleAction(w http.ResponseWriter, r *http.Request, p *pageData) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	action := r.PathValue("action")
	if err := s.do(r, action); err != nil {
		s.log.Info("console action refused", "action", action, "err", err)
		v := &consoleView{}
		s.fillConsole(v, p)
		p.Data, p.Error = v, err.Error()
		p.Phase = p.State.Phase
		s.render(w, http.StatusBadRequest, "console.html", p)
		return
	}
	s.log.Info("console action", "action", action)
	http.Redirect(w, r, "/console?done="+action, http.StatusSeeOther)
}

func (s *Site) do(r *http.Request, action string) error {
	ctx := r.Context()
	e := s.o.Election
	switch action {
	case "manifest":
		b, err := upload(r, "file")
		if err != nil {
			return err
		}
		m, err := election.ParseManifest(b)
		if err != nil {
			return err
		}
		entry, err := m.Entry()
		if err != nil {
			return err
		}
		_, err = e.Append(ctx, entry)
		return err
	case "entry":
		b, err := upload(r, "file")
		if err != nil {
			return err
		}
		if len(b) == 0 || (b[0] != election.TypeRoll && b[0] != election.TypeCredentials) {
			return errors.New("this file is not a roll or credentials entry (roll.entry, credentials-N.entry)")
		}
		if _, err := e.Append(ctx, b); err != nil {
			return err
		}
		if rep, err := upload(r, "report"); err == nil && len(rep) > 0 {
			var report roll.Report
			if err := json.Unmarshal(rep, &report); err != nil {
				return fmt.Errorf("the entry was recorded, but the roll report is not one: %v", err)
			}
			s.reportMu.Lock()
			s.rollReport = &report
			s.reportMu.Unlock()
		}
		return nil
	case "open":
		_, err := e.Append(ctx, (&election.Open{At: election.Now(time.Now())}).Entry())
		return err
	case "close":
		reason := r.PostFormValue("reason")
		if reason == "" {
			return errors.New("say why voting closes: the reason is published")
		}
		_, err := e.Append(ctx, (&election.Close{At: election.Now(time.Now()), Reason: reason}).Entry())
		return err
	case "tally":
		return s.appendDerived(r, (*election.State).ExpectedTally)
	case "result":
		return s.appendDerived(r, (*election.State).ExpectedResult)
	}
	return fmt.Errorf("no such action %q", action)
}

func (s *Site) appendDerived(r *http.Request, compute func(*election.State) ([]byte, error)) error {
	var entry []byte
	var err error
	s.o.Election.State(func(st *election.State) { entry, err = compute(st) })
	if err != nil {
		return err
	}
	_, err = s.o.Election.Append(r.Context(), entry)
	return err
}

func upload(r *http.Request, field string) ([]byte, error) {
	f, _, err := r.FormFile(field)
	if err != nil {
		return nil, fmt.Errorf("choose a file to upload (%s)", field)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxUpload))
	if err != nil {
		return nil, err
	}
	return b, nil
}
