package election

import (
	"errors"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
)

// setupBeforeRoll replays e's log up to (not including) its roll entry.
func setupBeforeRoll(t *testing.T, e *testElection) *State {
	t.Helper()
	s := New()
	for _, entry := range e.log {
		if entry[0] == TypeRoll {
			return s
		}
		if err := s.Apply(entry); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("no roll entry")
	return nil
}

// TestIntegerRange: an entry's integers are between 0 and 2^53 − 1 (spec
// §18.2); any other is not canonical JSON, hence malformed, even where Go's
// integer types would hold it (a roll of 2^53 voters, or of −1).
func TestIntegerRange(t *testing.T) {
	e := newTestElection(t, 1)
	commitment := strings.Repeat("A", 43)
	roll := func(n string) []byte {
		return append([]byte{TypeRoll}, `{"commitment":"`+commitment+`","voters":`+n+`}`...)
	}
	for _, n := range []string{"9007199254740992", "9223372036854775807", "-1"} {
		s := setupBeforeRoll(t, e)
		err := s.Apply(roll(n))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("a roll of %s voters: %v; want a malformed entry", n, err)
		}
	}
	s := setupBeforeRoll(t, e)
	if err := s.Apply(roll("9007199254740991")); err != nil {
		t.Errorf("a roll of 2^53 − 1 voters: %v", err)
	}
	// An audit record's integers too (spec §21.3).
	if _, err := ParseAudit([]byte(`{"audit":"scrutin/v0","choices":[[-1]],"code":"","contests":[{}],"credential":null,"election":"","randomness":[[]]}`)); err == nil {
		t.Error("an audit record with a negative choice decodes")
	}
}

// TestResultBeforeThreshold: the result comes after at least t decryption
// entries (spec §18.1's table), so one recorded before them is out of
// order (ErrOrder), as records.json's kinds say (spec §12), not a wrong
// result.
func TestResultBeforeThreshold(t *testing.T) {
	e := newTestElection(t, 2)
	e.apply(t, e.ballot(t, 0, [][]int{{1}, {0}}))
	full := e.decideLog(t, 1, 2, 3)
	var r Result
	if err := unmarshal(full[len(full)-1][1:], &r); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 2} { // decryption entries before the result; t = 3
		s := New()
		for _, entry := range full[:len(full)-1-(3-n)] {
			if err := s.Apply(entry); err != nil {
				t.Fatal(err)
			}
		}
		err := s.Apply(r.Entry())
		if !errors.Is(err, ErrOrder) {
			t.Errorf("a result after %d decryption entries (t = 3): %v; want out of order", n, err)
		}
	}
}

// decideLog runs decide and returns the whole log.
func (e *testElection) decideLog(t *testing.T, trustees ...int) [][]byte {
	e.decide(t, trustees...)
	return e.log
}

// TestStringEscapes: canonical JSON escapes only " and \ and its strings hold
// no control character (U+0000–U+001F, U+007F), U+2028 or U+2029 (spec
// §18.2), wherever the string is. Go's encoder writes such characters as
// \n, \u0001 or \u2028, so a text holding one was its own canonical form:
// a roster label or trustee name (which no text rule checks) got through.
func TestStringEscapes(t *testing.T) {
	for _, c := range []struct{ name, s string }{
		{"a line feed", "a\nb"},
		{"a tab", "a\tb"},
		{"U+0001", "a\x01b"},
		{"U+007F", "a\x7fb"},
		{"U+2028", "a\u2028b"},
	} {
		for _, where := range []string{"roster label", "trustee name"} {
			m, _ := testManifest(t, testRand(7), []*crypto.TrusteeSecrets{mustTrustee(t)}, 1)
			if where == "roster label" {
				m.Roster.Label = c.s
			} else {
				m.Roster.Trustees[0].Name = c.s
			}
			if _, err := m.Entry(); err == nil {
				t.Errorf("a %s with %s: the manifest is valid", where, c.name)
			}
			entry := append([]byte{TypeManifest}, marshal(m)...)
			if err := New().Apply(entry); !errors.Is(err, ErrMalformed) {
				t.Errorf("a %s with %s, written %q: %v; want a malformed entry", where, c.name, marshal(m.Roster), err)
			}
		}
	}
}

// TestCeremonyMessageReplay (issue 16): a ceremony entry byte for byte
// equal to an earlier one is invalid (spec §18.1), for every kind of
// ceremony message, and FindMessage names the earlier entry; so is a
// decryption entry equal to one recorded.
func TestCeremonyMessageReplay(t *testing.T) {
	e := newTestElection(t, 1)
	s := setupBeforeRoll(t, e)
	for i, entry := range e.log[1:s.Size] {
		size := s.Size
		err := s.Apply(entry)
		if !errors.Is(err, ErrMessageReplay) || !errors.Is(err, ErrEntry) {
			t.Fatalf("entry %d again: %v", i+1, err)
		}
		if s.Size != size {
			t.Fatal("a refused entry changed the state")
		}
		if at, ok := s.FindMessage(entry); !ok || at != int64(i+1) {
			t.Fatalf("FindMessage of entry %d: %d %v", i+1, at, ok)
		}
	}
	if _, ok := s.FindMessage(e.log[0]); ok {
		t.Fatal("FindMessage found the manifest")
	}
}

// TestDecryptionMessageReplay: a decryption entry byte for byte equal to
// a recorded one is refused as a replayed message (ErrMessageReplay, as
// ErrMessageReplay's comment and spec §22.3 say), still of kind "order"
// (a second decryption entry of its trustee, §12), so that a server
// receiving the same decryption shares twice at once answers the second
// 200 with the recorded entry's index, as for ceremony messages; the same
// trustee's shares signed again are refused as a second entry only.
func TestDecryptionMessageReplay(t *testing.T) {
	e := newTestElection(t, 2)
	e.apply(t, e.ballot(t, 0, [][]int{{1}, {0}}))
	e.apply(t, (&Close{At: "2027-03-08T18:00:00Z", Reason: "closed"}).Entry())
	tally, _ := e.s.ExpectedTally()
	e.apply(t, tally)
	d := e.decryption(t, 2)
	e.apply(t, d)
	err := e.s.Apply(d)
	if !errors.Is(err, ErrMessageReplay) || !errors.Is(err, ErrOrder) {
		t.Fatalf("the same decryption entry again: %v", err)
	}
	if at, ok := e.s.FindMessage(d); !ok || at != e.s.Size-1 {
		t.Fatalf("FindMessage: %d %v", at, ok)
	}
	err = e.s.Apply(e.decryption(t, 2))
	if errors.Is(err, ErrMessageReplay) || !errors.Is(err, ErrOrder) {
		t.Fatalf("trustee 2's shares signed again: %v", err)
	}
}
