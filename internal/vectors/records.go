package vectors

// spec: §12 records.json, §18 the election record, §19 step 3

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
)

// RecordFile is records.json (spec §18–§19): one complete, valid election
// record, and records made from it, valid and invalid, with what a
// verifier must find in each.
type RecordFile struct {
	Spec    string       `json:"spec"`
	Comment string       `json:"comment"`
	Log     []Hex        `json:"log"`
	Cases   []RecordCase `json:"cases"`
}

// RecordCase is a record made of steps, and its verdict.
type RecordCase struct {
	Comment string       `json:"comment"`
	Steps   []RecordStep `json:"steps"`
	// Valid is true if no entry is invalid.
	Valid bool `json:"valid"`
	// Decided is true if the record holds a valid result entry.
	Decided bool `json:"decided"`
	// Phase is how far the record goes (spec §19's table).
	Phase string `json:"phase"`
	// Invalid lists every invalid entry a verifier reports (spec §19 step 3):
	// invalid ballots are skipped, and the first invalid entry of any other
	// type ends the check (so it is the last one listed).
	Invalid []RecordFailure `json:"invalid"`
	// Counts are the result's counts, by contest and option, when the
	// record's result entry is valid.
	Counts [][]uint64 `json:"counts,omitempty"`
}

// RecordStep adds to a record either entries [from, to) of the base log
// (Copy) or one entry (Entry).
type RecordStep struct {
	Copy  []int `json:"copy,omitempty"`
	Entry Hex   `json:"entry,omitempty"`
}

// RecordFailure is an invalid entry: its index in the record, and the kind
// of its fault: KindEncoding, KindOrder or KindContent.
type RecordFailure struct {
	Entry int    `json:"entry"`
	Error string `json:"error"`
}

// Kinds of invalid entries in records.json (spec §12).
const (
	KindOrder   = "order"   // not allowed where it is (§18.1)
	KindContent = "content" // decodes and is in order, but breaks a rule of its content
)

// recordKind names the kind of an invalid entry's error.
func recordKind(err error) string {
	switch {
	case errors.Is(err, election.ErrMalformed):
		return KindEncoding
	case errors.Is(err, election.ErrOrder):
		return KindOrder
	case errors.Is(err, election.ErrEntry):
		return KindContent
	}
	return "unexpected: " + err.Error()
}

// recordBase is the base record of records.json, with the secrets that
// made it (to make more entries) and the index of the first entry of each
// kind.
type recordBase struct {
	log                              [][]byte
	manifest                         *election.Manifest
	trustees                         []*crypto.TrusteeSecrets
	shares                           []*crypto.SecretKey
	keys                             []*crypto.SecretKey // voters' credentials
	roll, creds, open, ballots       int                 // first index of each
	close, tally, decryption, result int
}

func (g *gen) recordManifest(r crypto.Roster, logKey []byte) *election.Manifest {
	t := func(en, fr string) election.Text { return election.Text{"en": en, "fr": fr} }
	return &election.Manifest{
		Contests: []election.Contest{
			{ID: "leader", Min: 1, Max: 1, Title: t("Leader", "Direction"), Options: []election.Option{
				{ID: "ada", Title: t("Ada", "Ada")}, {ID: "grace", Title: t("Grace", "Grace")}, {ID: "alan", Title: t("Alan", "Alan")}}},
			{ID: "motion", Min: 0, Max: 1, Title: t("Adopt the motion?", "Adopter la motion ?"), Options: []election.Option{
				{ID: "yes", Title: t("Yes", "Oui")}, {ID: "no", Title: t("No", "Non")}}},
			{ID: "delegate", Eligible: "north", Min: 0, Max: 1, Title: t("Delegate for the north", "Délégué·e du nord"), Options: []election.Option{
				{ID: "emmy", Title: t("Emmy", "Emmy")}, {ID: "kurt", Title: t("Kurt", "Kurt")}}},
		},
		Description: t("The election of docs/spec.md §12's records.json.", "L'élection de records.json (docs/spec.md §12)."),
		LogKey:      election.Bytes(logKey),
		Roster:      r,
		Title:       t("Test vectors", "Vecteurs de test"),
		Window:      election.Window{Opens: "2027-03-01T09:00:00Z", Closes: "2027-03-08T18:00:00Z"},
	}
}

// stateOf replays entries into a fresh state.
func (g *gen) stateOf(log [][]byte) *election.State {
	s := election.New()
	for _, e := range log {
		g.check(s.Apply(e))
	}
	return s
}

// recordBase builds the base record: a 2-of-3 ceremony, 4 voters (0 and 1
// in group "north", the only ones who may answer the delegate contest),
// ballots of voters 0, 1, 2 and a re-vote of voter 0, close, tally,
// decryption entries of all three trustees, and the result (trustees 1, 2).
func (g *gen) recordBase() *recordBase {
	b := &recordBase{}
	s := election.New()
	add := func(e []byte) {
		if err := s.Apply(e); err != nil {
			g.check(fmt.Errorf("records.json base log, entry %d: %w", len(b.log), err))
		}
		b.log = append(b.log, e)
	}
	id, err := crypto.NewCeremonyID(g.rnd)
	g.check(err)
	r := crypto.Roster{Label: "records.json", ID: id, Threshold: 2}
	for j := 1; j <= 3; j++ {
		sec, err := crypto.NewTrusteeSecrets(g.rnd)
		g.check(err)
		b.trustees = append(b.trustees, sec)
		r.Trustees = append(r.Trustees, crypto.Trustee{Name: fmt.Sprintf("Trustee %d", j), Signing: sec.Signing.PublicKey(), Encryption: sec.Encryption.PublicKey()})
	}
	b.manifest = g.recordManifest(r, ed25519.NewKeyFromSeed(g.bytes(ed25519.SeedSize)).Public().(ed25519.PublicKey))
	me, err := b.manifest.Entry()
	g.check(err)
	if g.err != nil {
		return b
	}
	add(me)
	roster := &b.manifest.Roster
	var dealings [][]byte
	for j := 1; j <= 3; j++ {
		d, err := crypto.Deal(g.rnd, roster, j, b.trustees[j-1])
		g.check(err)
		dealings = append(dealings, d)
		add(append([]byte{election.TypeCeremony}, d...))
	}
	for j := 1; j <= 3; j++ {
		c, err := crypto.Complain(g.rnd, roster, j, b.trustees[j-1], dealings)
		g.check(err)
		add(append([]byte{election.TypeCeremony}, c...))
	}
	out := s.Ceremony
	for j := 1; j <= 3; j++ {
		sh, err := out.Share(roster, j, b.trustees[j-1])
		g.check(err)
		b.shares = append(b.shares, sh)
		c, err := out.Confirm(g.rnd, roster, j, b.trustees[j-1], sh)
		g.check(err)
		add(append([]byte{election.TypeCeremony}, c...))
	}
	if g.err != nil {
		return b
	}
	b.roll = len(b.log)
	add((&election.Roll{Commitment: g.bytes(32), Voters: 4}).Entry())
	var pubs []*crypto.PublicKey
	for range 4 {
		code, err := election.NewCode(g.rnd)
		g.check(err)
		k, err := election.CredentialKey(s.Fingerprint, code)
		g.check(err)
		b.keys = append(b.keys, k)
		pubs = append(pubs, k.PublicKey())
	}
	b.creds = len(b.log)
	add((&election.Credentials{Credentials: pubs[:2], Groups: []string{"north"}}).Entry())
	add((&election.Credentials{Credentials: pubs[2:]}).Entry())
	b.open = len(b.log)
	add((&election.Open{At: "2027-03-01T09:00:00Z"}).Entry())
	b.ballots = len(b.log)
	for _, v := range []struct {
		voter   int
		choices [][]int
	}{
		{0, [][]int{{0}, {0}, {1}}},
		{1, [][]int{{1}, {}, {0}}},
		{2, [][]int{{0}, {1}, nil}},
		{0, [][]int{{2}, {0}, {1}}}, // voter 0 votes again: this ballot counts
	} {
		add(g.ballot(s, b.keys[v.voter], v.choices))
	}
	b.close = len(b.log)
	add((&election.Close{At: "2027-03-08T18:00:00Z", Reason: "the voting window ended"}).Entry())
	b.tally = len(b.log)
	tally, err := s.ExpectedTally()
	g.check(err)
	add(tally)
	b.decryption = len(b.log)
	for j := 1; j <= 3; j++ {
		add(g.decryption(s, b, j))
	}
	b.result = len(b.log)
	res, err := s.ExpectedResult()
	g.check(err)
	add(res)
	return b
}

func (g *gen) ballot(s *election.State, k *crypto.SecretKey, choices [][]int) []byte {
	v, err := s.Voter()
	g.check(err)
	if err != nil {
		return nil
	}
	e, err := v.NewBallot(g.rnd, k, choices)
	g.check(err)
	return e
}

func (g *gen) decryption(s *election.State, b *recordBase, j int) []byte {
	msg, err := s.Ceremony.DecryptShare(g.rnd, &s.Manifest.Roster, j, b.trustees[j-1], b.shares[j-1], s.TallyCiphertexts())
	g.check(err)
	return append([]byte{election.TypeDecryption}, msg...)
}

// finish closes the election of state s and records the tally, decryption
// entries of trustees 1 and 2 and the result; it returns those entries.
func (g *gen) finish(s *election.State, b *recordBase) [][]byte {
	var out [][]byte
	add := func(e []byte) {
		g.check(s.Apply(e))
		out = append(out, e)
	}
	add((&election.Close{At: "2027-03-08T18:00:00Z", Reason: "the voting window ended"}).Entry())
	tally, err := s.ExpectedTally()
	g.check(err)
	add(tally)
	add(g.decryption(s, b, 1))
	add(g.decryption(s, b, 2))
	res, err := s.ExpectedResult()
	g.check(err)
	add(res)
	return out
}

func cp(from, to int) RecordStep { return RecordStep{Copy: []int{from, to}} }
func ent(e []byte) RecordStep    { return RecordStep{Entry: e} }
func ents(es [][]byte) []RecordStep {
	var s []RecordStep
	for _, e := range es {
		s = append(s, ent(e))
	}
	return s
}

// edit returns entry e with its JSON text changed (old replaced by new,
// once), or fails the generator if old is not in it.
func (g *gen) edit(e []byte, old, new string) []byte {
	if !strings.Contains(string(e), old) {
		g.check(fmt.Errorf("records.json: %q not in the entry", old))
		return e
	}
	return []byte(strings.Replace(string(e), old, new, 1))
}

func (g *gen) records() *RecordFile {
	b := g.recordBase()
	if g.err != nil {
		return nil
	}
	f := &RecordFile{
		Spec:    "docs/spec.md §18–§19, version 0",
		Comment: "log is a complete, valid election record; each case builds a record from steps (copy: entries [from, to) of log; entry: one entry) and gives what a verifier must find",
		Log:     hexes(b.log),
	}
	n := len(b.log)
	base := g.stateOf(b.log)
	counts := func(s *election.State) [][]uint64 {
		var c [][]uint64
		for _, rc := range s.Result.Contests {
			c = append(c, rc.Counts)
		}
		return c
	}
	baseCounts := counts(base)
	valid := func(comment string, counts [][]uint64, steps ...RecordStep) {
		f.Cases = append(f.Cases, RecordCase{Comment: comment, Steps: steps, Valid: true, Decided: true, Invalid: []RecordFailure{}, Counts: counts})
	}
	invalid := func(comment string, at int, kind string, steps ...RecordStep) {
		f.Cases = append(f.Cases, RecordCase{Comment: comment, Steps: steps, Invalid: []RecordFailure{{at, kind}}})
	}
	// A ballot that is skipped: the rest of the record verifies.
	skipped := func(comment, kind string, at int, bad []byte) {
		f.Cases = append(f.Cases, RecordCase{Comment: comment, Steps: []RecordStep{cp(0, at), ent(bad), cp(at, n)},
			Invalid: []RecordFailure{{at, kind}}, Decided: true, Counts: baseCounts})
	}

	// Valid records.
	valid("a complete election: a 2-of-3 ceremony, a contest only group north may answer, a re-vote, three decryption entries, the result of trustees 1 and 2", baseCounts, cp(0, n))
	var res election.Result
	g.check(strictUnmarshal(b.log[b.result][1:], &res))
	withTrustees := func(tr ...int) []byte {
		r := res
		r.Trustees = tr
		return r.Entry()
	}
	valid("the result names trustees 2 and 3: any t trustees with decryption entries may be named", baseCounts, cp(0, b.result), ent(withTrustees(2, 3)))
	valid("only trustees 3 and 2 decrypt, in that order", baseCounts, cp(0, b.decryption), cp(b.decryption+2, b.decryption+3), cp(b.decryption+1, b.decryption+2), ent(withTrustees(2, 3)))
	{
		s := g.stateOf(b.log[:b.ballots])
		vote := b.log[b.ballots+2] // voter 2, outside group north
		g.check(s.Apply(vote))
		rest := g.finish(s, b)
		valid("the delegate contest gets no ballot: its sums are the identity ciphertext (O, O), and it decrypts to zeros", counts(s), append([]RecordStep{cp(0, b.ballots), ent(vote)}, ents(rest)...)...)
	}
	{
		s := g.stateOf(b.log[:b.ballots])
		rest := g.finish(s, b)
		valid("nobody votes: every sum is the identity ciphertext, every count 0, no winners", counts(s), append([]RecordStep{cp(0, b.ballots)}, ents(rest)...)...)
	}

	// Invalid ballots are reported and skipped.
	var b1, b2 election.Ballot
	g.check(strictUnmarshal(b.log[b.ballots+1][1:], &b1))
	g.check(strictUnmarshal(b.log[b.ballots+2][1:], &b2))
	b2.Signature = b1.Signature
	skipped("a ballot whose signature is another ballot's", KindContent, b.ballots+2, b2.Entry())
	skipped("a ballot with whitespace in its JSON", KindEncoding, b.ballots+2, g.edit(b.log[b.ballots+2], `{"contests"`, `{ "contests"`))
	{
		s := g.stateOf(b.log[:b.ballots])
		late := g.ballot(s, b.keys[3], [][]int{{1}, {1}, nil})
		skipped("a ballot after the close entry", KindOrder, b.close+1, late)
		skipped("a ballot before the open entry", KindOrder, b.open, late)
	}

	// The result and the decryption entries (spec §18.1, §18.6).
	invalid("a decryption entry after the result (trustee 3's, who had not decrypted)", b.result, KindOrder,
		cp(0, b.decryption+2), cp(b.result, n), cp(b.decryption+2, b.decryption+3))
	decidedAnyway := func() { c := &f.Cases[len(f.Cases)-1]; c.Decided, c.Counts = true, baseCounts }
	decidedAnyway()
	invalid("an entry after the result (a close entry)", n, KindOrder, cp(0, n), cp(b.close, b.close+1))
	decidedAnyway()
	{
		s := g.stateOf(b.log[:b.decryption+1])
		again := g.decryption(s, b, 1)
		invalid("a second decryption entry of trustee 1 before the result, valid on its own (new proofs, the same shares)", b.decryption+1, KindOrder, cp(0, b.decryption+1), ent(again))
	}
	invalid("the result names trustees 2 and 1: not in increasing order", b.result, KindContent, cp(0, b.result), ent(withTrustees(2, 1)))
	invalid("the result names trustee 1 twice", b.result, KindContent, cp(0, b.result), ent(withTrustees(1, 1)))
	invalid("the result names 3 trustees; t = 2", b.result, KindContent, cp(0, b.result), ent(withTrustees(1, 2, 3)))
	invalid("the result names 1 trustee; t = 2", b.result, KindContent, cp(0, b.result), ent(withTrustees(1)))
	invalid("the result names trustee 3, who has no decryption entry", b.decryption+2, KindContent, cp(0, b.decryption+2), ent(withTrustees(1, 3)))
	{
		r := res
		r.Contests = slices.Clone(res.Contests)
		r.Contests[0].Counts = slices.Clone(res.Contests[0].Counts)
		r.Contests[0].Counts[1]++
		invalid("the result gives a count that the decryption does not", b.result, KindContent, cp(0, b.result), ent(r.Entry()))
		r.Contests[0].Counts = res.Contests[0].Counts
		r.Contests[1].Winners = []string{"no"}
		invalid("the result names a winner that does not have the most votes", b.result, KindContent, cp(0, b.result), ent(r.Entry()))
	}
	{
		e := string(b.log[b.result])
		i := strings.Index(e, `"winners":[`)
		j := i + strings.IndexByte(e[i:], ']')
		invalid(`the result's winners are null`, b.result, KindEncoding, cp(0, b.result), ent([]byte(e[:i]+`"winners":null`+e[j+1:])))
	}
	invalid(`the result writes a count with a leading zero`, b.result, KindEncoding, cp(0, b.result), ent(g.edit(b.log[b.result], `"counts":[`, `"counts":[0`)))
	{
		s := g.stateOf(b.log[:b.decryption])
		cts := slices.Clone(s.TallyCiphertexts())
		cts[0], cts[1] = cts[1], cts[0]
		msg, err := s.Ceremony.DecryptShare(g.rnd, &s.Manifest.Roster, 1, b.trustees[0], b.shares[0], cts)
		g.check(err)
		invalid("decryption shares made for another tally", b.decryption, KindContent, cp(0, b.decryption), ent(append([]byte{election.TypeDecryption}, msg...)))
		d := b.log[b.decryption]
		invalid("a truncated decryption entry", b.decryption, KindEncoding, cp(0, b.decryption), ent(d[:len(d)-1]))
	}
	invalid("a result before any decryption entry: out of order (it comes after at least t)", b.decryption, KindOrder, cp(0, b.decryption), ent(b.log[b.result]))
	invalid("a result after one decryption entry, t = 2: out of order", b.decryption+1, KindOrder, cp(0, b.decryption+1), ent(b.log[b.result]))

	// The tally (spec §18.6).
	tally := b.log[b.tally]
	var tl election.Tally
	g.check(strictUnmarshal(tally[1:], &tl))
	{
		st, _ := tl.Contests[0].Sums[0].MarshalText()
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, st[len(st)-1])
		trailing := string(st[:len(st)-1]) + string(alphabet[i^1])
		invalid("a tally sum with non-zero trailing bits in its base64url", b.tally, KindEncoding, cp(0, b.tally), ent(g.edit(tally, string(st), trailing)))
	}
	invalid(`the tally writes its ballots as 03`, b.tally, KindEncoding, cp(0, b.tally), ent(g.edit(tally, `"ballots":3`, `"ballots":03`)))
	invalid("a tally with whitespace", b.tally, KindEncoding, cp(0, b.tally), ent(g.edit(tally, `"contests":`, `"contests": `)))
	{
		t := tl
		t.Ballots = 4
		invalid("the tally counts 4 ballots: the superseded ballot too", b.tally, KindContent, cp(0, b.tally), ent(t.Entry()))
		t.Ballots = tl.Ballots
		t.Contests = slices.Clone(tl.Contests)
		t.Contests[1] = election.TallyContest{Sums: []*crypto.CiphertextSum{tl.Contests[1].Sums[1], tl.Contests[1].Sums[0]}}
		invalid("the tally's sums of the motion are swapped", b.tally, KindContent, cp(0, b.tally), ent(t.Entry()))
	}
	invalid("a tally before the close entry", b.close, KindOrder, cp(0, b.close), ent(tally))

	// The close entry (spec §18.1): its time and its reason.
	invalid("a close entry whose reason is empty", b.close, KindContent, cp(0, b.close), ent((&election.Close{At: "2027-03-08T18:00:00Z", Reason: ""}).Entry()))
	invalid("a close entry whose reason is 501 bytes", b.close, KindContent, cp(0, b.close), ent((&election.Close{At: "2027-03-08T18:00:00Z", Reason: strings.Repeat("r", 501)}).Entry()))
	valid("a close entry whose reason is 500 bytes", baseCounts, cp(0, b.close), ent((&election.Close{At: "2027-03-08T18:00:00Z", Reason: strings.Repeat("r", 500)}).Entry()), cp(b.close+1, n))
	invalid("a close entry whose time has a fraction of a second", b.close, KindContent, cp(0, b.close), ent((&election.Close{At: "2027-03-08T18:00:00.5Z", Reason: "closed"}).Entry()))
	invalid("a close entry whose time has an offset, +00:00", b.close, KindContent, cp(0, b.close), ent((&election.Close{At: "2027-03-08T18:00:00+00:00", Reason: "closed"}).Entry()))
	invalid("an open entry whose time has a lower-case t", b.open, KindContent, cp(0, b.open), ent((&election.Open{At: "2027-03-01t09:00:00Z"}).Entry()))

	// The manifest (spec §18.3): each is entry 0 of its own record.
	manifest := func(comment, kind string, edit func(m *election.Manifest)) {
		m := g.recordManifest(b.manifest.Roster, b.manifest.LogKey)
		edit(m)
		e := append([]byte{election.TypeManifest}, mustMarshal(m)...)
		invalid(comment, 0, kind, ent(e))
	}
	manifest("a manifest whose English title is the empty string", KindContent, func(m *election.Manifest) { m.Title["en"] = "" })
	manifest("a manifest whose French description is the empty string", KindContent, func(m *election.Manifest) { m.Description["fr"] = "" })
	manifest("an option title without French", KindContent, func(m *election.Manifest) { delete(m.Contests[0].Options[0].Title, "fr") })
	manifest("a title with a third language whose code is not two lower-case letters (EN)", KindContent, func(m *election.Manifest) { m.Title["EN"] = "Test vectors" })
	manifest("a manifest of version 1", KindContent, func(m *election.Manifest) { m.Version = 1 })
	manifest("a title of 301 bytes", KindContent, func(m *election.Manifest) { m.Title["en"] = strings.Repeat("é", 150) + "." })
	manifest("a voting window that closes before it opens", KindContent, func(m *election.Manifest) { m.Window.Closes = "2027-02-28T09:00:00Z" })
	manifest("a voting window that closes when it opens", KindContent, func(m *election.Manifest) { m.Window.Closes = m.Window.Opens })
	manifest("a manifest without contests", KindContent, func(m *election.Manifest) { m.Contests = []election.Contest{} })
	manifest(`a roster label holding a line feed, written \n: the only escapes are \" and \\ (§18.2)`, KindEncoding, func(m *election.Manifest) { m.Roster.Label = "records.json\nsecond line" })
	manifest(`a trustee name holding U+2028, written \u2028`, KindEncoding, func(m *election.Manifest) {
		m.Roster.Trustees = slices.Clone(m.Roster.Trustees)
		m.Roster.Trustees[0].Name = "Trustee\u20281"
	})
	manifest("a title holding U+007F, which JSON does not escape", KindEncoding, func(m *election.Manifest) { m.Title["en"] = "Test\x7fvectors" })
	manifest("a contest of 151 options (min = max = 1): its ballot would be 65,925 bytes", KindContent, func(m *election.Manifest) {
		m.Contests = m.Contests[:1]
		m.Contests[0].Options = nil
		for i := range 151 {
			m.Contests[0].Options = append(m.Contests[0].Options, election.Option{ID: fmt.Sprintf("o%d", i), Title: election.Text{"en": "o", "fr": "o"}})
		}
	})
	{
		// The largest valid contest of that shape: 150 options, a ballot of 65,491 bytes.
		m := g.recordManifest(b.manifest.Roster, b.manifest.LogKey)
		m.Contests = m.Contests[:1]
		m.Contests[0].Options = nil
		for i := range 150 {
			m.Contests[0].Options = append(m.Contests[0].Options, election.Option{ID: fmt.Sprintf("o%d", i), Title: election.Text{"en": "o", "fr": "o"}})
		}
		e, err := m.Entry()
		g.check(err)
		f.Cases = append(f.Cases, RecordCase{Comment: "a contest of 150 options (min = max = 1): its ballot is 65,491 bytes; a record of the manifest alone has no invalid entry", Steps: []RecordStep{ent(e)}, Valid: true, Invalid: []RecordFailure{}})
	}
	// Witnesses named in the manifest (spec §18.3, revision 6). Their keys
	// come from fixed seeds, not from g, so that no other vector changes.
	seed := func(b byte) *bytes.Reader { return bytes.NewReader(bytes.Repeat([]byte{b}, 32)) }
	_, cosigKey, err := board.GenerateCosigner(seed(0x21), "witness.example/one")
	g.check(err)
	_, noteKey, err := note.GenerateKey(seed(0x22), "witness.example/two")
	g.check(err)
	_, sameKey, err := note.GenerateKey(seed(0x21), "witness.example/one-again")
	g.check(err)
	logAsWitness, err := note.NewEd25519VerifierKey("witness.example/log", ed25519.PublicKey(b.manifest.LogKey))
	g.check(err)
	twoWitnesses := []election.Witness{{Key: cosigKey, URL: "https://witness.example/one"}, {Key: noteKey}}
	{
		m := g.recordManifest(b.manifest.Roster, b.manifest.LogKey)
		m.Witnesses, m.WitnessQuorum = twoWitnesses, 2
		e, err := m.Entry()
		g.check(err)
		f.Cases = append(f.Cases, RecordCase{Comment: "a manifest naming two witnesses (a cosignature/v1 key with an address, a plain note key without) and a witness quorum of 2; a record of the manifest alone has no invalid entry", Steps: []RecordStep{ent(e)}, Valid: true, Invalid: []RecordFailure{}})
	}
	manifest("a witness quorum of 3 among 2 witnesses", KindContent, func(m *election.Manifest) { m.Witnesses, m.WitnessQuorum = twoWitnesses, 3 })
	manifest("two witnesses and no witness_quorum (it would be 0)", KindContent, func(m *election.Manifest) { m.Witnesses = twoWitnesses })
	manifest("a witness_quorum of 1 and no witness", KindContent, func(m *election.Manifest) { m.WitnessQuorum = 1 })
	manifest("a witness key of algorithm 0x02", KindContent, func(m *election.Manifest) {
		m.Witnesses, m.WitnessQuorum = []election.Witness{{Key: "witness.example/bad+01234567+AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, 1
	})
	manifest("a witness key whose hash does not match its name and key", KindContent, func(m *election.Manifest) {
		m.Witnesses, m.WitnessQuorum = []election.Witness{{Key: strings.Replace(cosigKey, "witness.example/one", "witness.example/uno", 1)}}, 1
	})
	manifest("one Ed25519 key named twice, as a cosignature/v1 key and as a plain note key", KindContent, func(m *election.Manifest) {
		m.Witnesses, m.WitnessQuorum = []election.Witness{{Key: cosigKey}, {Key: sameKey}}, 1
	})
	manifest("the log key named as a witness", KindContent, func(m *election.Manifest) {
		m.Witnesses, m.WitnessQuorum = []election.Witness{{Key: logAsWitness}}, 1
	})
	manifest("a witness address that is not http or https", KindContent, func(m *election.Manifest) {
		m.Witnesses, m.WitnessQuorum = []election.Witness{{Key: noteKey, URL: "ftp://witness.example/"}}, 1
	})
	invalid("a manifest with whitespace in its JSON", 0, KindEncoding, ent(g.edit(b.log[0], `{"contests"`, `{ "contests"`)))
	invalid("a log that starts with a ballot", 0, KindOrder, ent(b.log[b.ballots]))

	// Roll, credentials, open (spec §18.4).
	invalid("a roll of 0 voters", b.roll, KindContent, cp(0, b.roll), ent((&election.Roll{Commitment: make([]byte, 32), Voters: 0}).Entry()))
	invalid("a roll of 2^53 voters: an integer above 2^53 − 1 is not canonical JSON (§18.2)", b.roll, KindEncoding, cp(0, b.roll), ent(append([]byte{election.TypeRoll}, `{"commitment":"`+strings.Repeat("A", 43)+`","voters":9007199254740992}`...)))
	invalid("a second roll entry", b.roll+1, KindOrder, cp(0, b.roll+1), cp(b.roll, b.roll+1))
	invalid("an empty credentials entry", b.creds, KindContent, cp(0, b.creds), ent((&election.Credentials{Credentials: []*crypto.PublicKey{}}).Entry()))
	invalid("a credential published twice, in two entries", b.creds+1, KindContent, cp(0, b.creds+1), ent((&election.Credentials{Credentials: []*crypto.PublicKey{b.keys[2].PublicKey(), b.keys[0].PublicKey()}}).Entry()))
	{
		extra, err := crypto.GenerateKey(g.rnd)
		g.check(err)
		invalid("a credentials entry that brings the credentials above the roll's 4 voters", b.open, KindContent, cp(0, b.open), ent((&election.Credentials{Credentials: []*crypto.PublicKey{extra.PublicKey()}}).Entry()))
	}
	invalid("the identity as a credential", b.creds, KindEncoding, cp(0, b.creds), ent(append([]byte{election.TypeCredentials}, `{"credentials":["`+strings.Repeat("A", 43)+`"]}`...)))
	invalid("an open entry before every voter's credential is published", b.creds+1, KindOrder, cp(0, b.creds+1), cp(b.open, b.open+1))

	// Ceremony entries (spec §18.1, §13.2).
	{
		d := slices.Clone(b.log[1])
		d[len(d)-crypto.SignatureSize-1] ^= 1 // a byte of the last encrypted share: the signature fails
		invalid("a dealing whose signature does not verify", 1, KindContent, cp(0, 1), ent(d))
		invalid("a truncated dealing", 1, KindEncoding, cp(0, 1), ent(b.log[1][:len(b.log[1])-1]))
		invalid("a decryption-share message in a ceremony entry", b.roll, KindEncoding, cp(0, b.roll), ent(append([]byte{election.TypeCeremony}, b.log[b.decryption][1:]...)))
		// A copy of a ceremony entry (anyone can make one from the log)
		// changes no outcome, but is invalid, so that nobody pads the log.
		invalid("trustee 1's dealing recorded again, byte for byte", 2, KindContent, cp(0, 2), cp(1, 2))
		invalid("the last confirmation recorded again, byte for byte, once the ceremony is complete", b.roll, KindContent, cp(0, b.roll), cp(b.roll-1, b.roll))
	}
	invalid("an entry of type 255", b.ballots, KindEncoding, cp(0, b.ballots), ent([]byte{255, '{', '}'}))

	// A ceremony message that decodes and is signed but whose proofs fail
	// (spec §18.1): a dealing is then invalid as an entry; a complaints
	// message is valid (its complaint is invalid, and changes nothing).
	{
		roster := &b.manifest.Roster
		t := roster.Threshold
		body := slices.Clone(b.log[1][1 : len(b.log[1])-crypto.SignatureSize])
		s := 37 + 32*t + 32 // π_1's response s
		copy(body[s:s+32], append([]byte{1}, make([]byte, 31)...))
		d, err := crypto.SealCeremonyMessage(g.rnd, roster, b.trustees[0], body)
		g.check(err)
		invalid("a dealing, validly signed, whose proof of knowledge π_1 fails", 1, KindContent, cp(0, 1), ent(append([]byte{election.TypeCeremony}, d...)))

		p := roster.Trustees[1].Encryption.Bytes() // a valid element, for K and the commitments
		fp := roster.Fingerprint()
		c := append([]byte{2}, fp[:]...)
		c = append(c, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2) // sender 1, one complaint, against dealer 2
		c = append(c, p...)                               // K_{2,1}
		c = append(append(c, p...), p...)                 // ρ's A₁, A₂
		c = append(c, make([]byte, 32)...)                // ρ's s = 0: the proof fails
		cm, err := crypto.SealCeremonyMessage(g.rnd, roster, b.trustees[0], c)
		g.check(err)
		f.Cases = append(f.Cases, RecordCase{Comment: "a late complaints message of trustee 1 against dealer 2 whose proof fails, validly signed: a valid entry (the complaint is invalid and changes nothing)",
			Steps: []RecordStep{cp(0, b.roll), ent(append([]byte{election.TypeCeremony}, cm...)), cp(b.roll, n)}, Valid: true, Decided: true, Invalid: []RecordFailure{}, Counts: baseCounts})
	}
	g.moreRecords(f, b, baseCounts)
	g.windowRecords(f, b, baseCounts)
	g.replaceRecords(f, b)
	g.setPhases(f)
	return f
}

// mustMarshal encodes a manifest canonically (spec §18.2) without
// validating it, as a faulty server might: Go's encoder with HTML escaping
// off, as package election does.
func mustMarshal(m *election.Manifest) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		panic("vectors: internal error: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// buildRecord makes a case's record from the base log.
func buildRecord(log []Hex, steps []RecordStep) ([][]byte, error) {
	var out [][]byte
	for i, s := range steps {
		switch {
		case s.Copy != nil && s.Entry == nil:
			if len(s.Copy) != 2 || s.Copy[0] < 0 || s.Copy[0] > s.Copy[1] || s.Copy[1] > len(log) {
				return nil, fmt.Errorf("step %d: copy %v is not a range of the log's %d entries", i, s.Copy, len(log))
			}
			for _, e := range log[s.Copy[0]:s.Copy[1]] {
				out = append(out, e)
			}
		case s.Copy == nil && s.Entry != nil:
			out = append(out, s.Entry)
		default:
			return nil, fmt.Errorf("step %d has both or neither of copy and entry", i)
		}
	}
	return out, nil
}

// replayRecord applies a record as a verifier does (spec §19 step 3): an
// invalid ballot is reported and skipped; any other invalid entry, or an
// invalid entry 0, ends the check.
func replayRecord(entries [][]byte) ([]RecordFailure, *election.State) {
	failures := []RecordFailure{}
	s := election.New()
	for i, e := range entries {
		err := s.Apply(e)
		if err == nil {
			continue
		}
		failures = append(failures, RecordFailure{i, recordKind(err)})
		if i == 0 || len(e) == 0 || e[0] != election.TypeBallot {
			break
		}
		s.Skip()
	}
	return failures, s
}

func checkRecords(f *RecordFile) (int, error) {
	var errs []error
	for _, c := range f.Cases {
		entries, err := buildRecord(f.Log, c.Steps)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Comment, err))
			continue
		}
		failures, s := replayRecord(entries)
		var counts [][]uint64
		if s.Result != nil {
			for _, rc := range s.Result.Contests {
				counts = append(counts, rc.Counts)
			}
		}
		valid, decided := len(failures) == 0, s.Result != nil
		switch {
		case valid != c.Valid || decided != c.Decided:
			errs = append(errs, fmt.Errorf("%s: valid = %v (failures %v), decided = %v; want %v, %v", c.Comment, valid, failures, decided, c.Valid, c.Decided))
		case s.Phase.String() != c.Phase:
			errs = append(errs, fmt.Errorf("%s: phase %s, want %s", c.Comment, s.Phase, c.Phase))
		case !slices.Equal(failures, c.Invalid):
			errs = append(errs, fmt.Errorf("%s: invalid entries %v, want %v", c.Comment, failures, c.Invalid))
		case !slices.EqualFunc(counts, c.Counts, slices.Equal):
			errs = append(errs, fmt.Errorf("%s: counts %v, want %v", c.Comment, counts, c.Counts))
		}
	}
	return len(f.Cases), errors.Join(errs...)
}
