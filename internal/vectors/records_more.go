package vectors

// spec: §18.5 replays and eligibility, §19 records that end early

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"slices"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
)

// moreRecords adds records.json's cases of replayed ballots, of ballots
// that answer or leave out a contest against their credential's groups
// (spec §18.5), and of records that end before their result (spec §19).
func (g *gen) moreRecords(f *RecordFile, b *recordBase, baseCounts [][]uint64) {
	n := len(b.log)
	first, counted := b.ballots, b.ballots+3 // voter 0's two ballots
	skipped := func(comment string, at int, bad []byte) {
		f.Cases = append(f.Cases, RecordCase{Comment: comment, Steps: []RecordStep{cp(0, at), ent(bad), cp(at, n)},
			Invalid: []RecordFailure{{at, KindContent}}, Decided: true, Counts: baseCounts})
	}

	// Replays (§18.5): the ballot code of an earlier valid ballot.
	skipped("a replay: voter 0's first ballot, superseded, copied again before the close (it does not count again: the counts are unchanged)", b.close, b.log[first])
	skipped("a replay: voter 0's counted ballot copied right after itself", counted+1, b.log[counted])
	skipped("a replay: voter 1's only ballot copied after voter 0's second one", counted+1, b.log[b.ballots+1])
	skipped("a replay: voter 0's first encryption under a new valid signature, before the close (a new entry, the same ballot code)", b.close, g.resign(b.log[first], b.keys[0], b.log[0]))

	// Eligibility (§18.5): exactly the credential's contests.
	s := g.stateOf(b.log[:b.ballots])
	skipped("voter 1 (group north) leaves out the delegate contest, which it may answer", b.close, g.ballot(s, b.keys[1], [][]int{{0}, {1}, nil}))
	skipped("voter 3 (no group) answers the delegate contest, which it may not", b.close, g.ballot(s, b.keys[3], [][]int{{0}, {1}, {0}}))

	// The roster in the manifest (§18.3).
	for _, c := range []struct {
		comment string
		edit    func(r *crypto.Roster)
	}{
		{"two trustees have the same name", func(r *crypto.Roster) { r.Trustees[1].Name = r.Trustees[0].Name }},
		{"a trustee's signing key is its encryption key", func(r *crypto.Roster) { r.Trustees[2].Signing = r.Trustees[2].Encryption }},
		{"the roster's threshold is 0", func(r *crypto.Roster) { r.Threshold = 0 }},
		{"the roster's threshold exceeds its 3 trustees", func(r *crypto.Roster) { r.Threshold = 4 }},
	} {
		m := g.recordManifest(b.manifest.Roster, b.manifest.LogKey)
		m.Roster.Trustees = slices.Clone(m.Roster.Trustees)
		c.edit(&m.Roster)
		f.Cases = append(f.Cases, RecordCase{Comment: c.comment, Steps: []RecordStep{ent(append([]byte{election.TypeManifest}, mustMarshal(m)...))}, Invalid: []RecordFailure{{0, KindContent}}})
	}
	{
		m := g.recordManifest(b.manifest.Roster, b.manifest.LogKey)
		e := g.edit(append([]byte{election.TypeManifest}, mustMarshal(m)...), `"ceremony_id":"`+b64ID(m.Roster.ID)+`"`, `"ceremony_id":"AAAAAAAAAAAAAAAAAAAAAA"`)
		f.Cases = append(f.Cases, RecordCase{Comment: "the roster's ceremony id is 16 zero bytes", Steps: []RecordStep{ent(e)}, Invalid: []RecordFailure{{0, KindContent}}})
	}

	// Records that end before their result (§19): valid, not decided.
	early := func(comment string, end int) {
		f.Cases = append(f.Cases, RecordCase{Comment: comment, Steps: []RecordStep{cp(0, end)}, Valid: true, Invalid: []RecordFailure{}})
	}
	early("the record ends after the roll entry", b.roll+1)
	early("the record ends after the open entry", b.open+1)
	early("the record ends after two ballots", b.ballots+2)
	early("the record ends after the close entry", b.close+1)
	early("the record ends after the tally", b.tally+1)
	early("the record ends after one decryption entry", b.decryption+1)
}

// resign signs a ballot's encryption again with its credential: a new entry
// with the same ballot code. The message is built from the entry as spec
// §18.5 says: the ballot's canonical JSON without its signature member.
func (g *gen) resign(entry []byte, k *crypto.SecretKey, manifest []byte) []byte {
	var b election.Ballot
	g.check(strictUnmarshal(entry[1:], &b))
	sig, _ := b.Signature.MarshalText()
	member := []byte(`,"signature":"` + string(sig) + `"`)
	if !bytes.Contains(entry, member) {
		g.check(fmt.Errorf("records.json: the ballot's signature member is not where §18.2 puts it"))
		return entry
	}
	msg := append([]byte("scrutin/v0/ballot"), bytes.Replace(entry[1:], member, nil, 1)...)
	f := crypto.Fingerprint(sha256.Sum256(manifest))
	again, err := k.Sign(g.rnd, f, msg)
	g.check(err)
	b.Signature = again
	out := b.Entry()
	if bytes.Equal(out, entry) {
		g.check(fmt.Errorf("records.json: the new signature is the old one"))
	}
	return out
}

// setPhases fills in each case's phase, as the checker computes it.
func (g *gen) setPhases(f *RecordFile) {
	for i := range f.Cases {
		entries, err := buildRecord(f.Log, f.Cases[i].Steps)
		g.check(err)
		_, s := replayRecord(entries)
		f.Cases[i].Phase = s.Phase.String()
	}
}

func b64ID(id crypto.CeremonyID) string {
	t, _ := id.MarshalText()
	return string(t)
}
