package election

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// replayBoth applies a log to a full state (New) and a streaming one
// (NewStreaming, whose Reread is reread, or the log itself if nil) as a
// verifier does (a refused ballot is skipped, any other refused entry
// stops), and returns each one's failures.
func replayBoth(log [][]byte, reread func(idx []int64) ([][]byte, error)) (full, lean []string, fs, ls *State) {
	fs, ls = New(), NewStreaming()
	if reread == nil {
		reread = func(idx []int64) ([][]byte, error) {
			var out [][]byte
			for _, i := range idx {
				out = append(out, log[i])
			}
			return out, nil
		}
	}
	ls.Reread = reread
	run := func(s *State) []string {
		var out []string
		for i, e := range log {
			err := s.Apply(e)
			if err == nil {
				continue
			}
			out = append(out, fmt.Sprintf("%d %v", i, err))
			if len(e) == 0 || e[0] != TypeBallot {
				break
			}
			s.Skip()
		}
		return out
	}
	return run(fs), run(ls), fs, ls
}

// TestStreamingAdversarial (review of issue 21): on crafted records, the
// streaming state refuses exactly what the full state refuses, with the
// same reasons; and a record whose superseded ballots read back different
// in any way that changes what they count is refused by the streaming
// state.
func TestStreamingAdversarial(t *testing.T) {
	e := newTestElectionWith(t, 6, true) // even voters in "north": two eligibility masks
	setup := slices.Clone(e.log)
	choice := func(v, k int) [][]int {
		if v%2 == 0 {
			return [][]int{{(v + k) % 3}, {(v + k) % 2}}
		}
		return [][]int{{(v + k) % 3}, nil}
	}
	first := make([][]byte, 6)
	second := make([][]byte, 6)
	for v := range 6 {
		first[v] = e.ballot(t, v, choice(v, 0))
		second[v] = e.ballot(t, v, choice(v, 1))
	}
	closeEntry := (&Close{At: "2027-03-08T18:00:00Z", Reason: "the voting window ended"}).Entry()
	// The honest record: every voter votes, voters 0, 1, 2 vote again
	// (one odd, two even), and one re-votes twice.
	var ballots [][]byte
	ballots = append(ballots, first...)
	ballots = append(ballots, second[0], second[1], second[2])
	third := e.ballot(t, 0, choice(0, 2))
	ballots = append(ballots, third)
	tallyOf := func(bs [][]byte, allBallots bool) []byte {
		s := New()
		if allBallots {
			s = NewStreaming()
		}
		for _, x := range append(append(slices.Clone(setup), bs...), closeEntry) {
			if err := s.Apply(x); err != nil {
				t.Fatal(err)
			}
		}
		if allBallots {
			s.superseded = nil // the sum of every valid ballot, re-votes not taken out
		}
		tl, err := s.ExpectedTally()
		if err != nil {
			t.Fatal(err)
		}
		return tl
	}
	honest := tallyOf(ballots, false)
	record := func(bs [][]byte, tally []byte) [][]byte {
		log := append(slices.Clone(setup), bs...)
		log = append(log, closeEntry)
		if tally != nil {
			log = append(log, tally)
		}
		return log
	}
	firstOnly := tallyOf(first, false)
	everyBallot := tallyOf(ballots, true)
	lastWrong := tallyOf(append(slices.Clone(first[1:]), second[0], second[1], second[2], first[0]), false)
	// A superseded ballot's body with another, still valid-looking signature.
	resig := func(entry []byte) []byte {
		i := bytes.LastIndex(entry, []byte(`,"signature":"`))
		return append(slices.Clone(entry[:i]), []byte(`,"signature":"AAAA"}`)...)
	}
	cases := []struct {
		what   string
		log    [][]byte
		reject bool
	}{
		{"honest", record(ballots, honest), false},
		{"tally of the first ballots", record(ballots, firstOnly), true},
		{"tally of every ballot, re-votes not taken out", record(ballots, everyBallot), true},
		{"tally counting a superseded ballot", record(ballots, lastWrong), true},
		{"a ballot twice (replay)", record(append(slices.Clone(ballots), second[1]), honest), true},
		{"a superseded ballot replayed after its successor", record(append(slices.Clone(ballots), first[1]), honest), true},
		{"a ballot with another's signature body", record(append(slices.Clone(ballots), resig(first[3])), honest), true},
		{"a ballot after close", append(record(ballots, nil), second[4], honest), true},
		{"truncated before the tally", record(ballots, nil), false},
		{"the tally twice", append(record(ballots, honest), honest), true},
	}
	for _, c := range cases {
		full, lean, fs, ls := replayBoth(c.log, nil)
		if !slices.Equal(full, lean) {
			t.Fatalf("%s: the streaming state reports\n%q\nthe full state\n%q", c.what, lean, full)
		}
		if (len(full) > 0) != c.reject {
			t.Fatalf("%s: failures %q", c.what, full)
		}
		if fs.Phase != ls.Phase || fs.Size != ls.Size || fs.Ballots != ls.Ballots || (fs.Tally == nil) != (ls.Tally == nil) {
			t.Fatalf("%s: the states differ", c.what)
		}
	}

	// The honest record, whose superseded ballots read back otherwise.
	log := record(ballots, honest)
	base := len(setup)
	reads := map[string]func(idx []int64) ([][]byte, error){
		"another credential's ballot": func(idx []int64) ([][]byte, error) {
			out := make([][]byte, len(idx))
			for k := range idx {
				out[k] = log[base+4]
			}
			return out, nil
		},
		"the successor ballot": func(idx []int64) ([][]byte, error) {
			out := make([][]byte, len(idx))
			for k, i := range idx {
				out[k] = log[i]
				if i == int64(base+1) {
					out[k] = log[base+7]
				}
			}
			return out, nil
		},
		"a selection changed": func(idx []int64) ([][]byte, error) {
			out := make([][]byte, len(idx))
			for k, i := range idx {
				b := decodeForTest(t, log[i])
				b.Contests[0].Selections[0], b.Contests[0].Selections[1] = b.Contests[0].Selections[1], b.Contests[0].Selections[0]
				out[k] = append([]byte{TypeBallot}, marshal(b)...)
			}
			return out, nil
		},
		"non-canonical spacing": func(idx []int64) ([][]byte, error) {
			out := make([][]byte, len(idx))
			for k, i := range idx {
				out[k] = bytes.Replace(log[i], []byte(`{"contests"`), []byte(`{ "contests"`), 1)
			}
			return out, nil
		},
		"a duplicated key after the body": func(idx []int64) ([][]byte, error) {
			out := make([][]byte, len(idx))
			for k, i := range idx {
				other := log[base+5]
				j := bytes.Index(other, []byte(`"contests":`))
				l := bytes.Index(other, []byte(`,"credential"`))
				s := bytes.LastIndex(log[i], []byte(`,"signature":"`))
				out[k] = append(append(slices.Clone(log[i][:s]), ','), other[j:l]...)
				out[k] = append(out[k], log[i][s:]...)
			}
			return out, nil
		},
		"the signature cut to its opening quote": func(idx []int64) ([][]byte, error) {
			out := make([][]byte, len(idx))
			for k, i := range idx {
				s := bytes.LastIndex(log[i], []byte(`,"signature":"`))
				out[k] = append(slices.Clone(log[i][:s]), `,"signature":"}`...)
			}
			return out, nil
		},
		"one missing": func(idx []int64) ([][]byte, error) {
			var out [][]byte
			for _, i := range idx[1:] {
				out = append(out, log[i])
			}
			return out, nil
		},
		"an error": func(idx []int64) ([][]byte, error) { return nil, errors.New("unreadable") },
	}
	for what, reread := range reads {
		_, lean, _, ls := replayBoth(log, reread)
		if len(lean) == 0 || ls.Tally != nil || !strings.Contains(lean[len(lean)-1], fmt.Sprint(len(log)-1)) {
			t.Fatalf("superseded ballots read back with %s: accepted (%q)", what, lean)
		}
	}
	// Only the signature differs: the same selections, the same tally.
	if _, lean, _, ls := replayBoth(log, func(idx []int64) ([][]byte, error) {
		out := make([][]byte, len(idx))
		for k, i := range idx {
			out[k] = resig(log[i])
		}
		return out, nil
	}); len(lean) != 0 || ls.Tally == nil {
		t.Fatalf("a superseded ballot whose signature alone reads back otherwise: %q", lean)
	}
}

func decodeForTest(t *testing.T, entry []byte) *Ballot {
	var b Ballot
	if err := unmarshal(entry[1:], &b); err != nil {
		t.Fatal(err)
	}
	return &b
}

// TestStreamingRereadBounded (review of issue 21): the superseded ballots
// are read again by bounded chunks, not all at once: a verifier's Reread
// returns entries that may keep their whole bundle in memory, so reading
// every superseded ballot of a record at once (about one ballot in ten,
// in nearly every bundle) would hold the whole record in memory at tally
// time, the very thing streaming avoids.
func TestStreamingRereadBounded(t *testing.T) {
	defer func(n int) { rereadChunk = n }(rereadChunk)
	rereadChunk = 2
	e := newTestElection(t, 4)
	for range 2 {
		for v := range 4 {
			e.apply(t, e.ballot(t, v, [][]int{{v % 3}, {v % 2}}))
		}
	}
	e.decide(t, 1, 2, 3)
	most, calls := 0, 0
	_, lean, _, ls := replayBoth(e.log, func(idx []int64) ([][]byte, error) {
		calls++
		most = max(most, len(idx))
		var out [][]byte
		for _, i := range idx {
			out = append(out, e.log[i])
		}
		return out, nil
	})
	if len(lean) != 0 || ls.Result == nil {
		t.Fatalf("the honest record is refused: %q", lean)
	}
	if most > 2 || calls != 2 {
		t.Fatalf("4 superseded ballots read again in %d calls of up to %d, not by chunks of 2", calls, most)
	}
}
