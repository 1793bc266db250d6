package accounts

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/softkey"
	"github.com/scrutin/scrutin/store"
)

const (
	testOrigin = "https://vote.example.org"
	testRPID   = "vote.example.org"
	goodPass   = "correct horse battery staple"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type mailbox struct {
	mu   sync.Mutex
	sent []string
}

func (m *mailbox) send(to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, to+": "+subject)
	return nil
}

func (m *mailbox) count() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.sent) }

func openTest(t *testing.T, dir string, c *clock, mb *mailbox) *Service {
	t.Helper()
	s, err := Open(Options{Dir: dir, Now: c.now, Notify: mb.send, RPID: testRPID, RPOrigins: []string{testOrigin}, SiteName: "scrutin test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var alice = Client{Addr: "192.0.2.1:1234", Device: "alice-laptop", UserAgent: "test"}

// firstAdmin creates the first administrator and enrols TOTP; it returns
// the session, the TOTP secret and the recovery codes.
func firstAdmin(t *testing.T, s *Service, c *clock) (*Session, string, []string) {
	t.Helper()
	link, _, err := s.SetupLink("", "https://vote.example.org")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link)
	se, err := s.CreateFirstAdmin(u.Query().Get("token"), "Alice@Example.org", "Alice Martin", goodPass, alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Allowed(se, ReadElection, AllElections); !errors.Is(err, ErrNeedsFactor) {
		t.Fatalf("an administrator without a second factor may act: %v", err)
	}
	k, err := s.BeginTOTP(se)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(k.Secret(), c.now())
	rec, err := s.FinishTOTP(se, code)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != RecoveryCodes {
		t.Fatalf("%d recovery codes", len(rec))
	}
	return se, k.Secret(), rec
}

func TestSetupLinkIsOneTimeAndExpires(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s := openTest(t, dir, c, &mailbox{})
	if !s.Empty() {
		t.Fatal("a fresh server has an account")
	}
	path := filepath.Join(dir, "setup-link")
	link, exp, err := s.SetupLink(path, "https://vote.example.org")
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the setup link file: %v, mode %v", err, st.Mode())
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), link) {
		t.Error("the file does not hold the link")
	}
	u, _ := url.Parse(link)
	token := u.Query().Get("token")
	if len(token) < 40 || exp.Sub(c.now()) != SetupTTL {
		t.Fatalf("token %q expires %v", token, exp)
	}
	// A weak password is refused and the token stays usable.
	if _, err := s.CreateFirstAdmin(token, "a@example.org", "A", "password1234", alice); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("a common password: %v", err)
	}
	if _, err := s.CreateFirstAdmin("x"+token, "a@example.org", "A", goodPass, alice); !errors.Is(err, ErrToken) {
		t.Fatalf("a wrong token: %v", err)
	}
	// Expired.
	c.add(SetupTTL + time.Second)
	if _, err := s.CreateFirstAdmin(token, "a@example.org", "A", goodPass, alice); !errors.Is(err, ErrToken) {
		t.Fatalf("an expired token: %v", err)
	}
	// A new link works once.
	link, _, _ = s.SetupLink(path, "https://vote.example.org")
	u, _ = url.Parse(link)
	token = u.Query().Get("token")
	if _, err := s.CreateFirstAdmin(token, "a@example.org", "Ann", goodPass, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateFirstAdmin(token, "b@example.org", "Bob", goodPass, alice); !errors.Is(err, ErrToken) {
		t.Fatalf("the setup token worked twice: %v", err)
	}
	if _, _, err := s.SetupLink("", "https://x"); err == nil {
		t.Error("a setup link was made while an account exists")
	}
}

func TestPasswordPolicy(t *testing.T) {
	for _, bad := range []string{"short", "password1234", "Password2027!", "qwertyuiop12", "123456789012", "aaaaaaaaaaaa", "abcabcabcabc",
		"iloveyouiloveyou", "alice.martin.2027", "!!monkey!!!!"} {
		if err := CheckPassword(bad, "alice.martin@example.org", "Alice Martin"); !errors.Is(err, ErrWeakPassword) {
			t.Errorf("%q was accepted", bad)
		}
	}
	for _, good := range []string{goodPass, "tram-vélo-42-orage", "Wd8!kq2#Lm9z"} {
		if err := CheckPassword(good, "alice.martin@example.org", "Alice Martin"); err != nil {
			t.Errorf("%q was refused: %v", good, err)
		}
	}
	h := HashPassword(goodPass)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") || !VerifyPassword(h, goodPass) || VerifyPassword(h, goodPass+"x") {
		t.Errorf("argon2id: %s", h)
	}
	if VerifyPassword(strings.Replace(h, "argon2id", "argon2i", 1), goodPass) {
		t.Error("another algorithm was accepted")
	}
}

// TestTOTPReplayRefused: a code works once; a replayed code, or an older
// one, is refused; the right one next period works.
func TestTOTPReplayRefused(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := openTest(t, t.TempDir(), c, &mailbox{})
	_, secret, _ := firstAdmin(t, s, c)
	c.add(time.Minute)
	se, err := s.SignIn("alice@example.org", goodPass, alice)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Allowed(se, ReadElection, AllElections); !errors.Is(err, ErrNeedsFactor) {
		t.Fatalf("a session past its password only may act: %v", err)
	}
	code, _ := totp.GenerateCode(secret, c.now())
	if err := s.VerifyTOTP(se, code); err != nil {
		t.Fatal(err)
	}
	if err := s.Allowed(se, ManageElection, "f00d"); err != nil {
		t.Fatal(err)
	}
	// The same code, on another session: refused.
	se2, _ := s.SignIn("alice@example.org", goodPass, alice)
	if err := s.VerifyTOTP(se2, code); !errors.Is(err, ErrSecondStep) {
		t.Fatalf("a replayed TOTP code: %v", err)
	}
	// The previous period's code (within the skew window): refused too.
	old, _ := totp.GenerateCode(secret, c.now().Add(-30*time.Second))
	if err := s.VerifyTOTP(se2, old); !errors.Is(err, ErrSecondStep) {
		t.Fatalf("an older TOTP code: %v", err)
	}
	c.add(30 * time.Second)
	next, _ := totp.GenerateCode(secret, c.now())
	if err := s.VerifyTOTP(se2, next); err != nil {
		t.Fatalf("the next period's code: %v", err)
	}
}

// TestBruteForceLockedOut: a client that fails 5 passwords in a row is
// locked out of the account with a growing back-off, even with the right
// password; the owner, elsewhere, is not locked out by it; a client trying
// many addresses is limited.
func TestBruteForceLockedOut(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := openTest(t, t.TempDir(), c, &mailbox{})
	firstAdmin(t, s, c)
	guesser := Client{Addr: "198.51.100.7"}
	for i := range 5 {
		if _, err := s.SignIn("alice@example.org", "wrong password number", guesser); !errors.Is(err, ErrSignIn) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	if _, err := s.SignIn("alice@example.org", goodPass, guesser); !errors.Is(err, ErrLocked) {
		t.Fatalf("after 5 failures, the right password from the same client: %v (want locked)", err)
	}
	if _, err := s.SignIn("alice@example.org", goodPass, alice); err != nil {
		t.Fatalf("the owner, from elsewhere, is locked out by a guesser: %v", err)
	}
	c.add(61 * time.Second)
	if _, err := s.SignIn("alice@example.org", "another wrong one", guesser); !errors.Is(err, ErrSignIn) {
		t.Fatal(err)
	}
	c.add(61 * time.Second) // the second lock is two minutes
	if _, err := s.SignIn("alice@example.org", goodPass, guesser); !errors.Is(err, ErrLocked) {
		t.Fatalf("the back-off did not grow: %v", err)
	}
	c.add(time.Minute)
	if _, err := s.SignIn("alice@example.org", goodPass, guesser); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// One client trying many addresses is limited.
	bot := Client{Addr: "203.0.113.9"}
	var locked bool
	for i := range 12 {
		_, err := s.SignIn("nobody"+string(rune('a'+i))+"@example.org", "whatever password", bot)
		locked = locked || errors.Is(err, ErrLocked)
	}
	if !locked {
		t.Error("a client was never limited after 12 failed sign-ins")
	}
	// An IPv6 client is one client per /64.
	for i := range 12 {
		s.SignIn("nobody@example.org", "whatever password", Client{Addr: fmt.Sprintf("2001:db8::%x", i+1)})
	}
	if _, err := s.SignIn("alice@example.org", goodPass, Client{Addr: "2001:db8::ffff"}); !errors.Is(err, ErrLocked) {
		t.Errorf("another address of the same IPv6 /64 was not limited: %v", err)
	}
}

func TestRecoveryCodesOnce(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := openTest(t, t.TempDir(), c, &mailbox{})
	_, _, rec := firstAdmin(t, s, c)
	se, _ := s.SignIn("alice@example.org", goodPass, alice)
	if err := s.UseRecoveryCode(se, strings.ToUpper(rec[3])); err != nil {
		t.Fatal(err)
	}
	se2, _ := s.SignIn("alice@example.org", goodPass, alice)
	if err := s.UseRecoveryCode(se2, rec[3]); !errors.Is(err, ErrSecondStep) {
		t.Fatalf("a recovery code worked twice: %v", err)
	}
}

// TestPasskeyPhishingResistant: a passkey registered on the site signs in;
// the same authenticator used from a look-alike origin is refused, as is a
// replayed assertion.
func TestPasskeyPhishingResistant(t *testing.T) {
	c := &clock{t: time.Now()}
	mb := &mailbox{}
	s := openTest(t, t.TempDir(), c, mb)
	admin, _, _ := firstAdmin(t, s, c)
	key := softkey.New(t, testOrigin, testRPID)
	opts, err := s.BeginPasskey(admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.FinishPasskey(admin, bytes.NewReader(key.Create(t, opts))); err != nil {
		t.Fatal(err)
	}
	se, _ := s.SignIn("alice@example.org", goodPass, alice)
	opts, _ = s.BeginPasskeyLogin(se)
	answer := key.Get(t, opts)
	if err := s.FinishPasskeyLogin(se, bytes.NewReader(answer)); err != nil {
		t.Fatalf("the passkey: %v", err)
	}
	if err := s.Allowed(se, ManageAccounts, AllElections); err != nil {
		t.Fatal(err)
	}
	// Replayed: the challenge was used.
	se2, _ := s.SignIn("alice@example.org", goodPass, alice)
	s.BeginPasskeyLogin(se2)
	if err := s.FinishPasskeyLogin(se2, bytes.NewReader(answer)); err == nil {
		t.Fatal("a replayed passkey assertion was accepted")
	}
	// A phishing site relays the challenge; the browser writes its own
	// origin in the client data, and the signature is for that.
	phished := *key
	phished.Origin = "https://vote-example.org"
	se3, _ := s.SignIn("alice@example.org", goodPass, alice)
	opts, _ = s.BeginPasskeyLogin(se3)
	if err := s.FinishPasskeyLogin(se3, bytes.NewReader(phished.Get(t, opts))); err == nil {
		t.Fatal("an assertion made for another origin was accepted")
	}
	if err := s.Allowed(se3, ReadElection, AllElections); !errors.Is(err, ErrNeedsFactor) {
		t.Fatal("the phished session may act")
	}
}

// TestRolesAndSessions: an officer can run the election but not manage
// accounts; an auditor reads only; sessions are listed and revoked; a new
// device is announced by e-mail; roles survive a restart of the trail.
func TestRolesAndSessions(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	mb := &mailbox{}
	dir := t.TempDir()
	s := openTest(t, dir, c, mb)
	admin, _, _ := firstAdmin(t, s, c)
	const F = "ab12"
	bob := Client{Addr: "192.0.2.7:5", Device: "bob-phone"}
	tok, err := s.Invite(admin, "bob@example.org", "Bob Officer", RoleOfficer, F, alice)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Activate(tok, "bob", bob); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("weak: %v", err)
	}
	bse, err := s.Activate(tok, "another good passphrase", bob)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Activate(tok, "another good passphrase", bob); !errors.Is(err, ErrToken) {
		t.Fatal("an invitation worked twice")
	}
	if err := s.Allowed(bse, ManageElection, F); !errors.Is(err, ErrNeedsFactor) {
		t.Fatalf("before enrolling: %v", err)
	}
	k, _ := s.BeginTOTP(bse)
	code, _ := totp.GenerateCode(k.Secret(), c.now())
	if _, err := s.FinishTOTP(bse, code); err != nil {
		t.Fatal(err)
	}
	if err := s.Allowed(bse, ManageElection, F); err != nil {
		t.Fatalf("the officer in their election: %v", err)
	}
	for _, p := range []Permission{ManageAccounts, ReadTrail} {
		if err := s.Allowed(bse, p, F); !errors.Is(err, ErrDenied) {
			t.Errorf("the officer has permission %d: %v", p, err)
		}
	}
	if err := s.Allowed(bse, ManageElection, "other"); !errors.Is(err, ErrDenied) {
		t.Error("the officer may run another election")
	}
	if _, err := s.Invite(bse, "eve@example.org", "Eve", RoleAdmin, AllElections, bob); !errors.Is(err, ErrDenied) {
		t.Fatalf("an officer invited an administrator: %v", err)
	}
	if err := s.SetRole(admin, bse.Account, RoleAuditor, F, alice); err != nil {
		t.Fatal(err)
	}
	if err := s.Allowed(bse, ManageElection, F); !errors.Is(err, ErrDenied) {
		t.Error("an auditor may run the election")
	}
	if err := s.Allowed(bse, ReadTrail, F); err != nil {
		t.Error("an auditor may not read the trail")
	}
	// A new device: an e-mail.
	before := mb.count()
	other := Client{Addr: "203.0.113.50:1", Device: "unknown-device", UserAgent: "elsewhere"}
	se, _ := s.SignIn("bob@example.org", "another good passphrase", other)
	c.add(time.Minute)
	code, _ = totp.GenerateCode(k.Secret(), c.now())
	if err := s.VerifyTOTP(se, code); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return mb.count() == before+1 })
	// Sessions: listed, and one revoked from the other.
	list := s.Sessions(bse)
	if len(list) != 2 {
		t.Fatalf("%d sessions listed, want 2", len(list))
	}
	for _, si := range list {
		if !si.Current {
			if err := s.Revoke(bse, si.Ref, bob); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, _, ok := s.Session(se.ID); ok {
		t.Error("a revoked session is still live")
	}
	// The trail replays to the same accounts, and shows what happened.
	s.Close()
	s2 := openTest(t, dir, c, mb)
	accts, err := s2.Accounts(&Session{})
	if err == nil || len(accts) != 0 {
		t.Error("accounts were listed without a session")
	}
	s2.mu.Lock()
	b := s2.accounts[bse.Account]
	s2.mu.Unlock()
	if b == nil || b.Roles[F] != RoleAuditor || b.totpSealed == nil || b.RecoveryLeft() != RecoveryCodes {
		t.Fatalf("after a restart: %+v", b)
	}
	// Neither the trail nor the sessions (which held the enrolment) keep
	// it in clear.
	for _, f := range []string{store.SQLiteFile, store.SQLiteFile + "-wal"} {
		if b, _ := os.ReadFile(filepath.Join(dir, f)); bytes.Contains(b, []byte(k.Secret())) {
			t.Errorf("the TOTP secret is in %s in clear", f)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 200 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("timed out")
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTrailTamperingRefused: a changed, removed or inserted line stops the
// service from opening; a torn last line (a crash mid-write) is cut off.
func TestTrailTamperingRefused(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	from := t.TempDir()
	s := openTest(t, from, c, &mailbox{})
	firstAdmin(t, s, c)
	s.Close()
	// A trail file of a server before issue 18: refused when it is moved
	// into the database, as it was when it was replayed.
	dir := t.TempDir()
	exportTrail(t, from, dir)
	path := filepath.Join(dir, TrailFile)
	orig := mustRead(t, path)
	lines := bytes.SplitAfter(orig, []byte("\n"))
	lines = lines[:len(lines)-1]
	if len(lines) < 4 {
		t.Fatalf("%d events", len(lines))
	}
	cases := map[string][]byte{
		"changed":  bytes.Replace(orig, []byte(`"role":"admin"`), []byte(`"role":"auditor"`), 1),
		"removed":  bytes.Join(append(append([][]byte{}, lines[:1]...), lines[2:]...), nil),
		"inserted": bytes.Join(append(append(append([][]byte{}, lines[:2]...), lines[1]), lines[2:]...), nil),
	}
	for name, data := range cases {
		if bytes.Equal(data, orig) {
			t.Fatalf("%s: no change made", name)
		}
		os.WriteFile(path, data, 0o600)
		if _, err := Open(Options{Dir: dir, Now: c.now}); !errors.Is(err, ErrTrail) {
			t.Errorf("a trail with a line %s opened: %v", name, err)
		}
	}
	os.WriteFile(path, append(append([]byte{}, orig...), []byte(`{"seq":99,"at":"2027-`)...), 0o600)
	s2, err := Open(Options{Dir: dir, Now: c.now})
	if err != nil {
		t.Fatalf("a torn last line: %v", err)
	}
	s2.Close()
	if !bytes.Equal(mustRead(t, path+MigratedSuffix), orig) {
		t.Error("the torn line was not cut off")
	}

	// The same in the database.
	db := openSQLite(t, from)
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM staff_trail`).Scan(&n)
	if n != len(lines) {
		t.Fatalf("%d events in the database, %d in the file", n, len(lines))
	}
	for name, sql := range map[string]string{
		"changed":  `UPDATE staff_trail SET line = CAST(replace(CAST(line AS TEXT), '"role":"admin"', '"role":"auditor"') AS BLOB) WHERE seq = 2`,
		"removed":  `DELETE FROM staff_trail WHERE seq = 2`,
		"last cut": `DELETE FROM staff_trail WHERE seq = (SELECT MAX(seq) FROM staff_trail)`,
		"head back": `DELETE FROM staff_trail WHERE seq = (SELECT MAX(seq) FROM staff_trail);
			UPDATE staff_head SET seq = seq - 1, hash = (SELECT hash FROM staff_head)`,
	} {
		tx, _ := db.Begin()
		if _, err := tx.Exec(sql); err != nil {
			t.Fatal(name, err)
		}
		_, err := Open(Options{Dir: from, Now: c.now})
		tx.Rollback()
		if err == nil {
			t.Errorf("a trail with an event %s in the database opened", name)
		}
	}
}

// exportTrail writes the trail of the database in folder from as a trail
// file, with its head, in folder to (with the staff key): the files of a
// server before issue 18.
func exportTrail(t *testing.T, from, to string) {
	t.Helper()
	st, err := store.OpenShared(context.Background(), from)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lines, head, err := st.TrailSince(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.Write(l)
		b.WriteByte('\n')
	}
	key := mustRead(t, filepath.Join(from, KeyFile))
	os.WriteFile(filepath.Join(to, KeyFile), key, 0o600)
	os.WriteFile(filepath.Join(to, TrailFile), b.Bytes(), 0o600)
	k, _ := atrest.LoadKey(filepath.Join(to, KeyFile))
	tr := &trail{headKey: atrest.Derive(k, "scrutin/v0/staff-trail-head")}
	os.WriteFile(filepath.Join(to, HeadFile), tr.headLine(head.Seq, head.Hash), 0o600)
}

// openSQLite opens the SQLite database of a folder, for tampering.
func openSQLite(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, store.SQLiteFile)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSecondStepGuessingLimited: someone who has the password cannot guess
// the 6-digit code from many addresses: after MaxSecondStepFailures in an
// hour, the second step is refused, even the right code, until the hour
// has passed.
func TestSecondStepGuessingLimited(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := openTest(t, t.TempDir(), c, &mailbox{})
	_, secret, _ := firstAdmin(t, s, c)
	c.add(time.Minute)
	for i := range MaxSecondStepFailures {
		from := Client{Addr: fmt.Sprintf("198.51.100.%d", i+1)}
		se, err := s.SignIn("alice@example.org", goodPass, from)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyTOTP(se, fmt.Sprintf("%06d", i)); !errors.Is(err, ErrSecondStep) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	se, _ := s.SignIn("alice@example.org", goodPass, alice)
	code, _ := totp.GenerateCode(secret, c.now())
	if err := s.VerifyTOTP(se, code); !errors.Is(err, ErrLocked) {
		t.Fatalf("after %d guesses from many addresses, the right code: %v (want locked)", MaxSecondStepFailures, err)
	}
	c.add(time.Hour)
	code, _ = totp.GenerateCode(secret, c.now())
	se, _ = s.SignIn("alice@example.org", goodPass, alice)
	if err := s.VerifyTOTP(se, code); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
}

// TestTrailHead: the head record follows the trail; one event behind (a
// crash between the event and its head) is accepted and repaired; a forged
// or missing head is refused.
func TestTrailHead(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	from := t.TempDir()
	s := openTest(t, from, c, &mailbox{})
	firstAdmin(t, s, c)
	s.mu.Lock()
	seq, last := s.seq, s.last
	s.mu.Unlock()
	s.Close()
	fresh := func() string {
		dir := t.TempDir()
		exportTrail(t, from, dir)
		return dir
	}
	dir := fresh()
	head := filepath.Join(dir, HeadFile)
	good := mustRead(t, head)
	if !strings.HasPrefix(string(good), fmt.Sprintf("%d %s ", seq, last)) {
		t.Fatalf("head %q", good)
	}
	// One behind: as after a crash before the head was written.
	lines := strings.Split(strings.TrimSpace(string(mustRead(t, filepath.Join(dir, TrailFile)))), "\n")
	var prev Event
	json.Unmarshal([]byte(lines[len(lines)-1]), &prev)
	k, _ := atrest.LoadKey(filepath.Join(dir, KeyFile))
	tr := &trail{headKey: atrest.Derive(k, "scrutin/v0/staff-trail-head")}
	os.WriteFile(head, tr.headLine(seq-1, prev.Prev), 0o600)
	s2, err := Open(Options{Dir: dir, Now: c.now})
	if err != nil {
		t.Fatalf("a head one event behind: %v", err)
	}
	s2.Close()
	if !bytes.Equal(mustRead(t, head+MigratedSuffix), good) {
		t.Error("the head was not repaired")
	}
	for name, data := range map[string][]byte{
		"forged":  []byte(fmt.Sprintf("%d %s %064x\n", seq, last, 0)),
		"behind2": tr.headLine(seq-2, "00"),
	} {
		dir := fresh()
		os.WriteFile(filepath.Join(dir, HeadFile), data, 0o600)
		if _, err := Open(Options{Dir: dir, Now: c.now}); !errors.Is(err, ErrTrail) {
			t.Errorf("a %s head: %v", name, err)
		}
	}
	dir = fresh()
	os.Remove(filepath.Join(dir, HeadFile))
	if _, err := Open(Options{Dir: dir, Now: c.now}); !errors.Is(err, ErrTrail) {
		t.Errorf("a missing head: %v", err)
	}
	// In the database: a head whose MAC is not the staff key's.
	db := openSQLite(t, from)
	if _, err := db.Exec(`UPDATE staff_head SET mac = ?`, fmt.Sprintf("%064x", 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: from, Now: c.now}); !errors.Is(err, ErrTrail) {
		t.Errorf("a forged head in the database: %v", err)
	}
}

// TestElectionTrail: an auditor of one election reads the events about it
// (its actions, the invitations and roles given in it) and nothing about
// another election or the server's accounts; without a role that reads the
// trail in the election, nothing.
func TestElectionTrail(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := openTest(t, t.TempDir(), c, &mailbox{})
	admin, _, _ := firstAdmin(t, s, c)
	member := func(email string, role Role, election string) *Session {
		tok, err := s.Invite(admin, email, "Someone", role, election, alice)
		if err != nil {
			t.Fatal(err)
		}
		se, err := s.Activate(tok, "another good passphrase", alice)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := s.BeginTOTP(se)
		code, _ := totp.GenerateCode(k.Secret(), c.now())
		if _, err := s.FinishTOTP(se, code); err != nil {
			t.Fatal(err)
		}
		return se
	}
	aud := member("audrey@example.org", RoleAuditor, "north")
	off := member("olga@example.org", RoleOfficer, "north")
	member("sam@example.org", RoleOfficer, "south")
	for _, el := range []string{"north", "south"} {
		if err := s.Record(admin, ManageElection, el, "close", map[string]string{"result": "done in " + el}, alice); err != nil {
			t.Fatal(err)
		}
	}
	events, err := s.ElectionTrail(aud, 100, "north")
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, e := range events {
		all = append(all, e.Action+" "+e.Detail)
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{"done in north", "audrey@example.org", "olga@example.org"} {
		if !strings.Contains(text, want) {
			t.Errorf("north's trail lacks %q:\n%s", want, text)
		}
	}
	for _, not := range []string{"south", "sam@example.org", "signin", "totp", "account.create"} {
		if strings.Contains(text, not) {
			t.Errorf("north's trail shows %q:\n%s", not, text)
		}
	}
	if len(events) != 3 || events[0].Action != "election.action" {
		t.Errorf("north's trail, newest first: %s", text)
	}
	if _, err := s.ElectionTrail(aud, 100, "south"); !errors.Is(err, ErrDenied) {
		t.Errorf("an auditor of north reads south's trail: %v", err)
	}
	if _, err := s.ElectionTrail(off, 100, "north"); !errors.Is(err, ErrDenied) {
		t.Errorf("an officer reads the trail: %v", err)
	}
	if _, err := s.ElectionTrail(aud, 100, AllElections); !errors.Is(err, ErrDenied) {
		t.Errorf("an auditor of north reads the trail of every election: %v", err)
	}
	// Under a second key (a legacy election's fingerprint) too.
	if events, err := s.ElectionTrail(aud, 100, "ab12", "north"); err != nil || len(events) != 3 {
		t.Errorf("by two keys: %d events, %v", len(events), err)
	}
}

// TestAccountsIn: an administrator of one election lists the accounts with
// a role in it, each with its roles there only, and nobody else's.
func TestAccountsIn(t *testing.T) {
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	s := openTest(t, t.TempDir(), c, &mailbox{})
	admin, _, _ := firstAdmin(t, s, c)
	member := func(email string, role Role, election string) *Session {
		tok, err := s.Invite(admin, email, "Someone", role, election, alice)
		if err != nil {
			t.Fatal(err)
		}
		se, err := s.Activate(tok, "another good passphrase", alice)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := s.BeginTOTP(se)
		code, _ := totp.GenerateCode(k.Secret(), c.now())
		if _, err := s.FinishTOTP(se, code); err != nil {
			t.Fatal(err)
		}
		return se
	}
	nadia := member("nadia@example.org", RoleAdmin, "north")
	olga := member("olga@example.org", RoleOfficer, "north")
	sam := member("sam@example.org", RoleOfficer, "south")
	if err := s.SetRole(admin, olga.Account, RoleAuditor, "south", alice); err != nil {
		t.Fatal(err)
	}
	list, err := s.AccountsIn(nadia, "north", "south", AllElections)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range list {
		got = append(got, fmt.Sprintln(a.Email, a.Roles))
	}
	if want := "nadia@example.org map[north:admin]\nolga@example.org map[north:officer]\n"; strings.Join(got, "") != want {
		t.Errorf("north's administrator lists %v, want %s", got, want)
	}
	if _, err := s.AccountsIn(sam, "south"); !errors.Is(err, ErrDenied) {
		t.Errorf("an officer lists accounts: %v", err)
	}
	if _, err := s.AccountsIn(nadia, "south"); !errors.Is(err, ErrDenied) {
		t.Errorf("north's administrator lists south's: %v", err)
	}
}
