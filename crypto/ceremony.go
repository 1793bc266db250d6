package crypto

// spec: §13.2 messages, §13.3 the outcome

import (
	"bytes"
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

// MaxCeremonyMessage bounds the size of any ceremony message: the largest
// is a dealing with t = n = 255.
const MaxCeremonyMessage = headerSize + 32*MaxTrustees + KnowledgeProofSize + 64*MaxTrustees + SignatureSize

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

// openMessage checks the envelope of a message of the given type: its size,
// its fingerprint, its sender and its signature. It returns the sender and a
// reader positioned after the header.
func openMessage(r *Roster, f Fingerprint, typ byte, msg []byte) (int, *reader, error) {
	if len(msg) < headerSize+SignatureSize || len(msg) > MaxCeremonyMessage+8*MaxTallySize {
		return 0, nil, fmt.Errorf("%w: a message cannot be %d bytes long", ErrEncoding, len(msg))
	}
	if msg[0] != typ {
		return 0, nil, fmt.Errorf("%w: message type %d, expected %d", ErrEncoding, msg[0], typ)
	}
	if !bytes.Equal(msg[1:33], f[:]) {
		return 0, nil, fmt.Errorf("%w: message belongs to another ceremony (fingerprint %x)", ErrInvalidProof, msg[1:9])
	}
	sender := int(binary.BigEndian.Uint32(msg[33:37]))
	if sender < 1 || sender > r.N() {
		return 0, nil, fmt.Errorf("%w: sender %d is not on the roster", ErrEncoding, sender)
	}
	body, sigBytes := msg[:len(msg)-SignatureSize], msg[len(msg)-SignatureSize:]
	sig, err := NewSignature(sigBytes)
	if err != nil {
		return sender, nil, err
	}
	if err := r.Trustees[sender-1].Signing.Verify(f, body, sig); err != nil {
		return sender, nil, fmt.Errorf("signature of %s: %w", r.name(sender), err)
	}
	return sender, &reader{b: body[headerSize:]}, nil
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
	proof       KnowledgeProof
	shares      []encryptedShare // index j−1
	raw         []byte
}

type encryptedShare struct {
	e point
	x [ScalarSize]byte
}

// scalarFromIndex returns the trustee number i as a scalar.
func scalarFromIndex(i int) *ristretto255.Scalar { return scalarFromUint64(uint64(i)) }

// Deal makes trustee self's dealing: commitments to a fresh random
// polynomial of degree t−1, a proof of knowledge of its constant term, and a
// share for every trustee encrypted to its encryption key.
func Deal(rnd io.Reader, r *Roster, self int, secrets *TrusteeSecrets) ([]byte, error) {
	if err := checkSelf(r, self, secrets); err != nil {
		return nil, err
	}
	f := r.Fingerprint()
	t := r.Threshold
	coeffs := make([]*ristretto255.Scalar, t)
	for k := range coeffs {
		for {
			a, err := randomScalar(rnd)
			if err != nil {
				return nil, err
			}
			if k > 0 || a.Equal(new(ristretto255.Scalar)) == 0 {
				coeffs[k] = a
				break
			}
		}
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
	for j := 1; j <= r.N(); j++ {
		s := evalPolynomial(coeffs, j)
		e, err := randomScalar(rnd)
		if err != nil {
			return nil, err
		}
		var ep, kp point
		ep.set(scalarMultBase(e))
		kp.set(new(ristretto255.Element).ScalarMult(e, &r.Trustees[j-1].Encryption.e))
		pad := sharePad(f, self, j, &ep, &kp)
		x := s.Bytes()
		subtle.XORBytes(x, x, pad[:ScalarSize])
		body = append(append(body, ep.enc[:]...), x...)
	}
	return sealMessage(rnd, f, secrets, body)
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
// canonical encodings, C_0 ≠ O, and the proof of knowledge of its constant
// term.
func ParseDealing(r *Roster, msg []byte) (*Dealing, error) {
	f := r.Fingerprint()
	dealer, rd, err := openMessage(r, f, msgDealing, msg)
	if err != nil {
		return nil, fmt.Errorf("dealing: %w", err)
	}
	d := &Dealing{Dealer: dealer, commitments: make([]point, r.Threshold), shares: make([]encryptedShare, r.N()), raw: msg}
	for k := range d.commitments {
		rd.point(&d.commitments[k], k > 0)
	}
	rd.point(&d.proof.a, true)
	rd.scalar(&d.proof.s)
	for j := range d.shares {
		rd.point(&d.shares[j].e, true)
		copy(d.shares[j].x[:], rd.take(ScalarSize))
	}
	if err := rd.done(); err != nil {
		return nil, fmt.Errorf("dealing of %s: %w", r.name(dealer), err)
	}
	c0 := &PublicKey{point: d.commitments[0]}
	if err := VerifyKnowledge(c0, Context{Election: f, Binding: binding("dealer", dealer)}, &d.proof); err != nil {
		return nil, fmt.Errorf("dealing of %s: proof of knowledge of its secret: %w", r.name(dealer), err)
	}
	return d, nil
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
// K and checks it against the commitments. It returns the share, or nil if
// it is not a canonical scalar on the dealer's polynomial.
func (d *Dealing) openShare(f Fingerprint, j int, k *point) *ristretto255.Scalar {
	es := &d.shares[j-1]
	pad := sharePad(f, d.Dealer, j, &es.e, k)
	var x [ScalarSize]byte
	subtle.XORBytes(x[:], es.x[:], pad[:ScalarSize])
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
	k.set(new(ristretto255.Element).ScalarMult(&enc.x, d.shares[j-1].e.elem()))
	return d.openShare(f, j, &k), &k
}

// Complain checks every share addressed to trustee self in the given
// dealings and returns its complaints message (spec §13.2), with a complaint
// for each share that is not on its dealer's polynomial. Dealings that are
// invalid or equivocated are left to the public replay.
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
		base := &Element{point: d.shares[self-1].e}
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

// uniqueDealings parses dealings and keeps one per dealer; a dealer with
// two different valid dealings has equivocated and is returned in faults.
func uniqueDealings(r *Roster, msgs [][]byte) (map[int]*Dealing, []Fault) {
	valid := make(map[int]*Dealing)
	equivocated := make(map[int]bool)
	var faults []Fault
	for _, m := range msgs {
		d, err := ParseDealing(r, m)
		if err != nil {
			faults = append(faults, Fault{Trustee: senderOf(r, m), Reason: err.Error()})
			continue
		}
		if prev, ok := valid[d.Dealer]; ok && !bytes.Equal(prev.raw, d.raw) {
			equivocated[d.Dealer] = true
		}
		valid[d.Dealer] = d
	}
	for _, i := range sortedKeys(equivocated) {
		delete(valid, i)
		faults = append(faults, Fault{Trustee: i, Disqualified: true, Reason: fmt.Sprintf("%s signed two different dealings (equivocation)", r.name(i))})
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
// and why. Disqualified is set for a dealer excluded from the key.
type Fault struct {
	Trustee      int    `json:"trustee"` // 0 if the message names nobody on the roster
	Disqualified bool   `json:"disqualified,omitempty"`
	Reason       string `json:"reason"`
}

// Outcome is what anyone computes from a ceremony's messages (spec §13.3).
type Outcome struct {
	Fingerprint Fingerprint
	// Qualified are the dealers whose polynomials make the key.
	Qualified []int
	// PublicKey is the election key Y; VerificationKeys[j−1] is Y_j.
	PublicKey        *PublicKey
	VerificationKeys []*PublicKey
	// Confirmed are the trustees whose confirmations are valid.
	Confirmed []int
	// Complete is true when at least t trustees confirmed.
	Complete bool
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
// order (spec §13.3). It returns an error, with the outcome so far, if fewer
// than t dealers qualify.
func Replay(r *Roster, msgs [][]byte) (*Outcome, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	f := r.Fingerprint()
	out := &Outcome{Fingerprint: f}
	byType := make(map[byte][][]byte)
	for _, m := range msgs {
		if len(m) == 0 {
			out.Faults = append(out.Faults, Fault{Reason: "empty message ignored"})
			continue
		}
		byType[m[0]] = append(byType[m[0]], m)
	}
	valid, faults := uniqueDealings(r, byType[msgDealing])
	out.Faults = append(out.Faults, faults...)
	for i := 1; i <= r.N(); i++ {
		if _, ok := valid[i]; !ok && !hasFault(faults, i) {
			out.Faults = append(out.Faults, Fault{Trustee: i, Disqualified: true, Reason: fmt.Sprintf("%s sent no valid dealing", r.name(i))})
		}
	}
	disqualified := make(map[int]bool)
	for _, c := range parseUnique(r, f, msgComplaints, byType[msgComplaints], out) {
		for _, cp := range c.items {
			d, ok := valid[cp.dealer]
			if !ok {
				continue
			}
			base := &Element{point: d.shares[c.sender-1].e}
			k := &Element{point: cp.k}
			ctx := Context{Election: f, Binding: binding("complaint", cp.dealer, c.sender)}
			if err := VerifyEquality(r.Trustees[c.sender-1].Encryption, base, k, ctx, &cp.proof); err != nil {
				out.Faults = append(out.Faults, Fault{Trustee: c.sender, Reason: fmt.Sprintf("%s made an invalid complaint against %s: %v", r.name(c.sender), r.name(cp.dealer), err)})
				continue
			}
			if d.openShare(f, c.sender, &cp.k) != nil {
				out.Faults = append(out.Faults, Fault{Trustee: c.sender, Reason: fmt.Sprintf("%s complained against %s, but the revealed share is correct: complaint unfounded", r.name(c.sender), r.name(cp.dealer))})
				continue
			}
			if !disqualified[cp.dealer] {
				disqualified[cp.dealer] = true
				out.Faults = append(out.Faults, Fault{Trustee: cp.dealer, Disqualified: true, Reason: fmt.Sprintf("%s dealt %s a share that is not on its committed polynomial (shown by %s's complaint)", r.name(cp.dealer), r.name(c.sender), r.name(c.sender))})
			}
		}
	}
	out.dealings = make(map[int]*Dealing)
	for _, i := range sortedKeys(valid) {
		if !disqualified[i] {
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
	out.PublicKey = &PublicKey{}
	out.PublicKey.set(y)
	if out.PublicKey.check() != nil {
		return out, &CeremonyError{Faults: out.Faults, Reason: fmt.Sprintf("%v: the election key is the identity", ErrCeremony)}
	}
	for j := 1; j <= r.N(); j++ {
		yj := ristretto255.NewIdentityElement()
		for _, i := range out.Qualified {
			yj.Add(yj, out.dealings[i].expectedShare(j))
		}
		k := &PublicKey{}
		k.set(yj)
		out.VerificationKeys = append(out.VerificationKeys, k)
	}
	for _, c := range parseUnique(r, f, msgConfirmation, byType[msgConfirmation], out) {
		if err := c.confirmation.check(out, c.sender); err != nil {
			out.Faults = append(out.Faults, Fault{Trustee: c.sender, Reason: fmt.Sprintf("confirmation of %s: %v", r.name(c.sender), err)})
			continue
		}
		out.Confirmed = append(out.Confirmed, c.sender)
	}
	out.Complete = len(out.Confirmed) >= r.Threshold
	for t, m := range byType {
		if t < msgDealing || t > msgConfirmation {
			out.Faults = append(out.Faults, Fault{Trustee: senderOf(r, m[0]), Reason: fmt.Sprintf("%d message(s) of type %d are not ceremony messages", len(m), t)})
		}
	}
	return out, nil
}

func hasFault(faults []Fault, i int) bool {
	return slices.ContainsFunc(faults, func(f Fault) bool { return f.Trustee == i })
}

type complaint struct {
	dealer int
	k      point
	proof  EqualityProof
}

type confirmation struct {
	y, yj point
	proof KnowledgeProof
}

// check verifies a confirmation against the computed outcome.
func (c *confirmation) check(out *Outcome, j int) error {
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

// parseUnique parses messages of one type, reporting invalid ones, and drops
// every message of a sender who sent two different ones.
func parseUnique(r *Roster, f Fingerprint, typ byte, msgs [][]byte, out *Outcome) []parsed {
	bySender := make(map[int]*parsed)
	equivocated := make(map[int]bool)
	for _, m := range msgs {
		p, err := parseMessage(r, f, typ, m)
		if err != nil {
			out.Faults = append(out.Faults, Fault{Trustee: senderOf(r, m), Reason: err.Error()})
			continue
		}
		if prev, ok := bySender[p.sender]; ok && !bytes.Equal(prev.raw, p.raw) {
			equivocated[p.sender] = true
		}
		bySender[p.sender] = p
	}
	var res []parsed
	for _, s := range sortedKeys(bySender) {
		if equivocated[s] {
			out.Faults = append(out.Faults, Fault{Trustee: s, Reason: fmt.Sprintf("%s signed two different messages of type %d; both ignored", r.name(s), typ)})
			continue
		}
		res = append(res, *bySender[s])
	}
	return res
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
	}
	if err := rd.done(); err != nil {
		return nil, fmt.Errorf("%s of %s: %w", what, r.name(sender), err)
	}
	return p, nil
}

// Share returns trustee self's secret share x_j of the election key, from
// the dealings of the qualified dealers, and checks that x_j·G = Y_j.
func (out *Outcome) Share(r *Roster, self int, secrets *TrusteeSecrets) (*SecretKey, error) {
	if err := checkSelf(r, self, secrets); err != nil {
		return nil, err
	}
	if out.PublicKey == nil {
		return nil, fmt.Errorf("%w: the ceremony has no key", ErrCeremony)
	}
	x := new(ristretto255.Scalar)
	for _, i := range out.Qualified {
		s, _ := out.dealings[i].receiveShare(out.Fingerprint, self, secrets.Encryption)
		if s == nil {
			return nil, fmt.Errorf("%w: the share %s dealt to %s is wrong, and no complaint of %s about it was received: send the complaints message again", ErrCeremony, r.name(i), r.name(self), r.name(self))
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
// election key and its verification key, with a proof that it holds its
// share.
func (out *Outcome) Confirm(rnd io.Reader, r *Roster, self int, secrets *TrusteeSecrets, share *SecretKey) ([]byte, error) {
	if err := checkSelf(r, self, secrets); err != nil {
		return nil, err
	}
	if out.PublicKey == nil || !share.PublicKey().Equal(out.VerificationKeys[self-1]) {
		return nil, fmt.Errorf("%w: this share does not belong to %s in this ceremony", ErrCeremony, r.name(self))
	}
	body := header(msgConfirmation, out.Fingerprint, self)
	body = append(body, out.PublicKey.enc[:]...)
	body = append(body, out.VerificationKeys[self-1].enc[:]...)
	p, err := ProveKnowledge(rnd, share, Context{Election: out.Fingerprint, Binding: binding("share", self)})
	if err != nil {
		return nil, err
	}
	return sealMessage(rnd, out.Fingerprint, secrets, append(body, p.Bytes()...))
}
