package web

// Many elections on one site (issue 15): the server-wide home lists the
// public elections; each election's pages live under /e/{id}/ and build
// every link from that base; the console lists the elections a staff
// member has a role in. Someone without a role in an election gets 404 on
// its console and its officers' API routes, as for an election that does
// not exist: nothing tells them it does.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/roll"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// Elections is what the site needs of the server's elections; a
// server.Registry is one.
type Elections interface {
	// List returns every election, newest first.
	List() []Summary
	// Election returns the election with this id, or an error wrapping
	// ErrNoElection if there is none.
	Election(ctx context.Context, id string) (*server.Election, error)
	// Create creates an election, with its witnesses' verifier keys.
	Create(ctx context.Context, id string, witnesses []string) (*server.Election, error)
	// Handler serves the elections' API and logs: /api/e/{id}/…,
	// /e/{id}/log/…, /healthz and /metrics.
	Handler() http.Handler
}

// Summary is what the lists show of an election.
type Summary = server.Summary

// ErrNoElection is the error of an unknown election.
var ErrNoElection = server.ErrNoElection

// A server.Registry is the server's elections as the site takes them.
var _ Elections = (*server.Registry)(nil)

// legacyID is the id of the election a single-election data folder
// became: its staff roles may be recorded under its fingerprint.
const legacyID = server.LegacyID

// electionSite is the part of the site of one election: its pages' base
// path and what the pages keep.
type electionSite struct {
	id   string
	base string // "/e/{id}"
	e    *server.Election
	rows ballotRows // the list of ballots, cached

	published atomic.Bool // its manifest is recorded

	reportMu   sync.Mutex
	rollReport *roll.Report // the last roll report uploaded with the roll
}

// maxElectionSites bounds the elections whose pages' caches are kept.
const maxElectionSites = 256

// election returns the site of the election with this id, or nil and the
// status to answer (404 for an unknown id, 503 for one that fails).
func (s *Site) election(ctx context.Context, id string) (*electionSite, int) {
	if s.o.Elections == nil || store.CheckID(id) != nil {
		return nil, http.StatusNotFound
	}
	e, err := s.o.Elections.Election(ctx, id)
	if err != nil {
		if errors.Is(err, ErrNoElection) {
			return nil, http.StatusNotFound
		}
		s.log.Warn("an election cannot be served", "election", id, "err", err)
		return nil, http.StatusServiceUnavailable
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	es := s.sites[id]
	if es == nil || es.e != e { // new, or loaded again
		if len(s.sites) >= maxElectionSites {
			clear(s.sites)
		}
		es = &electionSite{id: id, base: "/e/" + id, e: e}
		s.sites[id] = es
	}
	return es, 0
}

// fingerprint is the election's fingerprint in hex, once it has a manifest.
func (es *electionSite) fingerprint() string {
	var fp string
	es.e.State(func(st *election.State) {
		if st.Manifest != nil {
			fp = fmt.Sprintf("%x", st.Fingerprint[:])
		}
	})
	return fp
}

// public reports whether the election's manifest is recorded (once it
// is, for good: it is remembered, as every request to the election's API
// asks).
func (es *electionSite) public() bool {
	if es.published.Load() {
		return true
	}
	if es.fingerprint() == "" {
		return false
	}
	es.published.Store(true)
	return true
}

// roleKey is the key under which the session holds permission p in the
// election: its id, or for the legacy election its fingerprint too; ""
// and the refusal if none.
func (s *Site) roleKey(se *accounts.Session, p accounts.Permission, es *electionSite) (string, error) {
	if s.o.Accounts == nil {
		return "", accounts.ErrDenied
	}
	err := s.o.Accounts.Allowed(se, p, es.id)
	if err == nil {
		return es.id, nil
	}
	if es.id == legacyID {
		if fp := es.fingerprint(); fp != "" && s.o.Accounts.Allowed(se, p, fp) == nil {
			return fp, nil
		}
	}
	return "", err
}

// allowed reports whether the session holds permission p in the election.
func (s *Site) allowed(se *accounts.Session, p accounts.Permission, es *electionSite) bool {
	_, err := s.roleKey(se, p, es)
	return err == nil
}

// hasRole reports whether the session holds a role in the election with
// this id (any role gives ReadElection).
func (s *Site) hasRole(ctx context.Context, se *accounts.Session, id string) bool {
	if s.o.Accounts == nil || se == nil {
		return false
	}
	if s.o.Accounts.Allowed(se, accounts.ReadElection, id) == nil {
		return true
	}
	if id != legacyID {
		return false
	}
	es, status := s.election(ctx, id)
	return status == 0 && s.allowed(se, accounts.ReadElection, es)
}

// electionView is one line of a list of elections.
type electionView struct {
	ID      string
	Base    string
	Title   string
	Status  string // setup, voting, closed, decided, failed
	Closes  time.Time
	Ballots int
}

func viewOf(sm Summary, lang string) electionView {
	v := electionView{ID: sm.ID, Base: "/e/" + sm.ID, Title: sm.Title.In(lang), Closes: sm.Closes, Ballots: sm.Ballots}
	if v.Title == "" {
		v.Title = sm.ID
	}
	switch {
	case sm.Failed != "":
		v.Status = "failed"
	case sm.Phase <= election.PhaseSetup:
		v.Status = "setup"
	case sm.Phase == election.PhaseVoting:
		v.Status = "voting"
	case sm.Phase == election.PhaseDecided:
		v.Status = "decided"
	default:
		v.Status = "closed"
	}
	return v
}

// serverHome lists the public elections, newest first.
func (s *Site) serverHome(w http.ResponseWriter, r *http.Request, p *pageData) {
	var list []electionView
	if s.o.Elections != nil {
		for _, sm := range s.o.Elections.List() {
			if sm.Public {
				list = append(list, viewOf(sm, p.Lang))
			}
		}
	}
	p.Data = list
	s.render(w, http.StatusOK, "elections.html", p)
}

// consoleListView is the server-wide console: the elections the staff
// member may see, and whether they may create one.
type consoleListView struct {
	Elections []electionView
	CanCreate bool
	ID        string // the id typed, after a refusal
}

// consoleList lists the elections the signed-in person has a role in (all
// of them for a role on every election).
func (s *Site) consoleList(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.noAccounts(w) {
		return
	}
	se, _, ok := s.actingSession(w, r)
	if !ok {
		return
	}
	p.Data = s.consoleListOf(r.Context(), se, p.Lang)
	if p.Staff != nil && !p.Staff.CanPeople {
		p.Staff.CanPeople = len(s.scopes(r, se)) > 0
	}
	s.render(w, http.StatusOK, "elections-console.html", p)
}

func (s *Site) consoleListOf(ctx context.Context, se *accounts.Session, lang string) *consoleListView {
	v := &consoleListView{CanCreate: s.o.Accounts.Allowed(se, accounts.ManageElection, accounts.AllElections) == nil}
	if s.o.Elections != nil {
		for _, sm := range s.o.Elections.List() {
			if s.hasRole(ctx, se, sm.ID) {
				v.Elections = append(v.Elections, viewOf(sm, lang))
			}
		}
	}
	return v
}

// createElection creates an election (someone with a role on every
// election) and goes to its console.
func (s *Site) createElection(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.noAccounts(w) {
		return
	}
	se, _, ok := s.actingSession(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	id := strings.TrimSpace(r.PostFormValue("id"))
	if err := s.o.Accounts.Allowed(se, accounts.ManageElection, accounts.AllElections); err != nil || s.o.Elections == nil {
		http.Error(w, s.staffError(p.Lang, accounts.ErrDenied), http.StatusForbidden)
		return
	}
	var err error
	if store.CheckID(id) != nil {
		err = errors.New(s.msg(p.Lang, "elections.badID"))
	} else if _, err = s.o.Elections.Create(r.Context(), id, nil); err != nil {
		if strings.Contains(err.Error(), "exists") || strings.Contains(err.Error(), "taken") {
			err = errors.New(s.msg(p.Lang, "elections.exists"))
		}
	}
	detail := map[string]string{"result": "done"}
	if err != nil {
		detail["result"] = "refused: " + err.Error()
	}
	if rerr := s.o.Accounts.Record(se, accounts.ManageElection, accounts.AllElections, "create", map[string]string{"result": detail["result"], "election": id}, s.staffClient(r)); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		v := s.consoleListOf(r.Context(), se, p.Lang)
		v.ID = id
		p.Data, p.Error = v, err.Error()
		s.render(w, http.StatusBadRequest, "elections-console.html", p)
		return
	}
	s.log.Info("election created", "election", id)
	http.Redirect(w, r, "/e/"+id+"/console", http.StatusSeeOther)
}
