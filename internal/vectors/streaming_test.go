package vectors

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/scrutin/scrutin/election"
)

// replayWith applies a record as replayRecord does, with the state s, and
// returns every failure with its message.
func replayWith(s *election.State, entries [][]byte) []string {
	var out []string
	for i, e := range entries {
		err := s.Apply(e)
		if err == nil {
			continue
		}
		out = append(out, fmt.Sprintf("%d %s %v", i, recordKind(err), err))
		if i == 0 || len(e) == 0 || e[0] != election.TypeBallot {
			break
		}
		s.Skip()
	}
	return out
}

// TestStreamingStateAgrees replays every record of records.json, valid and
// invalid, with the state a server keeps (election.New) and with the
// streaming state the verifier uses (election.NewStreaming): both must
// report the same invalid entries with the same reasons, reach the same
// phase, and agree on the tally and the result. The streaming state reads
// the superseded ballots again from the record, as the verifier does; a
// copy that changed one of them between the two reads is refused.
func TestStreamingStateAgrees(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(dir, "records.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f RecordFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	rereads := 0
	for _, c := range f.Cases {
		entries, err := buildRecord(f.Log, c.Steps)
		if err != nil {
			t.Fatalf("%s: %v", c.Comment, err)
		}
		full := election.New()
		lean := election.NewStreaming()
		lean.Reread = func(idx []int64) ([][]byte, error) {
			rereads++
			var out [][]byte
			for _, i := range idx {
				out = append(out, entries[i])
			}
			return out, nil
		}
		want, got := replayWith(full, entries), replayWith(lean, entries)
		if !slices.Equal(want, got) {
			t.Fatalf("%s: the streaming state reports\n%q\nthe full state\n%q", c.Comment, got, want)
		}
		if full.Phase != lean.Phase || full.Size != lean.Size || full.Ballots != lean.Ballots || full.Voted() != lean.Voted() || !slices.Equal(full.Answers(), lean.Answers()) {
			t.Fatalf("%s: the states differ: phase %v/%v, size %d/%d, ballots %d/%d", c.Comment, full.Phase, lean.Phase, full.Size, lean.Size, full.Ballots, lean.Ballots)
		}
		if (full.Tally == nil) != (lean.Tally == nil) || (full.Result == nil) != (lean.Result == nil) {
			t.Fatalf("%s: one state has a tally or result, the other not", c.Comment)
		}
		if full.Phase == election.PhaseClosed {
			a, errA := full.ExpectedTally()
			b, errB := lean.ExpectedTally()
			if string(a) != string(b) || fmt.Sprint(errA) != fmt.Sprint(errB) {
				t.Fatalf("%s: the expected tallies differ", c.Comment)
			}
		}
	}
	if rereads == 0 {
		t.Fatal("no record made the streaming state read a superseded ballot again")
	}

	// A record whose superseded ballot reads back different: the tally is
	// refused, not computed from the other bytes.
	entries, err := buildRecord(f.Log, []RecordStep{{Copy: []int{0, len(f.Log)}}})
	if err != nil {
		t.Fatal(err)
	}
	lean := election.NewStreaming()
	lean.Reread = func(idx []int64) ([][]byte, error) {
		out := make([][]byte, len(idx))
		for k, i := range idx {
			// Another ballot of the log, valid itself.
			other := slices.IndexFunc(entries, func(e []byte) bool { return len(e) > 0 && e[0] == election.TypeBallot && !slices.Equal(e, entries[i]) })
			out[k] = entries[other]
		}
		return out, nil
	}
	fails := replayWith(lean, entries)
	if len(fails) == 0 || lean.Tally != nil {
		t.Fatalf("a superseded ballot read back different was accepted: %q", fails)
	}
}
