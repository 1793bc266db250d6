package web_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
)

// TestConsoleRecordsReplacement (spec §18.8, issue 17): during voting, the
// console offers to record the credential authority's replacement file,
// with a confirmation; once recorded, the console counts it, and the
// election's page and its log page show it, in both languages.
func TestConsoleRecordsReplacement(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 21, Authority: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Store.Close() })
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	admin, err := f.StaffSession(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	_, page := send(t, "GET", base+el+"/console", "", "", admin)
	if !strings.Contains(page, `id="replace-form"`) || !strings.Contains(page, "A member lost their letter") {
		t.Fatal("the console does not offer to record a replacement")
	}
	entry, err := f.Replace(1)
	if err != nil {
		t.Fatal(err)
	}
	upload := func(confirm bool) *http.Response {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		fw, _ := w.CreateFormFile("file", "replacement-1.entry")
		fw.Write(entry)
		if confirm {
			w.WriteField("confirm", "yes")
		}
		w.Close()
		resp, _ := send(t, "POST", base+el+"/console/entry", w.FormDataContentType(), b.String(), admin)
		return resp
	}
	if resp := upload(false); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a replacement without confirmation: %s", resp.Status)
	}
	if resp := upload(true); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("recording the replacement: %s", resp.Status)
	}
	_, page = send(t, "GET", base+el+"/console", "", "", admin)
	if !strings.Contains(page, "1 voting code replaced so far.") {
		t.Error("the console does not count the replacement")
	}
	for lang, want := range map[string]string{"en": "Lost voting codes replaced", "fr": "Codes de vote perdus remplacés"} {
		for _, path := range []string{"/", "/board"} {
			_, body := get(t, http.DefaultClient, base+el+path, "Accept-Language", lang)
			if strings.Contains(body, "MISSING:") {
				t.Errorf("%s (%s) has a missing catalog string", path, lang)
			}
			if !strings.Contains(body, want) && path == "/" || path == "/board" && !strings.Contains(body, `id="log-replacements"`) {
				t.Errorf("%s (%s) does not show the replacement", path, lang)
			}
		}
	}
}

// TestTrackerOfRevokedBallot (spec §18.8, §19): the tracker page of a
// ballot cast under a credential since replaced says so, in both
// languages, rather than that its voter voted again (which the member whose
// code was replaced without asking would read as their own doing).
func TestTrackerOfRevokedBallot(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 31, Authority: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Store.Close() })
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if err := f.CastWith(ctx, base, 1, f.Codes[1], []int{0}); err != nil {
		t.Fatal(err)
	}
	k, err := election.CredentialKey(f.F, f.Codes[1])
	if err != nil {
		t.Fatal(err)
	}
	var tracker string
	f.Election.State(func(s *election.State) { tracker = s.Counted(k.PublicKey()).Tracker })
	entry, err := f.Replace(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Election.Append(ctx, entry); err != nil {
		t.Fatal(err)
	}
	for lang, want := range map[string]string{"en": "its voting code was replaced", "fr": "son code de vote a été remplacé"} {
		_, body := get(t, http.DefaultClient, base+el+"/ballots/"+tracker, "Accept-Language", lang)
		if !strings.Contains(body, want) || strings.Contains(body, "MISSING:") {
			t.Errorf("the tracker page (%s) of a revoked credential's ballot does not say so (want %q):\n%s", lang, want, body)
		}
	}
	for lang, want := range map[string]string{"en": "voting code replaced", "fr": "code de vote remplacé"} {
		_, body := get(t, http.DefaultClient, base+el+"/ballots", "Accept-Language", lang)
		if !strings.Contains(body, want) || strings.Contains(body, "MISSING:") {
			t.Errorf("the list of ballots (%s) does not say that a revoked credential's ballot is not counted because its code was replaced (want %q)", lang, want)
		}
	}
}
