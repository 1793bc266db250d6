package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/web"
)

// fuzzSite is a demo election's site as one in-process handler, with voter
// sign-in on or off.
func fuzzSite(f *testing.F, noSignIn bool) (*demo.Fixture, http.Handler) {
	fx, err := demo.Setup(context.Background(), demo.Options{Dir: f.TempDir(), Voters: 3, Workers: 2, NoSignIn: noSignIn})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { fx.Store.Close() })
	o := server.Options{NoSignIn: noSignIn}
	if !noSignIn {
		key, voters, err := server.LoadSignInList(fx.Dir())
		if err != nil {
			f.Fatal(err)
		}
		lim := server.DefaultSignInLimits
		lim.PerClient = 0
		if o.SignIn, err = server.NewSignIn(key, fx.F, voters, fx.Mail, "fuzz", lim, nil); err != nil {
			f.Fatal(err)
		}
		f.Cleanup(o.SignIn.Close)
	}
	site, err := web.New(web.Options{Elections: oneElection(demo.ElectionID, fx.Election, fx.Election.Handler(o)), Accounts: fx.Staff})
	if err != nil {
		f.Fatal(err)
	}
	return fx, site
}

func size(fx *demo.Fixture) int64 {
	n, _ := fx.Election.Size(context.Background())
	return n
}

// FuzzStaffSignIn: whatever the form, the sign-in answers without a server
// error, and starts a session only for the right address and password.
func FuzzStaffSignIn(f *testing.F) {
	fx, site := fuzzSite(f, true)
	f.Add(fx.StaffEmail, fx.StaffPassword)
	f.Add(fx.StaffEmail, fx.StaffPassword+" ")
	f.Add(strings.ToUpper(fx.StaffEmail), fx.StaffPassword)
	f.Add("", "")
	f.Add("officer@demo.example\r\nBcc: x@y", "a")
	f.Add("a@b", strings.Repeat("x", 5000))
	f.Add("ünï@exämple.org", "\x00\xff")
	f.Fuzz(func(t *testing.T, email, password string) {
		form := url.Values{"email": {email}, "password": {password}}.Encode()
		req := httptest.NewRequest("POST", "/staff/sign-in", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		site.ServeHTTP(w, req)
		right := strings.EqualFold(strings.TrimSpace(email), fx.StaffEmail) && password == fx.StaffPassword
		got := w.Result()
		var session bool
		for _, c := range got.Cookies() {
			session = session || (c.Name == web.StaffCookie && c.Value != "")
		}
		switch {
		case got.StatusCode >= 500:
			t.Fatalf("status %d", got.StatusCode)
		case session && !right:
			t.Fatalf("a session for %q / %q", email, password)
		case right && got.StatusCode != http.StatusSeeOther && got.StatusCode != http.StatusTooManyRequests:
			t.Fatalf("the right password: %d", got.StatusCode)
		}
	})
}

// FuzzVoterSignIn: the voters' code exchange never errs on the server's
// side and never gives a token for a code nobody was sent.
func FuzzVoterSignIn(f *testing.F) {
	fx, site := fuzzSite(f, false)
	f.Add([]byte(`{"email":"` + fx.Emails[0] + `","challenge":"x","code":"12345678"}`))
	f.Add([]byte(`{"email":1}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Add(bytes.Repeat([]byte("{"), 10000))
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/api"+el+"/sign-in/verify", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		site.ServeHTTP(w, req)
		if w.Code >= 500 || w.Code == http.StatusOK {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
	})
}

// FuzzCast: whatever the body, casting answers without a server error and
// appends nothing unless it answers 201 with a receipt.
func FuzzCast(f *testing.F) {
	fx, site := fuzzSite(f, true)
	var view *election.Election
	fx.Election.State(func(s *election.State) { view, _ = s.Voter() })
	k, _ := election.CredentialKey(fx.F, fx.Codes[0])
	good, err := view.NewBallot(nil, k, fx.Choices(0, []int{1}, []int{0}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[1:])
	f.Add(bytes.Replace(good[1:], []byte(`"signature":"`), []byte(`"signature":"A`), 1))
	f.Add(good[1 : len(good)/2])
	f.Add([]byte(`{"contests":[],"credential":"","signature":""}`))
	f.Add([]byte(`null`))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		before := size(fx)
		req := httptest.NewRequest("POST", "/api"+el+"/ballots", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		site.ServeHTTP(w, req)
		after := size(fx)
		switch {
		case w.Code >= 500:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		case w.Code == http.StatusCreated && after != before+1:
			t.Fatalf("201 but the log went from %d to %d entries", before, after)
		case w.Code != http.StatusCreated && after != before:
			t.Fatalf("refused (%d) but the log went from %d to %d entries", w.Code, before, after)
		}
	})
}
