package accounts

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/internal/softkey"
)

// TestPasskeyCloneNamed (issue 17): a passkey whose signature counter went
// back (a cloned authenticator) is refused, named as such in the trail (not
// the reason of every other passkey failure), and announced to the
// account's owner by e-mail.
func TestPasskeyCloneNamed(t *testing.T) {
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
	clone := *key // a copy of the authenticator, its counter as it is now
	for range 2 {
		se, _ := s.SignIn("alice@example.org", goodPass, alice)
		opts, _ = s.BeginPasskeyLogin(se)
		if err := s.FinishPasskeyLogin(se, bytes.NewReader(key.Get(t, opts))); err != nil {
			t.Fatalf("the passkey: %v", err)
		}
	}
	before := mb.count()
	se, _ := s.SignIn("alice@example.org", goodPass, alice)
	opts, _ = s.BeginPasskeyLogin(se)
	if err := s.FinishPasskeyLogin(se, bytes.NewReader(clone.Get(t, opts))); !errors.Is(err, ErrSecondStep) {
		t.Fatalf("a cloned passkey: %v", err)
	}
	events, err := s.Trail(admin, 5)
	if err != nil {
		t.Fatal(err)
	}
	if events[0].Action != "signin.failed" || !strings.Contains(events[0].Detail, `reason="passkey-cloned"`) {
		t.Errorf("the trail's last event: %+v", events[0])
	}
	for deadline := time.Now().Add(5 * time.Second); mb.count() == before && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	mb.mu.Lock()
	sent := strings.Join(mb.sent[before:], "\n")
	mb.mu.Unlock()
	if !strings.Contains(sent, "alice@example.org: scrutin test: a copy of your passkey") {
		t.Errorf("the owner was not told: %q", sent)
	}
	// Any other passkey failure keeps its reason.
	phished := *key
	phished.Origin = "https://vote-example.org"
	se, _ = s.SignIn("alice@example.org", goodPass, alice)
	opts, _ = s.BeginPasskeyLogin(se)
	s.FinishPasskeyLogin(se, bytes.NewReader(phished.Get(t, opts)))
	if events, _ = s.Trail(admin, 1); !strings.Contains(events[0].Detail, `reason="passkey"`) {
		t.Errorf("another passkey failure: %+v", events[0])
	}
}
