package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/pgtest"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/store"
)

// TestTrusteeInvitations is the acceptance test of the officer's side of
// issue 16: the officer invites three trustees from the console (the
// letters are caught by the test's outbox), each trustee's identity
// (made by "scrutin trustee init") is posted with the token of its
// invitation, a wrong, expired or used token is refused with nothing
// stored, the console makes the roster, which equals what "scrutin trustee
// roster" makes from the same files (but for its random ceremony id), the
// manifest made from it ("scrutin manifest new --roster") is recorded in
// the console, and the trustees then run their ceremony through the
// server.
func TestTrusteeInvitations(t *testing.T) {
	bin := buildScrutin(t)
	t.Run("sqlite", func(t *testing.T) { trusteeInvitations(t, bin, "") })
	// Several nodes may share a PostgreSQL database: the invitations are
	// in it.
	t.Run("postgres", func(t *testing.T) { trusteeInvitations(t, bin, pgtest.Schema(t, "scrutin_invitations")) })
}

func trusteeInvitations(t *testing.T, bin, db string) {
	root := t.TempDir()
	const n = 3
	keystore := func(j int) string { return filepath.Join(root, fmt.Sprintf("trustee%d", j)) }
	passfile := func(j int) string { return filepath.Join(root, fmt.Sprintf("pass%d", j)) }
	names := []string{"", "Ada Lovelace", "Bo Diddley", "Cy Twombly"}
	email := func(j int) string { return fmt.Sprintf("trustee%d@example.org", j) }
	var idFiles []string
	for j := 1; j <= n; j++ {
		os.WriteFile(passfile(j), []byte(fmt.Sprintf("correct horse battery staple %d\n", j)), 0o600)
		r := runScrutin(t, bin, "trustee", "init", "--name", names[j], "--dir", keystore(j), "--passphrase-file", passfile(j), "--work-factor", "10")
		if r.status != 0 || !strings.Contains(r.stdout, "fingerprint") {
			t.Fatalf("init: %s%s", r.stdout, r.stderr)
		}
		idFiles = append(idFiles, filepath.Join(keystore(j), trustee.IdentityPublicFile))
	}

	ctx := context.Background()
	dir := t.TempDir()
	host, err := demo.Prepare(ctx, demo.Options{Dir: dir, DB: db, Voters: 4, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	base, stop, err := host.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	admin, err := host.StaffSession(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	const id = "board-2027"
	if _, err := host.Registry.Create(ctx, id, nil); err != nil {
		t.Fatal(err)
	}
	address := base + "/e/" + id
	console := func(method, path string, body io.Reader, contentType string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, address+"/console"+path, body)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.AddCookie(admin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if strings.Contains(string(b), "MISSING:") {
			t.Fatalf("%s %s: a message is missing from the catalog", method, path)
		}
		return resp.StatusCode, string(b)
	}
	form := func(path string, v url.Values) (int, string) {
		return console("POST", path, strings.NewReader(v.Encode()), "application/x-www-form-urlencoded")
	}
	upload := func(path, field, name string, data []byte) (int, string) {
		var b bytes.Buffer
		w := multipart.NewWriter(&b)
		fw, _ := w.CreateFormFile(field, name)
		fw.Write(data)
		w.Close()
		return console("POST", path, &b, w.FormDataContentType())
	}
	stored := func() []store.TrusteeInvitation {
		invs, err := host.DB.TrusteeInvitations(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return invs
	}
	identities := func() (k int) {
		for _, inv := range stored() {
			if inv.Identity != nil {
				k++
			}
		}
		return k
	}

	// The officer previews each invitation, then sends it.
	linkRE := regexp.MustCompile(regexp.QuoteMeta(address) + `/trustee#invite=([A-Za-z0-9_-]{43})\b`)
	tokens := make([]string, n+1)
	for j := 1; j <= n; j++ {
		v := url.Values{"name": {names[j]}, "email": {email(j)}, "election": {"Board 2027"}}
		st, body := form("/trustees/preview", v)
		if st != 200 || !strings.Contains(body, `id="invite-preview"`) || !strings.Contains(body, "Board 2027") || host.Mail.Count(email(j)) != 0 {
			t.Fatalf("preview %d: %d, %d letters", j, st, host.Mail.Count(email(j)))
		}
		if st, body = form("/trustees/invite", v); st != 200 || host.Mail.Count(email(j)) != 1 {
			t.Fatalf("invite %d: %d %s", j, st, errorOf(body))
		}
		letter := host.Mail.Letters(email(j))[0]
		m := linkRE.FindStringSubmatch(letter)
		if m == nil || !strings.Contains(letter, names[j]) || !strings.Contains(letter, "Board 2027") || !strings.Contains(letter, "Bonjour") {
			t.Fatalf("letter %d:\n%s", j, letter)
		}
		tokens[j] = m[1]
	}
	// No token in the database or the staff trail.
	for _, inv := range stored() {
		for j := 1; j <= n; j++ {
			if bytes.Contains(inv.TokenHash, []byte(tokens[j])) {
				t.Fatal("a token is stored in clear")
			}
		}
	}
	if _, trail := console("GET", "/trail", nil, ""); !strings.Contains(trail, "trustees-invite") || strings.Contains(trail, tokens[1]) {
		t.Fatalf("the trail lacks the invitations, or holds a token")
	}

	post := func(token string, identity []byte) (int, string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"invitation": token, "identity": json.RawMessage(identity)})
		resp, err := http.Post(base+"/api/e/"+id+"/trustee-identities", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ident := make([][]byte, n+1)
	for j := 1; j <= n; j++ {
		if ident[j], err = os.ReadFile(idFiles[j-1]); err != nil {
			t.Fatal(err)
		}
	}
	randomToken := func() string {
		b := make([]byte, 32)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	// Refused, with nothing stored: a wrong token; a token of another
	// election; an expired invitation; a malformed identity.
	if st, body := post(randomToken(), ident[1]); st != http.StatusForbidden || !strings.Contains(body, "not valid") {
		t.Fatalf("a wrong token: %d %s", st, body)
	}
	// The last character changed (a random token may already end in "A").
	last := "A"
	if strings.HasSuffix(tokens[1], last) {
		last = "B"
	}
	if st, _ := post(tokens[1][:len(tokens[1])-1]+last, ident[1]); st != http.StatusForbidden {
		t.Fatalf("a token off by one character: %d", st)
	}
	resp, err := http.Post(base+"/api/e/demo/trustee-identities", "application/json", strings.NewReader(fmt.Sprintf(`{"invitation":%q,"identity":%s}`, tokens[1], ident[1])))
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("another election's invitation: %v %v", resp.Status, err)
	}
	resp.Body.Close()
	expired := randomToken()
	eh := sha256.Sum256([]byte(expired))
	now := time.Now().UTC()
	late, err := host.DB.AddTrustee(ctx, id, store.TrusteeInvitation{Name: "Late", Email: "late@example.org", TokenHash: eh[:], Expires: now.Add(-time.Minute), Created: now.Add(-InvitationAge)})
	if err != nil {
		t.Fatal(err)
	}
	if st, body := post(expired, ident[1]); st != http.StatusGone || !strings.Contains(body, "expired") {
		t.Fatalf("an expired invitation: %d %s", st, body)
	}
	if _, body := console("GET", "", nil, ""); !strings.Contains(body, "Invitation expired") {
		t.Fatal("the console does not say the invitation expired")
	}
	if st, _ := form("/trustees/remove", url.Values{"invitation": {fmt.Sprint(late)}}); st != 200 {
		t.Fatalf("remove: %d", st)
	}
	for _, bad := range []string{`{"name":"x"}`, `{"name":"x","signing_key":"AA","encryption_key":"AA"}`, strings.Replace(string(ident[2]), `"name"`, `"nom"`, 1), `[]`} {
		if st, body := post(tokens[2], []byte(bad)); st != http.StatusBadRequest {
			t.Fatalf("a malformed identity %s: %d %s", bad, st, body)
		}
	}
	if st, _ := post(tokens[2], bytes.Repeat([]byte(" "), 20<<10)); st != http.StatusRequestEntityTooLarge && st != http.StatusBadRequest {
		t.Fatalf("a body too large: %d", st)
	}
	if k := identities(); k != 0 {
		t.Fatalf("%d identities stored after refusals", k)
	}

	// Each trustee posts its identity with its token; its fingerprint is
	// the one "scrutin trustee init" printed.
	for j := 1; j <= n; j++ {
		st, body := post(tokens[j], ident[j])
		ti, _ := trustee.ParsePublicIdentity(ident[j])
		fp := ti.Fingerprint()
		if st != http.StatusCreated || !strings.Contains(body, fmt.Sprintf("%x", fp[:])) {
			t.Fatalf("identity %d: %d %s", j, st, body)
		}
	}
	// A used token, or a second identity with the same keys, is refused.
	if st, body := post(tokens[1], ident[1]); st != http.StatusConflict || !strings.Contains(body, "invite you again") {
		t.Fatalf("a used token: %d %s", st, body)
	}
	if k := identities(); k != n {
		t.Fatalf("%d identities stored", k)
	}
	// By hand: the same identity again is refused (its keys are taken).
	if st, body := upload("/trustees/upload", "identity", "identity.json", ident[2]); st != http.StatusBadRequest || !strings.Contains(errorOf(body), "another trustee") {
		t.Fatalf("an identity uploaded twice: %d %s", st, errorOf(body))
	}

	// The console lists them, with the fingerprints to read on the phone.
	_, body := console("GET", "", nil, "")
	for j := 1; j <= n; j++ {
		ti, _ := trustee.ParsePublicIdentity(ident[j])
		fp := ti.Fingerprint()
		if !strings.Contains(body, trustee.GroupHex(fp[:])) {
			t.Fatalf("the console lacks the fingerprint of trustee %d", j)
		}
	}
	if !strings.Contains(body, "Identities received: 3 of 3") || !strings.Contains(body, `id="make-roster"`) {
		t.Fatal("the console does not offer to make the roster")
	}

	// The roster, as "scrutin trustee roster" makes it from the same files.
	m := regexp.MustCompile(`name="identities" value="([0-9a-f]{64})"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the roster form does not name the identities shown")
	}
	st, body := form("/trustees/roster", url.Values{"threshold": {"2"}, "label": {"Board 2027"}, "identities": {m[1]}})
	if st != 200 || !strings.Contains(body, "scrutin manifest new --dir DIR --election board-2027 --roster roster.json --out manifest.json") {
		t.Fatalf("make the roster: %d %s", st, errorOf(body))
	}
	if strings.Contains(body, `id="roster-stale"`) {
		t.Fatal("a roster just made is said to be out of date")
	}
	st, made := console("GET", "/roster.json", nil, "")
	if st != 200 {
		t.Fatalf("roster.json: %d", st)
	}
	cliDir := filepath.Join(root, "ceremony")
	if r := runScrutin(t, bin, append([]string{"trustee", "roster", "--ceremony", cliDir, "--label", "Board 2027", "--threshold", "2"}, idFiles...)...); r.status != 0 {
		t.Fatalf("trustee roster: %s", r.stderr)
	}
	cli, err := os.ReadFile(filepath.Join(cliDir, trustee.RosterFile))
	if err != nil {
		t.Fatal(err)
	}
	idRE := regexp.MustCompile(`"ceremony_id": "[A-Za-z0-9_-]+"`)
	if a, b := idRE.ReplaceAllString(made, "ID"), idRE.ReplaceAllString(string(cli), "ID"); a != b {
		t.Fatalf("the console's roster differs from the command's:\n%s\n%s", a, b)
	}
	rosterFile := filepath.Join(root, "roster.json")
	os.WriteFile(rosterFile, []byte(made), 0o644)
	roster, err := trustee.ParseRoster([]byte(made))
	if err != nil {
		t.Fatal(err)
	}

	// The manifest, made from it as the console says, recorded in the
	// console.
	mpath := filepath.Join(root, "manifest.json")
	if r := runScrutin(t, bin, "manifest", "new", "--dir", dir, "--election", id, "--roster", rosterFile, "--out", mpath); r.status != 0 {
		t.Fatalf("manifest new --roster: %s", r.stderr)
	}
	mb, _ := os.ReadFile(mpath)
	if st, body := upload("/manifest", "file", "manifest.json", mb); st != 200 && st != 303 {
		t.Fatalf("record the manifest: %d %s", st, errorOf(body))
	}
	e, err := host.Registry.Election(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var got *crypto.Roster
	e.State(func(s *election.State) {
		if s.Manifest != nil {
			got = &s.Manifest.Roster
		}
	})
	if got == nil || got.Fingerprint() != roster.Fingerprint() {
		t.Fatal("the manifest recorded does not hold the console's roster")
	}
	// No identity once the manifest is recorded, even with a good
	// invitation.
	spare := randomToken()
	sh := sha256.Sum256([]byte(spare))
	if _, err := host.DB.AddTrustee(ctx, id, store.TrusteeInvitation{Name: "Spare", Email: "spare@example.org", TokenHash: sh[:], Expires: now.Add(time.Hour), Created: now}); err != nil {
		t.Fatal(err)
	}
	other, _ := crypto.NewTrusteeSecrets(nil)
	oid, _ := json.Marshal(crypto.Trustee{Name: "Spare", Signing: other.Signing.PublicKey(), Encryption: other.Encryption.PublicKey()})
	if st, body := post(spare, oid); st != http.StatusConflict || !strings.Contains(body, "manifest") {
		t.Fatalf("an identity after the manifest: %d %s", st, body)
	}

	// The trustees run their ceremony through the server.
	as := func(j int, args ...string) []string {
		return append(args, "--election", address, "--dir", keystore(j), "--passphrase-file", passfile(j))
	}
	var wg sync.WaitGroup
	outs := make([]string, n+1)
	errs := make([]error, n+1)
	for j := 1; j <= n; j++ {
		wg.Go(func() {
			for _, step := range [][]string{{"trustee", "deal"}, {"trustee", "check", "--wait", "2m"}, {"trustee", "finish", "--wait", "2m", "--work-factor", "10"}} {
				r := runScrutinNoFatal(bin, as(j, step...)...)
				outs[j] += r.stdout + r.stderr
				if r.status != 0 {
					errs[j] = fmt.Errorf("scrutin %s: status %d", strings.Join(step, " "), r.status)
					return
				}
			}
		})
	}
	wg.Wait()
	for j := 1; j <= n; j++ {
		if errs[j] != nil || !strings.Contains(outs[j], "the ceremony is complete") {
			t.Fatalf("trustee %d: %v\n%s", j, errs[j], outs[j])
		}
	}
	complete := false
	e.State(func(s *election.State) { complete = s.Ceremony != nil && s.Ceremony.Complete })
	if !complete {
		t.Fatal("the ceremony is not complete in the election's state")
	}
}

// InvitationAge is how old the expired invitation of the test is.
const InvitationAge = 15 * 24 * time.Hour

var pageErrorRE = regexp.MustCompile(`(?s)<div class="error"[^>]*>(.*?)</div>`)

// errorOf returns the error a page shows, if any.
func errorOf(body string) string {
	if m := pageErrorRE.FindStringSubmatch(body); m != nil {
		return strings.TrimSpace(m[1])
	}
	return ""
}
