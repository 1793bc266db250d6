package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// TestBoothNamesContact (issue 17): a member who is not on the roll (a
// lapsed member) is told, like everyone, that a code is on its way if the
// address is on the roll; the same page tells everyone whom to write to if
// no code arrives, so that nobody waits for a letter that never comes,
// and nothing says who is on the roll.
func TestBoothNamesContact(t *testing.T) {
	f, err := demo.Setup(context.Background(), demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 7, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, f.Election, f.Election.Handler(server.Options{NoSignIn: true})),
		Contact: `"Local 42 Elections" <elections@local42.example>`})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(site)
	defer srv.Close()
	for lang, within := range map[string]string{"en": "5 minutes", "fr": "5 minutes"} {
		_, body := get(t, http.DefaultClient, srv.URL+el+"/vote", "Accept-Language", lang)
		for _, want := range []string{`href="mailto:elections@local42.example"`, "Local 42 Elections", within} {
			if !strings.Contains(body, want) {
				t.Errorf("the booth (%s) does not say whom to write to if no code arrives: no %q", lang, want)
			}
		}
		if !strings.Contains(body, `data-contact="Local 42 Elections (elections@local42.example)"`) {
			t.Errorf("the booth (%s) does not give its script the contact to name after sending a code", lang)
		}
	}
}
