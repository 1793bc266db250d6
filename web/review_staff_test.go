package web_test

// Security review of the staff pages: each test fails on the code as
// reviewed and passes once the finding it names is fixed.

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/scrutin/scrutin/election"
)

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func staffCookieOf(resp *http.Response) *http.Cookie {
	for _, ck := range resp.Cookies() {
		if strings.Contains(ck.Name, "scrutin-staff") {
			return ck
		}
	}
	return nil
}

func trailPage(t *testing.T, base string, ck *http.Cookie) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/staff/trail", nil)
	req.AddCookie(ck)
	resp, body := doBody(t, noFollow, req)
	return resp.StatusCode, body
}

// TestReviewOfficerAPIActionsInTrail (finding "API actions bypass the
// trail"): an officer who closes voting through POST /api/admin/close
// (server/admin.go, allowed by Site.Officer) leaves no event in the
// staff audit trail; the same action from the console does.
func TestReviewOfficerAPIActionsInTrail(t *testing.T) {
	f, base := newDemo(t, 3)
	admin, err := f.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+"/api"+el+"/admin/close", strings.NewReader(`{"reason":"closed through the API"}`))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(admin)
	resp, body := doBody(t, noFollow, req)
	var phase string
	f.Election.State(func(s *election.State) { phase = s.Phase.String() })
	if resp.StatusCode != http.StatusCreated || phase != "closed" {
		t.Fatalf("closing through the API: %s %s (phase %s)", resp.Status, body, phase)
	}
	_, trail := trailPage(t, base, admin)
	if !strings.Contains(trail, "election.action") {
		t.Error("an officer closed voting through the API and the audit trail has no election.action event")
	}
}

// TestReviewSessionRotatedAfterSecondStep (finding "session fixation"):
// the cookie set after the password keeps working, unchanged, as a full
// session once the second step is done; and it has no __Host- prefix, so a
// sibling host can plant one.
func TestReviewSessionRotatedAfterSecondStep(t *testing.T) {
	f, base := newDemo(t, 3)
	resp, err := noFollow.PostForm(base+"/staff/sign-in", url.Values{"email": {f.StaffEmail}, "password": {f.StaffPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	half := staffCookieOf(resp)
	if half == nil {
		t.Fatalf("sign-in: %s", resp.Status)
	}
	if !strings.HasPrefix(half.Name, "__Host-") {
		t.Errorf("the staff session cookie %q has no __Host- prefix", half.Name)
	}
	code, _ := totp.GenerateCode(f.StaffTOTP, time.Now())
	req, _ := http.NewRequest("POST", base+"/staff/verify", strings.NewReader("code="+code))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(half)
	resp, _ = doBody(t, noFollow, req)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("second step: %s", resp.Status)
	}
	req, _ = http.NewRequest("GET", base+el+"/console", nil)
	req.AddCookie(half)
	resp, _ = doBody(t, noFollow, req)
	if resp.StatusCode == http.StatusOK {
		t.Error("the session id set before the second step opens the console after it: it was not rotated")
	}
}

// TestReviewConsoleUploadBreaksTrail (finding "one event bricks the
// trail"): an officer uploads a "manifest" whose unknown JSON field name
// is 2 MB long; the refusal text, echoing it, is written to the audit
// trail as one 4 MB line, after which the trail page fails for every
// auditor and the server refuses to start.
func TestReviewConsoleUploadBreaksTrail(t *testing.T) {
	f, base := newDemo(t, 3)
	admin, err := f.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "manifest.json")
	fw.Write([]byte(`{"` + strings.Repeat("a", 2<<20) + `": 1}`))
	mw.Close()
	req, _ := http.NewRequest("POST", base+el+"/console/manifest", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(admin)
	doBody(t, noFollow, req)
	if status, body := trailPage(t, base, admin); status != http.StatusOK {
		t.Errorf("after one refused upload, the audit trail page: %d %.200s", status, body)
	}
}

// TestReviewConsoleActionCannotForgeTrail (finding "forged trail
// details"): the action name is the URL's path segment, recorded as is
// even when it is no action; the trail page joins key=value with spaces,
// so /console/nope%20action=tally reads as a tally in the trail. And a
// refused action reads exactly like a done one (the result is not shown).
func TestReviewConsoleActionCannotForgeTrail(t *testing.T) {
	f, base := newDemo(t, 3)
	admin, err := f.StaffSession(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{el + "/console/nope%20action=tally", el + "/console/open"} {
		req, _ := http.NewRequest("POST", base+p, nil)
		req.AddCookie(admin)
		doBody(t, noFollow, req)
	}
	_, trail := trailPage(t, base, admin)
	if strings.Contains(trail, "action=tally") {
		t.Error("a made-up action name wrote \"action=tally\" into the audit trail page")
	}
	if !strings.Contains(trail, "refused") {
		t.Error("a refused console action (open, while voting) is shown in the trail like a done one")
	}
}
