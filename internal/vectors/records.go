package vectors

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
)

// RecordsFile is records.json (spec §18–§19): a pool of entries of one
// small election, and logs made of them, each with what a verifier must
// find.
type RecordsFile struct {
	Spec        string       `json:"spec"`
	Fingerprint Hex          `json:"fingerprint"` // F = SHA-256(entries[0])
	Entries     []Hex        `json:"entries"`
	Cases       []RecordCase `json:"cases"`
}

// RecordCase is one log: entries[log[0]], entries[log[1]], …
type RecordCase struct {
	Comment  string          `json:"comment"`
	Log      []int           `json:"log"`
	Valid    bool            `json:"valid"`
	Failures []RecordFailure `json:"failures"` // in log order
	Phase    string          `json:"phase"`    // what the log reaches (spec §19)
	Counted  []string        `json:"counted"`  // trackers of the counted ballots, in log order
	Counts   [][]uint64      `json:"counts,omitempty"`
}

// RecordFailure is an invalid entry, by its position in the log.
type RecordFailure struct {
	Entry  int    `json:"entry"`
	Reason string `json:"reason"`
}

// Reasons a record vector's entry is invalid.
const (
	ReasonReplay      = "replay"      // §18.5: the code of an earlier valid ballot
	ReasonEligibility = "eligibility" // §18.5: a contest answered or left out against the credential's groups
)

func (g *gen) records() *RecordsFile {
	f := &RecordsFile{Spec: "docs/spec.md §18–§19, version 0"}
	var trustees []*crypto.TrusteeSecrets
	for range 2 {
		s, err := crypto.NewTrusteeSecrets(g.rnd)
		g.check(err)
		trustees = append(trustees, s)
	}
	id, err := crypto.NewCeremonyID(g.rnd)
	g.check(err)
	roster := crypto.Roster{Label: "records vector", ID: id, Threshold: 2}
	for j, s := range trustees {
		roster.Trustees = append(roster.Trustees, crypto.Trustee{Name: fmt.Sprintf("Trustee %d", j+1), Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	}
	text := func(s string) election.Text { return election.Text{"en": s, "fr": s + " (fr)"} }
	m := &election.Manifest{
		Contests: []election.Contest{
			{ID: "leader", Min: 1, Max: 1, Title: text("Leader"), Options: []election.Option{{ID: "ada", Title: text("Ada")}, {ID: "bob", Title: text("Bob")}, {ID: "cyd", Title: text("Cyd")}}},
			{ID: "motion", Eligible: "north", Min: 0, Max: 1, Title: text("Motion"), Options: []election.Option{{ID: "yes", Title: text("Yes")}, {ID: "no", Title: text("No")}}},
		},
		Description: text("Records test vector"),
		LogKey:      election.Bytes(ed25519.NewKeyFromSeed(g.bytes(ed25519.SeedSize)).Public().(ed25519.PublicKey)),
		Roster:      roster,
		Title:       text("Records"),
		Window:      election.Window{Opens: "2027-03-01T09:00:00Z", Closes: "2027-03-08T18:00:00Z"},
	}
	s := election.New()
	add := func(e []byte) int {
		if err := s.Apply(e); err != nil {
			g.check(fmt.Errorf("records: the honest entry %d does not apply: %w", len(f.Entries), err))
		}
		f.Entries = append(f.Entries, e)
		return len(f.Entries) - 1
	}
	me, err := m.Entry()
	g.check(err)
	if g.err != nil {
		return f
	}
	add(me)
	f.Fingerprint = s.Fingerprint[:]
	var dealings [][]byte
	for j := 1; j <= 2; j++ {
		d, err := crypto.Deal(g.rnd, &roster, j, trustees[j-1])
		g.check(err)
		dealings = append(dealings, d)
		add(append([]byte{election.TypeCeremony}, d...))
	}
	for j := 1; j <= 2; j++ {
		c, err := crypto.Complain(g.rnd, &roster, j, trustees[j-1], dealings)
		g.check(err)
		add(append([]byte{election.TypeCeremony}, c...))
	}
	var shares []*crypto.SecretKey
	for j := 1; j <= 2; j++ {
		sh, err := s.Ceremony.Share(&roster, j, trustees[j-1])
		g.check(err)
		shares = append(shares, sh)
		c, err := s.Ceremony.Confirm(g.rnd, &roster, j, trustees[j-1], sh)
		g.check(err)
		add(append([]byte{election.TypeCeremony}, c...))
	}
	if g.err != nil {
		return f
	}
	add((&election.Roll{Commitment: g.bytes(32), Voters: 3}).Entry())
	var keys []*crypto.SecretKey
	for range 3 {
		code, err := election.NewCode(g.rnd)
		g.check(err)
		k, err := election.CredentialKey(s.Fingerprint, code)
		g.check(err)
		keys = append(keys, k)
	}
	if g.err != nil {
		return f
	}
	add((&election.Credentials{Credentials: []*crypto.PublicKey{keys[0].PublicKey()}, Groups: []string{"north"}}).Entry())
	add((&election.Credentials{Credentials: []*crypto.PublicKey{keys[1].PublicKey(), keys[2].PublicKey()}}).Entry())
	add((&election.Open{At: "2027-03-01T09:00:00Z"}).Entry())
	v, err := s.Voter()
	g.check(err)
	if g.err != nil {
		return f
	}
	encrypt := func(voter int, choices [][]int) *election.EncryptedBallot {
		b, err := v.Encrypt(g.rnd, keys[voter].PublicKey(), choices)
		g.check(err)
		return b
	}
	sign := func(b *election.EncryptedBallot, voter int) []byte {
		if b == nil {
			return nil
		}
		e, err := b.Sign(g.rnd, keys[voter])
		g.check(err)
		return e
	}
	enc1 := encrypt(0, [][]int{{0}, {0}})
	b1 := add(sign(enc1, 0))                          // voter 0 (north): Ada, yes
	b2 := add(sign(encrypt(0, [][]int{{1}, {1}}), 0)) // voter 0 again: Bob, no
	b3 := add(sign(encrypt(1, [][]int{{2}, nil}), 1)) // voter 1: Cyd
	closeAt := add((&election.Close{At: "2027-03-08T18:00:00Z", Reason: "the voting window ended"}).Entry())
	tally, err := s.ExpectedTally()
	g.check(err)
	add(tally)
	for j := 1; j <= 2; j++ {
		msg, err := s.Ceremony.DecryptShare(g.rnd, &roster, j, trustees[j-1], shares[j-1], s.TallyCiphertexts())
		g.check(err)
		add(append([]byte{election.TypeDecryption}, msg...))
	}
	res, err := s.ExpectedResult()
	g.check(err)
	last := add(res)
	// Entries that are never valid in this election.
	resigned := len(f.Entries)
	f.Entries = append(f.Entries, sign(enc1, 0)) // B1's encryption, signed again
	skips := len(f.Entries)
	f.Entries = append(f.Entries, sign(encrypt(0, [][]int{{2}, nil}), 0)) // voter 0 leaves out the motion
	answers := len(f.Entries)
	f.Entries = append(f.Entries, sign(encrypt(1, [][]int{{0}, {}}), 1)) // voter 1 answers the motion
	if g.err != nil {
		return f
	}

	honest := seq0(last + 1)
	before := func(at int, extra ...int) []int {
		return slices.Concat(honest[:at], extra, honest[at:])
	}
	f.Cases = []RecordCase{
		{Comment: "a whole election: voter 0 votes twice (its second ballot counts), voter 1 once, voter 2 not", Log: honest},
		{Comment: "the same log, ending while voting is open: valid, with no tally and no result", Log: honest[:b3+1]},
		{Comment: "the same log, ending after the close: valid, with no result", Log: honest[:closeAt+1]},
		{Comment: "voter 0's first ballot, superseded, copied again before the close: a replay (it does not count)", Log: before(closeAt, b1)},
		{Comment: "voter 0's counted ballot copied right after itself: a replay", Log: before(b2+1, b2)},
		{Comment: "voter 0's first encryption signed again, before the close: a replay, although the entry is new", Log: before(closeAt, resigned)},
		{Comment: "voter 0 (group north) leaves out the motion, which it may answer", Log: before(closeAt, skips)},
		{Comment: "voter 1 (no group) answers the motion, which it may not", Log: before(closeAt, answers)},
	}
	for i := range f.Cases {
		g.check(g.expectRecord(f, &f.Cases[i]))
	}
	return f
}

func seq0(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// expectRecord fills in what a verifier finds in the case's log.
func (g *gen) expectRecord(f *RecordsFile, c *RecordCase) error {
	r, err := replayRecord(f, c.Log)
	if err != nil {
		return err
	}
	c.Valid, c.Failures, c.Phase, c.Counted, c.Counts = len(r.Failures) == 0, r.Failures, r.Phase, r.Counted, r.Counts
	return nil
}

// replayRecord replays a log as a verifier does (spec §19): an invalid
// ballot is reported and skipped; any other invalid entry stops the replay.
func replayRecord(f *RecordsFile, log []int) (*RecordCase, error) {
	out := &RecordCase{Failures: []RecordFailure{}, Counted: []string{}}
	s := election.New()
	for pos, i := range log {
		if i < 0 || i >= len(f.Entries) {
			return nil, fmt.Errorf("log position %d names entry %d of %d", pos, i, len(f.Entries))
		}
		e := f.Entries[i]
		err := s.Apply(e)
		if err == nil {
			continue
		}
		out.Failures = append(out.Failures, RecordFailure{pos, recordReason(err)})
		if len(e) > 0 && e[0] == election.TypeBallot {
			s.Skip()
			continue
		}
		break
	}
	out.Phase = s.Phase.String()
	for pos, i := range log {
		e := f.Entries[i]
		if len(e) > 0 && e[0] == election.TypeBallot {
			if idx, counted, _ := s.FindTracker(election.Tracker(e)); counted && idx == int64(pos) {
				out.Counted = append(out.Counted, election.Tracker(e))
			}
		}
	}
	if s.Result != nil {
		for _, c := range s.Result.Contests {
			out.Counts = append(out.Counts, c.Counts)
		}
	}
	return out, nil
}

func recordReason(err error) string {
	switch {
	case errors.Is(err, election.ErrReplay):
		return ReasonReplay
	case errors.Is(err, election.ErrEligibility):
		return ReasonEligibility
	}
	return "other: " + err.Error()
}

func checkRecords(f *RecordsFile) (int, error) {
	var errs []error
	if len(f.Entries) == 0 {
		return 0, errors.New("no entries")
	}
	if fp := election.Tracker(f.Entries[0]); fp != hex.EncodeToString(f.Fingerprint) {
		errs = append(errs, fmt.Errorf("the fingerprint is not SHA-256 of entry 0"))
	}
	for i, c := range f.Cases {
		r, err := replayRecord(f, c.Log)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("case %d (%s): %w", i, c.Comment, err))
		case c.Valid != (len(r.Failures) == 0) || !slices.Equal(c.Failures, r.Failures) || c.Phase != r.Phase ||
			!slices.Equal(c.Counted, r.Counted) || !slices.EqualFunc(c.Counts, r.Counts, slices.Equal):
			errs = append(errs, fmt.Errorf("case %d (%s): the verifier finds valid=%v, failures %v, phase %s, counted %v, counts %v", i, c.Comment, len(r.Failures) == 0, r.Failures, r.Phase, r.Counted, r.Counts))
		}
	}
	return len(f.Cases), errors.Join(errs...)
}
