package crypto

// Regression tests for an adversarial review of the key ceremony (spec §13)
// and threshold decryption (spec §14): each test is an attack that worked
// against an earlier design and must fail now.

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

// dealWith is Deal with chosen polynomial coefficients, as a cheating dealer
// would run it.
func dealWith(t testing.TB, rnd io.Reader, r *Roster, self int, secrets *TrusteeSecrets, coeffs []*ristretto255.Scalar) []byte {
	t.Helper()
	f := r.Fingerprint()
	body := header(msgDealing, f, self)
	for _, a := range coeffs {
		body = append(body, scalarMultBase(a).Bytes()...)
	}
	pok, err := ProveKnowledge(rnd, newSecretKey(coeffs[0]), Context{Election: f, Binding: binding("dealer", self)})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := randomNonZeroScalar(rnd)
	eph := newSecretKey(e)
	ephProof, _ := ProveKnowledge(rnd, eph, Context{Election: f, Binding: binding("share-key", self)})
	body = append(append(append(body, pok.Bytes()...), eph.pub.enc[:]...), ephProof.Bytes()...)
	for j := 1; j <= r.N(); j++ {
		var kp point
		kp.set(new(ristretto255.Element).ScalarMult(e, &r.Trustees[j-1].Encryption.e))
		pad := sharePad(f, self, j, &eph.pub.point, &kp)
		x := evalPolynomial(coeffs, j).Bytes()
		for k := range x {
			x[k] ^= pad[k]
		}
		body = append(body, x...)
	}
	m, err := sealMessage(rnd, f, secrets, body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAttackCopiedEphemeralKey: a malicious dealer puts an honest dealer's
// share-encryption key E (and its proof), or a key derived from it, into its
// own dealing with garbage shares, so that honest recipients' complaints
// would reveal K = p_j·E and open the honest dealer's shares. The proof of
// knowledge of e, bound to the dealer, makes such a dealing invalid: nobody
// complains about it and nothing is revealed.
func TestAttackCopiedEphemeralKey(t *testing.T) {
	rnd := testRand(101)
	c := newTestCeremony(t, rnd, 2, 3)
	dealings := c.deal(t)
	eOff := headerSize + ElementSize*c.roster.Threshold + KnowledgeProofSize
	g := BaseElement().Bytes()
	for name, edit := range map[string]func(m []byte){
		"copied E and proof": func(m []byte) { copy(m[eOff:eOff+96], dealings[0][eOff:eOff+96]) },
		"E + G, copied proof": func(m []byte) {
			var e, sum ristretto255.Element
			e.SetCanonicalBytes(dealings[0][eOff : eOff+32])
			var gg ristretto255.Element
			gg.SetCanonicalBytes(g)
			copy(m[eOff:], sum.Add(&e, &gg).Bytes())
			copy(m[eOff+32:eOff+96], dealings[0][eOff+32:eOff+96])
		},
	} {
		m := slices.Clone(dealings[2])
		edit(m)
		for j := 1; j <= 3; j++ {
			off := shareOffset(c.roster, j)
			m[off] ^= 0xff // garbage share
		}
		evil := resign(t, rnd, c.roster, c.secrets[2], m)
		if _, err := ParseDealing(c.roster, evil); err == nil || !strings.Contains(err.Error(), "share-encryption key") {
			t.Fatalf("%s: dealing accepted: %v", name, err)
		}
		ds := [][]byte{dealings[0], dealings[1], evil}
		for j := 1; j <= 2; j++ {
			msg, err := Complain(rnd, c.roster, j, c.secrets[j-1], ds)
			if err != nil {
				t.Fatal(err)
			}
			p, err := parseMessage(c.roster, c.roster.Fingerprint(), msgComplaints, msg)
			if err != nil || len(p.items) != 0 {
				t.Fatalf("%s: trustee %d revealed %d Diffie–Hellman values: %v", name, j, len(p.items), err)
			}
		}
		out, err := Replay(c.roster, append(ds, c.complain(t, ds)...))
		if err != nil || slices.Contains(out.Qualified, 3) || !slices.ContainsFunc(out.Faults, func(f Fault) bool { return f.Trustee == 3 && f.Disqualified }) {
			t.Fatalf("%s: %v %+v", name, err, out)
		}
	}
}

// TestAttackLateDealingEscapesComplaint: a cheating dealer publishes its
// dealing after the others have sent their complaints. The victim's second
// complaints message (the only way to complain) counts as equivocation, so
// its founded complaint is dropped and the cheater stays qualified. Spec
// §13.3 disqualifies a dealer with a founded complaint; it does not drop the
// complaints of a sender with two messages.
func TestAttackLateDealingEscapesComplaint(t *testing.T) {
	rnd := testRand(102)
	c := newTestCeremony(t, rnd, 2, 3)
	dealings := c.deal(t)
	dealings[2] = badShare(t, c, dealings[2], 3, 1)
	early := c.complain(t, dealings[:2]) // dealing 3 not yet published
	late, err := Complain(rnd, c.roster, 1, c.secrets[0], dealings)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Replay(c.roster, append(append(slices.Clone(dealings), early...), late))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(out.Qualified, 3) {
		t.Fatalf("dealer 3 stays qualified (%v) despite a valid, founded complaint; faults %+v", out.Qualified, out.Faults)
	}
}

// TestAttackLateMessagesChangeCompletedKey: once t trustees have confirmed,
// one trustee can still change the replayed key (after ballots are cast
// under it): by publishing a withheld dealing, or a first complaints message
// with a founded complaint against itself. The honest trustees' stored
// shares then no longer match and decryption fails.
func TestAttackLateMessagesChangeCompletedKey(t *testing.T) {
	for _, tc := range []string{"withheld dealing", "self-complaint"} {
		t.Run(tc, func(t *testing.T) {
			rnd := testRand(103)
			c := newTestCeremony(t, rnd, 2, 3)
			dealings := c.deal(t)
			var msgs, lateMsg [][]byte
			switch tc {
			case "withheld dealing":
				msgs = slices.Clone(dealings[:2])
				msgs = append(msgs, c.complain(t, dealings[:2])...)
				lateMsg = [][]byte{dealings[2]}
			case "self-complaint":
				dealings[2] = badShare(t, c, dealings[2], 3, 3) // bad share to itself
				msgs = slices.Clone(dealings)
				comp := c.complain(t, dealings)
				msgs = append(msgs, comp[:2]...) // 3 keeps its complaint back
				lateMsg = [][]byte{comp[2]}
			}
			out, err := Replay(c.roster, msgs)
			if err != nil {
				t.Fatal(err)
			}
			for j := 1; j <= 2; j++ {
				share, err := out.Share(c.roster, j, c.secrets[j-1])
				if err != nil {
					t.Fatal(err)
				}
				conf, _ := out.Confirm(rnd, c.roster, j, c.secrets[j-1], share)
				msgs = append(msgs, conf)
			}
			done, err := Replay(c.roster, msgs)
			if err != nil || !done.Complete {
				t.Fatalf("setup: %v %v", done, err)
			}
			after, err := Replay(c.roster, append(msgs, lateMsg...))
			if err != nil {
				t.Fatal(err)
			}
			if !after.PublicKey.Equal(done.PublicKey) || !after.Complete {
				t.Fatalf("a message published after completion changed the election key (complete: %v, qualified %v → %v)", after.Complete, done.Qualified, after.Qualified)
			}
		})
	}
}

// TestAttackRerunRosterReplay: a failed ceremony is rerun with the same
// trustees. Each run has its own ceremony id, so a dealing kept from the
// first run is refused as belonging to another ceremony, blamed on nobody,
// and cannot get its honest dealer disqualified for equivocation.
func TestAttackRerunRosterReplay(t *testing.T) {
	rnd := testRand(104)
	c := newTestCeremony(t, rnd, 2, 3)
	first := c.deal(t) // first run, abandoned
	id, _ := NewCeremonyID(rnd)
	rerun := *c.roster
	rerun.ID = id
	c.roster = &rerun
	second := c.deal(t)
	msgs := append(slices.Clone(second), c.complain(t, second)...)
	msgs = append(msgs, first[0])
	out, err := Replay(c.roster, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(out.Qualified, 1) || slices.ContainsFunc(out.Faults, func(f Fault) bool { return f.Trustee == 1 }) {
		t.Fatalf("honest dealer 1 harmed by a message of an earlier run: %+v", out.Faults)
	}
}

// TestAttackLargeTallyDecrypts: DecryptShare accepts tallies of up to
// MaxTallySize ciphertexts, but openMessage refuses any message over
// MaxCeremonyMessage+8·MaxTallySize bytes, i.e. tallies of more than 447
// ciphertexts, and names every honest trustee as faulty.
func TestAttackLargeTallyDecrypts(t *testing.T) {
	rnd := testRand(105)
	c := newTestCeremony(t, rnd, 1, 1)
	out, shares, _ := c.run(t)
	cts := make([]*Ciphertext, 448)
	for k := range cts {
		cts[k], _ = Encrypt(rnd, out.PublicKey, uint64(k%2))
	}
	msg, err := out.DecryptShare(rnd, c.roster, 1, c.secrets[0], shares[0], cts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := out.Combine(c.roster, cts, [][]byte{msg}, 1); err != nil {
		t.Fatalf("a %d-byte share message for %d ciphertexts is refused: %v", len(msg), len(cts), err)
	}
}

// TestAttackInvalidDealingIsDisqualified: a dealer whose only dealing fails
// (here its proof of knowledge) is excluded from QUAL, but its fault is not
// marked Disqualified, so CeremonyError does not name it (spec §13.3 step 3:
// "naming every disqualified dealer"). A message whose signature fails is
// also attributed to the trustee it claims to come from.
func TestAttackInvalidDealingIsDisqualified(t *testing.T) {
	rnd := testRand(106)
	c := newTestCeremony(t, rnd, 3, 3)
	dealings := c.deal(t)
	m := slices.Clone(dealings[2])
	m[headerSize+32*3+32] ^= 1 // the response s of the proof of a_{3,0}
	dealings[2] = resign(t, rnd, c.roster, c.secrets[2], m)
	out, err := Replay(c.roster, append(slices.Clone(dealings), c.complain(t, dealings)...))
	if err == nil || slices.Contains(out.Qualified, 3) {
		t.Fatalf("setup: %v %v", out.Qualified, err)
	}
	if !slices.ContainsFunc(out.Faults, func(f Fault) bool { return f.Trustee == 3 && f.Disqualified }) {
		t.Errorf("dealer 3 is excluded but no fault says it is disqualified: %+v; error: %v", out.Faults, err)
	}

	// Someone without trustee 1's key puts a forged dealing next to its real one.
	forged := slices.Clone(dealings[0])
	forged[len(forged)-1] ^= 1
	out, _ = Replay(c.roster, append(slices.Clone(dealings), forged))
	if slices.ContainsFunc(out.Faults, func(f Fault) bool { return f.Trustee == 1 }) {
		t.Errorf("an unsigned message is blamed on trustee 1: %+v", out.Faults)
	}
}

// catch turns a panic into an error.
func catch(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return f()
}

// TestAttackIdentityKeyOutcomePanics: two colluding dealers whose constant
// terms cancel make Replay fail with Y = O, but the returned outcome has a
// PublicKey (the identity) and no verification keys, so Share, Confirm,
// DecryptShare and Combine on it panic instead of returning an error.
func TestAttackIdentityKeyOutcomePanics(t *testing.T) {
	rnd := testRand(107)
	c := newTestCeremony(t, rnd, 2, 3)
	a, _ := randomScalar(rnd)
	b, _ := randomScalar(rnd)
	na := new(ristretto255.Scalar).Negate(a)
	d1 := dealWith(t, rnd, c.roster, 1, c.secrets[0], []*ristretto255.Scalar{a, b})
	d2 := dealWith(t, rnd, c.roster, 2, c.secrets[1], []*ristretto255.Scalar{na, b})
	out, err := Replay(c.roster, [][]byte{d1, d2}) // dealing 3 withheld or deleted
	if !errors.Is(err, ErrCeremony) {
		t.Fatalf("setup: %v", err)
	}
	if err := catch(func() error { _, err := out.Share(c.roster, 1, c.secrets[0]); return err }); err == nil || err.Error()[:6] == "panic:" {
		t.Fatalf("Share on a failed outcome: %v", err)
	}
}

// TestAttackRosterMismatchPanics: Combine (and Share, Confirm, DecryptShare)
// do not check that the roster is the one the outcome was computed from. A
// message from a trustee beyond the outcome's n indexes VerificationKeys out
// of range.
func TestAttackRosterMismatchPanics(t *testing.T) {
	rnd := testRand(108)
	c := newTestCeremony(t, rnd, 2, 3)
	out, shares, _ := c.run(t)
	cts := testTally(t, rnd, out.PublicKey, []uint64{1})
	good := c.shares(t, out, shares, cts)
	extra, _ := NewTrusteeSecrets(rnd)
	r4 := &Roster{Label: c.roster.Label, ID: c.roster.ID, Threshold: 2, Trustees: append(slices.Clone(c.roster.Trustees),
		Trustee{Name: "T4", Signing: extra.Signing.PublicKey(), Encryption: extra.Encryption.PublicKey()})}
	body := header(msgDecryption, out.Fingerprint, 4)
	body = append(body, good[0][headerSize:len(good[0])-SignatureSize]...)
	msg, _ := sealMessage(rnd, out.Fingerprint, extra, body)
	err := catch(func() error { _, err := out.Combine(r4, cts, append(good, msg), 5); return err })
	if err == nil || strings.HasPrefix(err.Error(), "panic:") {
		t.Fatalf("Combine with another roster: %v", err)
	}
}

// TestAttackResentDecryptionShares: a trustee that runs DecryptShare twice
// (the D_{j,k} are the same, only the proofs differ) has both messages
// dropped as "equivocation". Spec §14 accepts any t valid share messages.
func TestAttackResentDecryptionShares(t *testing.T) {
	rnd := testRand(109)
	c := newTestCeremony(t, rnd, 2, 2)
	out, shares, _ := c.run(t)
	cts := testTally(t, rnd, out.PublicKey, []uint64{2})
	msgs := c.shares(t, out, shares, cts)
	again, _ := out.DecryptShare(rnd, c.roster, 1, c.secrets[0], shares[0], cts)
	if _, err := out.Combine(c.roster, cts, append(msgs, again), 5); err != nil {
		t.Fatalf("two valid share messages of trustee 1: %v", err)
	}
}
