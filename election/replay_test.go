package election

import (
	"encoding/hex"
	"errors"
	"testing"
)

// TestReplayedBallotRefused: a voter casts B1, then B2; B1's entry, public
// in the log, is posted again. It must be refused (spec §18.5: a ballot
// whose code is that of an earlier ballot is invalid), so that B2 still
// counts; the same encryption signed again is refused too.
func TestReplayedBallotRefused(t *testing.T) {
	e := newTestElection(t, 3)
	b1 := e.ballot(t, 0, [][]int{{0}, {}})
	e.apply(t, b1)
	b2 := e.ballot(t, 0, [][]int{{1}, {0}})
	e.apply(t, b2)
	e.refuse(t, "B1 replayed", b1, "replay")
	e.refuse(t, "B2 replayed", b2, "replay")
	if _, counted, _ := e.s.FindTracker(Tracker(b2)); !counted {
		t.Fatal("B2 no longer counts")
	}
	err := e.s.Apply(b1)
	if !errors.Is(err, ErrReplay) {
		t.Fatalf("a replay is not reported as ErrReplay: %v", err)
	}
	idx, tracker, found := e.s.FindCode(mustCode(t, b1))
	if !found || tracker != Tracker(b1) || idx != int64(len(e.log)-2) {
		t.Fatalf("FindCode(B1) = %d %s %v", idx, tracker, found)
	}

	// The same encryption with another valid signature (only the
	// credential's holder can make one) is a replay as well.
	var b Ballot
	if err := unmarshal(b1[1:], &b); err != nil {
		t.Fatal(err)
	}
	k, _ := CredentialKey(e.s.Fingerprint, e.codes[0])
	sig, err := k.Sign(e.rnd, e.s.Fingerprint, ballotMessage(b.Contests, b.Credential))
	if err != nil {
		t.Fatal(err)
	}
	b.Signature = sig
	resigned := b.Entry()
	if string(resigned) == string(b1) {
		t.Fatal("the new signature is the old one")
	}
	e.refuse(t, "B1 signed again", resigned, "replay")

	// Another voter's ballot, and a fresh one of voter 0, still go in.
	e.apply(t, e.ballot(t, 1, [][]int{{2}, {}}))
	e.apply(t, e.ballot(t, 0, [][]int{{0}, {}}))
}

func mustCode(t *testing.T, entry []byte) string {
	t.Helper()
	c, err := BallotCode(entry)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestEntryCode: the code read from a canonical entry without decoding it
// is the code of the decoded ballot (spec §21.1), for ballots of every
// shape of the test election.
func TestEntryCode(t *testing.T) {
	e := newTestElectionWith(t, 4, true)
	for v, choices := range [][][]int{{{0}, {}}, {{2}, nil}, {{1}, {1}}, {{0}, nil}} {
		b := e.ballot(t, v, choices)
		got, ok := entryCode(b)
		if !ok || hex.EncodeToString(got[:]) != mustCode(t, b) {
			t.Fatalf("voter %d: entryCode %x %v, BallotCode %s", v, got, ok, mustCode(t, b))
		}
		p, err := e.s.PrepareBallot(b)
		if err != nil || p.Code() != mustCode(t, b) {
			t.Fatalf("voter %d: Prepare's code %v %v", v, p, err)
		}
	}
	for _, bad := range [][]byte{nil, {TypeBallot}, []byte(`{"a":1}`), append([]byte{TypeBallot}, `{"contests":[]}`...)} {
		if _, ok := entryCode(bad); ok {
			t.Errorf("entryCode(%q) succeeded", bad)
		}
	}
}
