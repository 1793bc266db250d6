package server

import (
	"context"
	"errors"
	"testing"

	"github.com/scrutin/scrutin/election"
)

// TestCastShedsLeftClients: while every check slot is busy, a ballot whose
// client leaves is let go without being checked (ErrBusy, nothing done);
// with a slot free, it is checked (here: refused as malformed).
func TestCastShedsLeftClients(t *testing.T) {
	e := &Election{state: election.New(), view: &election.Election{}}
	slots := e.checkSlots()
	for range cap(slots) {
		slots <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := e.Cast(ctx, []byte{election.TypeBallot, '{'})
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, ErrBusy) || errors.Is(err, ErrRefused) {
		t.Fatalf("a ballot whose client left while the checks were busy: %v", err)
	}
	<-slots
	if _, err := e.Cast(context.Background(), []byte{election.TypeBallot, '{'}); !errors.Is(err, ErrRefused) {
		t.Fatalf("a malformed ballot with a slot free: %v", err)
	}
	if len(slots) != cap(slots)-1 {
		t.Fatalf("Cast kept a slot: %d of %d taken", len(slots), cap(slots))
	}
}
