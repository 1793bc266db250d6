package election

// spec: §18 the election record: the one code path that decides whether an
// entry is valid, for the server before appending and for every verifier.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
)

// Phase is where an election is in its life.
type Phase int

const (
	PhaseEmpty   Phase = iota // no manifest yet
	PhaseSetup                // manifest; ceremony, roll and credentials being recorded
	PhaseVoting               // opened
	PhaseClosed               // closed; the tally comes next
	PhaseTallied              // tallied; decryption shares come next
	PhaseDecided              // the result is recorded
)

func (p Phase) String() string {
	return [...]string{"empty", "setup", "voting", "closed", "tallied", "decided"}[p]
}

// State is an election derived by replaying its log. Apply is the only way
// it changes.
type State struct {
	Phase       Phase
	Size        int64 // entries applied
	Manifest    *Manifest
	Fingerprint crypto.Fingerprint
	LogKey      string // the log's note verifier key

	ceremonyMsgs [][]byte
	ceremonyAt   []int64         // the entry index of each of ceremonyMsgs
	Ceremony     *crypto.Outcome // the latest replay of the ceremony
	ElectionKey  *crypto.PublicKey

	Roll        *Roll
	Credentials []*crypto.PublicKey // published by credentials entries
	// Authority is the credential authority's key (spec §18.8), if
	// recorded; Replacements the valid replacements, in log order, and
	// ReplacedAt their entry indexes.
	Authority    *crypto.PublicKey
	Replacements []Replacement
	ReplacedAt   []int64
	revoked      map[[32]byte]bool
	original     map[[32]byte][32]byte // a replacement's new credential → the first of its chain
	credentials  map[[32]byte]uint64   // credential → contests it may answer (Manifest.Eligibility)

	OpenedAt, ClosedAt int64  // entry indexes
	Close              *Close // the close entry, once closed
	// Extensions are the valid extension entries (spec §18.7), in log
	// order, and ExtendedAt their entry indexes.
	Extensions []Extension
	ExtendedAt []int64
	Ballots    int // ballot entries, re-votes included
	last       map[[32]byte]*CountedBallot
	trackers   map[[32]byte]trackerRef // every ballot, by its tracker's bytes
	codes      map[[32]byte]codeRef    // every ballot, by its code (spec §18.5)

	Tally        *Tally
	tallyCTs     []*crypto.Ciphertext
	decryptions  map[int][]byte // valid decryption messages by trustee
	decryptionAt map[int]int64  // their entry indexes
	Result       *Result

	// A streaming state (NewStreaming) keeps, instead of last, codes and
	// trackers, only what the checks need; see NewStreaming.
	streaming  bool
	published  int                    // credentials published
	lastIdx    map[[32]byte]int64     // credential → index of its last valid ballot
	codeIdx    map[[32]byte]int64     // ballot code → index, of every valid ballot
	sums       [][]crypto.Accumulator // by contest and option: every valid ballot's selections
	superseded []int64                // indexes of valid ballots a later one superseded
	// Reread returns the entries at these indexes (increasing), read again
	// from the record: a streaming state subtracts the superseded ballots'
	// selections from its sums when the tally is checked.
	Reread func(indexes []int64) ([][]byte, error)
}

// NewStreaming returns the state of an empty log for a verifier that
// streams a record: entries are read, checked and dropped. It applies
// exactly the same rules as New's, but keeps per credential only the index
// of its last valid ballot (with its eligibility), per valid ballot only
// its code and index (the replay rule of spec §18.5 needs every code), and
// for the tally one running sum per option of every valid ballot's
// selections. When the tally is checked, the selections of the ballots
// that a later ballot superseded (a re-vote: about one voter in ten) are
// read again through Reread, authenticated by their ballot code (the
// SHA-256 of the signed ballot, selections included, which must name that
// very index), and subtracted. Why this choice rather than each
// credential's selections (as New's state keeps them): a ballot's
// selections are 64 bytes each, 5 to 10 per ballot, where an index is 8;
// at 1,000,000 voters that is the difference between gigabytes and a few
// hundred megabytes, and the price is reading the re-votes again, once.
//
// It does not keep the trackers (FindTracker finds nothing; a verifier
// looks for its voter's tracker as the entries go by), nor the published
// credentials' list (Credentials stays empty; Eligibility works), nor the
// counted ballots' selections (Counted gives only the index).
func NewStreaming() *State {
	s := New()
	s.streaming = true
	s.trackers, s.codes, s.last = nil, nil, nil
	s.lastIdx = make(map[[32]byte]int64)
	s.codeIdx = make(map[[32]byte]int64)
	return s
}

// Skip counts the next entry of the log as refused, without applying it.
// A server never needs it (it appends only what Apply accepts); a verifier
// that reports an invalid ballot and goes on does.
func (s *State) Skip() { s.Size++ }

// CountedBallot is the last ballot of a credential so far: what the tally
// needs of it (its selections), not its proofs, which were checked.
type CountedBallot struct {
	Index   int64
	Tracker string
	// Selections by contest, then option; nil for a ballot a server
	// replayed with PrepareVerified, whose selections stay encoded (in
	// encoded) until the tally needs them (see Ciphertexts).
	Selections [][]*crypto.Ciphertext
	encoded    []byte // {"contests":[{"selections":[…]},{},…]}
}

// Ciphertexts returns the ballot's selections by contest, then option (nil
// for a contest the credential may not answer), decoding them from the
// ballot's entry if they were left encoded.
func (c *CountedBallot) Ciphertexts() ([][]*crypto.Ciphertext, error) {
	if c.Selections != nil || c.encoded == nil {
		return c.Selections, nil
	}
	var b struct {
		Contests []struct {
			Selections []*crypto.Ciphertext `json:"selections"`
		} `json:"contests"`
	}
	if err := json.Unmarshal(c.encoded, &b); err != nil {
		return nil, fmt.Errorf("internal error: counted ballot %d does not decode: %v", c.Index, err)
	}
	sel := make([][]*crypto.Ciphertext, len(b.Contests))
	for i, bc := range b.Contests {
		sel[i] = bc.Selections
	}
	return sel, nil
}

// New returns the state of an empty log.
func New() *State {
	return &State{credentials: make(map[[32]byte]uint64), last: make(map[[32]byte]*CountedBallot), trackers: make(map[[32]byte]trackerRef), codes: make(map[[32]byte]codeRef), decryptions: make(map[int][]byte), decryptionAt: make(map[int]int64)}
}

// Tracker returns a ballot's tracker: the SHA-256 of its entry, in hex.
func Tracker(entry []byte) string {
	h := sha256.Sum256(entry)
	return hex.EncodeToString(h[:])
}

// EntryError says which entry is invalid and why.
type EntryError struct {
	Index int64
	Type  byte
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("entry %d (%s): %v", e.Index, TypeName(e.Type), e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// Apply checks entry as the next entry of the log and, if it is valid,
// applies it. On error the state is unchanged.
func (s *State) Apply(entry []byte) error {
	if len(entry) == 0 {
		return &EntryError{s.Size, 0, fmt.Errorf("%w: empty entry", ErrMalformed)}
	}
	if err := board.CheckEntry(entry); err != nil {
		return &EntryError{s.Size, entry[0], fmt.Errorf("%w: %v", ErrMalformed, err)}
	}
	if entry[0] == TypeBallot {
		p, err := s.PrepareBallot(entry)
		if err != nil {
			return err
		}
		return s.ApplyBallot(p)
	}
	if err := s.apply(entry); err != nil {
		return &EntryError{s.Size, entry[0], err}
	}
	s.Size++
	return nil
}

func (s *State) apply(entry []byte) error {
	t, payload := entry[0], entry[1:]
	if s.Phase == PhaseEmpty && t != TypeManifest {
		return fmt.Errorf("%w: the log must start with the manifest", ErrOrder)
	}
	if s.Phase == PhaseDecided {
		return fmt.Errorf("%w: the result is the last entry of the record; nothing may follow it (spec §18.1)", ErrOrder)
	}
	switch t {
	case TypeManifest:
		return s.applyManifest(entry, payload)
	case TypeCeremony:
		return s.applyCeremony(payload)
	case TypeRoll:
		return s.applyRoll(payload)
	case TypeCredentials:
		return s.applyCredentials(payload)
	case TypeOpen:
		return s.applyOpen(payload)
	case TypeClose:
		return s.applyClose(payload)
	case TypeExtension:
		return s.applyExtension(payload)
	case TypeAuthority:
		return s.applyAuthority(payload)
	case TypeReplacement:
		return s.applyReplacement(payload)
	case TypeTally:
		return s.applyTally(entry)
	case TypeDecryption:
		return s.applyDecryption(payload)
	case TypeResult:
		return s.applyResult(entry)
	}
	return fmt.Errorf("%w: unknown entry type %d", ErrMalformed, t)
}

func (s *State) need(p Phase, what string) error {
	if s.Phase != p {
		return fmt.Errorf("%w: %s is only allowed while the election is in phase %q, not %q", ErrOrder, what, p, s.Phase)
	}
	return nil
}

func (s *State) applyManifest(entry, payload []byte) error {
	if s.Phase != PhaseEmpty || s.Size != 0 {
		return fmt.Errorf("%w: the manifest must be entry 0, and only there", ErrOrder)
	}
	var m Manifest
	if err := unmarshal(payload, &m); err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("%w: manifest: %v", ErrEntry, err)
	}
	f := board.Fingerprint(entry)
	vkey, err := LogVerifierKey(f, m.LogKey)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	s.Manifest, s.Fingerprint, s.LogKey, s.Phase = &m, f, vkey, PhaseSetup
	return nil
}

func (s *State) applyCeremony(msg []byte) error {
	if s.Phase > PhaseSetup {
		return fmt.Errorf("%w: the ceremony is over: a ceremony message is only allowed before voting opens (the election is %q)", ErrOrder, s.Phase)
	}
	// spec: §18.1 a ceremony entry is not a copy of an earlier one: a copy
	// changes no outcome (§13.3 takes a set of messages), but anyone could
	// pad the log with copies.
	if i, dup := s.findCeremony(msg); dup {
		return fmt.Errorf("%w: %w: it is byte for byte the message of entry %d", ErrEntry, ErrMessageReplay, i)
	}
	if _, _, err := crypto.CheckCeremonyMessage(&s.Manifest.Roster, msg); err != nil {
		return fmt.Errorf("%w: %v", messageFault(err), err)
	}
	msgs := append(slices.Clone(s.ceremonyMsgs), msg)
	out, err := crypto.Replay(&s.Manifest.Roster, msgs)
	if err != nil && out == nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	if s.Ceremony != nil && s.Ceremony.Complete && (out.PublicKey == nil || !out.PublicKey.Equal(s.Ceremony.PublicKey)) {
		return fmt.Errorf("%w: the ceremony is complete; this message would change its key", ErrEntry)
	}
	s.ceremonyMsgs, s.Ceremony = msgs, out
	s.ceremonyAt = append(s.ceremonyAt, s.Size)
	return nil
}

func (s *State) applyRoll(payload []byte) error {
	if err := s.need(PhaseSetup, "the roll"); err != nil {
		return err
	}
	if s.Roll != nil {
		return fmt.Errorf("%w: the roll is already recorded", ErrOrder)
	}
	var r Roll
	if err := unmarshal(payload, &r); err != nil {
		return err
	}
	if len(r.Commitment) != sha256.Size || r.Voters < 1 {
		return fmt.Errorf("%w: a roll has a 32-byte commitment and at least one voter", ErrEntry)
	}
	s.Roll = &r
	return nil
}

func (s *State) applyCredentials(payload []byte) error {
	if err := s.need(PhaseSetup, "publishing credentials"); err != nil {
		return err
	}
	if s.Roll == nil {
		return fmt.Errorf("%w: credentials come after the roll", ErrOrder)
	}
	var c Credentials
	if err := unmarshal(payload, &c); err != nil {
		return err
	}
	if len(c.Credentials) == 0 || len(c.Credentials) > MaxCredentialsPerEntry {
		return fmt.Errorf("%w: a credentials entry holds 1 to %d credentials", ErrEntry, MaxCredentialsPerEntry)
	}
	groups := s.Manifest.Groups()
	for i, g := range c.Groups {
		if !slices.Contains(groups, g) || (i > 0 && c.Groups[i-1] >= g) {
			return fmt.Errorf("%w: the credentials' groups must be sorted, distinct, and named by contests of the manifest (%v)", ErrEntry, groups)
		}
	}
	if s.published+len(c.Credentials) > s.Roll.Voters {
		return fmt.Errorf("%w: more credentials than the %d voters on the roll", ErrEntry, s.Roll.Voters)
	}
	seen := make(map[[32]byte]bool)
	for i, k := range c.Credentials {
		var key [32]byte
		if k != nil {
			copy(key[:], k.Bytes())
		}
		if _, dup := s.credentials[key]; k == nil || dup || seen[key] {
			return fmt.Errorf("%w: credential %d is missing or already published", ErrEntry, i)
		}
		seen[key] = true
	}
	mask := s.Manifest.Eligibility(c.Groups)
	for key := range seen {
		s.credentials[key] = mask
	}
	if !s.streaming {
		s.Credentials = append(s.Credentials, c.Credentials...)
	}
	s.published += len(c.Credentials)
	return nil
}

func (s *State) applyOpen(payload []byte) error {
	if err := s.need(PhaseSetup, "opening"); err != nil {
		return err
	}
	var o Open
	if err := unmarshal(payload, &o); err != nil {
		return err
	}
	if _, err := parseTime("open.at", o.At); err != nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	switch {
	case s.Ceremony == nil || !s.Ceremony.Complete:
		return fmt.Errorf("%w: voting cannot open before the trustees' ceremony is complete", ErrOrder)
	case s.Roll == nil || s.published != s.Roll.Voters:
		return fmt.Errorf("%w: voting cannot open before a credential is published for every voter on the roll", ErrOrder)
	}
	s.ElectionKey, s.OpenedAt, s.Phase = s.Ceremony.PublicKey, s.Size, PhaseVoting
	return nil
}

// PreparedBallot is a ballot whose stateless checks passed.
type PreparedBallot struct {
	entry    []byte
	encoded  []byte // the selections only, when ballot is nil (PrepareVerified)
	key      [32]byte
	ballot   *Ballot
	tracker  [32]byte // SHA-256 of the entry (its hex is the tracker)
	code     [32]byte // the ballot code (spec §21.1)
	answered uint64   // the contests answered, as a bit mask
}

// Tracker returns the ballot's tracker.
func (p *PreparedBallot) Tracker() string { return hex.EncodeToString(p.tracker[:]) }

// TrackerBytes returns the ballot's tracker as bytes (the SHA-256 of its
// entry).
func (p *PreparedBallot) TrackerBytes() [32]byte { return p.tracker }

// CredentialBytes returns the encoding of the ballot's credential.
func (p *PreparedBallot) CredentialBytes() [32]byte { return p.key }

// Code returns the ballot's code (spec §21.1), in hex.
func (p *PreparedBallot) Code() string { return hex.EncodeToString(p.code[:]) }

// CodeBytes returns the ballot's code (spec §21.1).
func (p *PreparedBallot) CodeBytes() []byte { c := p.code; return c[:] }

// Selections returns the number of selections the ballot holds (and whose
// proofs were verified).
func (p *PreparedBallot) Selections() int {
	n := 0
	if p.ballot == nil {
		return 0 // prepared by PrepareVerified: nothing verified
	}
	for _, c := range p.ballot.Contests {
		n += len(c.Selections)
	}
	return n
}

// Entry returns the ballot's entry.
func (p *PreparedBallot) Entry() []byte { return p.entry }

// PrepareBallot does a ballot's stateless checks (spec §18.5): decoding,
// shape, every proof and the signature, in one batch. It reads only what is
// fixed once voting opens, so a server may run it concurrently; ApplyBallot
// does the rest.
func (s *State) PrepareBallot(entry []byte) (*PreparedBallot, error) {
	if s.Phase < PhaseVoting || s.ElectionKey == nil {
		return nil, &EntryError{s.Size, TypeBallot, fmt.Errorf("%w: voting is not open", ErrOrder)}
	}
	p, err := s.view().Prepare(entry)
	if err != nil {
		return nil, &EntryError{s.Size, TypeBallot, err}
	}
	return p, nil
}

func (s *State) view() *Election {
	return &Election{Manifest: s.Manifest, Fingerprint: s.Fingerprint, Key: s.ElectionKey}
}

// Prepare does a ballot's stateless checks (spec §18.5): decoding, shape,
// every proof and the signature, in one batch. It uses only the election's
// manifest, fingerprint and key, so it may run concurrently with anything.
func (e *Election) Prepare(entry []byte) (*PreparedBallot, error) {
	return e.prepare(entry, true)
}

// PrepareVerified decodes a ballot and checks its shape, as Prepare does,
// but does not verify its proofs and signature again. It is only for a
// server replaying the ballots it verified itself before appending them,
// once the stored log is shown to be the one it signed (a checkpoint under
// its own key whose root is recomputed from the stored entries); a verifier
// never uses it.
//
// It reads only the credential and which contests are answered, from the
// canonical layout of a ballot's JSON (spec §18.2), without decoding any
// group element: the selections stay encoded in the entry until the tally
// needs them (CountedBallot.Ciphertexts).
func (e *Election) PrepareVerified(entry []byte) (*PreparedBallot, error) {
	if p, ok := scanBallot(entry, len(e.Manifest.Contests)); ok {
		return p, nil
	}
	return e.prepare(entry, false)
}

// scanBallot reads a canonical ballot entry's credential and answered
// contests: {"contests":[{…},…],"credential":"…","signature":"…"}. It
// reports false for anything else.
func scanBallot(entry []byte, contests int) (*PreparedBallot, bool) {
	const head, cred, sig = `{"contests":[`, `,"credential":"`, `","signature":"`
	if len(entry) == 0 || entry[0] != TypeBallot || !bytes.HasPrefix(entry[1:], []byte(head)) || contests > 64 {
		return nil, false
	}
	body := entry[1:]
	i := len(head)
	var answered uint64
	const selKey = `"selections":[`
	encoded := make([]byte, 0, 1024)
	encoded = append(encoded, head...)
	for c := 0; ; c++ {
		if c >= contests || i >= len(body) || body[i] != '{' {
			return nil, false
		}
		j, ok := skipJSON(body, i)
		if !ok || j >= len(body) {
			return nil, false
		}
		if c > 0 {
			encoded = append(encoded, ',')
		}
		if j-i > 2 { // not {}
			answered |= 1 << c
			obj := body[i:j]
			k := bytes.Index(obj, []byte(selKey))
			if k < 0 {
				return nil, false
			}
			end := bytes.IndexByte(obj[k:], ']')
			if end < 0 {
				return nil, false
			}
			encoded = append(encoded, '{')
			encoded = append(encoded, obj[k:k+end+1]...)
			encoded = append(encoded, '}')
		} else {
			encoded = append(encoded, "{}"...)
		}
		i = j
		if body[i] == ']' {
			if c != contests-1 {
				return nil, false
			}
			i++
			break
		}
		if body[i] != ',' {
			return nil, false
		}
		i++
	}
	rest := body[i:]
	if !bytes.HasPrefix(rest, []byte(cred)) {
		return nil, false
	}
	rest = rest[len(cred):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || !bytes.HasPrefix(rest[end:], []byte(sig)) || !bytes.HasSuffix(rest, []byte(`"}`)) {
		return nil, false
	}
	key, err := base64.RawURLEncoding.Strict().DecodeString(string(rest[:end]))
	if err != nil || len(key) != 32 || answered == 0 {
		return nil, false
	}
	code, ok := entryCode(entry) // spec §18.5: the replay rule needs every ballot's code
	if !ok {
		return nil, false
	}
	p := &PreparedBallot{entry: entry, tracker: sha256.Sum256(entry), code: code, answered: answered, encoded: append(encoded, "]}"...)}
	copy(p.key[:], key)
	return p, true
}

// skipJSON returns the index just after the object or array that starts
// at b[i], or false if it does not end. Strings are jumped over; one with
// an escape is not canonical in a ballot (base64url only), so it reports
// false.
func skipJSON(b []byte, i int) (int, bool) {
	depth := 0
	for i < len(b) {
		k := bytes.IndexAny(b[i:], "\"{}[]")
		if k < 0 {
			return 0, false
		}
		i += k
		switch b[i] {
		case '"':
			end := bytes.IndexByte(b[i+1:], '"')
			if end < 0 || bytes.IndexByte(b[i+1:i+1+end], '\\') >= 0 {
				return 0, false
			}
			i += end + 2
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return 0, false
}

func (e *Election) prepare(entry []byte, verify bool) (*PreparedBallot, error) {
	if !verify {
		d, err := e.decodeBallot(entry)
		if err != nil {
			return nil, err
		}
		return d.finish(nil)
	}
	p, errs := e.PrepareMany([][]byte{entry})
	return p[0], errs[0]
}

// decodedBallot is a ballot decoded and of the right shape, whose proofs
// and signature are not verified yet.
type decodedBallot struct {
	entry    []byte
	b        Ballot
	msg      []byte // the signed message
	answered uint64
	first    int // its items in the batch: [first, end)
	end      int
}

func (e *Election) decodeBallot(entry []byte) (*decodedBallot, error) {
	if len(entry) == 0 || entry[0] != TypeBallot {
		return nil, fmt.Errorf("%w: not a ballot", ErrMalformed)
	}
	d := &decodedBallot{entry: entry}
	b := &d.b
	if err := unmarshal(entry[1:], b); err != nil {
		return nil, err
	}
	if b.Credential == nil || b.Signature == nil {
		return nil, fmt.Errorf("%w: the ballot lacks its credential or signature", ErrMalformed)
	}
	if err := e.checkBallotShape(b); err != nil {
		return nil, err
	}
	for c, bc := range b.Contests {
		if bc.answered() {
			d.answered |= 1 << c
		}
	}
	d.msg = ballotMessage(b.Contests, b.Credential)
	return d, nil
}

// addTo adds the ballot's proofs and signature to the batch.
func (e *Election) addTo(batch *crypto.Batch, d *decodedBallot) {
	d.first = batch.Len()
	for c, bc := range d.b.Contests {
		if d.answered&(1<<c) == 0 {
			continue
		}
		ct := e.Manifest.Contests[c]
		batch.AddContest(e.Key, e.Fingerprint, d.b.Credential, uint32(c), uint64(ct.Min), uint64(ct.Max),
			&crypto.EncryptedContest{Selections: bc.Selections, Proofs: bc.Proofs, TotalProof: bc.TotalProof})
	}
	batch.AddSignature(d.b.Credential, e.Fingerprint, d.msg, d.b.Signature)
	d.end = batch.Len()
}

// finish returns the prepared ballot, or the error of a ballot whose items
// bad names (relative to its first item; nil if all verify).
func (d *decodedBallot) finish(bad *crypto.BatchError) (*PreparedBallot, error) {
	if bad != nil {
		return nil, fmt.Errorf("%w: %v", ErrEntry, bad)
	}
	if d.answered == 0 {
		return nil, fmt.Errorf("%w: the ballot answers no contest", ErrEntry)
	}
	// The proofs are checked: only the selections are needed from here
	// on (a verifier holds hundreds of prepared ballots in flight).
	for c := range d.b.Contests {
		d.b.Contests[c].Proofs, d.b.Contests[c].TotalProof = nil, nil
	}
	p := &PreparedBallot{entry: d.entry, ballot: &d.b, tracker: sha256.Sum256(d.entry), code: sha256.Sum256(d.msg), answered: d.answered}
	copy(p.key[:], d.b.Credential.Bytes())
	return p, nil
}

// PrepareMany does Prepare's checks for many ballots at once, with the same
// result for each as Prepare gives it: every proof and signature of every
// ballot is verified in one batch (spec §10), so that one multi-scalar
// multiplication covers thousands of points (msm.go's bucket method pays
// off from a few hundred); if the batch fails, its bisection names the bad
// items, and each ballot with a bad item gets the error Prepare gives it,
// its items numbered from its own first one. A verifier reading a record
// calls it on consecutive ballots; it reads only what is fixed once voting
// opens, so it may run concurrently with anything.
func (e *Election) PrepareMany(entries [][]byte) ([]*PreparedBallot, []error) {
	out := make([]*PreparedBallot, len(entries))
	errs := make([]error, len(entries))
	decoded := make([]*decodedBallot, len(entries))
	batch := crypto.NewBatch()
	for i, entry := range entries {
		d, err := e.decodeBallot(entry)
		if err != nil {
			errs[i] = err
			continue
		}
		decoded[i] = d
		e.addTo(batch, d)
	}
	var bad []crypto.ItemError
	if err := batch.Verify(); err != nil {
		be, ok := err.(*crypto.BatchError)
		if !ok {
			panic("election: internal error: a batch fails with " + err.Error())
		}
		bad = be.Items // in index order, as are the ballots' items
	}
	for i, d := range decoded {
		if d == nil {
			continue
		}
		var mine *crypto.BatchError
		for len(bad) > 0 && bad[0].Index < d.end {
			if mine == nil {
				mine = &crypto.BatchError{}
			}
			it := bad[0]
			it.Index -= d.first
			mine.Items = append(mine.Items, it)
			bad = bad[1:]
		}
		out[i], errs[i] = d.finish(mine)
	}
	return out, errs
}

func (e *Election) checkBallotShape(b *Ballot) error {
	if len(b.Contests) != len(e.Manifest.Contests) {
		return fmt.Errorf("%w: the ballot has %d contests, the election %d", ErrEntry, len(b.Contests), len(e.Manifest.Contests))
	}
	for c, bc := range b.Contests {
		n := len(e.Manifest.Contests[c].Options)
		if !bc.answered() {
			continue // checked against the credential's eligibility by CheckBallot
		}
		if len(bc.Selections) != n || len(bc.Proofs) != n || bc.TotalProof == nil || slices.Contains(bc.Selections, nil) || slices.Contains(bc.Proofs, nil) {
			return fmt.Errorf("%w: contest %d needs %d selections, %d proofs and a total proof", ErrEntry, c, n, n)
		}
	}
	return nil
}

// CheckBallot does a prepared ballot's stateful checks (voting open, not a
// replay, known credential) without changing the state.
func (s *State) CheckBallot(p *PreparedBallot) error {
	if s.Phase != PhaseVoting {
		return &EntryError{s.Size, TypeBallot, fmt.Errorf("%w: %w (it is %s)", ErrOrder, ErrNotOpen, map[bool]string{true: "closed", false: "not yet open"}[s.Phase > PhaseVoting])}
	}
	// spec: §18.5 each encryption is cast at most once: a ballot with the
	// code of an earlier valid ballot is invalid, whatever its signature.
	if index, dup := s.codeAt(p.code); dup {
		return &EntryError{s.Size, TypeBallot, fmt.Errorf("%w: %w at entry %d (same ballot code %x)", ErrEntry, ErrReplay, index, p.code)}
	}
	eligible, ok := s.credentials[p.key]
	if !ok {
		return &EntryError{s.Size, TypeBallot, fmt.Errorf("%w: %w", ErrEntry, ErrUnknownCredential)}
	}
	if s.revoked[p.key] {
		return &EntryError{s.Size, TypeBallot, fmt.Errorf("%w: %w", ErrEntry, ErrRevoked)}
	}
	if p.answered != eligible {
		for c, ct := range s.Manifest.Contests {
			switch bit := uint64(1) << c; {
			case p.answered&bit != 0 && eligible&bit == 0:
				return &EntryError{s.Size, TypeBallot, fmt.Errorf("%w: %w: it answers contest %q, which this credential is not eligible for", ErrEntry, ErrEligibility, ct.ID)}
			case p.answered&bit == 0 && eligible&bit != 0:
				return &EntryError{s.Size, TypeBallot, fmt.Errorf("%w: %w: it leaves out contest %q (send a blank answer if the contest allows it)", ErrEntry, ErrEligibility, ct.ID)}
			}
		}
	}
	return nil
}

// ApplyBallot checks a prepared ballot (CheckBallot) and records it as its
// credential's last ballot.
func (s *State) ApplyBallot(p *PreparedBallot) error {
	if err := s.CheckBallot(p); err != nil {
		return err
	}
	if s.streaming {
		return s.applyBallotStreaming(p)
	}
	s.trackers[p.tracker] = trackerRef{s.Size, p.key}
	s.codes[p.code] = codeRef{s.Size, p.tracker}
	cb := &CountedBallot{Index: s.Size, Tracker: p.Tracker()}
	if p.ballot != nil {
		cb.Selections = make([][]*crypto.Ciphertext, len(p.ballot.Contests))
		for c, bc := range p.ballot.Contests {
			cb.Selections[c] = bc.Selections
		}
	} else {
		cb.encoded = p.encoded
	}
	s.last[p.key] = cb
	s.Ballots++
	s.Size++
	return nil
}

// codeAt returns the index of the valid ballot with this code, if any.
func (s *State) codeAt(code [32]byte) (int64, bool) {
	if s.streaming {
		i, ok := s.codeIdx[code]
		return i, ok
	}
	c, ok := s.codes[code]
	return c.index, ok
}

// applyBallotStreaming records a checked ballot in a streaming state.
func (s *State) applyBallotStreaming(p *PreparedBallot) error {
	if p.ballot == nil {
		return &EntryError{s.Size, TypeBallot, errors.New("internal error: a streaming state needs decoded ballots")}
	}
	if s.sums == nil {
		s.sums = make([][]crypto.Accumulator, len(s.Manifest.Contests))
		for c, ct := range s.Manifest.Contests {
			s.sums[c] = make([]crypto.Accumulator, len(ct.Options))
		}
	}
	for c, bc := range p.ballot.Contests {
		if p.answered&(1<<c) != 0 { // = the credential's eligibility (CheckBallot)
			for o, ct := range bc.Selections {
				s.sums[c][o].Add(ct)
			}
		}
	}
	if prev, ok := s.lastIdx[p.key]; ok {
		s.superseded = append(s.superseded, prev)
	}
	s.lastIdx[p.key] = s.Size
	s.codeIdx[p.code] = s.Size
	s.Ballots++
	s.Size++
	return nil
}

// rereadChunk is the most superseded ballots read again at once (see
// streamingSums): a few megabytes of entries, or of their bundles.
var rereadChunk = 1024

// subtractReread reads again the superseded ballots at idx (increasing)
// and subtracts their selections from sums.
func (s *State) subtractReread(sums [][]crypto.Accumulator, idx []int64) error {
	entries, err := s.Reread(idx)
	if err != nil {
		return fmt.Errorf("cannot read the superseded ballots again: %v", err)
	}
	if len(entries) != len(idx) {
		return fmt.Errorf("internal error: %d superseded ballots read again, of %d", len(entries), len(idx))
	}
	for k, entry := range entries {
		// The code of the bytes read, as entryCode computes it from a
		// canonical entry (a checked ballot is one), must be the code
		// recorded for this index: then the signed body, selections
		// and credential included, is byte for byte the one checked.
		// Only the selections and the credential are decoded.
		code, ok := entryCode(entry)
		if at, known := s.codeIdx[code]; !ok || !known || at != idx[k] {
			return fmt.Errorf("entry %d, read again, is not the ballot it was (its ballot code differs)", idx[k])
		}
		var b struct {
			Contests []struct {
				Selections []*crypto.Ciphertext `json:"selections"`
			} `json:"contests"`
			Credential *crypto.PublicKey `json:"credential"`
		}
		if err := json.Unmarshal(entry[1:], &b); err != nil || b.Credential == nil {
			return fmt.Errorf("entry %d, read again, does not decode", idx[k])
		}
		mask := s.credentials[[32]byte(b.Credential.Bytes())]
		for c, bc := range b.Contests {
			if mask&(1<<c) != 0 {
				for o, ct := range bc.Selections {
					sums[c][o].Subtract(ct)
				}
			}
		}
	}
	return nil
}

// streamingSums returns the sums of the counted ballots' selections: every
// valid ballot's, less the superseded ones', read again (NewStreaming).
func (s *State) streamingSums() ([][]*crypto.CiphertextSum, error) {
	sums := make([][]crypto.Accumulator, len(s.Manifest.Contests))
	for c, ct := range s.Manifest.Contests {
		sums[c] = make([]crypto.Accumulator, len(ct.Options))
		if s.sums != nil {
			copy(sums[c], s.sums[c])
		}
	}
	if len(s.superseded) > 0 {
		if s.Reread == nil {
			return nil, errors.New("internal error: a streaming state cannot read the superseded ballots again")
		}
		idx := slices.Clone(s.superseded)
		slices.Sort(idx)
		// By chunks: the entries read again may each keep its whole
		// bundle in memory (a verifier's Reread slices them from it), and
		// superseded ballots are in nearly every bundle.
		for len(idx) > 0 {
			k := min(len(idx), rereadChunk)
			if err := s.subtractReread(sums, idx[:k]); err != nil {
				return nil, err
			}
			idx = idx[k:]
		}
	}
	out := make([][]*crypto.CiphertextSum, len(sums))
	for c := range sums {
		out[c] = make([]*crypto.CiphertextSum, len(sums[c]))
		for o := range sums[c] {
			out[c][o] = sums[c][o].Sum()
		}
	}
	return out, nil
}

// Eligibility returns the contests a published credential may answer (a
// bit mask, bit c for contest c), and whether it is published.
func (s *State) Eligibility(credential *crypto.PublicKey) (uint64, bool) {
	key := [32]byte(credential.Bytes())
	mask, ok := s.credentials[key]
	return mask, ok && !s.revoked[key]
}

// FindTracker returns the index of the ballot with this tracker, and
// whether it is the one that counts for its credential.
func (s *State) FindTracker(tracker string) (index int64, counted, found bool) {
	b, err := hex.DecodeString(tracker)
	if err != nil || len(b) != sha256.Size || hex.EncodeToString(b) != tracker {
		return 0, false, false // only the lower-case hex a tracker is written in
	}
	if s.streaming {
		return 0, false, false // not kept (NewStreaming)
	}
	t, ok := s.trackers[[32]byte(b)]
	if !ok {
		return 0, false, false
	}
	last := s.last[t.key] // none once the credential is revoked (spec §18.8)
	return t.index, last != nil && last.Index == t.index, true
}

// entryCode returns the ballot code (spec §21.1) of a ballot entry in
// canonical JSON (spec §18.2) without decoding it: the signed body is the
// entry's JSON without its last member, the signature. It is for a server
// that replays ballots it verified itself (the stored entries are the
// canonical ones it appended); Prepare computes the code from the decoded
// ballot, and TestEntryCode checks that both agree.
func entryCode(entry []byte) ([32]byte, bool) {
	const sig = `,"signature":"`
	i := bytes.LastIndex(entry, []byte(sig))
	// i+len(sig) ≤ len(entry)−2: the signature's closing quote is not the
	// opening one (an entry ending in `,"signature":"}` has none).
	if len(entry) < 2 || entry[0] != TypeBallot || i < 1 || i+len(sig) > len(entry)-2 || !bytes.HasSuffix(entry, []byte(`"}`)) || bytes.IndexByte(entry[i+len(sig):len(entry)-2], '"') >= 0 {
		return [32]byte{}, false
	}
	h := sha256.New()
	h.Write([]byte("scrutin/v0/ballot"))
	h.Write(entry[1:i])
	h.Write([]byte("}"))
	return [32]byte(h.Sum(nil)), true
}

// FindCode returns the index and tracker of the ballot with this ballot
// code (spec §21.1, hex), if the log holds one: a server answers a client
// that sends the same ballot again with its receipt.
func (s *State) FindCode(code string) (index int64, tracker string, found bool) {
	b, err := hex.DecodeString(code)
	if err != nil || len(b) != sha256.Size {
		return 0, "", false
	}
	if s.streaming {
		i, ok := s.codeIdx[[32]byte(b)]
		return i, "", ok // the tracker is not kept
	}
	c, ok := s.codes[[32]byte(b)]
	if !ok {
		return 0, "", false
	}
	return c.index, hex.EncodeToString(c.tracker[:]), true
}

// The maps of every ballot hold no pointer, so that the garbage collector
// need not scan them (a million ballots' worth).
type codeRef struct {
	index   int64
	tracker [32]byte
}

type trackerRef struct {
	index int64
	key   [32]byte
}

// Voted returns the number of credentials that have cast a ballot.
func (s *State) Voted() int {
	if s.streaming {
		return len(s.lastIdx)
	}
	return len(s.last)
}

// Answers returns, for each contest, how many of the ballots that count
// answer it (those whose credential is eligible for it): with the result's
// counts, the number of blank answers of a contest of one choice.
func (s *State) Answers() []int {
	if s.Manifest == nil {
		return nil
	}
	out := make([]int, len(s.Manifest.Contests))
	count := func(key [32]byte) {
		mask := s.credentials[key]
		for c := range out {
			if mask&(1<<c) != 0 {
				out[c]++
			}
		}
	}
	for key := range s.last {
		count(key)
	}
	for key := range s.lastIdx {
		count(key)
	}
	return out
}

// LastIndex returns the index of the last valid ballot of the credential
// whose encoding is key, if it has one: the ballot that counts.
func (s *State) LastIndex(key [32]byte) (int64, bool) {
	if s.streaming {
		i, ok := s.lastIdx[key]
		return i, ok
	}
	if c, ok := s.last[key]; ok {
		return c.Index, true
	}
	return 0, false
}

// Counted returns the ballot that counts for a credential, if any.
func (s *State) Counted(credential *crypto.PublicKey) *CountedBallot {
	var key [32]byte
	copy(key[:], credential.Bytes())
	if s.streaming {
		if i, ok := s.lastIdx[key]; ok {
			return &CountedBallot{Index: i} // its selections are not kept (NewStreaming)
		}
		return nil
	}
	return s.last[key]
}

func (s *State) applyClose(payload []byte) error {
	if err := s.need(PhaseVoting, "closing"); err != nil {
		return err
	}
	var c Close
	if err := unmarshal(payload, &c); err != nil {
		return err
	}
	if _, err := parseTime("close.at", c.At); err != nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	if err := checkText("close.reason", c.Reason, 500); err != nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	s.ClosedAt, s.Close, s.Phase = s.Size, &c, PhaseClosed
	return nil
}

// Ends returns the end in force (spec §18.7): the manifest's window.closes,
// or the new end of the last valid extension; zero before the manifest.
func (s *State) Ends() time.Time {
	if s.Manifest == nil {
		return time.Time{}
	}
	c := s.Manifest.Window.Closes
	if n := len(s.Extensions); n > 0 {
		c = s.Extensions[n-1].Closes
	}
	t, _ := time.Parse(TimeFormat, c) // checked when applied
	return t
}

// CheckExtension checks an extension against the state without applying
// it (spec §18.7): what a console asks before it records one.
func (s *State) CheckExtension(x *Extension) error {
	if s.Phase != PhaseVoting {
		return fmt.Errorf("%w: the voting window is extended only while voting is open (the election is %q)", ErrOrder, s.Phase)
	}
	if len(s.Extensions) >= MaxExtensions {
		return fmt.Errorf("%w: voting has been extended %d times already, the most an election allows (spec §18.7)", ErrOrder, MaxExtensions)
	}
	at, err := parseTime("extension.at", x.At)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	closes, err := parseTime("extension.closes", x.Closes)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	if err := checkText("extension.reason", x.Reason, 500); err != nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	end := s.Ends()
	planned, _ := time.Parse(TimeFormat, s.Manifest.Window.Closes)
	switch {
	case !closes.After(end):
		return fmt.Errorf("%w: the new end %s is not later than the end in force, %s: an extension only moves the end later", ErrEntry, x.Closes, end.Format(TimeFormat))
	case closes.Sub(planned) > MaxExtension:
		return fmt.Errorf("%w: the new end %s is more than 7 days after the planned end, %s (spec §18.7)", ErrEntry, x.Closes, s.Manifest.Window.Closes)
	case !at.Before(end):
		return fmt.Errorf("%w: the extension was recorded at %s, when voting had ended (at %s): an end that has passed is not extended", ErrEntry, x.At, end.Format(TimeFormat))
	}
	return nil
}

func (s *State) applyExtension(payload []byte) error {
	if err := s.need(PhaseVoting, "extending the voting window"); err != nil {
		return err
	}
	var x Extension
	if err := unmarshal(payload, &x); err != nil {
		return err
	}
	if err := s.CheckExtension(&x); err != nil {
		return err
	}
	s.Extensions = append(s.Extensions, x)
	s.ExtendedAt = append(s.ExtendedAt, s.Size)
	return nil
}

// ExpectedTally returns the tally entry of the counted ballots (spec §18.6),
// once voting is closed.
func (s *State) ExpectedTally() ([]byte, error) {
	if s.Phase != PhaseClosed {
		return nil, fmt.Errorf("the tally comes right after closing; the election is %q", s.Phase)
	}
	t := &Tally{Ballots: len(s.last), Contests: make([]TallyContest, len(s.Manifest.Contests))}
	if s.streaming {
		sums, err := s.streamingSums()
		if err != nil {
			return nil, err
		}
		t.Ballots = len(s.lastIdx)
		for c := range t.Contests {
			t.Contests[c].Sums = sums[c]
		}
		return t.Entry(), nil
	}
	keys := make([][32]byte, 0, len(s.last))
	for k := range s.last {
		keys = append(keys, k)
	}
	sels := make([][][]*crypto.Ciphertext, len(keys))
	for i, k := range keys {
		var err error
		if sels[i], err = s.last[k].Ciphertexts(); err != nil {
			return nil, err
		}
	}
	for c, ct := range s.Manifest.Contests {
		sums := make([]*crypto.CiphertextSum, len(ct.Options))
		for o := range ct.Options {
			cts := make([]*crypto.Ciphertext, 0, len(keys))
			for i := range keys {
				if sel := sels[i][c]; sel != nil { // nil: not eligible
					cts = append(cts, sel[o])
				}
			}
			sums[o] = crypto.SumOf(cts...)
		}
		t.Contests[c].Sums = sums
	}
	return t.Entry(), nil
}

// applyTally decodes the tally first, so that a malformed entry is reported
// as such, then compares it with the sums it recomputes (spec §18.6).
func (s *State) applyTally(entry []byte) error {
	want, err := s.ExpectedTally()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrOrder, err)
	}
	var t Tally
	if err := unmarshal(entry[1:], &t); err != nil {
		return err
	}
	if string(want) != string(entry) {
		return fmt.Errorf("%w: %v", ErrEntry, s.tallyDiff(want, &t))
	}
	s.Tally = &t
	for _, c := range t.Contests {
		for _, sum := range c.Sums {
			s.tallyCTs = append(s.tallyCTs, &sum.Ciphertext)
		}
	}
	s.Phase = PhaseTallied
	return nil
}

// tallyDiff says how a decoded tally differs from the expected one.
func (s *State) tallyDiff(wantEntry []byte, got *Tally) error {
	var want Tally
	if err := unmarshal(wantEntry[1:], &want); err != nil {
		panic("election: internal error: the expected tally does not decode: " + err.Error())
	}
	if got.Ballots != want.Ballots {
		return fmt.Errorf("the tally counts %d ballots; the log has %d counted ballots", got.Ballots, want.Ballots)
	}
	if len(got.Contests) != len(want.Contests) {
		return fmt.Errorf("the tally has %d contests, the election %d", len(got.Contests), len(want.Contests))
	}
	for c := range want.Contests {
		if len(got.Contests[c].Sums) != len(want.Contests[c].Sums) {
			return fmt.Errorf("contest %d of the tally has %d sums, the contest %d options", c, len(got.Contests[c].Sums), len(want.Contests[c].Sums))
		}
		for o, w := range want.Contests[c].Sums {
			if g := got.Contests[c].Sums[o]; g == nil || string(g.Bytes()) != string(w.Bytes()) {
				return fmt.Errorf("the tally's sum for option %d of contest %d is not the sum of the counted ballots' selections", o, c)
			}
		}
	}
	return fmt.Errorf("the tally is not the expected entry")
}

// messageFault classifies why a trustee's message (spec §13.2, §14.1) is
// invalid: it does not decode (ErrMalformed), or it decodes but its
// fingerprint, signature, size of tally or proofs are wrong (ErrEntry).
func messageFault(err error) error {
	if errors.Is(err, crypto.ErrEncoding) || errors.Is(err, crypto.ErrIdentity) {
		return ErrMalformed
	}
	return ErrEntry
}

// TallyCiphertexts returns the tally's ciphertexts in decryption order
// (contest by contest, option by option).
func (s *State) TallyCiphertexts() []*crypto.Ciphertext { return s.tallyCTs }

func (s *State) applyDecryption(msg []byte) error {
	if s.Phase < PhaseTallied {
		return fmt.Errorf("%w: there is no tally yet to decrypt: decryption shares come after the tally (the election is %q)", ErrOrder, s.Phase)
	}
	j, err := s.Ceremony.VerifyDecryptionShares(&s.Manifest.Roster, s.tallyCTs, msg)
	if err != nil {
		return fmt.Errorf("%w: %v: these are not valid decryption shares of the recorded tally, the only thing trustees decrypt", messageFault(err), err)
	}
	if prev, dup := s.decryptions[j]; dup {
		if bytes.Equal(prev, msg) {
			// The same bytes: a replayed message (spec §18.1, §22.3), of
			// kind "order" like any second entry of the trustee (§12).
			return fmt.Errorf("%w: %w: trustee %d's decryption shares are already recorded, byte for byte, at entry %d", ErrOrder, ErrMessageReplay, j, s.decryptionAt[j])
		}
		return fmt.Errorf("%w: trustee %d's decryption shares are already recorded; a trustee has one decryption entry (spec §18.1)", ErrOrder, j)
	}
	s.decryptions[j], s.decryptionAt[j] = msg, s.Size
	return nil
}

// ExpectedResult combines the recorded decryption shares of the t lowest
// trustees (spec §14.2) and returns the result entry.
func (s *State) ExpectedResult() ([]byte, error) {
	if s.Phase != PhaseTallied {
		return nil, fmt.Errorf("the result comes after the tally; the election is %q", s.Phase)
	}
	trustees := slices.Sorted(mapKeys(s.decryptions))
	if len(trustees) < s.Manifest.Roster.Threshold {
		return nil, fmt.Errorf("%d trustees have recorded decryption shares; the threshold is %d", len(trustees), s.Manifest.Roster.Threshold)
	}
	r, err := s.resultFrom(trustees[:s.Manifest.Roster.Threshold])
	if err != nil {
		return nil, err
	}
	return r.Entry(), nil
}

// resultFrom combines the decryption entries of the given trustees (t of
// them, in increasing order, each with a recorded entry) into the result
// (spec §14.2, §18.6).
func (s *State) resultFrom(trustees []int) (*Result, error) {
	var msgs [][]byte
	for _, j := range trustees {
		msgs = append(msgs, s.decryptions[j])
	}
	dec, err := s.Ceremony.Combine(&s.Manifest.Roster, s.tallyCTs, msgs, uint64(s.Tally.Ballots))
	if err != nil {
		return nil, err
	}
	if !slices.Equal(dec.Used, trustees) {
		return nil, fmt.Errorf("the shares of trustees %v combine with those of %v", trustees, dec.Used)
	}
	r := &Result{Trustees: dec.Used}
	k := 0
	for _, ct := range s.Manifest.Contests {
		counts := dec.Results[k : k+len(ct.Options)]
		k += len(ct.Options)
		r.Contests = append(r.Contests, ResultContest{Counts: counts, Winners: winners(ct, counts)})
	}
	return r, nil
}

// winners returns the ids of the options with the most votes, in option
// order: several on a tie, none if every count is 0 (spec §18.6).
func winners(ct Contest, counts []uint64) []string {
	w := []string{}
	best := slices.Max(counts)
	for o, n := range counts {
		if best > 0 && n == best {
			w = append(w, ct.Options[o].ID)
		}
	}
	return w
}

func mapKeys(m map[int][]byte) func(func(int) bool) {
	return func(yield func(int) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// applyResult checks the result (spec §18.6): it names exactly t trustees,
// in increasing order, each with a recorded decryption entry; its counts are
// what combining their shares gives; its winners follow from the counts.
func (s *State) applyResult(entry []byte) error {
	if err := s.need(PhaseTallied, "the result"); err != nil {
		return err
	}
	if n, t := len(s.decryptions), s.Manifest.Roster.Threshold; n < t {
		return fmt.Errorf("%w: the result comes after at least t = %d decryption entries; the log has %d (spec §18.1)", ErrOrder, t, n)
	}
	var r Result
	if err := unmarshal(entry[1:], &r); err != nil {
		return err
	}
	t := s.Manifest.Roster.Threshold
	if len(r.Trustees) != t {
		return fmt.Errorf("%w: the result names %d trustees; it must name exactly t = %d", ErrEntry, len(r.Trustees), t)
	}
	for i, j := range r.Trustees {
		if i > 0 && j <= r.Trustees[i-1] {
			return fmt.Errorf("%w: the result's trustees %v are not in strictly increasing order", ErrEntry, r.Trustees)
		}
		if _, ok := s.decryptions[j]; !ok {
			return fmt.Errorf("%w: the result names trustee %d, who has no decryption entry in the log", ErrEntry, j)
		}
	}
	want, err := s.resultFrom(r.Trustees)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEntry, err)
	}
	if len(r.Contests) != len(want.Contests) {
		return fmt.Errorf("%w: the result has %d contests, the election %d", ErrEntry, len(r.Contests), len(want.Contests))
	}
	for c, w := range want.Contests {
		ct := s.Manifest.Contests[c]
		if !slices.Equal(r.Contests[c].Counts, w.Counts) {
			return fmt.Errorf("%w: contest %q: the result counts %v; the named trustees' decryption shares give %v", ErrEntry, ct.ID, r.Contests[c].Counts, w.Counts)
		}
		if !slices.Equal(r.Contests[c].Winners, w.Winners) {
			return fmt.Errorf("%w: contest %q: the result's winners %q are not the options with the most votes, in option order (%q)", ErrEntry, ct.ID, r.Contests[c].Winners, w.Winners)
		}
	}
	if string(want.Entry()) != string(entry) { // such as "winners":null for []
		return fmt.Errorf("%w: the result is not the entry the named trustees' decryption shares give", ErrEntry)
	}
	s.Result, s.Phase = &r, PhaseDecided
	return nil
}

// Now formats a time for open and close entries.
func Now(t time.Time) string { return t.UTC().Format(TimeFormat) }

// CeremonyMessages returns the recorded ceremony messages, in log order
// (without their entry type byte).
func (s *State) CeremonyMessages() [][]byte { return slices.Clone(s.ceremonyMsgs) }

// DecryptionMessages returns the recorded decryption shares' messages
// (without their entry type byte), by increasing trustee number.
func (s *State) DecryptionMessages() [][]byte {
	var out [][]byte
	for _, j := range s.Decrypted() {
		out = append(out, s.decryptions[j])
	}
	return out
}

// Decrypted returns the trustees with a recorded decryption entry, in
// increasing order.
func (s *State) Decrypted() []int { return slices.Sorted(mapKeys(s.decryptions)) }

func (s *State) findCeremony(msg []byte) (int64, bool) {
	for k, m := range s.ceremonyMsgs {
		if bytes.Equal(m, msg) {
			return s.ceremonyAt[k], true
		}
	}
	return 0, false
}

// FindMessage returns the index of the entry holding a trustee's message
// (a ceremony or decryption entry, type byte included) byte for byte, if
// the log has one: a server answers a message posted again with it.
func (s *State) FindMessage(entry []byte) (int64, bool) {
	if len(entry) < 38 {
		return 0, false
	}
	switch entry[0] {
	case TypeCeremony:
		return s.findCeremony(entry[1:])
	case TypeDecryption:
		j := int(entry[34])<<24 | int(entry[35])<<16 | int(entry[36])<<8 | int(entry[37])
		if m, ok := s.decryptions[j]; ok && bytes.Equal(m, entry[1:]) {
			return s.decryptionAt[j], true
		}
	}
	return 0, false
}
