package election

// spec: §18.8 replacing a lost credential

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/scrutin/scrutin/crypto"
)

// Authority is the credential authority's public key (spec §18.8), which
// signs replacements of lost credentials.
type Authority struct {
	Key *crypto.PublicKey `json:"key"`
}

// Replacement revokes one credential and publishes another in its place
// (spec §18.8), signed by the credential authority.
type Replacement struct {
	At        string            `json:"at"`
	New       *crypto.PublicKey `json:"new"`
	Old       *crypto.PublicKey `json:"old"`
	Signature *crypto.Signature `json:"signature"`
}

type replacementBody struct {
	At  string            `json:"at"`
	New *crypto.PublicKey `json:"new"`
	Old *crypto.PublicKey `json:"old"`
}

// Entry encodes a payload as an entry of its type.
func (a *Authority) Entry() []byte   { return entry(TypeAuthority, a) }
func (r *Replacement) Entry() []byte { return entry(TypeReplacement, r) }

// message is what the authority signs (spec §18.8).
func (r *Replacement) message() []byte {
	return append([]byte("scrutin/v0/replacement"), marshal(replacementBody{r.At, r.New, r.Old})...)
}

// Verify checks the replacement's signature by the authority's key for
// the election f (spec §18.8).
func (r *Replacement) Verify(f crypto.Fingerprint, authority *crypto.PublicKey) error {
	if r.Signature == nil || r.Old == nil || r.New == nil {
		return errors.New("the replacement lacks a member")
	}
	return authority.Verify(f, r.message(), r.Signature)
}

// NewReplacement makes and signs, with the authority's secret key, the
// replacement of credential old by new for the election f, dated at.
func NewReplacement(rnd io.Reader, f crypto.Fingerprint, authority *crypto.SecretKey, old, new *crypto.PublicKey, at time.Time) (*Replacement, error) {
	r := &Replacement{At: Now(at), New: new, Old: old}
	sig, err := authority.Sign(rnd, f, r.message())
	if err != nil {
		return nil, err
	}
	r.Signature = sig
	return r, nil
}

// ErrRevoked refuses a ballot under a credential revoked by a replacement
// (spec §18.8).
var ErrRevoked = errors.New("the credential was replaced (revoked): vote with the new one")

func (s *State) applyAuthority(payload []byte) error {
	switch {
	case s.Phase != PhaseSetup:
		return fmt.Errorf("%w: the credential authority's key is recorded before voting opens (the election is %q)", ErrOrder, s.Phase)
	case s.Roll == nil:
		return fmt.Errorf("%w: the credential authority's key comes after the roll", ErrOrder)
	case s.Authority != nil:
		return fmt.Errorf("%w: the credential authority's key is already recorded", ErrOrder)
	}
	var a Authority
	if err := unmarshal(payload, &a); err != nil {
		return err
	}
	if a.Key == nil {
		return fmt.Errorf("%w: the authority entry has no key", ErrMalformed)
	}
	s.Authority = a.Key
	return nil
}

func (s *State) applyReplacement(payload []byte) error {
	if err := s.need(PhaseVoting, "replacing a credential"); err != nil {
		return err
	}
	if s.Authority == nil {
		return fmt.Errorf("%w: the log has no credential authority's key, so no credential can be replaced", ErrOrder)
	}
	var r Replacement
	if err := unmarshal(payload, &r); err != nil {
		return err
	}
	if r.Old == nil || r.New == nil || r.Signature == nil {
		return fmt.Errorf("%w: a replacement has its old and new credentials and its signature", ErrMalformed)
	}
	at, err := parseTime("replacement.at", r.At)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	old, nw := [32]byte(r.Old.Bytes()), [32]byte(r.New.Bytes())
	mask, published := s.credentials[old]
	switch {
	case !published:
		return fmt.Errorf("%w: the credential replaced is not a published credential", ErrEntry)
	case s.revoked[old]:
		return fmt.Errorf("%w: the credential replaced was already revoked by an earlier replacement", ErrEntry)
	}
	if _, dup := s.credentials[nw]; dup {
		return fmt.Errorf("%w: the new credential is already published: a member has one active credential", ErrEntry)
	}
	if err := r.Verify(s.Fingerprint, s.Authority); err != nil {
		return fmt.Errorf("%w: the replacement is not signed by the credential authority's key: %v", ErrEntry, err)
	}
	// spec: §18.8 rule 6: after the end in force nobody can vote again, so
	// a replacement would only take a counted ballot away.
	if end := s.Ends(); !at.Before(end) {
		return fmt.Errorf("%w: the replacement was made at %s, when voting had ended (at %s): a credential is not replaced once nobody can vote again", ErrEntry, r.At, end.Format(TimeFormat))
	}
	if s.revoked == nil {
		s.revoked, s.original = make(map[[32]byte]bool), make(map[[32]byte][32]byte)
	}
	s.revoked[old] = true
	s.credentials[nw] = mask
	root, ok := s.original[old]
	if !ok {
		root = old
	}
	s.original[nw] = root
	delete(s.last, old) // spec §18.8: its ballots no longer count
	if prev, voted := s.lastIdx[old]; voted && s.streaming {
		// A streaming state subtracts it from its sums as it does a
		// re-vote's earlier ballot (streamingSums).
		s.superseded = append(s.superseded, prev)
		delete(s.lastIdx, old)
	}
	s.Replacements = append(s.Replacements, r)
	s.ReplacedAt = append(s.ReplacedAt, s.Size)
	return nil
}

// Revoked reports whether a credential was revoked by a replacement.
func (s *State) Revoked(credential *crypto.PublicKey) bool {
	return s.revoked[[32]byte(credential.Bytes())]
}

// Original returns the credential that a chain of replacements started
// from (the one published for the member by a credentials entry), or the
// credential itself if it replaced none.
func (s *State) Original(credential *crypto.PublicKey) *crypto.PublicKey {
	root, ok := s.original[[32]byte(credential.Bytes())]
	if !ok {
		return credential
	}
	k, err := crypto.NewPublicKey(root[:])
	if err != nil {
		panic("election: internal error: a recorded credential does not decode")
	}
	return k
}

// KeyRevoked reports whether the credential of these bytes was revoked by
// a replacement (spec §18.8).
func (s *State) KeyRevoked(key [32]byte) bool { return s.revoked[key] }

// TrackerRevoked reports whether the ballot of this tracker was cast under
// a credential revoked since (spec §18.8): it does not count.
func (s *State) TrackerRevoked(tracker string) bool {
	b, err := hex.DecodeString(tracker)
	if err != nil || len(b) != 32 {
		return false
	}
	t, ok := s.trackers[[32]byte(b)]
	return ok && s.revoked[t.key]
}
