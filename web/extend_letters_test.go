package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/web"
)

// TestExtensionInLettersAndConfirmation (spec §18.7, issue 17): once
// voting is extended, the members' letters and the confirmation before
// closing give the end in force, not the manifest's planned end.
func TestExtensionInLettersAndConfirmation(t *testing.T) {
	f, base := newDemo(t, 3)
	admin, err := f.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	planned, _ := time.Parse(election.TimeFormat, f.Manifest.Window.Closes)
	now := planned.Add(-2 * time.Hour)
	f.Election.SetClock(func() time.Time { return now })
	newEnd := planned.Add(24 * time.Hour)
	v := url.Values{"closes": {newEnd.UTC().Format("2006-01-02T15:04")}, "offset": {"0"}, "reason": {"The service was down for three hours."}, "confirm": {"yes"}}
	if resp, _ := send(t, "POST", base+el+"/console/extend", "application/x-www-form-urlencoded", v.Encode(), admin); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("extending: %s", resp.Status)
	}
	if e := f.Election.Ends(); !e.Equal(newEnd) {
		t.Fatalf("the end in force is %v, want %v", e, newEnd)
	}
	inForce := `datetime="` + newEnd.UTC().Format(time.RFC3339) + `"`
	oldEnd := `datetime="` + planned.UTC().Format(time.RFC3339) + `"`
	_, page := send(t, "POST", base+el+"/console/close", "application/x-www-form-urlencoded", url.Values{"reason": {"Early."}}.Encode(), admin)
	if !strings.Contains(page, `id="confirm-action"`) {
		t.Fatalf("no confirmation page:\n%s", page)
	}
	if !strings.Contains(page, inForce) || strings.Contains(page, oldEnd) {
		t.Errorf("the confirmation before closing does not give the end in force (%s)", newEnd)
	}
	if !strings.Contains(page, "1 day") {
		t.Errorf("the confirmation does not count the time left to the end in force")
	}
	resp, body := send(t, "POST", base+el+"/console/members/preview", "application/x-www-form-urlencoded", url.Values{"send": {"new-reminder"}}.Encode(), admin)
	if resp.StatusCode != 200 {
		t.Fatalf("preview: %s", resp.Status)
	}
	for _, lang := range []string{"en", "fr"} {
		if want := web.When(lang, newEnd); !strings.Contains(body, want) {
			t.Errorf("the letter (%s) does not give the end in force %q", lang, want)
		}
		if old := web.When(lang, planned); strings.Contains(body, old) {
			t.Errorf("the letter (%s) gives the planned end %q", lang, old)
		}
	}
}
