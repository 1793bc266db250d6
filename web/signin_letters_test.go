package web_test

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSignInLettersEndToEnd (issue 17): on a served election, the sign-in
// code's letter names the election in both languages (never `for ""`),
// and once the result is published no code is sent at all.
func TestSignInLettersEndToEnd(t *testing.T) {
	f, base := newDemo(t, 3)
	email := f.Emails[0]
	ask := func() (int, string) {
		resp, body := send(t, "POST", base+"/api/e/"+f.ID+"/sign-in", "application/json", `{"email":"`+email+`"}`, nil)
		return resp.StatusCode, body
	}
	if st, body := ask(); st != 202 {
		t.Fatalf("asking for a code: %d %s", st, body)
	}
	if _, err := f.Mail.WaitCode(context.Background(), email, 0); err != nil {
		t.Fatal(err)
	}
	letter := f.Mail.Letters(email)[0]
	en, fr := f.Manifest.Title.In("en"), f.Manifest.Title.In("fr")
	if strings.Contains(letter, `""`) || strings.Contains(letter, "« »") || !strings.Contains(letter, `"`+en+`"`) || !strings.Contains(letter, "« "+fr+" »") {
		t.Errorf("the letter does not name the election (%q, %q):\n%s", en, fr, letter)
	}
	if _, err := f.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	n := f.Mail.Count(email)
	if st, body := ask(); st != 409 || !strings.Contains(body, "voting is closed") {
		t.Errorf("a code asked for after the result: %d %s", st, body)
	}
	time.Sleep(200 * time.Millisecond)
	if f.Mail.Count(email) != n {
		t.Error("a code was sent after the result was published")
	}
}
