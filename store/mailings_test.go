package store

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMailClaims: a recipient of a send is claimed once, whichever node
// asks and however many at once; a failed letter may be claimed again, a
// sent or merely claimed one never; the counts say so, by send.
func TestMailClaims(t *testing.T) {
	for _, bc := range backends(t) {
		t.Run(bc.name, func(t *testing.T) {
			a, b := twoShared(t, bc)
			var won atomic.Int32
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					ok, err := []*Shared{a, b}[i%2].ClaimMail(ctx, "e1", "open", "addr1", t0)
					if err != nil {
						t.Error(err)
					} else if ok {
						won.Add(1)
					}
				})
			}
			wg.Wait()
			if won.Load() != 1 {
				t.Fatalf("a recipient was claimed %d times", won.Load())
			}
			for _, addr := range []string{"addr2", "addr3"} {
				if ok, err := a.ClaimMail(ctx, "e1", "open", addr, t0); !ok || err != nil {
					t.Fatal(ok, err)
				}
			}
			if err := a.MailDone(ctx, "e1", "open", "addr1", true, t0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if err := a.MailDone(ctx, "e1", "open", "addr2", false, t0.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			// Another election's, and another send's recipients are apart.
			if ok, err := b.ClaimMail(ctx, "e2", "open", "addr1", t0); !ok || err != nil {
				t.Fatal("another election's send:", ok, err)
			}
			if ok, err := b.ClaimMail(ctx, "e1", "r-aaaaaaaaaaaaaaaa", "addr1", t0.Add(time.Hour)); !ok || err != nil {
				t.Fatal("another send:", ok, err)
			}
			for addr, want := range map[string]bool{"addr1": false, "addr2": true, "addr3": false} {
				if ok, err := b.ClaimMail(ctx, "e1", "open", addr, t0.Add(time.Minute)); ok != want || err != nil {
					t.Errorf("claiming %s again: %v, %v; want %v", addr, ok, err, want)
				}
			}
			sends, err := a.MailSends(ctx, "e1")
			if err != nil || len(sends) != 2 {
				t.Fatal(sends, err)
			}
			if s := sends[1]; s.Send != "open" || s.Sent != 1 || s.Claimed != 2 || s.Failed != 0 || s.Total != 3 {
				t.Errorf("the open send's counts: %+v", s)
			}
			if s := sends[0]; s.Send != "r-aaaaaaaaaaaaaaaa" || s.Claimed != 1 {
				t.Errorf("the latest send first: %+v", sends)
			}
			got, err := a.MailRecipients(ctx, "e1", "open")
			if err != nil || len(got) != 3 || got["addr1"] != MailSent || got["addr2"] != MailClaimed {
				t.Errorf("the open send's recipients: %v, %v", got, err)
			}
		})
	}
}
