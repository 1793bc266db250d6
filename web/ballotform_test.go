package web

import (
	"strings"
	"testing"

	"github.com/scrutin/scrutin/election"
)

// TestBallotFormControls (issue 17): a contest of one choice is radio
// buttons with a control that clears the choice (saying it votes blank
// where blank is allowed); a contest of up to k choices is checkboxes,
// with the limit said in words.
func TestBallotFormControls(t *testing.T) {
	cat, err := loadCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	tm, err := parseTemplates("en", cat["en"])
	if err != nil {
		t.Fatal(err)
	}
	opts := func(ids ...string) []election.Option {
		var out []election.Option
		for _, id := range ids {
			out = append(out, election.Option{ID: id, Title: election.Text{"en": id}})
		}
		return out
	}
	m := &election.Manifest{Title: election.Text{"en": "Union ballot"}, Contests: []election.Contest{
		{ID: "strike", Min: 0, Max: 1, Title: election.Text{"en": "Strike?"}, Options: opts("yes", "no")},
		{ID: "committee", Min: 0, Max: 2, Title: election.Text{"en": "Executive committee"}, Options: opts("ann", "bob", "cyd", "dan")},
		{ID: "chair", Min: 1, Max: 1, Title: election.Text{"en": "Chair"}, Options: opts("eve", "fay")},
	}}
	p := &pageData{Lang: "en", Path: "/e/x/vote", Page: "page.vote", Base: "/e/x", ID: "x", Phase: "voting", State: &summary{Manifest: m, Phase: "voting"}, Data: "{}"}
	var b strings.Builder
	if err := tm.ExecuteTemplate(&b, "vote.html", p); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, w := range []string{
		`<input type="radio" id="c0o0" name="c0"`, `<input type="radio" id="c0o1" name="c0"`,
		`<input type="checkbox" id="c1o0" name="c1"`, `<input type="checkbox" id="c1o3" name="c1"`,
		`<input type="radio" id="c2o1" name="c2"`,
		`<button type="button" class="clear" id="clear-0">Clear my choice (vote blank)</button>`,
		`<button type="button" class="clear" id="clear-2">Clear my choice</button>`,
		"Choose up to 2, or none to vote blank.",
	} {
		if !strings.Contains(page, w) {
			t.Errorf("the ballot form lacks %s", w)
		}
	}
	if strings.Contains(page, `id="clear-1"`) {
		t.Error("a contest of several choices has a clear button (its boxes untick)")
	}
}
