package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/verify"
)

// TestReplaceLostCredential (spec §18.8, issue 17): a member votes, loses
// their letter, and the credential authority replaces their credential;
// the server refuses the old code from then on, takes the new one from the
// same member signed in with the same address, and refuses replacements
// not signed by the authority, of an unknown credential or of a revoked
// one; the old ballot no longer counts; the verifier accepts the record,
// lists the replacement, and rejects it tampered with.
func TestReplaceLostCredential(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 4, Workers: 2, Seed: 19, Authority: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	e := f.Election
	old := f.Codes[1]
	if err := f.CastWith(ctx, url, 1, old, []int{0}); err != nil {
		t.Fatalf("voter 1's first ballot: %v", err)
	}
	var first string
	e.State(func(s *election.State) { first = s.Counted(mustKey(t, f, old)).Tracker })

	// Refused replacements: another key's signature, an unknown
	// credential.
	stranger, _ := crypto.GenerateKey(nil)
	newKey, _ := crypto.GenerateKey(nil)
	forged, err := election.NewReplacement(nil, f.F, stranger, mustKey(t, f, old), newKey.PublicKey(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Append(ctx, forged.Entry()); !errors.Is(err, server.ErrRefused) {
		t.Fatalf("a replacement signed by another key: %v", err)
	}
	unknown, _ := election.NewReplacement(nil, f.F, f.Authority, stranger.PublicKey(), newKey.PublicKey(), time.Now())
	if _, err := e.Append(ctx, unknown.Entry()); !errors.Is(err, server.ErrRefused) {
		t.Fatalf("a replacement of an unknown credential: %v", err)
	}

	entry, err := f.Replace(1)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := e.Append(ctx, entry)
	if err != nil {
		t.Fatalf("recording the replacement: %v", err)
	}
	if _, err := e.Append(ctx, entry); !errors.Is(err, server.ErrRefused) {
		t.Fatalf("the same replacement again (its credential is revoked): %v", err)
	}
	if err := f.CastWith(ctx, url, 1, old, []int{1}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a ballot with the lost code after the replacement: %v", err)
	}
	var counted, found bool
	e.State(func(s *election.State) { _, counted, found = s.FindTracker(first) })
	if !found || counted {
		t.Fatalf("the lost code's ballot: found %v, counted %v; want found, not counted", found, counted)
	}
	if err := f.CastWith(ctx, url, 1, f.Codes[1], []int{2}); err != nil {
		t.Fatalf("the member votes again with the new code, signed in with the same address: %v", err)
	}
	if err := f.CastWith(ctx, url, 2, f.Codes[1], []int{2}); err == nil {
		t.Fatal("another member cast with the new code")
	}
	var voted, active int
	e.State(func(s *election.State) { voted, active = s.Voted(), len(s.Credentials) })
	if voted != 1 || active != 4 {
		t.Fatalf("after the replacement: %d voted (want 1), %d credentials published by the roll (want 4)", voted, active)
	}
	if err := f.CloseAndTally(ctx); err != nil {
		t.Fatal(err)
	}
	rep := verifyLog(t, f)
	if !rep.OK || len(rep.Replacements) != 1 || rep.Replacements[0].Entry != idx || rep.Counted != 1 || rep.Ballots != 2 {
		t.Fatalf("the verifier: ok %v, replacements %+v, %d ballots, %d counted; failures %+v", rep.OK, rep.Replacements, rep.Ballots, rep.Counted, rep.Failures)
	}
	rep, err = verify.Record(ctx, publish(t, f, nil, nil), verify.Options{Election: &f.F, Tracker: first})
	if err != nil || rep.Tracker == nil || !rep.Tracker.Found || rep.Tracker.Counted || !rep.Tracker.Revoked {
		t.Fatalf("the lost code's tracker: %+v, %v", rep.Tracker, err)
	}

	// Tampering, under checkpoints re-signed with the log key: the new
	// credential swapped (the authority's signature fails), the
	// replacement dropped (the tally no longer matches: the old ballot
	// would count).
	tamper := func(name string, edit func([][]byte) [][]byte) {
		t.Helper()
		rep, err := verify.Record(ctx, publish(t, f, edit, nil), verify.Options{Election: &f.F, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK {
			t.Errorf("%s: the verifier accepts the record", name)
		}
	}
	tamper("the new credential swapped", func(es [][]byte) [][]byte {
		var r election.Replacement
		if err := json.Unmarshal(es[idx][1:], &r); err != nil {
			t.Fatal(err)
		}
		r.New = stranger.PublicKey()
		out := append([][]byte(nil), es...)
		out[idx] = r.Entry()
		return out
	})
	tamper("the replacement dropped", func(es [][]byte) [][]byte {
		return append(append([][]byte(nil), es[:idx]...), es[idx+1:]...)
	})
}

func mustKey(t *testing.T, f *demo.Fixture, code string) *crypto.PublicKey {
	t.Helper()
	k, err := election.CredentialKey(f.F, code)
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}

// TestReplaceRefusedAfterEnd (spec §18.8 rule 6 and what a server does):
// once the end in force has passed by the server's clock, nobody can vote
// again, so a replacement would only take a counted ballot away: the
// server refuses it even when the authority dated it before the end; and
// the record refuses one dated at the end.
func TestReplaceRefusedAfterEnd(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 23, Authority: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	e := f.Election
	old := f.Codes[1]
	if err := f.CastWith(ctx, url, 1, old, []int{0}); err != nil {
		t.Fatalf("voter 1's ballot: %v", err)
	}
	end := e.Ends()
	newKey, _ := crypto.GenerateKey(nil)
	backdated, err := election.NewReplacement(nil, f.F, f.Authority, mustKey(t, f, old), newKey.PublicKey(), end.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	e.SetClock(func() time.Time { return end.Add(time.Minute) })
	if _, err := e.Append(ctx, backdated.Entry()); !errors.Is(err, server.ErrRefused) {
		t.Fatalf("a replacement appended after the end in force (dated before it): %v", err)
	}
	var voted int
	e.State(func(s *election.State) { voted = s.Voted() })
	if voted != 1 {
		t.Fatalf("after the refused replacement, %d credentials have a counted ballot; want 1", voted)
	}
	atEnd, err := election.NewReplacement(nil, f.F, f.Authority, mustKey(t, f, old), newKey.PublicKey(), end)
	if err != nil {
		t.Fatal(err)
	}
	e.SetClock(func() time.Time { return end.Add(-time.Minute) })
	if _, err := e.Append(ctx, atEnd.Entry()); !errors.Is(err, server.ErrRefused) {
		t.Fatalf("a replacement dated at the end in force: %v", err)
	}
	// Before the end, by the clock and by its date, it is recorded.
	if _, err := e.Append(ctx, backdated.Entry()); err != nil {
		t.Fatalf("a replacement before the end: %v", err)
	}
}

// TestVerifierNamesAuthority (spec §18.8, §19): the authority entry is
// recorded by the officer, so the credential authority must be able to
// check that the key in the record is its own (one recorded by the server
// instead could sign replacements): the verifier reports it.
func TestVerifierNamesAuthority(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 2, Seed: 29, Authority: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, _ := f.Authority.PublicKey().MarshalText()
	if rep := verifyLog(t, f); !rep.OK || rep.Authority != string(want) {
		t.Fatalf("the verifier reports the authority's key %q (ok %v); want %q", rep.Authority, rep.OK, want)
	}
}
