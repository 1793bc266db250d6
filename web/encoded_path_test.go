package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/browse"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/web"
)

// TestEncodedSlashKeepsLimits: an API address with an encoded slash
// (/api/e/ID/ballots%2FTRACKER) is not served as another route: it
// reached the receipt (a costly read of the store) past the browsing
// gate, which the site puts on /api/e/{id}/ballots/{tracker} only.
func TestEncodedSlashKeepsLimits(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 7, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	gate := browse.New(browse.Limits{Concurrent: 1, Wait: 20 * time.Millisecond})
	site, err := web.New(web.Options{Elections: f.Registry, Browse: gate})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	defer srv.Close()
	if _, err := f.Vote(ctx, srv.URL); err != nil {
		t.Fatal(err)
	}
	n, _ := f.Store.Size(ctx)
	es, err := f.Store.ReadEntries(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	tracker := ""
	for _, e := range es {
		if e[0] == election.TypeBallot {
			tracker = election.Tracker(e)
		}
	}
	if tracker == "" {
		t.Fatal("no ballot in the log")
	}
	if w := serveOne(site, "GET", "/api"+el+"/ballots/"+tracker, "192.0.2.1:1"); w.Code != 200 {
		t.Fatalf("the receipt: %d %s", w.Code, w.Body)
	}
	release, _ := gate.Acquire(ctx)
	defer release()
	if w := serveOne(site, "GET", "/api"+el+"/ballots/"+tracker, "192.0.2.1:1"); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("the receipt with every turn taken: %d", w.Code)
	}
	for _, p := range []string{"/api" + el + "/ballots%2F" + tracker, "/api" + el + "/ballots%2f" + tracker} {
		if w := serveOne(site, "GET", p, "192.0.2.1:1"); w.Code == 200 {
			t.Errorf("%s with every turn taken: %d %.200s", p, w.Code, w.Body)
		}
	}
}
