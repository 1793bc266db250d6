package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestReviewTrusteeIdentityRace: one invitation's token used at once from
// two nodes (two pools on PostgreSQL), and the officer inviting the
// trustee again meanwhile: exactly one identity is stored, by a request
// holding the token that is current when it is stored; the others are
// told it is taken or gone, never that they succeeded.
func TestReviewTrusteeIdentityRace(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			loc := bc.location(t)
			db1 := mustOpenDB(t, loc)
			db2 := mustOpenDB(t, loc)
			if err := db1.Create(ctx, "e1", nil); err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			for round := range 10 {
				tok := sha256.Sum256(fmt.Appendf(nil, "t%d", round))
				tok2 := sha256.Sum256(fmt.Appendf(nil, "u%d", round))
				id, err := db1.AddTrustee(ctx, "e1", TrusteeInvitation{Name: fmt.Sprint(round), Email: "a@example.org", TokenHash: tok[:], Expires: now.Add(time.Hour), Created: now})
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				var mu sync.Mutex
				won := map[string]bool{}
				for i := range 6 {
					wg.Go(func() {
						d := db1
						if i%2 == 1 {
							d = db2
						}
						if i == 5 && round%2 == 1 {
							if err := d.ReinviteTrustee(ctx, "e1", id, tok2[:], now.Add(time.Hour)); err != nil {
								t.Error(err)
							}
							return
						}
						ident := fmt.Sprintf("id-%d", i)
						err := d.SetTrusteeIdentity(ctx, "e1", id, tok[:], []byte(ident), now)
						switch {
						case err == nil:
							mu.Lock()
							won[ident] = true
							mu.Unlock()
						case errors.Is(err, ErrIdentityTaken), errors.Is(err, ErrNoInvitation):
						default:
							t.Error(err)
						}
					})
				}
				wg.Wait()
				if len(won) > 1 {
					t.Fatalf("round %d: %d requests were told their identity was stored", round, len(won))
				}
				invs, _ := db2.TrusteeInvitations(ctx, "e1")
				got := invs[len(invs)-1]
				if round%2 == 0 {
					// Not invited again: exactly one identity, the one
					// whose request was told so.
					if len(won) != 1 || !won[string(got.Identity)] {
						t.Fatalf("round %d: %d told stored, %q stored", round, len(won), got.Identity)
					}
					continue
				}
				if string(got.TokenHash) != string(tok2[:]) {
					t.Fatalf("round %d: the new invitation's token is not the one kept", round)
				}
				// Invited again last or first: either no identity, or the
				// one stored before.
				if got.Identity != nil && !won[string(got.Identity)] {
					t.Fatalf("round %d: identity %q stored but nobody was told so", round, got.Identity)
				}
			}
		})
	}
}
