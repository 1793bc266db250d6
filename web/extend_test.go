package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/election"
)

// TestConsoleExtendsVoting (spec §18.7, issue 17): the console shows the
// end of voting and the time left, and extends voting with a new end typed
// in the officer's zone, a reason the officer writes (never pre-filled)
// and a confirmation; what is missing or out of bounds is refused in
// words; the election's page and its log page then show the extension
// and its reason, in both languages.
func TestConsoleExtendsVoting(t *testing.T) {
	f, base := newDemo(t, 3)
	admin, err := f.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	planned, _ := time.Parse(election.TimeFormat, f.Manifest.Window.Closes)
	now := planned.Add(-(2*time.Hour + 30*time.Minute))
	f.Election.SetClock(func() time.Time { return now })

	_, page := send(t, "GET", base+el+"/console", "", "", admin)
	for _, want := range []string{`id="console-ends"`, "2 hours and 30 minutes left", `id="extend-form"`, `name="confirm"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the console lacks %q", want)
		}
	}
	if i := strings.Index(page, `<textarea id="extend-reason"`); i < 0 || !strings.Contains(page[i:], `></textarea>`) || strings.Index(page[i:], `></textarea>`) > 200 {
		t.Errorf("the extension's reason is missing or pre-filled")
	}
	req, _ := http.NewRequest("GET", base+el+"/console", nil)
	req.Header.Set("Accept-Language", "fr")
	req.AddCookie(admin)
	if _, fr := doBody(t, noFollow, req); strings.Contains(fr, "MISSING:") || !strings.Contains(fr, "encore 2 heures et 30 minutes") || !strings.Contains(fr, "Prolonger le vote") {
		t.Errorf("the French console does not say the time left or offer the extension")
	}

	// Paris, UTC+1: the new end typed as 19:00 there is 18:00 UTC.
	newEnd := planned.Add(24 * time.Hour)
	local := newEnd.Add(time.Hour).Format("2006-01-02T15:04")
	const reason = "The voting service was unreachable from 14:00 to 17:30."
	post := func(v url.Values) (*http.Response, string) {
		return send(t, "POST", base+el+"/console/extend", "application/x-www-form-urlencoded", v.Encode(), admin)
	}
	for _, c := range []struct {
		name string
		v    url.Values
		want string
	}{
		{"no reason", url.Values{"closes": {local}, "offset": {"60"}, "reason": {" "}, "confirm": {"yes"}}, "Write why voting is extended"},
		{"no confirmation", url.Values{"closes": {local}, "offset": {"60"}, "reason": {reason}}, "Tick the box"},
		{"no date", url.Values{"closes": {""}, "offset": {"60"}, "reason": {reason}, "confirm": {"yes"}}, "Give the new end"},
		{"an earlier end", url.Values{"closes": {planned.Add(-time.Hour).Format("2006-01-02T15:04")}, "offset": {"0"}, "reason": {reason}, "confirm": {"yes"}}, "must be later than the current end"},
		{"8 days", url.Values{"closes": {planned.Add(8 * 24 * time.Hour).Format("2006-01-02T15:04")}, "offset": {"0"}, "reason": {reason}, "confirm": {"yes"}}, "at the latest"},
	} {
		resp, body := post(c.v)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, c.want) {
			t.Errorf("%s: %s, without %q", c.name, resp.Status, c.want)
		}
	}
	if e := f.Election.Ends(); !e.Equal(planned) {
		t.Fatalf("refused extensions moved the end to %v", e)
	}
	resp, _ := post(url.Values{"closes": {local}, "offset": {"60"}, "reason": {reason}, "confirm": {"yes"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != el+"/console?done=extend" {
		t.Fatalf("extending: %s to %s", resp.Status, resp.Header.Get("Location"))
	}
	if e := f.Election.Ends(); !e.Equal(newEnd) {
		t.Fatalf("the end in force is %v, want %v", e, newEnd)
	}
	_, page = send(t, "GET", base+el+"/console?done=extend", "", "", admin)
	for _, want := range []string{"Voting is extended.", "extended once", "1 day and 2 hours left"} {
		if !strings.Contains(page, want) {
			t.Errorf("the console after the extension lacks %q", want)
		}
	}
	for _, lang := range []string{"en", "fr"} {
		for _, path := range []string{"/", "/board"} {
			_, body := get(t, http.DefaultClient, base+el+path, "Accept-Language", lang)
			if strings.Contains(body, "MISSING:") {
				t.Errorf("%s (%s) has a missing catalog string", path, lang)
			}
			if !strings.Contains(body, reason) || !strings.Contains(body, newEnd.Format(time.RFC3339)) {
				t.Errorf("%s (%s) does not show the extension and its reason", path, lang)
			}
		}
	}
	_, body := get(t, http.DefaultClient, base+el+"/", "Accept-Language", "fr")
	if !strings.Contains(body, "Le vote a été prolongé") {
		t.Errorf("the French election page does not say voting was extended")
	}
	// Past the extended end: the election's page says voting has ended
	// instead of offering to vote, and the console offers no extension.
	now = newEnd
	_, body = get(t, http.DefaultClient, base+el+"/")
	if !strings.Contains(body, `id="voting-ended"`) || strings.Contains(body, `class="button primary" href="`+el+`/vote"`) {
		t.Errorf("the election's page past the end does not say voting has ended")
	}
	_, page = send(t, "GET", base+el+"/console", "", "", admin)
	if strings.Contains(page, `id="extend-form"`) || !strings.Contains(page, "voting has ended") {
		t.Errorf("the console past the end still offers an extension")
	}
}
