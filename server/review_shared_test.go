package server

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestReviewStrangersCodesSweptSoon (finding "strangers' codes kept for
// 70 minutes"): each code request for an address not on the list keeps a
// code (the same database work as for a voter, so that the time of the
// answer does not tell who is on the list), which is never mailed and so
// never usable; it was kept until an hour after its expiry like a voter's,
// so that a flood of requests for made-up addresses (many clients, each
// within its own limit) grew the table by 70 minutes of requests, with
// the bound main kept on strangers' state (maxClients) gone. Such a code is
// dead at once and goes at the next sweep.
func TestReviewStrangersCodesSweptSoon(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	ctx := context.Background()
	for i := range 500 {
		if _, _, err := f.s.issue(ctx, fmt.Sprintf("stranger%d@example.org", i), newChallengeID()); err != nil {
			t.Fatal(err)
		}
	}
	f.clock = f.clock.Add(2 * time.Minute)
	f.s.issue(ctx, "stranger-last@example.org", newChallengeID())
	if _, codes, _ := f.s.state.Kept(ctx, f.s.scope); codes > 1 {
		t.Fatalf("%d codes of addresses not on the list kept two minutes after they were asked for", codes)
	}
}
