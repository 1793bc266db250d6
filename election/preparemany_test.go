package election

import (
	"fmt"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
)

// TestPrepareMany: verifying ballots together in one batch gives each
// ballot exactly what Prepare gives it alone (the same prepared ballot or
// the same error, word for word), whatever the mix of valid and tampered
// ballots: proofs whose equations fail under a valid signature, bad
// signatures, hash mismatches, malformed entries, and chunks where every
// ballot is bad.
func TestPrepareMany(t *testing.T) {
	const voters = 12
	e := newTestElection(t, voters)
	v, err := e.s.Voter()
	if err != nil {
		t.Fatal(err)
	}
	var valid [][]byte
	for voter := range voters {
		valid = append(valid, e.ballot(t, voter, [][]int{{voter % 3}, {voter % 2}}))
	}
	// resign re-encodes a changed ballot with a valid signature by its voter.
	resign := func(voter int, b *Ballot) []byte {
		k, err := CredentialKey(e.s.Fingerprint, e.codes[voter])
		if err != nil {
			t.Fatal(err)
		}
		b.Signature, err = k.Sign(e.rnd, e.s.Fingerprint, ballotMessage(b.Contests, b.Credential))
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte{TypeBallot}, marshal(b)...)
	}
	decode := func(entry []byte) *Ballot {
		var b Ballot
		if err := unmarshal(entry[1:], &b); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	// A response s_j changed: the challenges still add up, an equation fails.
	badEquation := func(voter, contest, option int) []byte {
		b := decode(valid[voter])
		p := b.Contests[contest].Proofs[option].Bytes()
		p[96] ^= 1
		q, err := crypto.NewRangeProof(p)
		if err != nil {
			t.Fatal(err)
		}
		b.Contests[contest].Proofs[option] = q
		return resign(voter, b)
	}
	// A commitment changed: the challenge no longer matches (a hash check).
	badHash := func(voter int) []byte {
		b := decode(valid[voter])
		p := b.Contests[0].Proofs[0].Bytes()
		copy(p[:32], crypto.BaseElement().Bytes())
		q, _ := crypto.NewRangeProof(p)
		b.Contests[0].Proofs[0] = q
		return resign(voter, b)
	}
	// Another voter's signature.
	badSignature := func(voter int) []byte {
		b := decode(valid[voter])
		b.Signature = decode(valid[(voter+1)%voters]).Signature
		return append([]byte{TypeBallot}, marshal(b)...)
	}
	twoBad := func(voter int) []byte { // two proofs broken, a valid signature
		b := decode(valid[voter])
		for _, c := range []int{0, 1} {
			p := b.Contests[c].Proofs[0].Bytes()
			p[96] ^= 1
			b.Contests[c].Proofs[0], _ = crypto.NewRangeProof(p)
		}
		return resign(voter, b)
	}
	swapped := func(voter int) []byte { // a selection of another ballot
		b := decode(valid[voter])
		b.Contests[1].Selections[0] = decode(valid[(voter+1)%voters]).Contests[1].Selections[0]
		return resign(voter, b)
	}
	malformed := append([]byte{TypeBallot}, `{"contests":[]}`...)

	cases := map[string][][]byte{
		"all valid":       valid,
		"one bad":         append(append([][]byte{}, valid[:5]...), append([][]byte{badEquation(5, 0, 1)}, valid[6:]...)...),
		"all bad":         {badEquation(0, 0, 0), badEquation(1, 1, 1), badSignature(2), badHash(3), swapped(4), malformed},
		"mixed":           {valid[0], badEquation(1, 0, 2), valid[2], badSignature(3), valid[4], badHash(5), swapped(6), malformed, valid[8], badEquation(9, 1, 0), valid[10], valid[11]},
		"first and last":  {badEquation(0, 1, 1), valid[1], valid[2], valid[3], badSignature(4)},
		"two in a ballot": {valid[0], twoBad(1), valid[2]},
		"one":             {badEquation(7, 0, 0)},
		"none":            {},
	}
	bad := map[string]int{"all valid": 0, "one bad": 1, "all bad": 6, "mixed": 6, "first and last": 2, "two in a ballot": 1, "one": 1, "none": 0}
	for name, entries := range cases {
		got, errs := v.PrepareMany(entries)
		n := 0
		for _, err := range errs {
			if err != nil {
				n++
			}
		}
		if n != bad[name] {
			t.Fatalf("%s: %d bad ballots, want %d: %v", name, n, bad[name], errs)
		}
		if len(got) != len(entries) || len(errs) != len(entries) {
			t.Fatalf("%s: %d results for %d entries", name, len(got), len(entries))
		}
		if name == "two in a ballot" && !strings.Contains(fmt.Sprint(errs[1]), "2 of the batch's items") {
			t.Fatalf("the ballot's error does not name its two bad proofs: %v", errs[1])
		}
		for i, entry := range entries {
			want, werr := v.Prepare(entry)
			if fmt.Sprint(werr) != fmt.Sprint(errs[i]) {
				t.Fatalf("%s, entry %d: PrepareMany says %v, Prepare %v", name, i, errs[i], werr)
			}
			if (want == nil) != (got[i] == nil) || want != nil && (want.tracker != got[i].tracker || want.code != got[i].code || want.key != got[i].key || want.answered != got[i].answered || want.Selections() != got[i].Selections()) {
				t.Fatalf("%s, entry %d: PrepareMany and Prepare prepare different ballots", name, i)
			}
		}
	}
}
