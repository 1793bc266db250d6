package election

import (
	"bytes"
	"testing"

	"github.com/scrutin/scrutin/crypto"
)

// TestPrepareVerified: on valid ballots, the replay of entries a server
// verified itself reads the same credential, tracker and answered contests
// as Prepare, and the selections it leaves encoded decode to the same
// ciphertexts; the state and the tally are the same either way.
func TestPrepareVerified(t *testing.T) {
	e := newTestElectionWith(t, 6, true)
	v, err := e.s.Voter()
	if err != nil {
		t.Fatal(err)
	}
	full, fast := e.s, *e.s // same state so far; maps are shared until a ballot
	fast.last = map[[32]byte]*CountedBallot{}
	fast.trackers = map[[32]byte]trackerRef{}
	fast.codes = map[[32]byte]codeRef{}
	var ballots [][]byte
	for voter := range 6 {
		choices := [][]int{{voter % 3}, {}}
		if voter%2 == 0 {
			choices[1] = []int{1}
		}
		if _, ok := e.s.Eligibility(mustKey(t, e, voter)); !ok {
			t.Fatalf("voter %d has no credential", voter)
		}
		mask, _ := e.s.Eligibility(mustKey(t, e, voter))
		if mask&2 == 0 {
			choices[1] = nil
		}
		ballots = append(ballots, e.ballot(t, voter, choices))
	}
	for i, b := range ballots {
		p, err := v.Prepare(b)
		if err != nil {
			t.Fatal(err)
		}
		q, err := v.PrepareVerified(b)
		if err != nil {
			t.Fatal(err)
		}
		if p.key != q.key || p.tracker != q.tracker || p.answered != q.answered || p.code != q.code || !bytes.Equal(p.entry, q.entry) {
			t.Fatalf("ballot %d: Prepare %x %s %b, PrepareVerified %x %s %b", i, p.key, p.tracker, p.answered, q.key, q.tracker, q.answered)
		}
		if q.ballot != nil {
			t.Fatalf("ballot %d was decoded, not scanned", i)
		}
		if err := full.ApplyBallot(p); err != nil {
			t.Fatal(err)
		}
		if err := fast.ApplyBallot(q); err != nil {
			t.Fatal(err)
		}
	}
	for k, c := range full.last {
		got, err := fast.last[k].Ciphertexts()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := c.Ciphertexts()
		if len(got) != len(want) {
			t.Fatalf("%d contests decoded, %d expected", len(got), len(want))
		}
		for ci := range want {
			if (got[ci] == nil) != (want[ci] == nil) || len(got[ci]) != len(want[ci]) {
				t.Fatalf("contest %d: %d selections decoded, %d expected", ci, len(got[ci]), len(want[ci]))
			}
			for o := range want[ci] {
				a, _ := got[ci][o].MarshalText()
				b, _ := want[ci][o].MarshalText()
				if !bytes.Equal(a, b) {
					t.Fatalf("contest %d option %d differs", ci, o)
				}
			}
		}
	}
	close := (&Close{At: "2027-03-08T18:00:00Z", Reason: "end"}).Entry()
	if err := full.Apply(close); err != nil {
		t.Fatal(err)
	}
	if err := fast.Apply(close); err != nil {
		t.Fatal(err)
	}
	a, err := full.ExpectedTally()
	if err != nil {
		t.Fatal(err)
	}
	b, err := fast.ExpectedTally()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the tally differs")
	}

	// Anything but a canonical ballot is not scanned.
	for _, bad := range [][]byte{
		ballots[0][:len(ballots[0])-1],
		append([]byte{TypeBallot}, []byte(`{"contests":[{}],"credential":"AAAA","signature":"AAAA"}`)...),
		bytes.Replace(ballots[0], []byte(`"credential"`), []byte(`"credentiaL"`), 1),
	} {
		if _, ok := scanBallot(bad, 2); ok {
			t.Errorf("scanned %q", bad)
		}
	}
}

func mustKey(t *testing.T, e *testElection, voter int) *crypto.PublicKey {
	k, err := CredentialKey(e.s.Fingerprint, e.codes[voter])
	if err != nil {
		t.Fatal(err)
	}
	return k.PublicKey()
}
