package election

// spec: §18.1 entries, §18.4–§18.6 payloads

import (
	"time"

	"github.com/scrutin/scrutin/crypto"
)

// Entry types (spec §18.1).
const (
	TypeManifest    = 1
	TypeCeremony    = 2
	TypeRoll        = 3
	TypeCredentials = 4
	TypeOpen        = 5
	TypeBallot      = 6
	TypeClose       = 7
	TypeTally       = 8
	TypeDecryption  = 9
	TypeResult      = 10
	TypeExtension   = 11
	TypeAuthority   = 12
	TypeReplacement = 13
)

// TypeName names an entry type for messages.
func TypeName(t byte) string {
	names := map[byte]string{
		TypeManifest: "manifest", TypeCeremony: "ceremony message", TypeRoll: "roll",
		TypeCredentials: "credentials", TypeOpen: "open", TypeBallot: "ballot", TypeClose: "close",
		TypeTally: "tally", TypeDecryption: "decryption shares", TypeResult: "result",
		TypeExtension: "extension", TypeAuthority: "authority", TypeReplacement: "replacement",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return "unknown"
}

// Roll is the roll's public commitment (spec §18.4).
type Roll struct {
	Commitment Bytes `json:"commitment"`
	Voters     int   `json:"voters"`
}

// Credentials is a batch of public credentials (spec §18.4), all of the
// same groups (none, by default).
type Credentials struct {
	Credentials []*crypto.PublicKey `json:"credentials"`
	Groups      []string            `json:"groups,omitempty"`
}

// MaxCredentialsPerEntry keeps a credentials entry under the entry size
// limit: 1,000 credentials of 46 bytes of JSON each.
const MaxCredentialsPerEntry = 1000

// Open opens voting.
type Open struct {
	At string `json:"at"`
}

// Close closes voting.
type Close struct {
	At     string `json:"at"`
	Reason string `json:"reason"`
}

// Extension moves the end of voting later (spec §18.7): At is when it was
// recorded, Closes the new end, Reason the officer's words.
type Extension struct {
	At     string `json:"at"`
	Closes string `json:"closes"`
	Reason string `json:"reason"`
}

// Limits of extensions (spec §18.7).
const (
	MaxExtensions = 10
	MaxExtension  = 7 * 24 * time.Hour // beyond the manifest's window.closes
)

// Ballot is a voter's encrypted ballot (spec §18.5).
type Ballot struct {
	Contests   []BallotContest   `json:"contests"`
	Credential *crypto.PublicKey `json:"credential"`
	Signature  *crypto.Signature `json:"signature"`
}

// BallotContest is one contest of a ballot; a contest the voter is not
// eligible for is empty ({}).
type BallotContest struct {
	Proofs     []*crypto.RangeProof `json:"proofs,omitempty"`
	Selections []*crypto.Ciphertext `json:"selections,omitempty"`
	TotalProof *crypto.RangeProof   `json:"total_proof,omitempty"`
}

// answered reports whether the contest is not empty.
func (bc *BallotContest) answered() bool {
	return bc.Proofs != nil || bc.Selections != nil || bc.TotalProof != nil
}

// ballotBody is the signed part of a ballot: everything but the signature.
type ballotBody struct {
	Contests   []BallotContest   `json:"contests"`
	Credential *crypto.PublicKey `json:"credential"`
}

// ballotMessage is what a ballot's signature signs (spec §18.5).
func ballotMessage(contests []BallotContest, credential *crypto.PublicKey) []byte {
	return append([]byte("scrutin/v0/ballot"), marshal(ballotBody{contests, credential})...)
}

// Tally is the homomorphic tally of the counted ballots (spec §18.6).
type Tally struct {
	Ballots  int            `json:"ballots"`
	Contests []TallyContest `json:"contests"`
}

// TallyContest holds one sum per option. A sum's α may be the identity
// (spec §2.1): the sum over no ballot is (O, O).
type TallyContest struct {
	Sums []*crypto.CiphertextSum `json:"sums"`
}

// Result is the decrypted, proven result (spec §18.6).
type Result struct {
	Contests []ResultContest `json:"contests"`
	Trustees []int           `json:"trustees"`
}

// ResultContest is the count of each option and the winners.
type ResultContest struct {
	Counts  []uint64 `json:"counts"`
	Winners []string `json:"winners"`
}

func entry(t byte, v any) []byte { return append([]byte{t}, marshal(v)...) }

// Entry encodes a payload as an entry of its type.
func (r *Roll) Entry() []byte        { return entry(TypeRoll, r) }
func (c *Credentials) Entry() []byte { return entry(TypeCredentials, c) }
func (o *Open) Entry() []byte        { return entry(TypeOpen, o) }
func (c *Close) Entry() []byte       { return entry(TypeClose, c) }
func (x *Extension) Entry() []byte   { return entry(TypeExtension, x) }
func (b *Ballot) Entry() []byte      { return entry(TypeBallot, b) }
func (t *Tally) Entry() []byte       { return entry(TypeTally, t) }
func (r *Result) Entry() []byte      { return entry(TypeResult, r) }
