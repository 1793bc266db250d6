package crypto

// spec: §13.2 messages, §13.3 the outcome

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/gtank/ristretto255"
)

// Ceremony and decryption message types (spec §13.2, §14.1).
const (
	msgDealing      = 1
	msgComplaints   = 2
	msgConfirmation = 3
	msgDecryption   = 4
)

const headerSize = 1 + 32 + 4

// Size limits of messages (spec §13.2, §14.1): the largest dealing
// (t = n = 255), confirmation (a transcript of 2n messages) and decryption
// message (MaxTallySize ciphertexts).
const (
	MaxDealingSize      = headerSize + ElementSize*MaxTrustees + 2*KnowledgeProofSize + ElementSize + ScalarSize*MaxTrustees + SignatureSize
	maxComplaintsSize   = headerSize + 4 + (4+ElementSize+EqualityProofSize)*MaxTrustees + SignatureSize
	maxConfirmationSize = headerSize + 2*ElementSize + KnowledgeProofSize + 4 + sha256.Size*2*MaxTrustees + SignatureSize
	MaxDecryptionSize   = headerSize + 4 + (ElementSize+EqualityProofSize)*MaxTallySize + SignatureSize
)

// MaxCeremonyMessage bounds the size of any ceremony or decryption message.
const MaxCeremonyMessage = max(MaxDealingSize, maxComplaintsSize, maxConfirmationSize, MaxDecryptionSize)

var maxMessageSize = map[byte]int{
	msgDealing:      MaxDealingSize,
	msgComplaints:   maxComplaintsSize,
	msgConfirmation: maxConfirmationSize,
	msgDecryption:   MaxDecryptionSize,
}

// reader decodes a message body field by field; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) take(n int) []byte {
	if r.err != nil {
		return make([]byte, n)
	}
	if len(r.b) < n {
		r.err = fmt.Errorf("%w: message is truncated", ErrEncoding)
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u32() int { return int(binary.BigEndian.Uint32(r.take(4))) }

func (r *reader) point(p *point, allowIdentity bool) {
	b := r.take(ElementSize)
	if r.err == nil {
		r.err = p.decode(b, allowIdentity)
	}
}

func (r *reader) scalar(s *ristretto255.Scalar) {
	b := r.take(ScalarSize)
	if r.err == nil {
		r.err = decodeScalar(s, b)
	}
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d unexpected bytes at the end of the message", ErrEncoding, len(r.b))
	}
	return r.err
}

// header starts a message body: type, F and the sender's number.
func header(typ byte, f Fingerprint, sender int) []byte {
	b := append([]byte{typ}, f[:]...)
	return binary.BigEndian.AppendUint32(b, uint32(sender))
}

// sealMessage signs body with the sender's signing key.
func sealMessage(rnd io.Reader, f Fingerprint, secrets *TrusteeSecrets, body []byte) ([]byte, error) {
	sig, err := secrets.Signing.Sign(rnd, f, body)
	if err != nil {
		return nil, err
	}
	return append(body, sig.Bytes()...), nil
}

// SealCeremonyMessage signs an arbitrary message body (type, fingerprint,
// sender, fields; spec §13.2) as the trustee whose secrets are given. The
// ceremony functions build their messages with it; it is exported for test
// vectors and tools, and lets a trustee sign nothing it could not sign
// anyway.
func SealCeremonyMessage(rnd io.Reader, r *Roster, secrets *TrusteeSecrets, body []byte) ([]byte, error) {
	return sealMessage(rnd, r.Fingerprint(), secrets, body)
}

// envelopeError is a message that does not come from the trustee it names
// (bad signature, another ceremony): no trustee is to blame for it.
type envelopeError struct{ err error }

func (e *envelopeError) Error() string { return e.err.Error() }
func (e *envelopeError) Unwrap() error { return e.err }

// openMessage checks the envelope of a message of the given type: its size,
// its fingerprint, its sender and its signature. It returns the sender and a
// reader positioned after the header. Errors of the envelope are
// *envelopeError: they say nothing about the trustee the message names.
func openMessage(r *Roster, f Fingerprint, typ byte, msg []byte) (int, *reader, error) {
	if len(msg) < headerSize+SignatureSize || len(msg) > maxMessageSize[typ] {
		return 0, nil, &envelopeError{fmt.Errorf("%w: a message of type %d cannot be %d bytes long", ErrEncoding, typ, len(msg))}
	}
	if msg[0] != typ {
		return 0, nil, &envelopeError{fmt.Errorf("%w: message type %d, expected %d", ErrEncoding, msg[0], typ)}
	}
	if !bytes.Equal(msg[1:33], f[:]) {
		return 0, nil, &envelopeError{fmt.Errorf("%w: message belongs to another ceremony (fingerprint %x…)", ErrInvalidProof, msg[1:9])}
	}
	sender := int(binary.BigEndian.Uint32(msg[33:37]))
	if sender < 1 || sender > r.N() {
		return 0, nil, &envelopeError{fmt.Errorf("%w: sender %d is not on the roster", ErrEncoding, sender)}
	}
	body, sigBytes := msg[:len(msg)-SignatureSize], msg[len(msg)-SignatureSize:]
	sig, err := NewSignature(sigBytes)
	if err != nil {
		return 0, nil, &envelopeError{err}
	}
	if err := r.Trustees[sender-1].Signing.Verify(f, body, sig); err != nil {
		return 0, nil, &envelopeError{fmt.Errorf("a message claiming to be from %s: signature: %w", r.name(sender), err)}
	}
	return sender, &reader{b: body[headerSize:]}, nil
}

// blame returns the trustee a parsing error is the fault of: the sender,
// unless the message does not verifiably come from it.
func blame(sender int, err error) int {
	if _, ok := err.(*envelopeError); ok || sender == 0 {
		return 0
	}
	return sender
}

func binding(role string, idx ...int) []byte {
	b := []byte(role)
	for _, i := range idx {
		b = binary.BigEndian.AppendUint32(b, uint32(i))
	}
	return b
}

// Dealing is a parsed, valid dealing message (spec §13.2).
type Dealing struct {
	Dealer      int
	commitments []point
	proof       KnowledgeProof // of a_{i,0}
	ephemeral   point          // E_i
	ephProof    KnowledgeProof // of e_i
	shares      [][ScalarSize]byte
	raw         []byte
}

// scalarFromIndex returns the trustee number i as a scalar.
func scalarFromIndex(i int) *ristretto255.Scalar { return scalarFromUint64(uint64(i)) }

// Deal makes trustee self's dealing: commitments to a fresh random
// polynomial of degree t−1, a proof of knowledge of its constant term, one
// ephemeral key with a proof of knowledge of its secret, and a share for
// every trustee encrypted to its encryption key.
func Deal(rnd io.Reader, r *Roster, self int, secrets *TrusteeSecrets) ([]byte, error) {
	if err := checkSelf(r, self, secrets); err != nil {
		return nil, err
	}
	f := r.Fingerprint()
	coeffs := make([]*ristretto255.Scalar, r.Threshold)
	for k := range coeffs {
		a, err := randomNonZeroScalar(rnd)
		if err != nil {
			return nil, err
		}
		coeffs[k] = a
	}
	body := header(msgDealing, f, self)
	for _, a := range coeffs {
		body = append(body, scalarMultBase(a).Bytes()...)
	}
	pok, err := ProveKnowledge(rnd, newSecretKey(coeffs[0]), Context{Election: f, Binding: binding("dealer", self)})
	if err != nil {
		return nil, err
	}
	body = append(body, pok.Bytes()...)
	e, err := randomNonZeroScalar(rnd)
	if err != nil {
		return nil, err
	}
	eph := newSecretKey(e)
	ephProof, err := ProveKnowledge(rnd, eph, Context{Election: f, Binding: binding("share-key", self)})
	if err != nil {
		return nil, err
	}
	body = append(append(body, eph.pub.enc[:]...), ephProof.Bytes()...)
	for j := 1; j <= r.N(); j++ {
		s := evalPolynomial(coeffs, j)
		var kp point
		kp.set(new(ristretto255.Element).ScalarMult(e, &r.Trustees[j-1].Encryption.e))
		pad := sharePad(f, self, j, &eph.pub.point, &kp)
		x := s.Bytes()
		subtle.XORBytes(x, x, pad[:ScalarSize])
		body = append(body, x...)
	}
	return sealMessage(rnd, f, secrets, body)
}

func randomNonZeroScalar(rnd io.Reader) (*ristretto255.Scalar, error) {
	for {
		a, err := randomScalar(rnd)
		if err != nil {
			return nil, err
		}
		// Zero has probability 2^-252; rejecting it leaks nothing.
		if a.Equal(new(ristretto255.Scalar)) == 0 {
			return a, nil
		}
	}
}

// evalPolynomial returns f(j) = Σ a_k·j^k by Horner's rule.
func evalPolynomial(coeffs []*ristretto255.Scalar, j int) *ristretto255.Scalar {
	x := scalarFromIndex(j)
	s := new(ristretto255.Scalar)
	for k := len(coeffs) - 1; k >= 0; k-- {
		s.Multiply(s, x)
		s.Add(s, coeffs[k])
	}
	return s
}

func sharePad(f Fingerprint, i, j int, e, k *point) [64]byte {
	return tupleHash(labelSharePad, f[:], u32(uint32(i)), u32(uint32(j)), e.enc[:], k.enc[:])
}

func checkSelf(r *Roster, self int, secrets *TrusteeSecrets) error {
	if err := r.Validate(); err != nil {
		return err
	}
	if self < 1 || self > r.N() {
		return fmt.Errorf("%w: there is no trustee %d on a roster of %d", ErrCeremony, self, r.N())
	}
	t := r.Trustees[self-1]
	if !secrets.Signing.PublicKey().Equal(t.Signing) || !secrets.Encryption.PublicKey().Equal(t.Encryption) {
		return fmt.Errorf("%w: these identity keys are not those of %s on the roster", ErrCeremony, r.name(self))
	}
	return nil
}

// ParseDealing decodes and checks a dealing: envelope, exact length,
// canonical encodings, C_0 ≠ O, E ≠ O, and the proofs of knowledge of the
// constant term and of the ephemeral secret.
func ParseDealing(r *Roster, msg []byte) (*Dealing, error) {
	d, _, err := parseDealing(r, msg)
	return d, err
}

func parseDealing(r *Roster, msg []byte) (*Dealing, int, error) {
	f := r.Fingerprint()
	dealer, rd, err := openMessage(r, f, msgDealing, msg)
	if err != nil {
		return nil, 0, fmt.Errorf("dealing: %w", err)
	}
	d := &Dealing{Dealer: dealer, commitments: make([]point, r.Threshold), shares: make([][ScalarSize]byte, r.N()), raw: msg}
	for k := range d.commitments {
		rd.point(&d.commitments[k], k > 0)
	}
	rd.point(&d.proof.a, true)
	rd.scalar(&d.proof.s)
	rd.point(&d.ephemeral, false)
	rd.point(&d.ephProof.a, true)
	rd.scalar(&d.ephProof.s)
	for j := range d.shares {
		copy(d.shares[j][:], rd.take(ScalarSize))
	}
	if err := rd.done(); err != nil {
		return nil, dealer, fmt.Errorf("dealing of %s: %w", r.name(dealer), err)
	}
	c0 := &PublicKey{point: d.commitments[0]}
	if err := VerifyKnowledge(c0, Context{Election: f, Binding: binding("dealer", dealer)}, &d.proof); err != nil {
		return nil, dealer, fmt.Errorf("dealing of %s: proof of knowledge of its secret: %w", r.name(dealer), err)
	}
	eph := &PublicKey{point: d.ephemeral}
	if err := VerifyKnowledge(eph, Context{Election: f, Binding: binding("share-key", dealer)}, &d.ephProof); err != nil {
		return nil, dealer, fmt.Errorf("dealing of %s: proof of knowledge of its share-encryption key: %w", r.name(dealer), err)
	}
	return d, dealer, nil
}

// expectedShare returns Σ_k j^k·C_k, what s_j·G must be.
func (d *Dealing) expectedShare(j int) *ristretto255.Element {
	scalars := make([]*ristretto255.Scalar, len(d.commitments))
	points := make([]*ristretto255.Element, len(d.commitments))
	x, pow := scalarFromIndex(j), scalarFromUint64(1)
	for k := range d.commitments {
		scalars[k] = new(ristretto255.Scalar).Set(pow)
		points[k] = d.commitments[k].elem()
		pow.Multiply(pow, x)
	}
	return new(ristretto255.Element).VarTimeMultiScalarMult(scalars, points)
}

// openShare decrypts the share for trustee j given the Diffie–Hellman value
// K = p_j·E and checks it against the commitments. It returns the share, or
// nil if it is not a canonical scalar on the dealer's polynomial.
func (d *Dealing) openShare(f Fingerprint, j int, k *point) *ristretto255.Scalar {
	pad := sharePad(f, d.Dealer, j, &d.ephemeral, k)
	var x [ScalarSize]byte
	subtle.XORBytes(x[:], d.shares[j-1][:], pad[:ScalarSize])
	var s ristretto255.Scalar
	if decodeScalar(&s, x[:]) != nil {
		return nil
	}
	if scalarMultBase(&s).Equal(d.expectedShare(j)) != 1 {
		return nil
	}
	return &s
}

// receiveShare decrypts with the trustee's encryption key.
func (d *Dealing) receiveShare(f Fingerprint, j int, enc *SecretKey) (*ristretto255.Scalar, *point) {
	var k point
	k.set(new(ristretto255.Element).ScalarMult(&enc.x, d.ephemeral.elem()))
	return d.openShare(f, j, &k), &k
}

// Complain checks every share addressed to trustee self in the given
// dealings and returns its complaints message (spec §13.2), with a complaint
// for each share that is not on its dealer's polynomial. Dealings that are
// invalid or equivocated are left to the public replay. A trustee may send
// complaints more than once (for a dealing that arrived late); every founded
// complaint counts.
func Complain(rnd io.Reader, r *Roster, self int, secrets *TrusteeSecrets, dealings [][]byte) ([]byte, error) {
	if err := checkSelf(r, self, secrets); err != nil {
		return nil, err
	}
	f := r.Fingerprint()
	valid, _ := uniqueDealings(r, dealings)
	body := header(msgComplaints, f, self)
	var items []byte
	count := 0
	for _, i := range sortedKeys(valid) {
		d := valid[i]
		share, k := d.receiveShare(f, self, secrets.Encryption)
		if share != nil {
			continue
		}
		base := &Element{point: d.ephemeral}
		_, proof, err := ProveEquality(rnd, secrets.Encryption, Context{Election: f, Binding: binding("complaint", i, self)}, base)
		if err != nil {
			return nil, err
		}
		items = binary.BigEndian.AppendUint32(items, uint32(i))
		items = append(items, k.enc[:]...)
		items = append(items, proof.Bytes()...)
		count++
	}
	body = binary.BigEndian.AppendUint32(body, uint32(count))
	return sealMessage(rnd, f, secrets, append(body, items...))
}

// uniqueDealings parses dealings and keeps one per dealer. Invalid
// dealings, and dealers with two different valid dealings (equivocation),
// are returned as faults.
func uniqueDealings(r *Roster, msgs [][]byte) (map[int]*Dealing, []Fault) {
	valid := make(map[int]*Dealing)
	equivocated := make(map[int]bool)
	var faults []Fault
	for _, m := range msgs {
		d, sender, err := parseDealing(r, m)
		if err != nil {
			faults = append(faults, Fault{Trustee: blame(sender, err), Kind: FaultInvalidMessage, Reason: err.Error()})
			continue
		}
		if prev, ok := valid[d.Dealer]; ok && !bytes.Equal(prev.raw, d.raw) {
			equivocated[d.Dealer] = true
		}
		valid[d.Dealer] = d
	}
	for _, i := range sortedKeys(equivocated) {
		delete(valid, i)
		faults = append(faults, Fault{Trustee: i, Disqualified: true, Kind: FaultEquivocation, Reason: fmt.Sprintf("%s signed two different dealings (equivocation)", r.name(i))})
	}
	return valid, faults
}

func sortedKeys[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// senderOf returns the claimed sender of a message, or 0.
func senderOf(r *Roster, msg []byte) int {
	if len(msg) < headerSize {
		return 0
	}
	s := int(binary.BigEndian.Uint32(msg[33:37]))
	if s < 1 || s > r.N() {
		return 0
	}
	return s
}

// Fault is a problem found in a ceremony or a decryption: who is at fault
// and why. Disqualified is set for a dealer excluded from the key. Trustee
// is 0 when no trustee can be blamed (a message with a bad signature may
// have been forged by anyone). Kind says what the fault is, and Other the
// other trustee it involves, for words other than Reason's (another
// language); neither is in the JSON form.
type Fault struct {
	Trustee      int       `json:"trustee"`
	Disqualified bool      `json:"disqualified,omitempty"`
	Reason       string    `json:"reason"`
	Kind         FaultKind `json:"-"`
	Other        int       `json:"-"`
}

// FaultKind is the kind of a Fault.
type FaultKind int

// The kinds of faults Replay and Combine report.
const (
	FaultOther FaultKind = iota
	// FaultInvalidMessage: a message that does not verify (its encoding,
	// signature or proofs); Trustee is 0 if anyone could have forged it.
	FaultInvalidMessage
	// FaultEquivocation: Trustee signed two different dealings.
	FaultEquivocation
	// FaultNoDealing: Trustee sent no valid dealing.
	FaultNoDealing
	// FaultBadShare: Trustee dealt Other a share off its committed
	// polynomial, as Other's complaint shows.
	FaultBadShare
	// FaultInvalidComplaint: Trustee's complaint against Other does not
	// verify.
	FaultInvalidComplaint
	// FaultUnfoundedComplaint: Trustee complained against Other, but the
	// share revealed is correct.
	FaultUnfoundedComplaint
	// FaultEmptyMessage: an empty message, ignored.
	FaultEmptyMessage
	// FaultNotCeremony: messages that are not ceremony messages, ignored.
	FaultNotCeremony
	// FaultMissingTranscript: confirmations name a transcript some of
	// whose messages are missing.
	FaultMissingTranscript
	// FaultLateMessage: Trustee's message came after the transcript was
	// confirmed, and is ignored.
	FaultLateMessage
	// FaultBadConfirmation: Trustee's confirmation is not of this outcome,
	// or does not verify.
	FaultBadConfirmation
	// FaultDecryptionEquivocation: Trustee signed two different sets of
	// decryption shares.
	FaultDecryptionEquivocation
)

var faultKindNames = [...]string{"other", "invalidMessage", "equivocation", "noDealing", "badShare", "invalidComplaint",
	"unfoundedComplaint", "emptyMessage", "notCeremony", "missingTranscript", "lateMessage", "badConfirmation", "decryptionEquivocation"}

// String names the kind, in lower camel case ("equivocation", "noDealing").
func (k FaultKind) String() string {
	if k < 0 || int(k) >= len(faultKindNames) {
		return "other"
	}
	return faultKindNames[k]
}

// Outcome is what anyone computes from a ceremony's messages (spec §13.3).
type Outcome struct {
	Fingerprint Fingerprint
	// Qualified are the dealers whose polynomials make the key.
	Qualified []int
	// PublicKey is the election key Y (nil if the ceremony failed);
	// VerificationKeys[j−1] is Y_j.
	PublicKey        *PublicKey
	VerificationKeys []*PublicKey
	// Confirmed are the trustees whose confirmations of this outcome are
	// valid.
	Confirmed []int
	// Complete is true when at least t trustees confirmed this outcome; the
	// transcript is then fixed, and later messages are ignored.
	Complete bool
	// Transcript is the SHA-256 of every dealing and complaints message the
	// outcome was computed from, sorted.
	Transcript [][sha256.Size]byte
	// Faults lists every disqualification, ignored message and unfounded or
	// invalid complaint, with its reason.
	Faults []Fault

	dealings map[int]*Dealing
}

// CeremonyError is returned when the ceremony cannot produce a key.
type CeremonyError struct {
	Faults []Fault
	Reason string
}

func (e *CeremonyError) Error() string {
	var s strings.Builder
	s.WriteString(e.Reason)
	for _, f := range e.Faults {
		if f.Disqualified {
			fmt.Fprintf(&s, "; %s", f.Reason)
		}
	}
	return s.String()
}

func (e *CeremonyError) Unwrap() error { return ErrCeremony }

// Replay computes the outcome of a ceremony from all its messages, in any
// order (spec §13.3). If at least t trustees confirmed the same transcript,
// the outcome is computed from exactly that transcript and every other
// dealing or complaint is ignored; otherwise from every dealing and
// complaint present. It returns an error, with the outcome so far, if fewer
// than t dealers qualify.
func Replay(r *Roster, msgs [][]byte) (*Outcome, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	f := r.Fingerprint()
	var transcript [][]byte
	var confirmations []*parsed
	var faults []Fault
	other := make(map[byte]int)
	for _, m := range msgs {
		if len(m) == 0 {
			faults = append(faults, Fault{Kind: FaultEmptyMessage, Reason: "empty message ignored"})
			continue
		}
		switch m[0] {
		case msgDealing, msgComplaints:
			transcript = append(transcript, m)
		case msgConfirmation:
			p, err := parseMessage(r, f, msgConfirmation, m)
			if err != nil {
				faults = append(faults, Fault{Trustee: blame(senderOf(r, m), err), Kind: FaultInvalidMessage, Reason: err.Error()})
				continue
			}
			confirmations = append(confirmations, p)
		default:
			other[m[0]]++
		}
	}
	for _, typ := range slices.Sorted(mapKeys(other)) {
		faults = append(faults, Fault{Kind: FaultNotCeremony, Reason: fmt.Sprintf("%d message(s) of type %d are not ceremony messages; ignored", other[typ], typ)})
	}
	byHash := make(map[[sha256.Size]byte][]byte)
	for _, m := range transcript {
		byHash[sha256.Sum256(m)] = m
	}

	// Transcripts confirmed by at least t trustees, most confirmed first.
	groups := make(map[string][]*parsed)
	for _, c := range confirmations {
		k := transcriptKey(c.confirmation.transcript)
		groups[k] = append(groups[k], c)
	}
	keys := slices.Collect(mapKeysS(groups))
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(groups[b]), len(groups[a])), strings.Compare(a, b))
	})
	for _, k := range keys {
		group := groups[k]
		if len(group) < r.Threshold {
			break
		}
		var msgs [][]byte
		missing := 0
		for _, h := range group[0].confirmation.transcript {
			if m, ok := byHash[h]; ok {
				msgs = append(msgs, m)
			} else {
				missing++
			}
		}
		if missing > 0 {
			faults = append(faults, Fault{Kind: FaultMissingTranscript, Reason: fmt.Sprintf("%d confirmations name a transcript of which %d messages are missing; give every message to check it", len(group), missing)})
			continue
		}
		out, err := compute(r, msgs)
		if err != nil {
			continue
		}
		out.confirm(r, confirmations)
		if !out.Complete {
			continue
		}
		listed := make(map[[sha256.Size]byte]bool)
		for _, h := range out.Transcript {
			listed[h] = true
		}
		for _, m := range transcript {
			if !listed[sha256.Sum256(m)] {
				out.Faults = append(out.Faults, Fault{Trustee: senderOf(r, m), Kind: FaultLateMessage, Reason: fmt.Sprintf("a message of type %d from %s came after the transcript was confirmed; ignored", m[0], r.name(senderOf(r, m)))})
			}
		}
		out.Faults = append(faults, out.Faults...)
		return out, nil
	}
	out, err := compute(r, transcript)
	out.Faults = append(faults, out.Faults...)
	if err == nil {
		out.confirm(r, confirmations)
	}
	return out, err
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mapKeysS[V any](m map[string]V) func(func(string) bool) { return mapKeys(m) }

func transcriptKey(hs [][sha256.Size]byte) string {
	var b strings.Builder
	for _, h := range hs {
		b.Write(h[:])
	}
	return b.String()
}

// compute is spec §13.3 steps 1–4 over a set of dealing and complaints
// messages.
func compute(r *Roster, msgs [][]byte) (*Outcome, error) {
	f := r.Fingerprint()
	out := &Outcome{Fingerprint: f}
	seen := make(map[[sha256.Size]byte]bool)
	var dealings, complaints [][]byte
	for _, m := range msgs {
		h := sha256.Sum256(m)
		if seen[h] {
			continue
		}
		seen[h] = true
		out.Transcript = append(out.Transcript, h)
		if m[0] == msgDealing {
			dealings = append(dealings, m)
		} else {
			complaints = append(complaints, m)
		}
	}
	slices.SortFunc(out.Transcript, func(a, b [sha256.Size]byte) int { return bytes.Compare(a[:], b[:]) })
	valid, faults := uniqueDealings(r, dealings)
	// disqualified holds, for each dealer excluded, the fault that
	// excludes it.
	disqualified := make(map[int]Fault)
	for _, fl := range faults {
		if fl.Trustee != 0 {
			if _, ok := valid[fl.Trustee]; !ok {
				disqualified[fl.Trustee] = fl
			}
		}
	}
	for i := 1; i <= r.N(); i++ {
		if _, ok := valid[i]; !ok {
			if _, named := disqualified[i]; !named {
				disqualified[i] = Fault{Kind: FaultNoDealing, Reason: fmt.Sprintf("%s sent no valid dealing", r.name(i))}
			}
		}
	}
	for _, fl := range faults {
		if fl.Trustee == 0 || fl.Disqualified {
			out.Faults = append(out.Faults, fl)
		}
	}
	// Every validly signed complaint counts: a founded complaint proves
	// itself, whoever sent it and however many messages it sent.
	founded := make(map[int]bool)
	for _, m := range complaints {
		p, err := parseMessage(r, f, msgComplaints, m)
		if err != nil {
			out.Faults = append(out.Faults, Fault{Trustee: blame(senderOf(r, m), err), Kind: FaultInvalidMessage, Reason: err.Error()})
			continue
		}
		for _, cp := range p.items {
			d, ok := valid[cp.dealer]
			if !ok {
				continue
			}
			base := &Element{point: d.ephemeral}
			k := &Element{point: cp.k}
			ctx := Context{Election: f, Binding: binding("complaint", cp.dealer, p.sender)}
			if err := VerifyEquality(r.Trustees[p.sender-1].Encryption, base, k, ctx, &cp.proof); err != nil {
				out.Faults = append(out.Faults, Fault{Trustee: p.sender, Kind: FaultInvalidComplaint, Other: cp.dealer, Reason: fmt.Sprintf("%s made an invalid complaint against %s: %v", r.name(p.sender), r.name(cp.dealer), err)})
				continue
			}
			if d.openShare(f, p.sender, &cp.k) != nil {
				out.Faults = append(out.Faults, Fault{Trustee: p.sender, Kind: FaultUnfoundedComplaint, Other: cp.dealer, Reason: fmt.Sprintf("%s complained against %s, but the revealed share is correct: complaint unfounded", r.name(p.sender), r.name(cp.dealer))})
				continue
			}
			if !founded[cp.dealer] {
				founded[cp.dealer] = true
				disqualified[cp.dealer] = Fault{Kind: FaultBadShare, Other: p.sender, Reason: fmt.Sprintf("%s dealt %s a share that is not on its committed polynomial (shown by %s's complaint)", r.name(cp.dealer), r.name(p.sender), r.name(p.sender))}
			}
		}
	}
	for _, i := range sortedKeys(disqualified) {
		if !slices.ContainsFunc(out.Faults, func(fl Fault) bool { return fl.Trustee == i && fl.Disqualified }) {
			fl := disqualified[i]
			fl.Trustee, fl.Disqualified = i, true
			out.Faults = append(out.Faults, fl)
		}
	}
	out.dealings = make(map[int]*Dealing)
	for _, i := range sortedKeys(valid) {
		if _, ok := disqualified[i]; !ok {
			out.Qualified = append(out.Qualified, i)
			out.dealings[i] = valid[i]
		}
	}
	if len(out.Qualified) < r.Threshold {
		return out, &CeremonyError{Faults: out.Faults, Reason: fmt.Sprintf("%v: only %d dealers qualified (%v), the threshold is %d", ErrCeremony, len(out.Qualified), out.Qualified, r.Threshold)}
	}
	y := ristretto255.NewIdentityElement()
	for _, i := range out.Qualified {
		y.Add(y, out.dealings[i].commitments[0].elem())
	}
	if isIdentity(y) {
		return out, &CeremonyError{Faults: out.Faults, Reason: fmt.Sprintf("%v: the dealers' secrets cancel out and the election key is the identity", ErrCeremony)}
	}
	out.PublicKey = &PublicKey{}
	out.PublicKey.set(y)
	for j := 1; j <= r.N(); j++ {
		yj := ristretto255.NewIdentityElement()
		for _, i := range out.Qualified {
			yj.Add(yj, out.dealings[i].expectedShare(j))
		}
		k := &PublicKey{}
		k.set(yj)
		out.VerificationKeys = append(out.VerificationKeys, k)
	}
	return out, nil
}

// confirm checks the confirmations against the outcome.
func (out *Outcome) confirm(r *Roster, confirmations []*parsed) {
	byTrustee := make(map[int][]*parsed)
	for _, c := range confirmations {
		byTrustee[c.sender] = append(byTrustee[c.sender], c)
	}
	for _, j := range sortedKeys(byTrustee) {
		var errs []string
		ok := false
		for _, c := range byTrustee[j] {
			if err := c.confirmation.check(out, j); err != nil {
				errs = append(errs, err.Error())
			} else {
				ok = true
			}
		}
		if ok {
			out.Confirmed = append(out.Confirmed, j)
		} else {
			out.Faults = append(out.Faults, Fault{Trustee: j, Kind: FaultBadConfirmation, Reason: fmt.Sprintf("confirmation of %s: %s", r.name(j), strings.Join(errs, "; "))})
		}
	}
	out.Complete = len(out.Confirmed) >= r.Threshold
}

type complaint struct {
	dealer int
	k      point
	proof  EqualityProof
}

type confirmation struct {
	y, yj      point
	proof      KnowledgeProof
	transcript [][sha256.Size]byte
}

// check verifies a confirmation against the computed outcome.
func (c *confirmation) check(out *Outcome, j int) error {
	if transcriptKey(c.transcript) != transcriptKey(out.Transcript) {
		return fmt.Errorf("%w: it confirms another set of messages", ErrInvalidProof)
	}
	if c.y.enc != out.PublicKey.enc {
		return fmt.Errorf("%w: it confirms another election key", ErrInvalidProof)
	}
	yj := out.VerificationKeys[j-1]
	if c.yj.enc != yj.enc {
		return fmt.Errorf("%w: it confirms another verification key", ErrInvalidProof)
	}
	return VerifyKnowledge(yj, Context{Election: out.Fingerprint, Binding: binding("share", j)}, &c.proof)
}

// parsed is a complaints or confirmation message.
type parsed struct {
	sender       int
	raw          []byte
	items        []complaint
	confirmation confirmation
}

func parseMessage(r *Roster, f Fingerprint, typ byte, m []byte) (*parsed, error) {
	what := map[byte]string{msgComplaints: "complaints", msgConfirmation: "confirmation"}[typ]
	sender, rd, err := openMessage(r, f, typ, m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	p := &parsed{sender: sender, raw: m}
	switch typ {
	case msgComplaints:
		n := rd.u32()
		if n > r.N() {
			return nil, fmt.Errorf("%s of %s: %w: %d complaints", what, r.name(sender), ErrEncoding, n)
		}
		last := 0
		for range n {
			var c complaint
			c.dealer = rd.u32()
			rd.point(&c.k, true)
			rd.point(&c.proof.a1, true)
			rd.point(&c.proof.a2, true)
			rd.scalar(&c.proof.s)
			if rd.err == nil && (c.dealer <= last || c.dealer > r.N()) {
				rd.err = fmt.Errorf("%w: complaints must name dealers on the roster in increasing order", ErrEncoding)
			}
			last = c.dealer
			p.items = append(p.items, c)
		}
	case msgConfirmation:
		rd.point(&p.confirmation.y, false)
		rd.point(&p.confirmation.yj, false)
		rd.point(&p.confirmation.proof.a, true)
		rd.scalar(&p.confirmation.proof.s)
		n := rd.u32()
		if n > 2*MaxTrustees {
			rd.err = fmt.Errorf("%w: a transcript of %d messages", ErrEncoding, n)
		}
		for i := 0; i < n && rd.err == nil; i++ {
			var h [sha256.Size]byte
			copy(h[:], rd.take(sha256.Size))
			if i > 0 && bytes.Compare(h[:], p.confirmation.transcript[i-1][:]) <= 0 {
				rd.err = fmt.Errorf("%w: transcript hashes must be sorted and distinct", ErrEncoding)
			}
			p.confirmation.transcript = append(p.confirmation.transcript, h)
		}
	}
	if err := rd.done(); err != nil {
		return nil, fmt.Errorf("%s of %s: %w", what, r.name(sender), err)
	}
	return p, nil
}

// check refuses an outcome that is not of this roster or has no key.
func (out *Outcome) check(r *Roster) error {
	if out.Fingerprint != r.Fingerprint() {
		return fmt.Errorf("%w: this outcome is of another roster", ErrCeremony)
	}
	if out.PublicKey == nil || len(out.VerificationKeys) != r.N() {
		return fmt.Errorf("%w: the ceremony has no key", ErrCeremony)
	}
	return nil
}

// Share returns trustee self's secret share x_j of the election key, from
// the dealings of the qualified dealers, and checks that x_j·G = Y_j.
func (out *Outcome) Share(r *Roster, self int, secrets *TrusteeSecrets) (*SecretKey, error) {
	if err := checkSelf(r, self, secrets); err != nil {
		return nil, err
	}
	if err := out.check(r); err != nil {
		return nil, err
	}
	x := new(ristretto255.Scalar)
	for _, i := range out.Qualified {
		s, _ := out.dealings[i].receiveShare(out.Fingerprint, self, secrets.Encryption)
		if s == nil {
			return nil, fmt.Errorf("%w: the share %s dealt to %s is wrong, and no complaint of %s about it was received: check the dealings again (scrutin trustee check) so that the complaint is sent", ErrCeremony, r.name(i), r.name(self), r.name(self))
		}
		x.Add(x, s)
	}
	sk := newSecretKey(x)
	if !sk.PublicKey().Equal(out.VerificationKeys[self-1]) {
		return nil, fmt.Errorf("%w: internal error: share does not match its verification key", ErrCeremony)
	}
	return sk, nil
}

// Confirm returns trustee self's confirmation message (spec §13.2): the
// transcript the outcome was computed from, the election key and the
// trustee's verification key, with a proof that it holds its share.
func (out *Outcome) Confirm(rnd io.Reader, r *Roster, self int, secrets *TrusteeSecrets, share *SecretKey) ([]byte, error) {
	if err := checkSelf(r, self, secrets); err != nil {
		return nil, err
	}
	if err := out.check(r); err != nil {
		return nil, err
	}
	if !share.PublicKey().Equal(out.VerificationKeys[self-1]) {
		return nil, fmt.Errorf("%w: this share does not belong to %s in this ceremony", ErrCeremony, r.name(self))
	}
	body := header(msgConfirmation, out.Fingerprint, self)
	body = append(body, out.PublicKey.enc[:]...)
	body = append(body, out.VerificationKeys[self-1].enc[:]...)
	p, err := ProveKnowledge(rnd, share, Context{Election: out.Fingerprint, Binding: binding("share", self)})
	if err != nil {
		return nil, err
	}
	body = append(body, p.Bytes()...)
	body = binary.BigEndian.AppendUint32(body, uint32(len(out.Transcript)))
	for _, h := range out.Transcript {
		body = append(body, h[:]...)
	}
	return sealMessage(rnd, out.Fingerprint, secrets, body)
}

// CheckCeremonyMessage checks that msg is a well-formed dealing,
// complaints or confirmation message of this roster, signed by the trustee
// it names, and returns its type and sender. Whether it counts is for
// Replay to decide.
func CheckCeremonyMessage(r *Roster, msg []byte) (typ byte, sender int, err error) {
	if len(msg) == 0 {
		return 0, 0, fmt.Errorf("%w: empty message", ErrEncoding)
	}
	switch msg[0] {
	case msgDealing:
		d, err := ParseDealing(r, msg)
		if err != nil {
			return 0, 0, err
		}
		return msgDealing, d.Dealer, nil
	case msgComplaints, msgConfirmation:
		p, err := parseMessage(r, r.Fingerprint(), msg[0], msg)
		if err != nil {
			return 0, 0, err
		}
		return msg[0], p.sender, nil
	}
	return 0, 0, fmt.Errorf("%w: message type %d is not a ceremony message", ErrEncoding, msg[0])
}

// ComplaintsAgainst returns the dealers a complaints message of roster r
// (and the roster's fingerprint) complains against, in increasing order,
// decoded and signature-checked by the parser Replay uses; an error if it
// is not such a message.
func ComplaintsAgainst(r *Roster, msg []byte) ([]int, error) {
	p, err := parseMessage(r, r.Fingerprint(), msgComplaints, msg)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(p.items))
	for i, c := range p.items {
		out[i] = c.dealer
	}
	return out, nil
}
