package accounts

// Several nodes on one database share the staff accounts: the trail,
// sessions and every check that uses them (issue 18, deliverable 3; issue
// 17: a restart signs nobody out).

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/scrutin/scrutin/internal/pgtest"
	"github.com/scrutin/scrutin/store"
)

// openNode opens the staff accounts of a node whose folder is dir, on the
// database at loc.
func openNode(t *testing.T, dir, loc string, c *clock, mb *mailbox) *Service {
	t.Helper()
	return openNodeKey(t, dir, "", loc, c, mb)
}

// openNodeKey is openNode with the staff key in keyFile (every node of a
// database needs the same).
func openNodeKey(t *testing.T, dir, keyFile, loc string, c *clock, mb *mailbox) *Service {
	t.Helper()
	st, err := store.OpenShared(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s, err := Open(Options{Dir: dir, KeyFile: keyFile, Shared: st, Now: c.now, Notify: mb.send, RPID: testRPID, RPOrigins: []string{testOrigin}, SiteName: "scrutin test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func twoNodes(t *testing.T) (a, b *Service, c *clock) {
	loc := pgtest.Schema(t, "staff")
	c = &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	key := filepath.Join(t.TempDir(), KeyFile)
	return openNodeKey(t, t.TempDir(), key, loc, c, &mailbox{}), openNodeKey(t, t.TempDir(), key, loc, c, &mailbox{}), c
}

// TestSharedStaffSessionAcrossNodes: a staff member signed in on one node
// is signed in on the other; signing out or being disabled on one ends the
// session on the other at once.
func TestSharedStaffSessionAcrossNodes(t *testing.T) {
	a, b, c := twoNodes(t)
	admin, _, _ := firstAdmin(t, a, c)
	if _, _, ok := b.Session(admin.ID); !ok {
		t.Fatal("a session opened on node A is unknown on node B")
	}
	if err := b.Allowed(admin, ManageAccounts, AllElections); err != nil {
		t.Fatalf("the administrator signed in on node A, on node B: %v", err)
	}
	tok, err := b.Invite(admin, "bob@example.org", "Bob Officer", RoleOfficer, "ab12", alice)
	if err != nil {
		t.Fatal(err)
	}
	bob := Client{Addr: "192.0.2.7:5", Device: "bob-phone"}
	bse, err := a.Activate(tok, "another good passphrase", bob)
	if err != nil {
		t.Fatalf("an invitation made on node B, used on node A: %v", err)
	}
	k, err := b.BeginTOTP(bse)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(k.Secret(), c.now())
	if _, err := a.FinishTOTP(bse, code); err != nil {
		t.Fatalf("an enrolment begun on node B, finished on node A: %v", err)
	}
	if err := b.Allowed(bse, ManageElection, "ab12"); err != nil {
		t.Fatalf("the officer on node B: %v", err)
	}
	if err := a.Disable(admin, "", alice); err == nil {
		t.Fatal("disabling nobody worked")
	}
	var bobID string
	if accs, err := b.Accounts(admin); err == nil {
		for _, x := range accs {
			if x.Email == "bob@example.org" {
				bobID = x.ID
			}
		}
	}
	if err := a.Disable(admin, bobID, alice); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := b.Session(bse.ID); ok {
		t.Fatal("a disabled officer's session still works on node B")
	}
	if err := b.Allowed(bse, ManageElection, "ab12"); err == nil {
		t.Fatal("a disabled officer may act on node B")
	}
	a.SignOut(admin, alice)
	if _, _, ok := b.Session(admin.ID); ok {
		t.Fatal("a session signed out on node A still works on node B")
	}
}

// TestSharedStaffTrailAcrossNodes: an action recorded on one node is in
// the other's trail, in one chain.
func TestSharedStaffTrailAcrossNodes(t *testing.T) {
	a, b, c := twoNodes(t)
	admin, _, _ := firstAdmin(t, a, c)
	if err := a.Record(admin, ManageElection, "ab12", "close", map[string]string{"reason": "on node A"}, alice); err != nil {
		t.Fatal(err)
	}
	if err := b.Record(admin, ManageElection, "ab12", "tally", nil, alice); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Service{a, b} {
		tr, err := s.Trail(admin, 100)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for i, e := range tr {
			actions = append(actions, e.Action)
			if i > 0 && e.Seq != tr[i-1].Seq-1 {
				t.Fatalf("the trail's numbers skip: %d after %d", e.Seq, tr[i-1].Seq)
			}
		}
		if len(tr) < 2 || !strings.Contains(tr[0].Detail, `"tally"`) || !strings.Contains(tr[1].Detail, `"close"`) {
			t.Fatalf("a node's trail: %v", actions)
		}
	}
}

// TestSharedStaffSecondStepOnce: a recovery code or a TOTP code used on
// one node is refused on the other.
func TestSharedStaffSecondStepOnce(t *testing.T) {
	a, b, c := twoNodes(t)
	_, secret, rec := firstAdmin(t, a, c)
	c.add(time.Minute)
	sa, err := a.SignIn("alice@example.org", goodPass, alice)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.SignIn("alice@example.org", goodPass, alice)
	if err != nil {
		t.Fatalf("signing in on node B: %v", err)
	}
	code, _ := totp.GenerateCode(secret, c.now())
	if err := a.VerifyTOTP(sa, code); err != nil {
		t.Fatal(err)
	}
	if err := b.VerifyTOTP(sb, code); !errors.Is(err, ErrSecondStep) {
		t.Fatalf("a TOTP code used on node A, again on node B: %v", err)
	}
	sa, _ = a.SignIn("alice@example.org", goodPass, alice)
	sb, _ = b.SignIn("alice@example.org", goodPass, alice)
	if err := a.UseRecoveryCode(sa, rec[0]); err != nil {
		t.Fatal(err)
	}
	if err := b.UseRecoveryCode(sb, rec[0]); !errors.Is(err, ErrSecondStep) {
		t.Fatalf("a recovery code used on node A, again on node B: %v", err)
	}
}

// TestSharedStaffLockoutAcrossNodes: a client's failed passwords on one
// node count on the other.
func TestSharedStaffLockoutAcrossNodes(t *testing.T) {
	a, b, c := twoNodes(t)
	firstAdmin(t, a, c)
	guesser := Client{Addr: "198.51.100.7"}
	for i := range 5 {
		s := []*Service{a, b}[i%2]
		if _, err := s.SignIn("alice@example.org", "wrong password number", guesser); !errors.Is(err, ErrSignIn) {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	for _, s := range []*Service{a, b} {
		if _, err := s.SignIn("alice@example.org", goodPass, guesser); !errors.Is(err, ErrLocked) {
			t.Fatalf("after 5 failures on two nodes: %v (want locked)", err)
		}
	}
}

// TestSharedStaffSessionSurvivesRestart: restarting the server signs
// nobody out (issue 17).
func TestSharedStaffSessionSurvivesRestart(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			loc := dir
			if name == "postgres" {
				loc = pgtest.Schema(t, "staff")
			}
			c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
			s := openNode(t, dir, loc, c, &mailbox{})
			admin, _, _ := firstAdmin(t, s, c)
			half, err := s.SignIn("alice@example.org", goodPass, alice)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			s = openNode(t, dir, loc, c, &mailbox{})
			if err := s.Allowed(admin, ManageAccounts, AllElections); err != nil {
				t.Fatalf("after a restart: %v", err)
			}
			if _, _, ok := s.Session(half.ID); !ok {
				t.Fatal("a session half-way through its sign-in was lost in a restart")
			}
			if err := s.Allowed(half, ReadElection, AllElections); !errors.Is(err, ErrNeedsFactor) {
				t.Fatalf("a half session after a restart: %v", err)
			}
		})
	}
}

// TestTrailFileMovedIntoDatabase: the trail file of a server older than
// issue 18 is checked and moved into the database on first start, with
// its chain unchanged, and kept read-only; a second node starting with the
// same file is accepted, one with another history refused.
func TestTrailFileMovedIntoDatabase(t *testing.T) {
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
			old := t.TempDir()
			s := openTest(t, old, c, &mailbox{})
			admin, secret, _ := firstAdmin(t, s, c)
			if err := s.Record(admin, ManageElection, "ab12", "close", nil, alice); err != nil {
				t.Fatal(err)
			}
			s.Close()
			dir := t.TempDir()
			exportTrail(t, old, dir)
			file := mustRead(t, filepath.Join(dir, TrailFile))
			loc := t.TempDir()
			if name == "postgres" {
				loc = pgtest.Schema(t, "staff")
			}
			s = openNode(t, dir, loc, c, &mailbox{})
			if _, err := os.Stat(filepath.Join(dir, TrailFile)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the trail file is still live: %v", err)
			}
			st, err := os.Stat(filepath.Join(dir, TrailFile+MigratedSuffix))
			if err != nil || st.Mode().Perm() != 0o400 || !bytes.Equal(mustRead(t, filepath.Join(dir, TrailFile+MigratedSuffix)), file) {
				t.Fatalf("the backup: %v %v", err, st)
			}
			// The accounts are the file's: the administrator signs in.
			c.add(time.Minute)
			se, err := s.SignIn("alice@example.org", goodPass, alice)
			if err != nil {
				t.Fatal(err)
			}
			code, _ := totp.GenerateCode(secret, c.now())
			if err := s.VerifyTOTP(se, code); err != nil {
				t.Fatal(err)
			}
			tr, err := s.Trail(se, 100)
			if err != nil || len(tr) < 3 || !strings.Contains(tr[2].Detail, `"close"`) {
				t.Fatalf("the trail after the move: %v %v", tr, err)
			}
			// Another node with the same file: accepted.
			other := t.TempDir()
			exportTrail(t, old, other)
			openNode(t, other, loc, c, &mailbox{})
			// Another node with another history: refused.
			c2 := &clock{t: c.now()}
			foreign := t.TempDir()
			s3 := openTest(t, foreign, c2, &mailbox{})
			firstAdmin(t, s3, c2)
			s3.Close()
			bad := t.TempDir()
			exportTrail(t, foreign, bad)
			st2, err := store.OpenShared(context.Background(), loc)
			if err != nil {
				t.Fatal(err)
			}
			defer st2.Close()
			if _, err := Open(Options{Dir: bad, Shared: st2, Now: c.now}); !errors.Is(err, ErrTrail) {
				t.Fatalf("a node with another trail file: %v", err)
			}
		})
	}
}

// TestSharedStaffKeyMismatch: a node whose staff key is not the others'
// refuses to start on their trail (its sessions and head would not open).
func TestSharedStaffKeyMismatch(t *testing.T) {
	loc := pgtest.Schema(t, "staff")
	c := &clock{t: time.Date(2027, 3, 1, 9, 0, 0, 0, time.UTC)}
	a := openNode(t, t.TempDir(), loc, c, &mailbox{})
	firstAdmin(t, a, c)
	st, err := store.OpenShared(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := Open(Options{Dir: t.TempDir(), Shared: st, Now: c.now}); !errors.Is(err, ErrTrail) || !strings.Contains(err.Error(), "staff key") {
		t.Fatalf("a node with another staff key: %v", err)
	}
}

// TestSharedRecoveryCodeRace: one recovery code tried at once by sessions
// on two nodes signs in exactly once (decided in the transaction of its
// event, whatever each node's copy said).
func TestSharedRecoveryCodeRace(t *testing.T) {
	a, b, c := twoNodes(t)
	_, _, rec := firstAdmin(t, a, c)
	c.add(time.Minute)
	var sessions []*Session
	for i := range 6 {
		se, err := []*Service{a, b}[i%2].SignIn("alice@example.org", goodPass, alice)
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, se)
	}
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i, se := range sessions {
		wg.Go(func() {
			err := []*Service{a, b}[i%2].UseRecoveryCode(se, rec[1])
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, ErrSecondStep):
				t.Errorf("session %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("one recovery code signed in %d times", ok.Load())
	}
}
