package election

import (
	"errors"
	"strings"
	"testing"
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
