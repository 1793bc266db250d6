package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/server"
)

// Registry is the server's elections as the site takes them.
var _ Elections = (*server.Registry)(nil)

// OneElection serves a single election as the elections of a site, under
// the id given: its API (e.Handler, which serves the single-election
// addresses /api/…, /log/…) answers at /api/e/{id}/… and /e/{id}/log/….
//
// It is a bridge until server.Registry serves many elections (issue 15);
// until then it also passes the single-election API addresses through, for
// the clients not yet moved (internal/demo, internal/load).
func OneElection(id string, e *server.Election, api http.Handler) Elections {
	return &oneElection{id: id, e: e, api: api}
}

type oneElection struct {
	id  string
	e   *server.Election
	api http.Handler
}

func (o *oneElection) List() []Summary {
	sm := Summary{ID: o.id}
	o.e.State(func(st *election.State) {
		sm.Phase, sm.Ballots, sm.Public = st.Phase, st.Ballots, st.Manifest != nil
		if st.Manifest != nil {
			sm.Title = st.Manifest.Title
			sm.Opens, _ = time.Parse(time.RFC3339, st.Manifest.Window.Opens)
			sm.Closes, _ = time.Parse(time.RFC3339, st.Manifest.Window.Closes)
		}
	})
	return []Summary{sm}
}

func (o *oneElection) Election(ctx context.Context, id string) (*server.Election, error) {
	if id != o.id {
		return nil, fmt.Errorf("%w: %q", ErrNoElection, id)
	}
	return o.e, nil
}

func (o *oneElection) Create(ctx context.Context, id string, witnesses []string) (*server.Election, error) {
	return nil, errors.New("this server runs one election")
}

func (o *oneElection) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case strings.HasPrefix(p, "/api/e/"+o.id+"/"):
			p = "/api/" + strings.TrimPrefix(p, "/api/e/"+o.id+"/")
		case strings.HasPrefix(p, "/e/"+o.id+"/log/"):
			p = "/log/" + strings.TrimPrefix(p, "/e/"+o.id+"/log/")
		case strings.HasPrefix(p, "/api/e/"), strings.HasPrefix(p, "/e/"):
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
