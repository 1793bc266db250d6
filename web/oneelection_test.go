package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// oneElection serves a single election, alone in its store, as the
// elections of a site, under the id given: its API (e.Handler, which serves
// the single-election addresses /api/…, /log/…) answers at /api/e/{id}/…
// and /e/{id}/log/…, as a server.Registry's would. Tests use it to give a
// site an election with API options of their own.
func oneElection(id string, e *server.Election, api http.Handler) web.Elections {
	return &single{id: id, e: e, api: api}
}

type single struct {
	id  string
	e   *server.Election
	api http.Handler
}

func (o *single) List() []web.Summary {
	sm := web.Summary{ID: o.id}
	o.e.State(func(st *election.State) {
		sm.Phase, sm.Ballots, sm.Public = st.Phase, st.Ballots, st.Manifest != nil
		if st.Manifest != nil {
			sm.Title = st.Manifest.Title
			sm.Opens, _ = time.Parse(time.RFC3339, st.Manifest.Window.Opens)
			sm.Closes, _ = time.Parse(time.RFC3339, st.Manifest.Window.Closes)
		}
	})
	return []web.Summary{sm}
}

func (o *single) Election(ctx context.Context, id string) (*server.Election, error) {
	if id != o.id {
		return nil, fmt.Errorf("%w: %q", web.ErrNoElection, id)
	}
	return o.e, nil
}

func (o *single) Create(ctx context.Context, id string, witnesses []string) (*server.Election, error) {
	return nil, errors.New("this server runs one election")
}

func (o *single) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, "/api/e/"+o.id+"/"):
			p = "/api/" + strings.TrimPrefix(p, "/api/e/"+o.id+"/")
		case strings.HasPrefix(p, "/e/"+o.id+"/log/"):
			p = "/log/" + strings.TrimPrefix(p, "/e/"+o.id+"/log/")
		case p == "/healthz", p == "/metrics":
		default:
			http.NotFound(w, r)
			return
		}
		if o.api == nil {
			http.NotFound(w, r)
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = p, ""
		o.api.ServeHTTP(w, r2)
	})
}
