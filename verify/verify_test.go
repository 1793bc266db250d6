package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/mirror"
)

var ctx = context.Background()

// record is a demo election's published record, in memory, with what is
// needed to forge variants of it (the log key, as a dishonest operator has).
type record struct {
	files   *board.MemFiles
	entries [][]byte
	f       crypto.Fingerprint
	seed    []byte
	result  *election.Result
	track   []string // trackers of some ballots
}

var cached *record

func demoRecord(t *testing.T) *record {
	t.Helper()
	if cached != nil {
		return cached
	}
	dir := t.TempDir()
	f, _, res, err := demo.Run(ctx, demo.Options{Dir: dir, Voters: 12, Revote: 0.5, Workers: 4, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	out := t.TempDir()
	c, err := f.Election.Publish(ctx, mirror.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	r := &record{files: loadFiles(t, out), f: f.F, result: res}
	r.entries, _ = f.Store.ReadEntries(ctx, 0, c.Size)
	for _, e := range r.entries {
		if e[0] == election.TypeBallot {
			r.track = append(r.track, election.Tracker(e))
		}
	}
	r.seed = f.LogSeed()
	cached = r
	return r
}

// loadFiles reads a published record's folder into memory.
func loadFiles(t testing.TB, dir string) *board.MemFiles {
	files := &board.MemFiles{Files: map[string][]byte{}}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files.Files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// forge publishes entries as a new log signed with the election's log key.
func (r *record) forge(t *testing.T, entries [][]byte) *board.MemFiles {
	t.Helper()
	s := &board.MemStorage{}
	if _, err := s.Append(ctx, entries); err != nil {
		t.Fatal(err)
	}
	f := board.Fingerprint(entries[0])
	c, err := board.CurrentCheckpoint(ctx, s, board.Origin(f))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := election.LogSigner(f, r.seed)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := board.Sign(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	files := &board.MemFiles{}
	if err := board.Publish(ctx, s, 0, c, signed, files); err != nil {
		t.Fatal(err)
	}
	return files
}

func check(t *testing.T, files *board.MemFiles, f *crypto.Fingerprint) *Report {
	t.Helper()
	rep, err := Record(ctx, files, Options{Election: f, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestHonestRecordVerifies(t *testing.T) {
	r := demoRecord(t)
	rep := check(t, r.files, &r.f)
	if !rep.OK || rep.Phase != "decided" || rep.Voters != 12 || rep.Counted != 12 || rep.Ballots <= 12 {
		b, _ := json.MarshalIndent(rep, "", " ")
		t.Fatalf("honest record: %s", b)
	}
	selections := 0
	for _, e := range r.entries {
		if e[0] == election.TypeBallot {
			var b election.Ballot
			json.Unmarshal(e[1:], &b)
			for _, c := range b.Contests {
				selections += len(c.Selections)
			}
		}
	}
	if string(rep.Result.Entry()) != string(r.result.Entry()) || rep.Selections != selections || selections <= rep.Ballots*5 {
		t.Fatalf("result or selections differ: %d selections, %d in the ballots, %d ballots", rep.Selections, selections, rep.Ballots)
	}
	// The same record from a forged but identical rebuild also verifies:
	// the forging helper itself is honest.
	if rep := check(t, r.forge(t, r.entries), &r.f); !rep.OK {
		t.Fatalf("rebuilt record: %+v", rep.Failures)
	}
}

func TestVoterTracker(t *testing.T) {
	r := demoRecord(t)
	counted, superseded := 0, 0
	for _, tr := range r.track {
		rep, err := Record(ctx, r.files, Options{Election: &r.f, Tracker: tr})
		if err != nil || !rep.OK || !rep.Tracker.Found || !rep.Tracker.Proof {
			t.Fatalf("tracker %s: %+v %v", tr, rep.Tracker, err)
		}
		if rep.Tracker.Counted {
			counted++
		} else {
			superseded++
		}
	}
	if counted != 12 || superseded != len(r.track)-12 || superseded == 0 {
		t.Fatalf("%d counted, %d superseded", counted, superseded)
	}
	rep, _ := Record(ctx, r.files, Options{Election: &r.f, Tracker: strings.Repeat("ab", 32)})
	if rep.Tracker.Found {
		t.Fatal("an unknown tracker was found")
	}
}

// TestEverySingleByteChange changes one byte of a published file at a time,
// in hundreds of random places, and requires each change to be rejected.
func TestEverySingleByteChange(t *testing.T) {
	r := demoRecord(t)
	var paths []string
	for p := range r.files.Files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	rnd := mrand.New(mrand.NewPCG(1, 2))
	for k := range 400 {
		p := paths[k%len(paths)]
		orig := r.files.Files[p]
		i := rnd.IntN(len(orig))
		m := &board.MemFiles{Files: map[string][]byte{}}
		for q, b := range r.files.Files {
			m.Files[q] = b
		}
		changed := slices.Clone(orig)
		changed[i] ^= byte(1 + rnd.IntN(255))
		m.Files[p] = changed
		if rep := check(t, m, &r.f); rep.OK {
			t.Fatalf("%s byte %d changed: accepted", p, i)
		}
	}
}

// TestStructuralTampering: a dishonest operator, who holds the log key,
// rewrites the election and re-signs a consistent log. Every change must be
// caught by the replay, naming the entry.
func TestStructuralTampering(t *testing.T) {
	r := demoRecord(t)
	find := func(typ byte, nth int) int {
		for i, e := range r.entries {
			if e[0] == typ {
				if nth == 0 {
					return i
				}
				nth--
			}
		}
		t.Fatalf("no entry of type %d", typ)
		return -1
	}
	del := func(i int) [][]byte { return slices.Delete(slices.Clone(r.entries), i, i+1) }
	swap := func(i, j int) [][]byte {
		e := slices.Clone(r.entries)
		e[i], e[j] = e[j], e[i]
		return e
	}
	// A ballot by a credential that is not on the list.
	stranger, _ := crypto.GenerateKey(nil)
	st := election.New()
	for _, e := range r.entries[:find(election.TypeOpen, 0)+1] {
		st.Apply(e)
	}
	v, _ := st.Voter()
	strangerBallot, _ := v.NewBallot(nil, stranger, [][]int{{0}, {}, nil})
	closeAt := find(election.TypeClose, 0)
	withStranger := slices.Insert(slices.Clone(r.entries), closeAt, strangerBallot)
	// A changed result: another count, re-encoded canonically.
	res := r.result
	other := &election.Result{Trustees: res.Trustees, Contests: []election.ResultContest{}}
	for _, c := range res.Contests {
		counts := slices.Clone(c.Counts)
		counts[0]++
		other.Contests = append(other.Contests, election.ResultContest{Counts: counts, Winners: c.Winners})
	}
	replacedResult := slices.Clone(r.entries)
	replacedResult[len(replacedResult)-1] = other.Entry()
	// Two ballots of one credential swapped: the other one counts.
	lastBallot := find(election.TypeBallot, 0)
	var sameCred int
	var b0 election.Ballot
	json.Unmarshal(r.entries[lastBallot][1:], &b0)
	for i := closeAt - 1; i > lastBallot; i-- {
		var b election.Ballot
		if r.entries[i][0] == election.TypeBallot && json.Unmarshal(r.entries[i][1:], &b) == nil && b.Credential.Equal(b0.Credential) && !bytes.Equal(r.entries[i], r.entries[lastBallot]) {
			sameCred = i
		}
	}

	// A counted ballot (the last of its credential). Deleting a superseded
	// one leaves a valid election (that voter voted once); only a receipt or
	// an earlier checkpoint shows it (see the next test).
	replayed := election.New()
	for _, e := range r.entries {
		replayed.Apply(e)
	}
	countedBallot := -1
	for i, e := range r.entries {
		if e[0] == election.TypeBallot {
			if _, counted, _ := replayed.FindTracker(election.Tracker(e)); counted {
				countedBallot = i
				break
			}
		}
	}
	cases := map[string][][]byte{
		"a counted ballot deleted":               del(countedBallot),
		"a ceremony message deleted":             del(find(election.TypeCeremony, 2)),
		"credentials deleted":                    del(find(election.TypeCredentials, 0)),
		"the open entry deleted":                 del(find(election.TypeOpen, 0)),
		"the tally deleted":                      del(find(election.TypeTally, 0)),
		"a decryption share deleted":             del(find(election.TypeDecryption, 1)),
		"the result deleted and re-added twice":  append(slices.Clone(r.entries), r.entries[len(r.entries)-1]),
		"a ballot moved after close":             swap(closeAt-1, closeAt),
		"the tally before the close":             swap(closeAt, closeAt+1),
		"a ballot by an unknown credential":      withStranger,
		"the result replaced":                    replacedResult,
		"the last ballot duplicated after close": slices.Insert(slices.Clone(r.entries), closeAt+1, r.entries[closeAt-1]),
	}
	if sameCred > 0 {
		cases["two ballots of one credential swapped"] = swap(lastBallot, sameCred)
	}
	for name, entries := range cases {
		rep := check(t, r.forge(t, entries), &r.f)
		if rep.OK {
			t.Errorf("%s: accepted", name)
			continue
		}
		if rep.Failures[0].Entry < 0 {
			t.Errorf("%s: the failure names no entry: %+v", name, rep.Failures[0])
		}
	}
	// Another manifest: its record checks out on its own, but not against
	// the announced fingerprint.
	m := slices.Clone(r.entries)
	m[0] = append(slices.Clone(m[0][:len(m[0])-2]), m[0][len(m[0])-2:]...)
	var man election.Manifest
	json.Unmarshal(r.entries[0][1:], &man)
	man.Title["en"] += "!"
	m[0], _ = man.Entry()
	if rep := check(t, r.forge(t, m), &r.f); rep.OK || rep.Failures[0].Check != "fingerprint" {
		t.Errorf("another manifest: %+v", rep.Failures)
	}
}

// TestReorderingAgainstAnEarlierCheckpoint: two independent ballots in the
// other order make a valid election (nothing binds a ballot to its
// position), but a reader who kept an earlier checkpoint (a voter's
// receipt, a witness) detects the rewritten history.
func TestReorderingAgainstAnEarlierCheckpoint(t *testing.T) {
	r := demoRecord(t)
	first := -1
	for i, e := range r.entries {
		if e[0] == election.TypeBallot {
			first = i
			break
		}
	}
	swapped := slices.Clone(r.entries)
	swapped[first], swapped[first+1] = swapped[first+1], swapped[first]
	forged := r.forge(t, swapped)
	previous := r.files.Files["checkpoint"]
	rep, err := Record(ctx, forged, Options{Election: &r.f, Previous: previous})
	if err != nil || rep.OK || !strings.Contains(fmt.Sprint(rep.Failures), "forked") {
		t.Fatalf("reordered history not detected: %+v %v", rep.Failures, err)
	}
	// Likewise a superseded ballot deleted.
	replayed := election.New()
	for _, e := range r.entries {
		replayed.Apply(e)
	}
	for i, e := range r.entries {
		if e[0] != election.TypeBallot {
			continue
		}
		if _, counted, _ := replayed.FindTracker(election.Tracker(e)); !counted {
			deleted := slices.Delete(slices.Clone(r.entries), i, i+1)
			if rep := check(t, r.forge(t, deleted), &r.f); !rep.OK {
				t.Fatalf("deleting a superseded ballot should leave a valid election: %+v", rep.Failures)
			}
			rep, _ := Record(ctx, r.forge(t, deleted), Options{Election: &r.f, Previous: previous})
			if rep.OK {
				t.Fatal("a deleted ballot not detected against an earlier checkpoint")
			}
			break
		}
	}
}

// TestReplayedBallotInvalid (issue 13, defect 2): a superseded ballot,
// public in the log, copied again before the close would count again. The
// record must be invalid on its own (spec §18.5), naming the copy, and the
// copy must not count.
func TestReplayedBallotInvalid(t *testing.T) {
	r := demoRecord(t)
	st := election.New()
	for _, e := range r.entries {
		st.Apply(e)
	}
	superseded, closeAt := -1, -1
	for i, e := range r.entries {
		switch e[0] {
		case election.TypeBallot:
			if _, counted, _ := st.FindTracker(election.Tracker(e)); !counted && superseded < 0 {
				superseded = i
			}
		case election.TypeClose:
			closeAt = i
		}
	}
	if superseded < 0 || closeAt < 0 {
		t.Fatal("the demo record has no superseded ballot")
	}
	// The copy goes right before the close, and the record ends there, so
	// that the copy is its only fault.
	entries := slices.Insert(slices.Clone(r.entries[:closeAt+1]), closeAt, r.entries[superseded])
	rep := check(t, r.forge(t, entries), &r.f)
	if rep.OK || len(rep.Failures) != 1 || rep.Failures[0].Entry != int64(closeAt) || rep.Failures[0].Check != "ballot" ||
		!strings.Contains(rep.Failures[0].Reason, "replay") || rep.Failures[0].Tracker != election.Tracker(r.entries[superseded]) {
		t.Fatalf("a replayed ballot: %+v", rep.Failures)
	}
	rep, err := Record(ctx, r.forge(t, entries), Options{Election: &r.f, Tracker: election.Tracker(r.entries[superseded]), Workers: 2})
	if err != nil || !rep.Tracker.Found || rep.Tracker.Counted || rep.Tracker.Index != int64(superseded) {
		t.Fatalf("the replayed ballot's tracker: %v %+v", err, rep.Tracker)
	}
}

// TestRecordWithoutResult (spec §19): a record that ends before its result
// is valid so far; the report names its phase and has no result.
func TestRecordWithoutResult(t *testing.T) {
	r := demoRecord(t)
	for want, n := range map[string]int{"setup": 3, "voting": -1, "closed": -1, "tallied": -1} {
		for i, e := range r.entries {
			typ := map[string]byte{"voting": election.TypeOpen, "closed": election.TypeClose, "tallied": election.TypeTally}[want]
			if n < 0 && e[0] == typ {
				n = i + 1
				if want == "voting" {
					n++ // and a ballot
				}
			}
		}
		rep := check(t, r.forge(t, r.entries[:n]), &r.f)
		if !rep.OK || rep.Phase != want || rep.Decided || rep.Result != nil {
			t.Errorf("a record of %d entries: ok %v, phase %s, decided %v, result %v", n, rep.OK, rep.Phase, rep.Decided, rep.Result)
		}
	}
	if rep := check(t, r.files, &r.f); !rep.Decided || rep.Phase != "decided" {
		t.Errorf("the whole record: phase %s, decided %v", rep.Phase, rep.Decided)
	}
	m := slices.Clone(r.entries)
	m[0] = []byte{election.TypeManifest, '{', '}'}
	if rep := check(t, r.forge(t, m), nil); rep.OK || rep.Phase != "empty" || rep.Decided {
		t.Errorf("a record whose entry 0 is not a manifest: ok %v, phase %q", rep.OK, rep.Phase)
	}
}
