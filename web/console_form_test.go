package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/internal/demo"
)

// formSite is a served election without a manifest whose three trustees
// have sent their identities (uploaded in the console), and an officer.
func formSite(t *testing.T) (fx *demo.Fixture, base, id string, admin *http.Cookie) {
	t.Helper()
	fx, base, id, admin = invitationsSite(t, true)
	for _, n := range []string{"Ada", "Bo", "Cy"} {
		if resp, body := uploadFile(t, base+"/e/"+id+"/console/trustees/upload", "identity", identityJSON(t, n), admin); resp.StatusCode != 200 {
			t.Fatalf("upload %s: %s %s", n, resp.Status, body)
		}
	}
	return fx, base, id, admin
}

var inputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// hiddenFields returns a page's hidden fields.
func hiddenFields(page string) url.Values {
	v := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(page, -1) {
		v.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// unionForm fills the form shown (its hidden fields) with the union's
// ballot: a strike (yes or no) and the executive, up to 2 of 4.
func unionForm(shown string) url.Values {
	v := hiddenFields(shown)
	opens := time.Now().UTC().Add(48 * time.Hour).Format("2006-01-02T15:04")
	closes := time.Now().UTC().Add(9 * 24 * time.Hour).Format("2006-01-02T15:04")
	for k, x := range map[string]string{"title.en": "Local 42 ballot", "title.fr": "Scrutin de la section 42", "desc.en": "Strike and executive committee.",
		"desc.fr": "Grève et bureau.", "contests": "2", "c0.kind": "yesno", "c0.title.en": "Strike in 2027?", "c0.title.fr": "Grève en 2027 ?",
		"c1.kind": "upto", "c1.title.en": "Executive committee", "c1.title.fr": "Bureau", "c1.k": "2", "c1.blank": "1",
		"c1.options.en": "Ann\nBen\nCleo\nDan", "c1.options.fr": "Ann\nBen\nCléo\nDan", "zone": "America/Toronto", "opens": opens, "closes": closes,
		"threshold": "2", "label": "Local 42"} {
		v.Set(k, x)
	}
	return v
}

// TestManifestFormFlow: without scripts, the officer fills the form, is
// told what is wrong next to the field with nothing lost, reviews the
// election in plain words in both languages, and records it; the trail
// says so, and the form is gone once the manifest is recorded.
func TestManifestFormFlow(t *testing.T) {
	_, base, id, admin := formSite(t)
	el := base + "/e/" + id
	formType := "application/x-www-form-urlencoded"
	resp, page := send(t, "GET", el+"/console/form", "", "", admin)
	if resp.StatusCode != 200 || !strings.Contains(page, `id="form-trustees"`) || strings.Contains(page, "MISSING") {
		t.Fatalf("the form: %s", resp.Status)
	}
	v := unionForm(page)
	v.Set("c1.k", "5")
	v.Set("step", "review")
	resp, page = send(t, "POST", el+"/console/form", formType, v.Encode(), admin)
	if resp.StatusCode != 400 || !strings.Contains(page, `id="f-c1-k-err"`) || !strings.Contains(page, "cannot choose up to 5 of only 4") {
		t.Fatalf("k of 5: %s\n%s", resp.Status, page)
	}
	if !strings.Contains(page, `value="Scrutin de la section 42"`) || !strings.Contains(page, "Ann\nBen\nCléo\nDan</textarea>") {
		t.Fatal("the form lost what was typed")
	}
	v.Set("c1.k", "2")
	resp, page = send(t, "POST", el+"/console/form", formType, v.Encode(), admin)
	if resp.StatusCode != 200 || !strings.Contains(page, "Members choose up to 2 of 4. A blank answer is allowed.") ||
		!strings.Contains(page, "Les membres choisissent jusqu&#39;à 2 options sur 4. Le vote blanc est permis.") ||
		!strings.Contains(page, "(America/Toronto)") || !strings.Contains(page, "Any 2 of the 3 trustees") {
		t.Fatalf("review: %s\n%s", resp.Status, page)
	}
	rv := hiddenFields(page)
	rv.Set("step", "record")
	resp, page = send(t, "POST", el+"/console/form", formType, rv.Encode(), admin)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("record: %s\n%s", resp.Status, page)
	}
	_, page = send(t, "GET", el+"/console", "", "", admin)
	if !strings.Contains(page, "Local 42 ballot") {
		t.Fatal("the console does not show the election recorded")
	}
	_, trail := send(t, "GET", el+"/console/trail", "", "", admin)
	if !strings.Contains(trail, `data-event="election.action manifest"`) || !strings.Contains(trail, "Recorded the manifest") || !strings.Contains(trail, "form") {
		t.Errorf("the trail does not say the manifest was recorded with the form:\n%s", trail)
	}
	// Recorded: the form refuses, and changes nothing.
	resp, _ = send(t, "POST", el+"/console/form", formType, rv.Encode(), admin)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("a second record: %s", resp.Status)
	}
}

// recordedElection is formSite's election, recorded with the form.
func recordedElection(t *testing.T) (fx *demo.Fixture, base, id string, admin *http.Cookie) {
	t.Helper()
	fx, base, id, admin = formSite(t)
	el := base + "/e/" + id
	_, page := send(t, "GET", el+"/console/form", "", "", admin)
	v := unionForm(page)
	v.Set("c1.group", "exec")
	v.Set("step", "record")
	if resp, page := send(t, "POST", el+"/console/form", "application/x-www-form-urlencoded", v.Encode(), admin); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("record: %s\n%s", resp.Status, page)
	}
	return fx, base, id, admin
}

// TestConfirmations: closing voting (and opening, tallying, publishing)
// first shows, on a page that needs no script, what will happen; nothing
// changes until the officer confirms there; a close without a reason is
// refused before.
func TestConfirmations(t *testing.T) {
	f, base := newDemo(t, 3)
	admin, err := f.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	form := "application/x-www-form-urlencoded"
	before := phaseAndSize(t, f)
	resp, page := send(t, "POST", base+el+"/console/close", form, "reason=The+union+decided+so.", admin)
	if resp.StatusCode != 200 || !strings.Contains(page, `id="confirm-action"`) || !strings.Contains(page, "Close voting now?") ||
		!strings.Contains(page, "0 of 3 members have voted") || !strings.Contains(page, "This cannot be undone.") ||
		!strings.Contains(page, `<input type="hidden" name="reason" value="The union decided so.">`) || strings.Contains(page, "MISSING") {
		t.Fatalf("the confirmation: %s\n%s", resp.Status, page)
	}
	if after := phaseAndSize(t, f); after != before {
		t.Fatalf("asking for a confirmation changed the election: %s to %s", before, after)
	}
	if resp, page := send(t, "POST", base+el+"/console/close", form, "reason=+", admin); resp.StatusCode != 400 || strings.Contains(page, `id="confirm-action"`) {
		t.Errorf("a close without a reason: %s", resp.Status)
	}
	// In French, the numbers and dates as a French reader writes them.
	req := "reason=Fin.&"
	ck := &http.Cookie{Name: "lang", Value: "fr"}
	r2, _ := http.NewRequest("POST", base+el+"/console/close", strings.NewReader(req))
	r2.Header.Set("Content-Type", form)
	r2.AddCookie(admin)
	r2.AddCookie(ck)
	resp, page = doBody(t, noFollow, r2)
	if resp.StatusCode != 200 || !strings.Contains(page, "Clore le vote maintenant ?") || !strings.Contains(page, "0 membre sur 3 a voté") {
		t.Errorf("the confirmation in French: %s\n%s", resp.Status, page)
	}
	// During voting, the console shows the end in force, in the reader's
	// zone (<time>), and the time left in words, in French too.
	r3, _ := http.NewRequest("GET", base+el+"/console", nil)
	r3.AddCookie(admin)
	r3.AddCookie(ck)
	_, page = doBody(t, noFollow, r3)
	if !regexp.MustCompile(`id="console-ends"><time datetime="[^"]+">[^<]+</time> \(encore \d+ (jours?|heures?)`).MatchString(page) {
		t.Errorf("the console's window and time left, in French:\n%s", page)
	}
	resp, _ = send(t, "POST", base+el+"/console/close", form, "reason=The+union+decided+so.&confirm=yes", admin)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(phaseAndSize(t, f), "closed/") {
		t.Fatalf("confirmed: %s, %s", resp.Status, phaseAndSize(t, f))
	}
	resp, page = send(t, "POST", base+el+"/console/tally", form, "", admin)
	if resp.StatusCode != 200 || !strings.Contains(page, "Count the ballots now?") || !strings.HasPrefix(phaseAndSize(t, f), "closed/") {
		t.Fatalf("the tally's confirmation: %s", resp.Status)
	}
}
