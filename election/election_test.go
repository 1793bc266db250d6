package election

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
)

func testRand(seed byte) io.Reader { return mrand.NewChaCha8([32]byte{seed}) }

func text(s string) Text { return Text{"en": s, "fr": s + " (fr)"} }

func testManifest(t testing.TB, rnd io.Reader, trustees []*crypto.TrusteeSecrets, threshold int) (*Manifest, []byte) {
	t.Helper()
	id, _ := crypto.NewCeremonyID(rnd)
	r := crypto.Roster{Label: "test election", ID: id, Threshold: threshold}
	for j, s := range trustees {
		r.Trustees = append(r.Trustees, crypto.Trustee{Name: fmt.Sprintf("Trustee %d", j+1), Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	}
	seed := make([]byte, ed25519.SeedSize)
	io.ReadFull(rnd, seed)
	m := &Manifest{
		Contests: []Contest{
			{ID: "leader", Min: 1, Max: 1, Title: text("Leader"), Options: []Option{{ID: "ada", Title: text("Ada")}, {ID: "bob", Title: text("Bob")}, {ID: "cyd", Title: text("Cyd")}}},
			{ID: "motion", Min: 0, Max: 1, Title: text("Motion 1"), Options: []Option{{ID: "yes", Title: text("Yes")}, {ID: "no", Title: text("No")}}},
		},
		Description: text("A test election"),
		LogKey:      Bytes(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)),
		Roster:      r,
		Title:       text("Test"),
		Window:      Window{Opens: "2027-03-01T09:00:00Z", Closes: "2027-03-08T18:00:00Z"},
	}
	return m, seed
}

// testElection runs the setup of an election: manifest, ceremony, roll,
// credentials, open.
type testElection struct {
	s        *State
	log      [][]byte
	trustees []*crypto.TrusteeSecrets
	shares   []*crypto.SecretKey
	codes    []string
	rnd      io.Reader
}

func (e *testElection) apply(t testing.TB, entry []byte) {
	t.Helper()
	if err := e.s.Apply(entry); err != nil {
		t.Fatal(err)
	}
	e.log = append(e.log, entry)
}

// refuse requires the entry to be refused and the state unchanged.
func (e *testElection) refuse(t testing.TB, what string, entry []byte, contains string) {
	t.Helper()
	size, phase, ballots := e.s.Size, e.s.Phase, e.s.Ballots
	err := e.s.Apply(entry)
	if err == nil {
		t.Fatalf("%s: accepted", what)
	}
	if !errors.Is(err, ErrEntry) || !strings.Contains(err.Error(), contains) {
		t.Fatalf("%s: error %q does not say %q", what, err, contains)
	}
	if e.s.Size != size || e.s.Phase != phase || e.s.Ballots != ballots {
		t.Fatalf("%s: refused entry changed the state", what)
	}
}

func newTestElection(t testing.TB, voters int) *testElection {
	return newTestElectionWith(t, voters, false)
}

// newTestElectionWith, with north, restricts the motion to the group
// "north", of which the even voters are.
func newTestElectionWith(t testing.TB, voters int, north bool) *testElection {
	return newTestElectionEdit(t, voters, north, nil)
}

// newTestElectionEdit lets edit change the manifest before it is recorded.
func newTestElectionEdit(t testing.TB, voters int, north bool, edit func(*Manifest)) *testElection {
	rnd := testRand(byte(voters))
	e := &testElection{s: New(), rnd: rnd}
	for range 5 {
		s, _ := crypto.NewTrusteeSecrets(rnd)
		e.trustees = append(e.trustees, s)
	}
	m, _ := testManifest(t, rnd, e.trustees, 3)
	if north {
		m.Contests[1].Eligible = "north"
	}
	if edit != nil {
		edit(m)
	}
	me, err := m.Entry()
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, me)
	r := &m.Roster
	var dealings [][]byte
	for j := 1; j <= 5; j++ {
		d, _ := crypto.Deal(rnd, r, j, e.trustees[j-1])
		dealings = append(dealings, d)
		e.apply(t, append([]byte{TypeCeremony}, d...))
	}
	for j := 1; j <= 5; j++ {
		c, _ := crypto.Complain(rnd, r, j, e.trustees[j-1], dealings)
		e.apply(t, append([]byte{TypeCeremony}, c...))
	}
	out := e.s.Ceremony
	for j := 1; j <= 5; j++ {
		sh, err := out.Share(r, j, e.trustees[j-1])
		if err != nil {
			t.Fatal(err)
		}
		e.shares = append(e.shares, sh)
		c, _ := out.Confirm(rnd, r, j, e.trustees[j-1], sh)
		e.apply(t, append([]byte{TypeCeremony}, c...))
	}
	if !e.s.Ceremony.Complete {
		t.Fatal("ceremony not complete")
	}
	e.apply(t, (&Roll{Commitment: make([]byte, 32), Voters: voters}).Entry())
	var creds []*crypto.PublicKey
	for range voters {
		code, _ := NewCode(rnd)
		e.codes = append(e.codes, code)
		k, err := CredentialKey(e.s.Fingerprint, code)
		if err != nil {
			t.Fatal(err)
		}
		creds = append(creds, k.PublicKey())
	}
	if north {
		var even, odd []*crypto.PublicKey
		for i, c := range creds {
			if i%2 == 0 {
				even = append(even, c)
			} else {
				odd = append(odd, c)
			}
		}
		e.apply(t, (&Credentials{Credentials: even, Groups: []string{"north"}}).Entry())
		e.apply(t, (&Credentials{Credentials: odd}).Entry())
	} else {
		for i := 0; i < voters; i += 7 {
			e.apply(t, (&Credentials{Credentials: creds[i:min(voters, i+7)]}).Entry())
		}
	}
	e.apply(t, (&Open{At: "2027-03-01T09:00:00Z"}).Entry())
	return e
}

func (e *testElection) ballot(t testing.TB, voter int, choices [][]int) []byte {
	t.Helper()
	v, err := e.s.Voter()
	if err != nil {
		t.Fatal(err)
	}
	k, _ := CredentialKey(e.s.Fingerprint, e.codes[voter])
	b, err := v.NewBallot(e.rnd, k, choices)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestElectionEndToEnd runs a whole election through its log: 60 voters,
// some re-voting, close, tally, decryption by trustees 1, 3 and 5, result;
// then replays the log from scratch as a verifier would.
func TestElectionEndToEnd(t *testing.T) {
	const voters = 60
	e := newTestElection(t, voters)
	want := [][]uint64{{0, 0, 0}, {0, 0}}
	r := mrand.New(mrand.NewPCG(5, 5))
	final := make([][][]int, voters)
	for v := range voters {
		for range 1 + r.IntN(2) { // some vote twice: only the last counts
			choice := [][]int{{r.IntN(3)}, {}}
			if r.IntN(3) > 0 {
				choice[1] = []int{r.IntN(2)}
			}
			final[v] = choice
			e.apply(t, e.ballot(t, v, choice))
		}
	}
	for _, ch := range final {
		for c, opts := range ch {
			for _, o := range opts {
				want[c][o]++
			}
		}
	}
	// A voter finds its ballot by tracker; a superseded one no longer counts.
	k0, _ := CredentialKey(e.s.Fingerprint, e.codes[0])
	if cb := e.s.Counted(k0.PublicKey()); cb == nil || cb.Tracker != Tracker(e.log[cb.Index]) {
		t.Fatal("counted ballot of voter 0 not found by its tracker")
	}

	e.apply(t, (&Close{At: "2027-03-08T18:00:00Z", Reason: "the voting window ended"}).Entry())
	tally, err := e.s.ExpectedTally()
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, tally)
	for _, j := range []int{1, 3, 5} {
		msg, err := e.s.Ceremony.DecryptShare(e.rnd, &e.s.Manifest.Roster, j, e.trustees[j-1], e.shares[j-1], e.s.TallyCiphertexts())
		if err != nil {
			t.Fatal(err)
		}
		e.apply(t, append([]byte{TypeDecryption}, msg...))
	}
	res, err := e.s.ExpectedResult()
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, res)
	got := e.s.Result
	for c := range want {
		if !slices.Equal(got.Contests[c].Counts, want[c]) {
			t.Fatalf("contest %d: counted %v, want %v", c, got.Contests[c].Counts, want[c])
		}
	}
	if !slices.Equal(got.Trustees, []int{1, 3, 5}) || e.s.Tally.Ballots != voters {
		t.Fatalf("result %+v", got)
	}

	// A verifier replaying the log gets the same state.
	v := New()
	for i, entry := range e.log {
		if err := v.Apply(entry); err != nil {
			t.Fatalf("replay of entry %d: %v", i, err)
		}
	}
	if v.Phase != PhaseDecided || string(v.Result.Entry()) != string(got.Entry()) {
		t.Fatal("replay disagrees")
	}
}

// TestRefusals submits every kind of bad entry the server must refuse; the
// state is unchanged after each.
func TestRefusals(t *testing.T) {
	e := newTestElection(t, 12)
	good := e.ballot(t, 0, [][]int{{1}, {0}})

	// Another election's ballot, with a credential of that election.
	other := newTestElection(t, 13)
	e.refuse(t, "ballot of another election", other.ballot(t, 0, [][]int{{1}, {0}}), "do not verify")
	// The same voter's code, but the ballot made for another election's F.
	k, _ := CredentialKey(e.s.Fingerprint, e.codes[1])
	foreign := &Election{Manifest: e.s.Manifest, Fingerprint: other.s.Fingerprint, Key: e.s.ElectionKey}
	fb, _ := foreign.NewBallot(e.rnd, k, [][]int{{0}, {}})
	e.refuse(t, "ballot bound to another election", fb, "do not verify")

	// Unknown credential (a valid ballot by a key not on the list).
	stranger, _ := crypto.GenerateKey(e.rnd)
	v, _ := e.s.Voter()
	sb, _ := v.NewBallot(e.rnd, stranger, [][]int{{0}, {}})
	e.refuse(t, "unknown credential", sb, "not on the published list")

	// Bad signature: the signature of another ballot.
	var b1, b2 Ballot
	unmarshal(good[1:], &b1)
	unmarshal(e.ballot(t, 0, [][]int{{2}, {1}})[1:], &b2)
	b1.Signature = b2.Signature
	e.refuse(t, "bad signature", b1.Entry(), "do not verify")

	// A proof made for another contest: contest 1's selection proofs moved.
	unmarshal(good[1:], &b1)
	ec, _ := crypto.EncryptContest(e.rnd, e.s.ElectionKey, e.s.Fingerprint, k.PublicKey(), 1, []int{0, 1, 0}, 1, 1)
	b1.Credential = k.PublicKey()
	b1.Contests[0] = BallotContest{Proofs: ec.Proofs, Selections: ec.Selections, TotalProof: ec.TotalProof}
	sig, _ := k.Sign(e.rnd, e.s.Fingerprint, ballotMessage(b1.Contests, b1.Credential))
	b1.Signature = sig
	e.refuse(t, "proof for another contest", b1.Entry(), "do not verify")

	// Over-vote: two options where one is allowed (every 0/1 proof valid).
	unmarshal(good[1:], &b1)
	ec2, _ := crypto.EncryptContest(e.rnd, e.s.ElectionKey, e.s.Fingerprint, k.PublicKey(), 0, []int{1, 1, 0}, 0, 2)
	b1.Credential = k.PublicKey()
	b1.Contests[0] = BallotContest{Proofs: ec2.Proofs, Selections: ec2.Selections, TotalProof: ec2.TotalProof}
	b1.Signature, _ = k.Sign(e.rnd, e.s.Fingerprint, ballotMessage(b1.Contests, b1.Credential))
	e.refuse(t, "over-vote", b1.Entry(), "do not verify")

	// Malformed and non-canonical JSON.
	e.refuse(t, "truncated JSON", good[:len(good)-1], "invalid entry")
	e.refuse(t, "whitespace", append(append([]byte{TypeBallot}, ' '), good[1:]...), "invalid entry")
	e.refuse(t, "unknown member", append([]byte{TypeBallot}, strings.Replace(string(good[1:]), `{"contests"`, `{"x":1,"contests"`, 1)...), "unknown field")
	e.refuse(t, "missing contest", append([]byte{TypeBallot}, strings.Replace(string(good[1:]), `"contests":[`, `"contests":[],"y":[`, 1)...), "invalid entry")
	e.refuse(t, "empty entry", nil, "empty")
	e.refuse(t, "entry over 65,535 bytes", append([]byte{TypeBallot}, make([]byte, 70000)...), "65535")
	var many []*crypto.PublicKey
	for range MaxCredentialsPerEntry {
		many = append(many, stranger.PublicKey())
	}
	if n := len((&Credentials{Credentials: many}).Entry()); n > 65535 {
		t.Fatalf("a full credentials entry is %d bytes, over the entry limit", n)
	}
	e.refuse(t, "unknown type", []byte{99, '{', '}'}, "unknown entry type")

	// Phase order.
	m, _ := testManifest(t, e.rnd, e.trustees, 3)
	me, _ := m.Entry()
	e.refuse(t, "second manifest", me, "entry 0")
	e.refuse(t, "tally while voting", (&Tally{}).Entry(), "right after closing")
	e.refuse(t, "credentials after opening", (&Credentials{Credentials: []*crypto.PublicKey{stranger.PublicKey()}}).Entry(), "only allowed")

	e.apply(t, good)
	e.apply(t, (&Close{At: "2027-03-08T18:00:00Z", Reason: "closed by the officer"}).Entry())
	e.refuse(t, "ballot after close", e.ballot(t, 2, [][]int{{0}, {}}), "closed")
	e.refuse(t, "a tally that is not the sum", (&Tally{Ballots: 1, Contests: []TallyContest{{Sums: asSums(b2.Contests[0].Selections)}, {Sums: asSums(b2.Contests[1].Selections)}}}).Entry(), "not the sum")
	tally, _ := e.s.ExpectedTally()
	e.apply(t, tally)
	// Decryption shares for another tally are refused.
	cts := e.s.TallyCiphertexts()
	wrong, _ := e.s.Ceremony.DecryptShare(e.rnd, &e.s.Manifest.Roster, 2, e.trustees[1], e.shares[1], append(slices.Clone(cts[:4]), cts[0]))
	e.refuse(t, "decryption shares of another tally", append([]byte{TypeDecryption}, wrong...), "do not match")
	for _, j := range []int{2, 4, 5} {
		msg, _ := e.s.Ceremony.DecryptShare(e.rnd, &e.s.Manifest.Roster, j, e.trustees[j-1], e.shares[j-1], cts)
		e.apply(t, append([]byte{TypeDecryption}, msg...))
	}
	res, _ := e.s.ExpectedResult()
	var r Result
	unmarshal(res[1:], &r)
	r.Contests[0].Counts[1]++
	e.refuse(t, "a result that is not the decryption", r.Entry(), "the named trustees' decryption shares give")
	e.apply(t, res)
}

func asSums(cts []*crypto.Ciphertext) []*crypto.CiphertextSum {
	out := make([]*crypto.CiphertextSum, len(cts))
	for i, c := range cts {
		out[i] = crypto.SumOf(c)
	}
	return out
}

func TestOpenNeedsCeremonyAndCredentials(t *testing.T) {
	rnd := testRand(77)
	var trustees []*crypto.TrusteeSecrets
	for range 3 {
		s, _ := crypto.NewTrusteeSecrets(rnd)
		trustees = append(trustees, s)
	}
	m, _ := testManifest(t, rnd, trustees, 2)
	me, _ := m.Entry()
	e := &testElection{s: New(), rnd: rnd}
	e.refuse(t, "ballot before the manifest", []byte{TypeOpen, '{', '}'}, "must start with the manifest")
	e.apply(t, me)
	e.refuse(t, "open without a ceremony", (&Open{At: "2027-03-01T09:00:00Z"}).Entry(), "ceremony")
	e.refuse(t, "credentials before the roll", (&Credentials{}).Entry(), "after the roll")
	e.refuse(t, "roll without voters", (&Roll{Commitment: make([]byte, 32)}).Entry(), "at least one voter")
	sum := sha256.Sum256([]byte("roll"))
	e.apply(t, (&Roll{Commitment: sum[:], Voters: 2}).Entry())
	k, _ := crypto.GenerateKey(rnd)
	e.refuse(t, "duplicate credential", (&Credentials{Credentials: []*crypto.PublicKey{k.PublicKey(), k.PublicKey()}}).Entry(), "already published")
	e.refuse(t, "a ceremony message of another roster", append([]byte{TypeCeremony}, 1, 2, 3), "invalid entry")
}

func TestManifestValidation(t *testing.T) {
	rnd := testRand(78)
	s, _ := crypto.NewTrusteeSecrets(rnd)
	for name, edit := range map[string]func(m *Manifest){
		"no French title":   func(m *Manifest) { delete(m.Title, "fr") },
		"control character": func(m *Manifest) { m.Title["en"] = "a\nb" },
		"bad language code": func(m *Manifest) { m.Title["english"] = "x" },
		"no contest":        func(m *Manifest) { m.Contests = nil },
		"bad contest id":    func(m *Manifest) { m.Contests[0].ID = "Leader!" },
		"duplicate option":  func(m *Manifest) { m.Contests[0].Options[1].ID = "ada" },
		"max above options": func(m *Manifest) { m.Contests[0].Max = 4 },
		"min above max":     func(m *Manifest) { m.Contests[0].Min = 2 },
		"max zero":          func(m *Manifest) { m.Contests[1].Max, m.Contests[1].Min = 0, 0 },
		"window backwards":  func(m *Manifest) { m.Window.Closes = "2027-02-01T09:00:00Z" },
		"window not UTC":    func(m *Manifest) { m.Window.Opens = "2027-03-01T09:00:00+01:00" },
		"short log key":     func(m *Manifest) { m.LogKey = m.LogKey[:31] },
		"version 1":         func(m *Manifest) { m.Version = 1 },
		"threshold above n": func(m *Manifest) { m.Roster.Threshold = 2 },
	} {
		m, _ := testManifest(t, rnd, []*crypto.TrusteeSecrets{s}, 1)
		edit(m)
		if _, err := m.Entry(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCodes(t *testing.T) {
	c, _ := NewCode(testRand(1))
	if len(c) != 24 || strings.Count(c, "-") != 4 {
		t.Fatalf("code %q", c)
	}
	typed := strings.ToLower(strings.ReplaceAll(c, "-", " "))
	if n, err := NormalizeCode(typed); err != nil || n != c {
		t.Fatalf("normalize %q: %q %v", typed, n, err)
	}
	if n, _ := NormalizeCode("oooo-iiii-llll-0000-1111"); n != "0000-1111-1111-0000-1111" {
		t.Fatalf("confusable letters: %q", n)
	}
	for _, bad := range []string{"", "ABC", strings.Repeat("U", 20)} {
		if _, err := NormalizeCode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	f1, f2 := crypto.Fingerprint{1}, crypto.Fingerprint{2}
	k1, _ := CredentialKey(f1, c)
	k2, _ := CredentialKey(f2, c)
	if k1.PublicKey().Equal(k2.PublicKey()) {
		t.Fatal("the same code gives the same credential in two elections")
	}
}

// TestCanonicalFieldOrder: every entry type's fields are declared in name
// order, as canonical JSON requires.
func TestCanonicalFieldOrder(t *testing.T) {
	for _, v := range []any{Manifest{}, Contest{}, Option{}, Window{}, Roll{}, Credentials{}, Open{}, Close{}, Ballot{}, BallotContest{}, Tally{}, TallyContest{}, Result{}, ResultContest{}, crypto.Roster{}, crypto.Trustee{}} {
		b := marshal(v)
		var names []string
		depth := 0
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			case '"':
				j := i + 1
				for b[j] != '"' {
					j++
				}
				if depth == 1 && b[j+1] == ':' {
					names = append(names, string(b[i+1:j]))
				}
				i = j
			}
		}
		if !slices.IsSorted(names) {
			t.Errorf("%T: fields %v are not in name order", v, names)
		}
	}
}

// TestContestEligibility: a contest restricted to a group (spec §18.3–18.5)
// is answered by that group's voters only, and counted over them.
func TestContestEligibility(t *testing.T) {
	const voters = 8
	e := newTestElectionWith(t, voters, true)
	// Voter 0 is in "north", voter 1 is not.
	e.refuse(t, "northern voter leaving the motion out", e.ballot(t, 0, [][]int{{0}, nil}), "leaves out contest \"motion\"")
	e.refuse(t, "other voter answering the motion", e.ballot(t, 1, [][]int{{0}, {1}}), "answers contest \"motion\", which this credential is not eligible for")
	e.refuse(t, "other voter answering nothing", e.ballot(t, 1, [][]int{nil, nil}), "answers no contest")
	// "{"proofs":[]}" is not the canonical form of an empty contest.
	b := e.ballot(t, 1, [][]int{{2}, nil})
	e.refuse(t, "empty contest written with empty lists", []byte(strings.Replace(string(b), `{}]`, `{"proofs":[]}]`, 1)), "canonical")
	want := [][]uint64{{0, 0, 0}, {0, 0}}
	for v := range voters {
		ch := [][]int{{v % 3}, nil}
		if v%2 == 0 {
			ch[1] = []int{v % 4 / 2}
		}
		e.apply(t, e.ballot(t, v, ch))
		want[0][v%3]++
		if v%2 == 0 {
			want[1][v%4/2]++
		}
	}
	e.apply(t, (&Close{At: "2027-03-08T18:00:00Z", Reason: "the voting window ended"}).Entry())
	tally, err := e.s.ExpectedTally()
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, tally)
	for _, j := range []int{2, 4, 5} {
		msg, _ := e.s.Ceremony.DecryptShare(e.rnd, &e.s.Manifest.Roster, j, e.trustees[j-1], e.shares[j-1], e.s.TallyCiphertexts())
		e.apply(t, append([]byte{TypeDecryption}, msg...))
	}
	res, err := e.s.ExpectedResult()
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, res)
	for c := range want {
		if !slices.Equal(e.s.Result.Contests[c].Counts, want[c]) {
			t.Fatalf("contest %d: %v, want %v", c, e.s.Result.Contests[c].Counts, want[c])
		}
	}
}

func TestCredentialGroupsRefused(t *testing.T) {
	e := newTestElectionWith(t, 2, true)
	s := New()
	for _, entry := range e.log {
		if entry[0] == TypeCredentials {
			break
		}
		if err := s.Apply(entry); err != nil {
			t.Fatal(err)
		}
	}
	k, _ := crypto.GenerateKey(e.rnd)
	for name, groups := range map[string][]string{
		"a group no contest names": {"south"},
		"unsorted":                 {"north", "mid"},
		"repeated":                 {"north", "north"},
	} {
		if err := s.Apply((&Credentials{Credentials: []*crypto.PublicKey{k.PublicKey()}, Groups: groups}).Entry()); err == nil || !errors.Is(err, ErrEntry) {
			t.Errorf("%s: %v", name, err)
		}
	}
	m := *e.s.Manifest
	m.Contests = slices.Clone(m.Contests)
	m.Contests[1].Eligible = "North!"
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "eligible") {
		t.Fatalf("a bad group name: %v", err)
	}
}

// decide closes the election, records the tally, decryption entries of the
// given trustees and the result, and returns the result.
func (e *testElection) decide(t testing.TB, trustees ...int) *Result {
	t.Helper()
	e.apply(t, (&Close{At: "2027-03-08T18:00:00Z", Reason: "the voting window ended"}).Entry())
	tally, err := e.s.ExpectedTally()
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, tally)
	for _, j := range trustees {
		e.apply(t, e.decryption(t, j))
	}
	res, err := e.s.ExpectedResult()
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, res)
	return e.s.Result
}

func (e *testElection) decryption(t testing.TB, j int) []byte {
	t.Helper()
	msg, err := e.s.Ceremony.DecryptShare(e.rnd, &e.s.Manifest.Roster, j, e.trustees[j-1], e.shares[j-1], e.s.TallyCiphertexts())
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte{TypeDecryption}, msg...)
}

// TestUnansweredContestTally: a contest that gets no counted ballot has
// sums over no ballot, the identity ciphertext (spec §2.1, §18.6); the tally,
// the decryption entries and the result accept it, and a record where
// nobody votes at all is decided with zeros.
func TestUnansweredContestTally(t *testing.T) {
	t.Run("group-contest-without-ballot", func(t *testing.T) {
		e := newTestElectionWith(t, 4, true)
		e.apply(t, e.ballot(t, 1, [][]int{{2}, nil})) // voter 1 is odd: not in "north"
		e.apply(t, e.ballot(t, 3, [][]int{{2}, nil}))
		r := e.decide(t, 1, 2, 4)
		if !slices.Equal(r.Contests[0].Counts, []uint64{0, 0, 2}) || !slices.Equal(r.Contests[1].Counts, []uint64{0, 0}) || len(r.Contests[1].Winners) != 0 {
			t.Fatalf("result %+v", r)
		}
		zero := append(make([]byte, 0, 64), make([]byte, 64)...)
		if got := e.s.Tally.Contests[1].Sums[0].Bytes(); string(got) != string(zero) {
			t.Fatalf("the sum over no ballot is %x, not the identity ciphertext", got)
		}
		e.replay(t)
	})
	t.Run("nobody-votes", func(t *testing.T) {
		e := newTestElection(t, 3)
		e.apply(t, (&Close{At: "2027-03-08T18:00:00Z", Reason: "the voting window ended"}).Entry())
		tally, _ := e.s.ExpectedTally()
		e.apply(t, tally)
		for _, j := range []int{2, 3, 5} {
			e.apply(t, e.decryption(t, j))
		}
		res, _ := e.s.ExpectedResult()
		// No winners is [], not null: one result has one text.
		e.refuse(t, "winners null", []byte(strings.Replace(string(res), `"winners":[]`, `"winners":null`, 1)), "null is not a value")
		e.apply(t, res)
		r := e.s.Result
		for c, rc := range r.Contests {
			if slices.ContainsFunc(rc.Counts, func(n uint64) bool { return n != 0 }) || len(rc.Winners) != 0 {
				t.Fatalf("contest %d: %+v", c, rc)
			}
		}
		if e.s.Tally.Ballots != 0 {
			t.Fatalf("tally of %d ballots", e.s.Tally.Ballots)
		}
		e.replay(t)
	})
}

// replay applies the whole log to a fresh state, as a verifier does.
func (e *testElection) replay(t testing.TB) *State {
	t.Helper()
	v := New()
	for i, entry := range e.log {
		if err := v.Apply(entry); err != nil {
			t.Fatalf("replay of entry %d: %v", i, err)
		}
	}
	return v
}

// TestTallyReasons: a tally entry that is malformed is reported as such,
// not as a wrong sum.
func TestTallyReasons(t *testing.T) {
	e := newTestElection(t, 3)
	e.apply(t, e.ballot(t, 0, [][]int{{1}, {0}}))
	e.apply(t, (&Close{At: "2027-03-08T18:00:00Z", Reason: "closed"}).Entry())
	tally, _ := e.s.ExpectedTally()
	var tl Tally
	unmarshal(tally[1:], &tl)
	text := string(tally)
	sum := tl.Contests[0].Sums[0]
	st, _ := sum.MarshalText()
	// The last base64url character of a 64-byte value carries 4 bits of
	// which the last 2 are padding; set one of them.
	last := st[len(st)-1]
	i := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", last)
	trailing := string(st[:len(st)-1]) + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i^1])
	wrongSum := tl
	wrongSum.Contests = slices.Clone(tl.Contests)
	wrongSum.Contests[1] = TallyContest{Sums: slices.Clone(tl.Contests[1].Sums)}
	wrongSum.Contests[1].Sums[1] = tl.Contests[0].Sums[1]
	wrongCount := tl
	wrongCount.Ballots = 2
	for _, c := range []struct{ what, entry, says string }{
		{"non-zero trailing base64 bits", strings.Replace(text, string(st), trailing, 1), "base64"},
		{"a number with a leading zero", strings.Replace(text, `"ballots":1`, `"ballots":01`, 1), "invalid character"},
		{"the ballots written 060", strings.Replace(text, `"ballots":1`, `"ballots":060`, 1), "invalid character"},
		{"whitespace", strings.Replace(text, `{"ballots"`, `{ "ballots"`, 1), "not canonical"},
		{"a wrong count of ballots", string(wrongCount.Entry()), "counts 2 ballots; the log has 1"},
		{"a wrong sum", string(wrongSum.Entry()), "sum for option 1 of contest 1"},
	} {
		e.refuse(t, c.what, []byte(c.entry), c.says)
		if strings.Contains(errString(e.s.Apply([]byte(c.entry))), "not the sum") != (c.what == "a wrong sum") {
			t.Errorf("%s: reported as a wrong sum", c.what)
		}
	}
	e.apply(t, tally)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestResultTrustees: a trustee has at most one decryption entry; the
// result names exactly t trustees with decryption entries, in increasing
// order (any such set); its winners follow from its counts; nothing follows
// the result (spec §18.1, §18.6).
func TestResultTrustees(t *testing.T) {
	e := newTestElection(t, 4)
	e.apply(t, e.ballot(t, 0, [][]int{{1}, {0}}))
	e.apply(t, e.ballot(t, 1, [][]int{{2}, {0}}))
	e.apply(t, (&Close{At: "2027-03-08T18:00:00Z", Reason: "closed"}).Entry())
	tally, _ := e.s.ExpectedTally()
	e.apply(t, tally)
	for _, j := range []int{1, 2, 4, 5} {
		e.apply(t, e.decryption(t, j))
	}
	e.refuse(t, "a second decryption entry of trustee 4", e.decryption(t, 4), "already recorded")
	lowest, _ := e.s.ExpectedResult()
	var r Result
	unmarshal(lowest[1:], &r)
	if !slices.Equal(r.Trustees, []int{1, 2, 4}) {
		t.Fatalf("expected result names %v", r.Trustees)
	}
	with := func(trustees ...int) []byte {
		c := r
		c.Trustees = trustees
		return c.Entry()
	}
	e.refuse(t, "trustees out of order", with(4, 2, 5), "not in strictly increasing order")
	e.refuse(t, "a trustee named twice", with(2, 2, 4), "not in strictly increasing order")
	e.refuse(t, "t − 1 trustees", with(2, 4), "must name exactly t = 3")
	e.refuse(t, "t + 1 trustees", with(1, 2, 4, 5), "must name exactly t = 3")
	e.refuse(t, "a trustee without a decryption entry", with(2, 3, 4), "trustee 3, who has no decryption entry")
	e.refuse(t, "trustee 0", with(0, 2, 4), "trustee 0, who has no decryption entry")
	w := r
	w.Contests = slices.Clone(r.Contests)
	w.Contests[0].Winners = []string{"bob"}
	e.refuse(t, "wrong winners", w.Entry(), "not the options with the most votes")
	// Any t trustees with decryption entries may be named.
	e.apply(t, with(2, 4, 5))
	if !slices.Equal(e.s.Result.Contests[0].Counts, []uint64{0, 1, 1}) || !slices.Equal(e.s.Result.Contests[0].Winners, []string{"bob", "cyd"}) {
		t.Fatalf("result %+v", e.s.Result)
	}
	e.refuse(t, "a decryption entry after the result", e.decryption(t, 3), "the result is the last entry")
	e.refuse(t, "a second result", lowest, "the result is the last entry")
	e.replay(t)
}

// options returns k options o0, o1, ….
func options(k int) []Option {
	var o []Option
	for i := range k {
		o = append(o, Option{ID: fmt.Sprintf("o%d", i), Title: text(fmt.Sprintf("Option %d", i))})
	}
	return o
}

// TestLargestManifests: a manifest is valid only if its largest ballot
// fits in an entry (spec §18.3); MaxBallotSize is exact; and the largest
// valid manifests of two shapes (the most options in one approval contest,
// the most options in all) run end to end to a verified result.
func TestLargestManifests(t *testing.T) {
	for _, c := range []struct {
		name    string
		k, min  int
		approve bool // max = k, else max = 1
	}{
		{"approval of 107 options", 107, 0, true},
		{"plurality of 150 options", 150, 1, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			shape := func(k int) func(m *Manifest) {
				return func(m *Manifest) {
					mx := 1
					if c.approve {
						mx = k
					}
					m.Contests = []Contest{{ID: "big", Min: c.min, Max: mx, Title: text("Big"), Options: options(k)}}
				}
			}
			// One more option does not fit.
			m, _ := testManifest(t, testRand(1), []*crypto.TrusteeSecrets{mustTrustee(t)}, 1)
			shape(c.k + 1)(m)
			if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "a ballot answering every contest would be") {
				t.Fatalf("%d options: %v", c.k+1, err)
			}
			e := newTestElectionEdit(t, 3, false, shape(c.k))
			var all, some []int
			for o := range c.k {
				all = append(all, o)
			}
			if !c.approve {
				all = []int{c.k - 1}
			}
			some = []int{0}
			b := e.ballot(t, 0, [][]int{all})
			if n := e.s.Manifest.MaxBallotSize(); len(b) != n || n > 65535 || n < 65535-434-171 {
				t.Fatalf("the ballot entry is %d bytes; MaxBallotSize says %d", len(b), n)
			}
			e.apply(t, b)
			e.apply(t, e.ballot(t, 1, [][]int{some}))
			r := e.decide(t, 1, 3, 4)
			want := make([]uint64, c.k)
			for _, o := range all {
				want[o]++
			}
			want[0]++
			if !slices.Equal(r.Contests[0].Counts, want) {
				t.Fatalf("counts %v, want %v", r.Contests[0].Counts, want)
			}
			for i, entry := range e.log {
				if len(entry) > 65535 {
					t.Fatalf("entry %d is %d bytes", i, len(entry))
				}
			}
			e.replay(t)
		})
	}
	// The formula holds for several contests, some of them group-only.
	e := newTestElectionEdit(t, 2, true, func(m *Manifest) {
		m.Contests = append(m.Contests, Contest{ID: "third", Min: 2, Max: 4, Title: text("Third"), Options: options(5)})
	})
	b := e.ballot(t, 0, [][]int{{0}, {1}, {0, 2, 4}})
	if n := e.s.Manifest.MaxBallotSize(); len(b) != n {
		t.Fatalf("the ballot entry is %d bytes; MaxBallotSize says %d", len(b), n)
	}
	// A manifest whose own entry is too large.
	m, _ := testManifest(t, testRand(2), []*crypto.TrusteeSecrets{mustTrustee(t)}, 1)
	m.Contests[0].Options = options(110)
	for i := range m.Contests[0].Options {
		m.Contests[0].Options[i].Title = Text{"en": strings.Repeat("e", 300), "fr": strings.Repeat("f", 300)}
	}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "the manifest's entry would be") {
		t.Fatalf("a 70 kB manifest: %v", err)
	}
}

func mustTrustee(t testing.TB) *crypto.TrusteeSecrets {
	s, err := crypto.NewTrusteeSecrets(testRand(9))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestManifestSizeExamples checks the examples of spec §18.3: each shape is
// valid at its stated size and invalid with one more option or contest.
func TestManifestSizeExamples(t *testing.T) {
	contest := func(id string, k, min, max int) Contest {
		return Contest{ID: id, Min: min, Max: max, Title: text(id), Options: options(k)}
	}
	for _, c := range []struct {
		name     string
		largest  int
		contests func(n int) []Contest
	}{
		{"plurality, min = max = 1", 150, func(n int) []Contest { return []Contest{contest("c", n, 1, 1)} }},
		{"plurality, blank allowed", 149, func(n int) []Contest { return []Contest{contest("c", n, 0, 1)} }},
		{"approval", 107, func(n int) []Contest { return []Contest{contest("c", n, 0, n)} }},
		{"yes/no referendums", 52, func(n int) []Contest {
			var cs []Contest
			for i := range n {
				cs = append(cs, contest(fmt.Sprintf("r%d", i), 2, 0, 1))
			}
			return cs
		}},
	} {
		for _, n := range []int{c.largest, c.largest + 1} {
			m, _ := testManifest(t, testRand(3), []*crypto.TrusteeSecrets{mustTrustee(t)}, 1)
			m.Contests = c.contests(n)
			err := m.Validate()
			if (err == nil) != (n == c.largest) {
				t.Errorf("%s of %d: ballot of %d bytes, %v", c.name, n, m.MaxBallotSize(), err)
			}
		}
	}
	// 64 contests of one option each is the most contests, and fits.
	m, _ := testManifest(t, testRand(3), []*crypto.TrusteeSecrets{mustTrustee(t)}, 1)
	m.Contests = nil
	for i := range MaxContests {
		m.Contests = append(m.Contests, contest(fmt.Sprintf("c%d", i), 1, 0, 1))
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestMostContestsEndToEnd: 64 contests (the most), run to a verified
// result, with one voter answering all and one answering none of the
// group-only ones.
func TestMostContestsEndToEnd(t *testing.T) {
	e := newTestElectionEdit(t, 2, false, func(m *Manifest) {
		m.Contests = nil
		for i := range MaxContests {
			c := Contest{ID: fmt.Sprintf("c%d", i), Min: 0, Max: 1, Title: text("C"), Options: options(1)}
			m.Contests = append(m.Contests, c)
		}
	})
	all := make([][]int, MaxContests)
	blank := make([][]int, MaxContests)
	for i := range all {
		all[i], blank[i] = []int{0}, []int{}
	}
	e.apply(t, e.ballot(t, 0, all))
	e.apply(t, e.ballot(t, 1, blank))
	r := e.decide(t, 2, 4, 5)
	for c, rc := range r.Contests {
		if !slices.Equal(rc.Counts, []uint64{1}) {
			t.Fatalf("contest %d: %v", c, rc.Counts)
		}
	}
	e.replay(t)
}
