package election

// spec: §21 cast or audit (the ballot code and the Benaloh challenge)

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/scrutin/scrutin/crypto"
)

// AuditVersion names the audit record's format (spec §21.3).
const AuditVersion = "scrutin/v0"

// ErrAudit marks an audit record that does not check.
var ErrAudit = errors.New("the audit record does not check")

// EncryptedBallot is a ballot encrypted but not signed: the booth's
// commitment, shown by its code, before the voter casts or audits it
// (spec §21). It is either signed (cast) or audited, never both.
type EncryptedBallot struct {
	e          *Election
	credential *crypto.PublicKey
	contests   []BallotContest
	choices    [][]int
	randomness [][]Bytes
	audited    bool
	cast       bool
}

// Encrypt encrypts a ballot for the credential's public key. choices[c]
// lists the options (by index) chosen in contest c, and is nil for a contest
// the voter is not eligible for (an empty, non-nil list is a blank answer);
// the contests' rules are enforced (a ballot answering no contest is left
// for the state to refuse).
func (e *Election) Encrypt(rnd io.Reader, credential *crypto.PublicKey, choices [][]int) (*EncryptedBallot, error) {
	if len(choices) != len(e.Manifest.Contests) {
		return nil, fmt.Errorf("the election has %d contests, %d answered", len(e.Manifest.Contests), len(choices))
	}
	b := &EncryptedBallot{e: e, credential: credential, choices: make([][]int, len(choices)), randomness: make([][]Bytes, len(choices))}
	for c, ct := range e.Manifest.Contests {
		if choices[c] == nil {
			b.contests = append(b.contests, BallotContest{})
			continue
		}
		votes, err := votesOf(ct, choices[c])
		if err != nil {
			return nil, err
		}
		ec, err := crypto.EncryptContest(rnd, e.Key, e.Fingerprint, credential, uint32(c), votes, uint64(ct.Min), uint64(ct.Max))
		if err != nil {
			return nil, err
		}
		b.contests = append(b.contests, BallotContest{Proofs: ec.Proofs, Selections: ec.Selections, TotalProof: ec.TotalProof})
		b.choices[c] = append([]int{}, choices[c]...)
		slices.Sort(b.choices[c])
		for _, r := range ec.Randomness {
			b.randomness[c] = append(b.randomness[c], Bytes(r))
		}
	}
	return b, nil
}

// votesOf turns a contest's chosen options into one 0 or 1 per option,
// checking the contest's rules.
func votesOf(ct Contest, chosen []int) ([]int, error) {
	votes := make([]int, len(ct.Options))
	for _, o := range chosen {
		if o < 0 || o >= len(votes) || votes[o] == 1 {
			return nil, fmt.Errorf("contest %q: option %d is not an option, or chosen twice", ct.ID, o)
		}
		votes[o] = 1
	}
	if len(chosen) < ct.Min || len(chosen) > ct.Max {
		return nil, fmt.Errorf("contest %q: choose between %d and %d options, not %d", ct.ID, ct.Min, ct.Max, len(chosen))
	}
	return votes, nil
}

// Code returns the ballot code (spec §21.1).
func (b *EncryptedBallot) Code() string { return ballotCode(b.contests, b.credential) }

func ballotCode(contests []BallotContest, credential *crypto.PublicKey) string {
	h := sha256.Sum256(ballotMessage(contests, credential))
	return hex.EncodeToString(h[:])
}

// BallotCode returns the code (spec §21.1) of a ballot entry.
func BallotCode(entry []byte) (string, error) {
	if len(entry) == 0 || entry[0] != TypeBallot {
		return "", fmt.Errorf("%w: not a ballot", ErrEntry)
	}
	var b Ballot
	if err := unmarshal(entry[1:], &b); err != nil {
		return "", err
	}
	if b.Credential == nil {
		return "", fmt.Errorf("%w: the ballot lacks its credential", ErrEntry)
	}
	return ballotCode(b.Contests, b.Credential), nil
}

// Sign signs the encrypted ballot with the credential, whose public key it
// was encrypted for, and returns the ballot entry to cast. A ballot once
// audited cannot be signed.
func (b *EncryptedBallot) Sign(rnd io.Reader, credential *crypto.SecretKey) ([]byte, error) {
	if b.audited {
		return nil, errors.New("this encryption was audited: it can never be cast; encrypt afresh")
	}
	if !credential.PublicKey().Equal(b.credential) {
		return nil, errors.New("the credential is not the one the ballot was encrypted for")
	}
	sig, err := credential.Sign(rnd, b.e.Fingerprint, ballotMessage(b.contests, b.credential))
	if err != nil {
		return nil, err
	}
	b.cast = true
	return (&Ballot{Contests: b.contests, Credential: b.credential, Signature: sig}).Entry(), nil
}

// Audit is an audit record (spec §21.3): an encryption opened, never cast.
type Audit struct {
	Audit      string            `json:"audit"`
	Choices    [][]int           `json:"choices"`
	Code       string            `json:"code"`
	Contests   []BallotContest   `json:"contests"`
	Credential *crypto.PublicKey `json:"credential"`
	Election   string            `json:"election"`
	Randomness [][]Bytes         `json:"randomness"`
}

// Audit opens the encryption: it returns the audit record, after which the
// ballot can never be signed. A ballot already signed cannot be audited.
func (b *EncryptedBallot) Audit() (*Audit, error) {
	if b.cast {
		return nil, errors.New("this encryption was signed to be cast: it cannot be audited")
	}
	b.audited = true
	a := &Audit{Audit: AuditVersion, Code: b.Code(), Contests: b.contests, Credential: b.credential,
		Election: hex.EncodeToString(b.e.Fingerprint[:]), Choices: b.choices, Randomness: make([][]Bytes, len(b.randomness))}
	for c := range b.randomness {
		a.Randomness[c] = append([]Bytes{}, b.randomness[c]...)
	}
	return a, nil
}

// JSON returns the audit record's canonical JSON.
func (a *Audit) JSON() []byte { return marshal(a) }

// ParseAudit decodes an audit record, which must be canonical JSON like an
// entry (spec §18.2, §21.3): unknown, missing or duplicate members, and any
// other text than the canonical one, are refused.
func ParseAudit(data []byte) (*Audit, error) {
	var a Audit
	if err := unmarshalNullable(data, &a); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAudit, err)
	}
	return &a, nil
}

// CheckAudit checks an audit record against the election (spec §21.3). It
// returns nil only if the record opens, to the choices it lists, an
// encryption whose code is the record's code, and the record's credential
// is published and the record answers exactly the contests it may answer
// (e.Eligibility).
func (e *Election) CheckAudit(a *Audit) error {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrAudit, fmt.Sprintf(format, args...))
	}
	if a.Audit != AuditVersion {
		return fail("it is not a %s audit record", AuditVersion)
	}
	if a.Election != hex.EncodeToString(e.Fingerprint[:]) {
		return fail("it is for election %.16s…, not this one (%x)", a.Election, e.Fingerprint[:8])
	}
	if a.Credential == nil {
		return fail("it has no credential")
	}
	if e.Eligibility == nil {
		return fail("the contests its credential may answer are unknown")
	}
	eligible, published := e.Eligibility(a.Credential)
	if !published {
		return fail("its credential is not published in this election")
	}
	n := len(e.Manifest.Contests)
	if len(a.Contests) != n || len(a.Choices) != n || len(a.Randomness) != n {
		return fail("the election has %d contests; the record has %d contests, %d choice lists and %d randomness lists", n, len(a.Contests), len(a.Choices), len(a.Randomness))
	}
	batch := crypto.NewBatch()
	answered := false
	for c, ct := range e.Manifest.Contests {
		bc := a.Contests[c]
		if a.Randomness[c] == nil {
			return fail("contest %q: its randomness is null, not a list (spec §21.3)", ct.ID)
		}
		// spec: §21.3 step 6, as §18.5 for a ballot.
		if may := eligible&(1<<c) != 0; bc.answered() != may {
			if may {
				return fail("contest %q is left out, but the credential may answer it: the ballot could not be cast", ct.ID)
			}
			return fail("contest %q is answered, but the credential may not answer it: the ballot could not be cast", ct.ID)
		}
		if !bc.answered() {
			if a.Choices[c] != nil || len(a.Randomness[c]) != 0 {
				return fail("contest %q is not answered but has choices or randomness", ct.ID)
			}
			continue
		}
		answered = true
		if a.Choices[c] == nil {
			return fail("contest %q is answered but its choices are missing", ct.ID)
		}
		k := len(ct.Options)
		if len(bc.Selections) != k || len(bc.Proofs) != k || bc.TotalProof == nil || len(a.Randomness[c]) != k ||
			slices.Contains(bc.Selections, nil) || slices.Contains(bc.Proofs, nil) {
			return fail("contest %q needs %d selections, %d proofs, a total proof and %d scalars", ct.ID, k, k, k)
		}
		for i := 1; i < len(a.Choices[c]); i++ {
			if a.Choices[c][i] <= a.Choices[c][i-1] {
				return fail("contest %q: the chosen options %v must be listed once each, in increasing order", ct.ID, a.Choices[c])
			}
		}
		votes, err := votesOf(ct, a.Choices[c])
		if err != nil {
			return fail("%v", err)
		}
		for j, v := range votes {
			want, err := crypto.EncryptWithRandomness(e.Key, uint64(v), a.Randomness[c][j])
			if err != nil {
				return fail("contest %q, option %d: %v", ct.ID, j, err)
			}
			if string(want.Bytes()) != string(bc.Selections[j].Bytes()) {
				return fail("contest %q, option %d: the selection does not encrypt %d with the revealed randomness", ct.ID, j, v)
			}
		}
		batch.AddContest(e.Key, e.Fingerprint, a.Credential, uint32(c), uint64(ct.Min), uint64(ct.Max),
			&crypto.EncryptedContest{Selections: bc.Selections, Proofs: bc.Proofs, TotalProof: bc.TotalProof})
	}
	if !answered {
		return fail("it answers no contest")
	}
	if err := batch.Verify(); err != nil {
		return fail("a proof does not verify: %v", err)
	}
	if code := ballotCode(a.Contests, a.Credential); code != a.Code {
		return fail("its code is %s, but its encryption's code is %s", a.Code, code)
	}
	return nil
}
