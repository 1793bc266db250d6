package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"
)

// TestTrusteeInvitations is the contract of the trustees' invitations, on
// both databases.
func TestTrusteeInvitations(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			db := mustOpenDB(t, loc)
			if err := db.Create(ctx, "e1", nil); err != nil {
				t.Fatal(err)
			}
			if err := db.Create(ctx, "e2", nil); err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			tok := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
			if _, err := db.AddTrustee(ctx, "nope", TrusteeInvitation{Name: "A", Created: now}); !errors.Is(err, ErrNoElection) {
				t.Fatalf("an unknown election: %v", err)
			}
			a, err := db.AddTrustee(ctx, "e1", TrusteeInvitation{Name: "Ada", Email: "ada@example.org", TokenHash: tok("a"), Expires: now.Add(time.Hour), Created: now})
			if err != nil || a != 1 {
				t.Fatalf("first invitation: %d, %v", a, err)
			}
			b, err := db.AddTrustee(ctx, "e1", TrusteeInvitation{Name: "Bob", Email: "bob@example.org", TokenHash: tok("b"), Expires: now.Add(time.Hour), Created: now})
			if err != nil || b != 2 {
				t.Fatalf("second invitation: %d, %v", b, err)
			}
			if c, err := db.AddTrustee(ctx, "e2", TrusteeInvitation{Name: "Cy", Created: now, Identity: []byte(`{}`), IdentityAt: now}); err != nil || c != 1 {
				t.Fatalf("another election numbers its own: %d, %v", c, err)
			}
			// The identity: once, with the token it was invited with.
			if err := db.SetTrusteeIdentity(ctx, "e1", a, tok("b"), []byte("x"), now); !errors.Is(err, ErrNoInvitation) {
				t.Fatalf("another invitation's token: %v", err)
			}
			if err := db.SetTrusteeIdentity(ctx, "e1", a, tok("a"), []byte("ida"), now); err != nil {
				t.Fatal(err)
			}
			if err := db.SetTrusteeIdentity(ctx, "e1", a, tok("a"), []byte("other"), now); !errors.Is(err, ErrIdentityTaken) {
				t.Fatalf("a second identity: %v", err)
			}
			// Another node sees it (PostgreSQL: a second pool).
			db2 := mustOpenDB(t, loc)
			invs, err := db2.TrusteeInvitations(ctx, "e1")
			if err != nil || len(invs) != 2 {
				t.Fatalf("%v, %v", invs, err)
			}
			if i := invs[0]; i.Name != "Ada" || i.Email != "ada@example.org" || !bytes.Equal(i.TokenHash, tok("a")) || string(i.Identity) != "ida" ||
				!i.IdentityAt.Equal(now) || !i.Expires.Equal(now.Add(time.Hour)) || !i.Created.Equal(now) {
				t.Fatalf("read back: %+v", i)
			}
			if invs[1].Identity != nil || !invs[1].IdentityAt.IsZero() {
				t.Fatalf("no identity yet: %+v", invs[1])
			}
			// Invited again: a new token, the old identity forgotten, the
			// old token refused.
			if err := db.ReinviteTrustee(ctx, "e1", a, tok("a2"), now.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := db.SetTrusteeIdentity(ctx, "e1", a, tok("a"), []byte("x"), now); !errors.Is(err, ErrNoInvitation) {
				t.Fatalf("the old token after a new invitation: %v", err)
			}
			if err := db.SetTrusteeIdentity(ctx, "e1", a, tok("a2"), []byte("ida2"), now); err != nil {
				t.Fatal(err)
			}
			// Removed: its token is refused.
			if err := db.RemoveTrustee(ctx, "e1", b); err != nil {
				t.Fatal(err)
			}
			if err := db.RemoveTrustee(ctx, "e1", b); !errors.Is(err, ErrNoInvitation) {
				t.Fatalf("removed twice: %v", err)
			}
			if err := db.SetTrusteeIdentity(ctx, "e1", b, tok("b"), []byte("x"), now); !errors.Is(err, ErrNoInvitation) {
				t.Fatalf("a removed invitation: %v", err)
			}
			if invs, _ := db.TrusteeInvitations(ctx, "e1"); len(invs) != 1 || string(invs[0].Identity) != "ida2" {
				t.Fatalf("after removal: %+v", invs)
			}
			// A number is used again once the last invitation is removed (the
			// console's forms tell invitations apart by when they were made).
			if n, err := db.AddTrustee(ctx, "e1", TrusteeInvitation{Name: "Dee", Created: now, Identity: []byte("idd"), IdentityAt: now}); err != nil || n != 2 {
				t.Fatalf("after a removal: %d, %v", n, err)
			}
			// Concurrent invitations (two nodes) get distinct numbers.
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := db
					if i%2 == 1 {
						d = db2
					}
					_, err := d.AddTrustee(ctx, "e2", TrusteeInvitation{Name: "x", Created: now})
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if invs, _ := db.TrusteeInvitations(ctx, "e2"); len(invs) != 9 {
				t.Fatalf("%d invitations after 8 concurrent ones and 1", len(invs))
			}
			// The roster: none, then the last one made.
			if _, _, err := db.TrusteeRoster(ctx, "e1"); !errors.Is(err, ErrNoRoster) {
				t.Fatalf("no roster: %v", err)
			}
			if err := db.SaveTrusteeRoster(ctx, "nope", []byte("r"), now); !errors.Is(err, ErrNoElection) {
				t.Fatalf("roster of an unknown election: %v", err)
			}
			for _, r := range []string{"r1", "r2"} {
				if err := db.SaveTrusteeRoster(ctx, "e1", []byte(r), now); err != nil {
					t.Fatal(err)
				}
			}
			if r, at, err := db2.TrusteeRoster(ctx, "e1"); err != nil || string(r) != "r2" || !at.Equal(now) {
				t.Fatalf("roster: %q %v %v", r, at, err)
			}
		})
	}
}
