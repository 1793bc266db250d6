package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/election"
)

// TestSignInLetterTakesTitleWhenSent (issue 17): the code's letter names
// the election as it is when the letter goes, in each language (a server
// started before the manifest was recorded wrote `for ""`), and calls the
// voter's code what the booth calls it.
func TestSignInLetterTakesTitleWhenSent(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	f.s.title = ""
	about := func() (election.Text, bool) {
		return election.Text{"en": "Union ballot 2027", "fr": "Scrutin syndical 2027"}, false
	}
	f.s.about.Store(&about)
	f.code(t, "ada@example.org")
	f.mail.mu.Lock()
	letter := f.mail.sent["ada@example.org"][0]
	f.mail.mu.Unlock()
	en, fr, _ := strings.Cut(letter, "Votre code de connexion")
	if !strings.Contains(en, `"Union ballot 2027"`) || !strings.Contains(fr, "« Scrutin syndical 2027 »") || strings.Contains(letter, `""`) {
		t.Errorf("the letter does not name the election in each language:\n%s", letter)
	}
	if strings.Contains(letter, "credential") || !strings.Contains(en, "voting code") {
		t.Errorf("the letter does not say voting code:\n%s", letter)
	}
}

// TestSignInRefusedOnceVotingClosed (issue 17): once voting is closed (and
// after the result), no code is sent: the answer says voting is closed,
// the same for every address.
func TestSignInRefusedOnceVotingClosed(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	about := func() (election.Text, bool) { return election.Text{"en": "Union ballot 2027"}, true }
	f.s.about.Store(&about)
	for _, email := range []string{"ada@example.org", "eve@example.org"} {
		st, a, _ := f.post(t, "/api/sign-in", map[string]string{"email": email})
		if st != http.StatusConflict || !strings.Contains(a["error"], "voting is closed") {
			t.Errorf("%s, voting closed: %d %v", email, st, a)
		}
	}
	if n := f.mail.count("ada@example.org"); n != 0 {
		t.Errorf("%d codes sent once voting closed", n)
	}
}
