package web_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/election"
)

// Issue 17: the pages voters and observers read, as a 70-year-old member
// reads them.

// TestVoterPagesHaveNoStaffLink: a voter's and an observer's pages do not
// offer the staff console; only the election's home keeps a discreet
// link for its staff.
func TestVoterPagesHaveNoStaffLink(t *testing.T) {
	_, base := newDemo(t, 3)
	for _, p := range []string{"/vote", "/ballots", "/results", "/board", "/verify", "/audit", "/ballots/" + strings.Repeat("0", 64)} {
		for _, lang := range []string{"en", "fr"} {
			_, body := get(t, http.DefaultClient, base+el+p, "Accept-Language", lang)
			if strings.Contains(body, `/console"`) {
				t.Errorf("%s (%s) links to the staff console", p, lang)
			}
		}
	}
}

// TestVerifierIsNotPrefilled: the browser verifier does not take the
// fingerprint from the server it checks; it says where to find it.
func TestVerifierIsNotPrefilled(t *testing.T) {
	f, base := newDemo(t, 3)
	fp := f.Election.Fingerprint()
	hexFP := fmt.Sprintf("%x", fp[:])
	for _, lang := range []string{"en", "fr"} {
		_, body := get(t, http.DefaultClient, base+el+"/verify", "Accept-Language", lang)
		input := regexp.MustCompile(`<input id="fingerprint"[^>]*>`).FindString(body)
		if input == "" {
			t.Fatalf("no fingerprint field on the verifier (%s)", lang)
		}
		if strings.Contains(input, "value=") || strings.Contains(input, hexFP) {
			t.Errorf("the verifier's fingerprint field is filled in by the server it checks (%s): %s", lang, input)
		}
		where := map[string]string{"en": "letter", "fr": "lettre"}[lang]
		hint := regexp.MustCompile(`(?s)<p id="fingerprint-hint"[^>]*>(.*?)</p>`).FindStringSubmatch(body)
		if hint == nil || !strings.Contains(hint[1], where) {
			t.Errorf("the verifier does not say where to find the fingerprint (%s): %q", lang, hint)
		}
	}
}

// TestDatesInReadersLanguage: the voting window is written as a reader of
// the page's language writes dates, with the exact time in a <time>
// element for the reader's zone, never as 2027-03-01T09:00:00Z.
func TestDatesInReadersLanguage(t *testing.T) {
	f, base := newDemo(t, 3)
	// The demo's window opens on the 1st of a month at 09:00 UTC and
	// closes on the 8th, at 18:00 UTC, a year later.
	opens, _ := time.Parse(election.TimeFormat, f.Manifest.Window.Opens)
	closes, _ := time.Parse(election.TimeFormat, f.Manifest.Window.Closes)
	monthsFR := []string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
	want := map[string][]string{
		"en": {fmt.Sprintf(`<time datetime="%s">1 %s %d, 09:00 UTC</time>`, f.Manifest.Window.Opens, opens.Month(), opens.Year()),
			fmt.Sprintf(`<time datetime="%s">8 %s %d, 18:00 UTC</time>`, f.Manifest.Window.Closes, closes.Month(), closes.Year())},
		"fr": {fmt.Sprintf(`<time datetime="%s">1er %s %d à 9 h 00 UTC</time>`, f.Manifest.Window.Opens, monthsFR[opens.Month()-1], opens.Year()),
			fmt.Sprintf(`<time datetime="%s">8 %s %d à 18 h 00 UTC</time>`, f.Manifest.Window.Closes, monthsFR[closes.Month()-1], closes.Year())},
	}
	for lang, ws := range want {
		_, body := get(t, http.DefaultClient, base+el+"/", "Accept-Language", lang)
		if strings.Contains(body, f.Manifest.Window.Opens+" (UTC)") || strings.Contains(body, "T09:00:00Z<") || strings.Contains(body, "du "+f.Manifest.Window.Opens[:5]) {
			t.Errorf("the home page (%s) writes a date as a machine does", lang)
		}
		for _, w := range ws {
			if !strings.Contains(body, w) {
				t.Errorf("the home page (%s) lacks %s", lang, w)
			}
		}
		if !strings.Contains(body, "local.js") {
			t.Errorf("the home page (%s) does not rewrite times in the reader's zone", lang)
		}
	}
}

// TestResultsForReaders: the published result in each language: French
// decimal commas, turnout as "x of N members (y %)", the winners marked,
// blank answers counted, and the result as CSV and JSON.
func TestResultsForReaders(t *testing.T) {
	f, base := newDemo(t, 12)
	ctx := context.Background()
	want, err := f.Vote(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, en := get(t, http.DefaultClient, base+el+"/results", "Accept-Language", "en")
	_, fr := get(t, http.DefaultClient, base+el+"/results", "Accept-Language", "fr")
	if regexp.MustCompile(`<td[^>]*>\d+\.\d</td>`).MatchString(fr) {
		t.Error("the French results write percentages with a decimal point")
	}
	if !regexp.MustCompile(`\d+,\d\x{202f}%`).MatchString(fr) {
		t.Error("the French results do not write percentages as 33,3 %")
	}
	voters := len(f.Emails)
	if !regexp.MustCompile(`\d+ of 12 members \(\d+(\.\d)? ?%\)`).MatchString(en) {
		t.Errorf("the results do not give the turnout as x of %d members (y %%)", voters)
	}
	if !regexp.MustCompile(`\d+ (membres? )?sur 12 membres \(\d+(,\d)?\x{202f}%\)`).MatchString(fr) {
		t.Error("the French results do not give the turnout as x sur N membres (y %)")
	}
	for _, w := range res.Contests[0].Winners {
		var name string
		for _, o := range f.Manifest.Contests[0].Options {
			if o.ID == w {
				name = o.Title["en"]
			}
		}
		if !regexp.MustCompile(`(?s)<tr class="winner">\s*<th scope="row">` + regexp.QuoteMeta(name)).MatchString(en) {
			t.Errorf("the winner %s is not marked", name)
		}
	}
	if !strings.Contains(en, "Elected") && !strings.Contains(en, "Winner") {
		t.Error("the results do not say which option won")
	}
	if !strings.Contains(en, "Blank") || !strings.Contains(fr, "blanc") {
		t.Error("the results do not count blank answers")
	}
	// The motion (contest 1, choose one or none) is answered by every
	// member who voted: its blank votes are the rest.
	var voted int
	f.Election.State(func(st *election.State) { voted = st.Voted() })
	chose := 0
	for _, n := range want[1] {
		chose += int(n)
	}
	_, csvBody := get(t, http.DefaultClient, base+el+"/results.csv")
	if line := fmt.Sprintf("motion-1,Adopt the new statutes?,yes,Yes,%d,", want[1][0]); !strings.Contains(csvBody, line) || !strings.Contains(csvBody, fmt.Sprintf(",%d,%d\n", voted, voted-chose)) {
		t.Errorf("the CSV lacks the motion's counts and %d blank votes of %d:\n%s", voted-chose, voted, csvBody)
	}
	for _, d := range []struct{ path, ctype, has string }{
		{"/results.csv", "text/csv", "Party leader"},
		{"/results.json", "application/json", `"counts"`},
	} {
		resp, body := get(t, http.DefaultClient, base+el+d.path)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), d.ctype) || !strings.Contains(body, d.has) {
			t.Errorf("%s: %s %s %.200s", d.path, resp.Status, resp.Header.Get("Content-Type"), body)
		}
		if !strings.Contains(en, `href="`+el+d.path+`"`) {
			t.Errorf("the results page does not link to %s", d.path)
		}
	}
	css := regexp.MustCompile(`href="(/static/style[^"]*)"`).FindStringSubmatch(en)
	if css == nil || !strings.Contains(mustGet(t, base+css[1]), "@media print") {
		t.Error("no print stylesheet for the declaration of the result")
	}
}

func mustGet(t *testing.T, u string) string {
	_, b := get(t, http.DefaultClient, u)
	return b
}
