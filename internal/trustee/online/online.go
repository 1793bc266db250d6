package online

// A trustee's steps in an election on line, from its verified record: what
// is due, whom the trustee waits for, and the message of each step. The
// trustee page (the WebAssembly module) runs these; they take the
// verifier's report (package verify: the checkpoint's signature, every
// entry replayed) and do no I/O. The command line (cmd/scrutin) runs the
// same rounds with the same crypto calls.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/verify"
)

// Steps a trustee may have to take (Situation.Next).
const (
	StepDeal    = "deal"
	StepCheck   = "check"
	StepFinish  = "finish"
	StepDecrypt = "decrypt"
)

// Situation is where a trustee stands in an election, as its verified
// record shows it.
type Situation struct {
	Fingerprint string        `json:"fingerprint"`
	Title       election.Text `json:"title"`
	Phase       string        `json:"phase"`
	Self        int           `json:"self"`
	Name        string        `json:"name"`
	Threshold   int           `json:"threshold"`
	Names       []string      `json:"trustees"`
	// Next is the step due now ("deal", "check", "finish", "decrypt"),
	// or "".
	Next string `json:"next"`
	// Wait is what the trustee waits for: "dealings", "checks",
	// "confirmations" (of the other trustees, named in Waiting),
	// "voting" (the key is made; the tally comes after the vote),
	// "decryptions" (this trustee's shares are in; Waiting names those
	// who have not decrypted yet), or "".
	Wait    string   `json:"wait"`
	Waiting []string `json:"waiting"`
	// Done is "decided" once the result is recorded, "failed" if the
	// ceremony cannot make a key (Failure says why), "left-out" if the
	// key was made without this trustee, or "".
	Done    string  `json:"done"`
	Failure string  `json:"failure,omitempty"`
	Faults  []Fault `json:"faults"`
	// Confirmed are the trustees who confirmed the key.
	Confirmed []int `json:"confirmed"`
	// What a decryption decrypts: the tally of the counted ballots.
	Contests  []ContestSummary `json:"contests"`
	Counted   int              `json:"counted_ballots"`
	Ballots   int              `json:"ballots"`
	Voters    int              `json:"voters"`
	Sums      int              `json:"sums"`
	Decrypted []int            `json:"decrypted"`
	// Checkpoint is the signed checkpoint verified, to give as the
	// previous one next time (base64).
	Checkpoint string `json:"checkpoint"`
}

// Fault is a trustee's fault in the ceremony, with its name.
type Fault struct {
	Trustee      int    `json:"trustee"`
	Name         string `json:"name"`
	Disqualified bool   `json:"disqualified"`
	Reason       string `json:"reason"`
}

// ContestSummary is a contest as the decryption step shows it.
type ContestSummary struct {
	Title   election.Text `json:"title"`
	Options int           `json:"options"`
}

// Online is a trustee taking part in an election through its verified
// record.
type Online struct {
	Report  *verify.Report
	Roster  *crypto.Roster
	Self    int
	Secrets *crypto.TrusteeSecrets
	File    *trustee.KeystoreFile
}

// ErrNotOnRoster is returned for a keystore whose identity is not on the
// election's roster.
var ErrNotOnRoster = errors.New("this identity is not on the election's roster")

// NewOnline finds the trustee of keystore kf on the roster of the election
// whose record rep verified. The record must have verified (rep.OK) and
// hold a manifest.
func NewOnline(rep *verify.Report, kf *trustee.KeystoreFile) (*Online, error) {
	if !rep.OK || rep.Manifest == nil || rep.State == nil {
		return nil, errors.New("the election's record did not verify")
	}
	s, err := kf.Secrets()
	if err != nil {
		return nil, err
	}
	r := &rep.Manifest.Roster
	self := r.Index(s.Signing.PublicKey())
	if self == 0 {
		return nil, fmt.Errorf("%w (%s): check the election's address, or that this is your keystore; ask the officer", ErrNotOnRoster, kf.Name())
	}
	// The roster's entry must be the identity made, both keys: with
	// another encryption key, every dealer encrypts this trustee's shares
	// to whoever holds that key (the server that received the identity
	// and changed it).
	if !r.Trustees[self-1].Encryption.Equal(s.Encryption.PublicKey()) {
		return nil, fmt.Errorf("%w (%s): the roster's trustee %d has this keystore's signing key but another encryption key, so the identity on the roster is not the one made; take no step and tell the officer (compare the identity fingerprints)", ErrNotOnRoster, kf.Name(), self)
	}
	return &Online{Report: rep, Roster: r, Self: self, Secrets: s, File: kf}, nil
}

// sent returns the trustees who sent a message of type typ (1 dealing, 2
// complaints, 3 confirmation), and the first such message of trustee self.
func sent(msgs [][]byte, typ byte, self int) (map[int]bool, []byte) {
	who := make(map[int]bool)
	var own []byte
	for _, m := range msgs {
		if len(m) < 37 || m[0] != typ {
			continue
		}
		j := int(m[33])<<24 | int(m[34])<<16 | int(m[35])<<8 | int(m[36])
		who[j] = true
		if j == self && own == nil {
			own = m
		}
	}
	return who, own
}

func (o *Online) missing(who map[int]bool) []string {
	var out []string
	for j := 1; j <= o.Roster.N(); j++ {
		if !who[j] {
			out = append(out, o.Roster.Trustees[j-1].Name)
		}
	}
	return out
}

// Situation says what is due and whom the trustee waits for.
func (o *Online) Situation() *Situation {
	rep, st, r := o.Report, o.Report.State, o.Roster
	s := &Situation{Fingerprint: rep.Fingerprint, Title: rep.Manifest.Title, Phase: rep.Phase, Self: o.Self, Name: r.Trustees[o.Self-1].Name,
		Threshold: r.Threshold, Faults: []Fault{}, Waiting: []string{}, Contests: []ContestSummary{}, Confirmed: []int{}, Decrypted: []int{}}
	s.Checkpoint = base64.StdEncoding.EncodeToString(rep.Checkpoint)
	for _, t := range r.Trustees {
		s.Names = append(s.Names, t.Name)
	}
	msgs := st.CeremonyMessages()
	out, rerr := crypto.Replay(r, msgs)
	if out != nil {
		for _, f := range out.Faults {
			name := ""
			if f.Trustee >= 1 && f.Trustee <= r.N() {
				name = r.Trustees[f.Trustee-1].Name
			}
			s.Faults = append(s.Faults, Fault{Trustee: f.Trustee, Name: name, Disqualified: f.Disqualified, Reason: f.Reason})
		}
		s.Confirmed = append(s.Confirmed, out.Confirmed...)
	}
	if c := st.Ceremony; c != nil && c.Complete {
		s.Confirmed = slices.Clone(c.Confirmed)
	}
	for _, c := range rep.Manifest.Contests {
		s.Contests = append(s.Contests, ContestSummary{Title: c.Title, Options: len(c.Options)})
	}
	s.Counted, s.Ballots, s.Voters, s.Sums = rep.Counted, rep.Ballots, rep.Voters, len(rep.Tally)
	s.Decrypted = append(s.Decrypted, st.Decrypted()...)

	switch st.Phase {
	case election.PhaseDecided:
		s.Done = "decided"
		return s
	case election.PhaseTallied:
		if slices.Contains(st.Decrypted(), o.Self) {
			s.Wait = "decryptions"
			who := map[int]bool{}
			for _, j := range st.Decrypted() {
				who[j] = true
			}
			s.Waiting = o.missing(who)
		} else {
			s.Next = StepDecrypt
		}
		return s
	case election.PhaseVoting, election.PhaseClosed:
		s.Wait = "voting"
		return s
	}
	// The ceremony.
	if c := st.Ceremony; c != nil && c.Complete {
		if slices.Contains(c.Confirmed, o.Self) {
			s.Wait = "voting"
		} else if _, own := sent(msgs, 2, o.Self); own != nil && slices.Contains(c.Qualified, o.Self) {
			s.Next = StepFinish // late: the key is made; store this trustee's share of it
		} else {
			s.Done = "left-out"
		}
		return s
	}
	// Until every trustee has dealt, a trustee who has not is no fault
	// yet. The ceremony fails for good once every complaint is in and
	// still fewer than t dealers qualify (spec §13.3).
	if dealt, _ := sent(msgs, 1, 0); len(dealt) < r.N() {
		s.Faults = s.Faults[:0]
	}
	var ce *crypto.CeremonyError
	if errors.As(rerr, &ce) {
		if complained, _ := sent(msgs, 2, 0); len(complained) == r.N() {
			s.Done, s.Failure = "failed", ce.Error()
			return s
		}
	}
	dealt, ownDealing := sent(msgs, 1, o.Self)
	complained, ownComplaints := sent(msgs, 2, o.Self)
	confirmed, ownConfirmation := sent(msgs, 3, o.Self)
	switch {
	case ownDealing == nil:
		s.Next = StepDeal
	case ownComplaints == nil:
		if miss := o.missing(dealt); len(miss) > 0 {
			s.Wait, s.Waiting = "dealings", miss
		} else {
			s.Next = StepCheck
		}
	case ownConfirmation == nil:
		if miss := o.missing(complained); len(miss) > 0 {
			s.Wait, s.Waiting = "checks", miss
		} else {
			s.Next = StepFinish
		}
	default:
		s.Wait, s.Waiting = "confirmations", o.missing(confirmed)
	}
	return s
}

// Deal makes the trustee's dealing (spec §13.2), or returns pending if it
// is a dealing this trustee made before for this roster and that may not
// have reached the log: dealing twice would be equivocation.
func (o *Online) Deal(pending []byte) ([]byte, error) {
	if _, own := sent(o.Report.State.CeremonyMessages(), 1, o.Self); own != nil {
		return nil, errors.New("this trustee has already dealt")
	}
	if len(pending) > 0 {
		if _, err := crypto.ParseDealing(o.Roster, pending); err == nil && senderOf(pending) == o.Self {
			return pending, nil
		}
	}
	return crypto.Deal(nil, o.Roster, o.Self, o.Secrets)
}

func senderOf(m []byte) int {
	if len(m) < 37 {
		return 0
	}
	return int(m[33])<<24 | int(m[34])<<16 | int(m[35])<<8 | int(m[36])
}

// Check checks the shares dealt to the trustee and makes its complaints
// message (spec §13.2), possibly with no complaint.
func (o *Online) Check() ([]byte, error) {
	var dealings [][]byte
	for _, m := range o.Report.State.CeremonyMessages() {
		if m[0] == 1 {
			dealings = append(dealings, m)
		}
	}
	return crypto.Complain(nil, o.Roster, o.Self, o.Secrets, dealings)
}

// Finish computes the trustee's share of the key, adds it to the keystore
// and makes its confirmation (spec §13.2).
func (o *Online) Finish() ([]byte, error) {
	out, err := crypto.Replay(o.Roster, o.Report.State.CeremonyMessages())
	if err != nil {
		return nil, err
	}
	share, err := out.Share(o.Roster, o.Self, o.Secrets)
	if err != nil {
		return nil, err
	}
	if err := o.File.AddShare(out.Fingerprint, o.Self, share, out.PublicKey); err != nil {
		return nil, err
	}
	return out.Confirm(nil, o.Roster, o.Self, o.Secrets, share)
}

// Decrypt makes the trustee's decryption shares of the recorded tally
// (spec §14.1): the tally the verifier checked as the sum of the counted
// ballots, and nothing else. The share is the keystore's; if the key was
// completed with another transcript than the one the trustee finished
// with, or the keystore lacks it, it is computed again from the record.
func (o *Online) Decrypt() ([]byte, error) {
	st := o.Report.State
	if st.Phase != election.PhaseTallied || o.Report.Tally == nil {
		return nil, errors.New("the election has no tally to decrypt")
	}
	out := st.Ceremony
	if out == nil || !out.Complete {
		return nil, errors.New("the election's key ceremony is not complete")
	}
	share, ok, err := o.File.Share(out.Fingerprint)
	if err != nil {
		return nil, err
	}
	if !ok || !share.PublicKey().Equal(out.VerificationKeys[o.Self-1]) {
		if share, err = out.Share(o.Roster, o.Self, o.Secrets); err != nil {
			return nil, err
		}
	}
	return out.DecryptShare(nil, o.Roster, o.Self, o.Secrets, share, o.Report.Tally)
}
