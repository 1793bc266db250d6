package vectors

// spec: §18.8 replacing a lost credential

import (
	"strings"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
)

// replaceRecords adds records.json's cases of authority and replacement
// entries (spec §18.8). The authority entry goes right before the open
// entry of the base record; replacements go after its ballots (voters 0,
// 1, 2 and voter 0 again), before the close entry.
func (g *gen) replaceRecords(f *RecordFile, b *recordBase) {
	ca, err := crypto.GenerateKey(g.rnd)
	g.check(err)
	other, err := crypto.GenerateKey(g.rnd)
	g.check(err)
	if g.err != nil {
		return
	}
	auth := (&election.Authority{Key: ca.PublicKey()}).Entry()
	fp := g.stateOf(b.log[:1]).Fingerprint
	at := time.Date(2027, 3, 5, 10, 0, 0, 0, time.UTC)
	replaceAt := func(at time.Time, signer *crypto.SecretKey, old, new *crypto.PublicKey) []byte {
		r, err := election.NewReplacement(g.rnd, fp, signer, old, new, at)
		g.check(err)
		if err != nil {
			return nil
		}
		return r.Entry()
	}
	replace := func(signer *crypto.SecretKey, old, new *crypto.PublicKey) []byte {
		return replaceAt(at, signer, old, new)
	}
	fresh := func() *crypto.SecretKey {
		k, err := crypto.GenerateKey(g.rnd)
		g.check(err)
		return k
	}
	// The base record up to its close entry, with the authority entry.
	voting := []RecordStep{cp(0, b.open), ent(auth), cp(b.open, b.close)}
	stepsLen := func(steps []RecordStep) int {
		n := 0
		for _, s := range steps {
			if s.Copy != nil {
				n += s.Copy[1] - s.Copy[0]
			} else {
				n++
			}
		}
		return n
	}
	// state replays steps (which must all be valid).
	state := func(steps []RecordStep) *election.State {
		entries, err := buildRecord(hexes(b.log), steps)
		g.check(err)
		return g.stateOf(entries)
	}
	counts := func(s *election.State) [][]uint64 {
		var c [][]uint64
		for _, rc := range s.Result.Contests {
			c = append(c, rc.Counts)
		}
		return c
	}
	// valid finishes a record (close, tally, decryptions, result).
	valid := func(comment string, more ...[]byte) {
		steps := append(append([]RecordStep{}, voting...), ents(more)...)
		s := state(steps)
		steps = append(steps, ents(g.finish(s, b))...)
		f.Cases = append(f.Cases, RecordCase{Comment: comment, Steps: steps, Valid: true, Decided: true, Invalid: []RecordFailure{}, Counts: counts(s)})
	}
	invalid := func(comment, kind string, steps ...RecordStep) {
		f.Cases = append(f.Cases, RecordCase{Comment: comment, Steps: steps, Invalid: []RecordFailure{{stepsLen(steps) - 1, kind}}})
	}
	k2, k3 := b.keys[2].PublicKey(), b.keys[3].PublicKey()
	n2, n3, n4 := fresh(), fresh(), fresh()
	if g.err != nil {
		return
	}
	vote := func(more []RecordStep, k *crypto.SecretKey, choices [][]int) []byte {
		return g.ballot(state(append(append([]RecordStep{}, voting...), more...)), k, choices)
	}
	r2 := replace(ca, k2, n2.PublicKey())
	r3 := replace(ca, k3, n3.PublicKey())
	valid("an authority entry and no replacement: the base record's counts", nil...)
	valid("voter 2, who voted, lost their letter: the authority replaces their credential, and they vote again with the new one; the old ballot does not count",
		r2, vote(ents([][]byte{r2}), n2, [][]int{{1}, {0}, nil}))
	valid("voter 2's credential is replaced and they do not vote again: their old ballot does not count (3 voters' ballots, 2 counted)", r2)
	valid("voter 3, who had not voted, has their credential replaced and votes with the new one",
		r3, vote(ents([][]byte{r3}), n3, [][]int{{2}, {1}, nil}))
	{
		r33 := replace(ca, n3.PublicKey(), n4.PublicKey())
		valid("voter 3's credential is replaced twice (the new letter was lost too); the third credential votes",
			r3, r33, vote(ents([][]byte{r3, r33}), n4, [][]int{{1}, {1}, nil}))
	}
	{
		// A ballot under a revoked credential, after the replacement: skipped.
		late := vote(nil, b.keys[2], [][]int{{2}, {0}, nil})
		steps := append(append([]RecordStep{}, voting...), ent(r2))
		s := state(steps)
		at := stepsLen(steps)
		steps = append(steps, ent(late))
		steps = append(steps, ents(g.finish(s, b))...)
		f.Cases = append(f.Cases, RecordCase{Comment: "a ballot under voter 2's credential after it was replaced: skipped, it does not count", Steps: steps,
			Invalid: []RecordFailure{{at, KindContent}}, Decided: true, Counts: counts(s)})
	}
	{
		// The tally of a record where voter 2's credential is replaced,
		// counting voter 2's old ballot as if it were not.
		s := state(voting)
		g.check(s.Apply((&election.Close{At: "2027-03-08T18:00:00Z", Reason: "the voting window ended"}).Entry()))
		wrong, err := s.ExpectedTally()
		g.check(err)
		invalid("the tally counts the ballot of a revoked credential", KindContent, append(append([]RecordStep{}, voting...), ent(r2),
			ent((&election.Close{At: "2027-03-08T18:00:00Z", Reason: "the voting window ended"}).Entry()), ent(wrong))...)
	}
	withR := func(more ...[]byte) []RecordStep { return append(append([]RecordStep{}, voting...), ents(more)...) }
	invalid("a replacement of an unknown credential", KindContent, withR(replace(ca, fresh().PublicKey(), n2.PublicKey()))...)
	invalid("a replacement of a credential already revoked", KindContent, withR(r2, replace(ca, k2, n3.PublicKey()))...)
	invalid("a replacement whose new credential is voter 1's, already active: two active credentials for one member", KindContent, withR(replace(ca, k2, b.keys[1].PublicKey()))...)
	invalid("a replacement whose new credential is its old one (voter 2's, still active)", KindContent, withR(replace(ca, k2, k2))...)
	invalid("a replacement whose new credential is one it revoked before", KindContent, withR(r2, replace(ca, n2.PublicKey(), k2))...)
	invalid("a replacement signed by another key than the authority's", KindContent, withR(replace(other, k2, n2.PublicKey()))...)
	invalid("a replacement signed by a voter's credential", KindContent, withR(replace(b.keys[2], k2, n2.PublicKey()))...)
	invalid("a replacement whose time was changed after it was signed", KindContent, withR(g.edit(r2, `"at":"2027-03-05T10:00:00Z"`, `"at":"2027-03-05T11:00:00Z"`))...)
	{
		// spec §18.8 rule 2: which kind a bad member gives.
		n2Text, _ := n2.PublicKey().MarshalText()
		invalid("a replacement whose new credential is the identity element", KindEncoding, withR(g.edit(r2, `"new":"`+string(n2Text)+`"`, `"new":"`+strings.Repeat("A", 43)+`"`))...)
		invalid("a replacement whose at has an offset (+00:00): not a <time>", KindContent, withR(g.edit(r2, `"at":"2027-03-05T10:00:00Z"`, `"at":"2027-03-05T10:00:00+00:00"`))...)
	}
	invalid("a replacement without its signature member", KindEncoding, withR(append([]byte{election.TypeReplacement}, strings.Split(string(r2[1:]), `,"signature"`)[0]+"}"...))...)
	// spec §18.8 rule 6: a replacement made at or after the end in force
	// would only take counted ballots away (nobody can vote again).
	end := time.Date(2027, 3, 8, 18, 0, 0, 0, time.UTC) // the base manifest's window.closes
	invalid("a replacement made at the end in force (the manifest's): voter 2's counted ballot would be taken away when nobody can vote again", KindContent,
		withR(replaceAt(end, ca, k2, n2.PublicKey()))...)
	invalid("a replacement made after the end in force", KindContent, withR(replaceAt(end.Add(time.Hour), ca, k2, n2.PublicKey()))...)
	{
		ext := (&election.Extension{At: "2027-03-08T12:00:00Z", Closes: "2027-03-09T18:00:00Z", Reason: "the server was down this morning"}).Entry()
		late := replaceAt(end.Add(time.Hour), ca, k2, n2.PublicKey())
		valid("voting is extended to 2027-03-09T18:00:00Z, and voter 2's credential is replaced after the planned end but before the end in force; they vote again",
			ext, late, vote(ents([][]byte{ext, late}), n2, [][]int{{1}, {0}, nil}))
		invalid("voting is extended, and a replacement is made at the extension's end", KindContent,
			withR(ext, replaceAt(end.Add(24*time.Hour), ca, k2, n2.PublicKey()))...)
	}
	invalid("a replacement in a record without an authority entry", KindOrder, cp(0, b.close), ent(r2))
	invalid("a replacement before the open entry", KindOrder, cp(0, b.open), ent(auth), ent(r2))
	invalid("a replacement after the close entry", KindOrder, append(append([]RecordStep{}, voting...), cp(b.close, b.close+1), ent(r2))...)
	invalid("a second authority entry", KindOrder, cp(0, b.open), ent(auth), ent((&election.Authority{Key: other.PublicKey()}).Entry()))
	invalid("an authority entry after the open entry", KindOrder, cp(0, b.open+1), ent(auth))
	invalid("an authority entry before the roll entry", KindOrder, cp(0, b.roll), ent(auth))
	invalid("the identity as the authority's key", KindEncoding, cp(0, b.open), ent(append([]byte{election.TypeAuthority}, `{"key":"`+strings.Repeat("A", 43)+`"}`...)))
}
