package crypto

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/gtank/ristretto255"
)

// testCeremony is a roster with every trustee's secrets.
type testCeremony struct {
	roster  *Roster
	secrets []*TrusteeSecrets // index j−1
	rnd     io.Reader
}

func newTestCeremony(t testing.TB, rnd io.Reader, threshold, n int) *testCeremony {
	t.Helper()
	id, err := NewCeremonyID(rnd)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCeremony{roster: &Roster{Label: fmt.Sprintf("test %d-of-%d", threshold, n), ID: id, Threshold: threshold}, rnd: rnd}
	for j := 1; j <= n; j++ {
		s, err := NewTrusteeSecrets(rnd)
		if err != nil {
			t.Fatal(err)
		}
		c.secrets = append(c.secrets, s)
		c.roster.Trustees = append(c.roster.Trustees, Trustee{Name: fmt.Sprintf("T%d", j), Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	}
	if err := c.roster.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *testCeremony) deal(t testing.TB) [][]byte {
	t.Helper()
	var msgs [][]byte
	for j := 1; j <= c.roster.N(); j++ {
		m, err := Deal(c.rnd, c.roster, j, c.secrets[j-1])
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func (c *testCeremony) complain(t testing.TB, dealings [][]byte) [][]byte {
	t.Helper()
	var msgs [][]byte
	for j := 1; j <= c.roster.N(); j++ {
		m, err := Complain(c.rnd, c.roster, j, c.secrets[j-1], dealings)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// finish replays the dealings and complaints, has every trustee compute its
// share and confirm, and replays everything.
func (c *testCeremony) finish(t testing.TB, msgs [][]byte) (*Outcome, []*SecretKey, [][]byte) {
	t.Helper()
	out, err := Replay(c.roster, msgs)
	if err != nil {
		t.Fatal(err)
	}
	shares := make([]*SecretKey, c.roster.N())
	for j := 1; j <= c.roster.N(); j++ {
		if shares[j-1], err = out.Share(c.roster, j, c.secrets[j-1]); err != nil {
			t.Fatal(err)
		}
		conf, err := out.Confirm(c.rnd, c.roster, j, c.secrets[j-1], shares[j-1])
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, conf)
	}
	final, err := Replay(c.roster, msgs)
	if err != nil {
		t.Fatal(err)
	}
	if !final.Complete || len(final.Confirmed) != c.roster.N() || !final.PublicKey.Equal(out.PublicKey) {
		t.Fatalf("ceremony not complete: %+v", final.Faults)
	}
	return final, shares, msgs
}

// run runs an honest ceremony.
func (c *testCeremony) run(t testing.TB) (*Outcome, []*SecretKey, [][]byte) {
	d := c.deal(t)
	return c.finish(t, append(d, c.complain(t, d)...))
}

// testTally encrypts each count as the sum of that many encryptions of 1 and
// two of 0, like a tally of ballots.
func testTally(t testing.TB, rnd io.Reader, pk *PublicKey, counts []uint64) []*Ciphertext {
	var out []*Ciphertext
	for _, n := range counts {
		var cts []*Ciphertext
		for i := range n + 2 {
			m := uint64(0)
			if i < n {
				m = 1
			}
			ct, err := Encrypt(rnd, pk, m)
			if err != nil {
				t.Fatal(err)
			}
			cts = append(cts, ct)
		}
		out = append(out, Sum(cts...))
	}
	return out
}

func (c *testCeremony) shares(t testing.TB, out *Outcome, shares []*SecretKey, cts []*Ciphertext) [][]byte {
	var msgs [][]byte
	for j := 1; j <= c.roster.N(); j++ {
		m, err := out.DecryptShare(c.rnd, c.roster, j, c.secrets[j-1], shares[j-1], cts)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

func subsets(n, k int) [][]int {
	var res [][]int
	var rec func(start int, cur []int)
	rec = func(start int, cur []int) {
		if len(cur) == k {
			res = append(res, slices.Clone(cur))
			return
		}
		for i := start; i <= n; i++ {
			rec(i+1, append(cur, i))
		}
	}
	rec(1, nil)
	return res
}

// TestEveryThresholdSubsetDecrypts: for every t ≤ n ≤ 7, every t-subset of
// trustees decrypts correctly, and no (t−1)-subset can.
func TestEveryThresholdSubsetDecrypts(t *testing.T) {
	rnd := testRand(20)
	counts := []uint64{3, 0, 7}
	for n := 1; n <= 7; n++ {
		for th := 1; th <= n; th++ {
			c := newTestCeremony(t, rnd, th, n)
			out, shares, _ := c.run(t)
			x := new(ristretto255.Scalar)
			for i, l := range lagrangeAtZero(seq(th)) {
				x.Add(x, new(ristretto255.Scalar).Multiply(l, &shares[i].x))
			}
			if !newSecretKey(x).PublicKey().Equal(out.PublicKey) {
				t.Fatalf("%d-of-%d: shares do not interpolate to the key", th, n)
			}
			cts := testTally(t, rnd, out.PublicKey, counts)
			all := c.shares(t, out, shares, cts)
			for _, set := range subsets(n, th) {
				var msgs [][]byte
				for _, j := range set {
					msgs = append(msgs, all[j-1])
				}
				dec, err := out.Combine(c.roster, cts, msgs, 20)
				if err != nil || !slices.Equal(dec.Results, counts) || !slices.Equal(dec.Used, set) {
					t.Fatalf("%d-of-%d, trustees %v: %v %v", th, n, set, dec, err)
				}
			}
			if th == 1 {
				continue
			}
			for _, set := range subsets(n, th-1) {
				var msgs [][]byte
				for _, j := range set {
					msgs = append(msgs, all[j-1])
				}
				if _, err := out.Combine(c.roster, cts, msgs, 20); !errors.Is(err, ErrCeremony) {
					t.Fatalf("%d-of-%d: %d trustees %v decrypted: %v", th, n, th-1, set, err)
				}
				// Interpolating t−1 shares does not give the key.
				y := ristretto255.NewIdentityElement()
				for i, l := range lagrangeAtZero(set) {
					y.Add(y, new(ristretto255.Element).ScalarMult(l, &out.VerificationKeys[set[i]-1].e))
				}
				if y.Equal(&out.PublicKey.e) == 1 {
					t.Fatalf("%d-of-%d: %v interpolate to the key", th, n, set)
				}
			}
		}
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

// resign replaces a message's signature after an edit, as a cheating
// trustee (who holds its signing key) would.
func resign(t testing.TB, rnd io.Reader, r *Roster, s *TrusteeSecrets, msg []byte) []byte {
	body := slices.Clone(msg[:len(msg)-SignatureSize])
	out, err := sealMessage(rnd, r.Fingerprint(), s, body)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// shareOffset is where X_{i,j} starts in a dealing (spec §13.2).
func shareOffset(r *Roster, j int) int {
	return headerSize + ElementSize*r.Threshold + KnowledgeProofSize + ElementSize + KnowledgeProofSize + ScalarSize*(j-1)
}

// badShare makes dealer i's dealing give trustee j a share off its
// polynomial.
func badShare(t testing.TB, c *testCeremony, dealing []byte, i, j int) []byte {
	off := shareOffset(c.roster, j)
	m := slices.Clone(dealing)
	m[off] ^= 0x01
	return resign(t, c.rnd, c.roster, c.secrets[i-1], m)
}

func TestCheatingDealerIsNamedAndExcluded(t *testing.T) {
	rnd := testRand(21)
	c := newTestCeremony(t, rnd, 3, 5)
	dealings := c.deal(t)
	dealings[1] = badShare(t, c, dealings[1], 2, 4) // trustee 2 cheats trustee 4
	complaints := c.complain(t, dealings)
	out, shares, _ := c.finish(t, append(dealings, complaints...))
	if !slices.Equal(out.Qualified, []int{1, 3, 4, 5}) {
		t.Fatalf("qualified %v", out.Qualified)
	}
	if !slices.ContainsFunc(out.Faults, func(f Fault) bool {
		return f.Trustee == 2 && f.Disqualified && strings.Contains(f.Reason, "T2") && strings.Contains(f.Reason, "T4") && f.Kind == FaultBadShare && f.Other == 4
	}) {
		t.Fatalf("cheater not named: %+v", out.Faults)
	}
	// Everyone, the victim included, decrypts with the remaining dealers.
	cts := testTally(t, rnd, out.PublicKey, []uint64{2, 5})
	all := c.shares(t, out, shares, cts)
	dec, err := out.Combine(c.roster, cts, [][]byte{all[3], all[1], all[4]}, 10)
	if err != nil || !slices.Equal(dec.Results, []uint64{2, 5}) {
		t.Fatalf("%v %v", dec, err)
	}

	// With n = t = 3 the ceremony cannot complete, and says who cheated.
	c = newTestCeremony(t, rnd, 3, 3)
	dealings = c.deal(t)
	dealings[0] = badShare(t, c, dealings[0], 1, 3)
	_, err = Replay(c.roster, append(dealings, c.complain(t, dealings)...))
	var ce *CeremonyError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCeremony) || !strings.Contains(err.Error(), "trustee 1 (T1)") {
		t.Fatalf("got %v", err)
	}
}

func TestComplaintsThatAreWrong(t *testing.T) {
	rnd := testRand(22)
	c := newTestCeremony(t, rnd, 2, 3)
	dealings := c.deal(t)
	complaints := c.complain(t, dealings)
	f := c.roster.Fingerprint()

	// Trustee 3 falsely accuses honest dealer 1, with a correct proof.
	d, err := ParseDealing(c.roster, dealings[0])
	if err != nil {
		t.Fatal(err)
	}
	_, k := d.receiveShare(f, 3, c.secrets[2].Encryption)
	_, proof, _ := ProveEquality(rnd, c.secrets[2].Encryption, Context{Election: f, Binding: binding("complaint", 1, 3)}, &Element{point: d.ephemeral})
	body := header(msgComplaints, f, 3)
	body = binary32(body, 1)
	body = binary32(body, 1)
	body = append(append(body, k.enc[:]...), proof.Bytes()...)
	false3, _ := sealMessage(rnd, f, c.secrets[2], body)
	complaints[2] = false3

	// Trustee 2 accuses dealer 3 with a made-up K and a proof that fails.
	body = header(msgComplaints, f, 2)
	body = binary32(binary32(body, 1), 3)
	body = append(append(body, BaseElement().Bytes()...), proof.Bytes()...)
	complaints[1], _ = sealMessage(rnd, f, c.secrets[1], body)

	out, _, _ := c.finish(t, append(dealings, complaints...))
	if !slices.Equal(out.Qualified, []int{1, 2, 3}) {
		t.Fatalf("an honest dealer was excluded: %v", out.Qualified)
	}
	var unfounded, invalid bool
	for _, f := range out.Faults {
		unfounded = unfounded || (f.Trustee == 3 && strings.Contains(f.Reason, "unfounded") && f.Kind == FaultUnfoundedComplaint && f.Other == 1)
		invalid = invalid || (f.Trustee == 2 && strings.Contains(f.Reason, "invalid complaint") && f.Kind == FaultInvalidComplaint && f.Other == 3)
	}
	if !unfounded || !invalid {
		t.Fatalf("false accusers not named: %+v", out.Faults)
	}
}

func binary32(b []byte, n int) []byte {
	return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}

func TestEquivocatingDealer(t *testing.T) {
	rnd := testRand(23)
	c := newTestCeremony(t, rnd, 2, 4)
	dealings := c.deal(t)
	again, _ := Deal(rnd, c.roster, 4, c.secrets[3])
	msgs := append(append(dealings, again), c.complain(t, dealings)...)
	out, _, _ := c.finish(t, msgs)
	if slices.Contains(out.Qualified, 4) || !slices.ContainsFunc(out.Faults, func(f Fault) bool {
		return f.Trustee == 4 && strings.Contains(f.Reason, "equivocation") && f.Kind == FaultEquivocation && f.Disqualified
	}) {
		t.Fatalf("equivocation not caught: %v %+v", out.Qualified, out.Faults)
	}
	// Sending the same message twice is not equivocation.
	out2, _, _ := c.finish(t, append(append(dealings, dealings[0]), c.complain(t, dealings)...))
	if len(out2.Qualified) != 4 {
		t.Fatalf("duplicate treated as equivocation: %v", out2.Qualified)
	}
}

func TestBadDecryptionShareIsNamed(t *testing.T) {
	rnd := testRand(24)
	c := newTestCeremony(t, rnd, 3, 5)
	out, shares, _ := c.run(t)
	cts := testTally(t, rnd, out.PublicKey, []uint64{4, 1, 0})
	all := c.shares(t, out, shares, cts)
	// Trustee 2 shifts its second share (re-signing so only the proof can
	// catch it); trustee 4 submits shares made for another tally.
	off := headerSize + 4 + (32+EqualityProofSize)*1
	bad := slices.Clone(all[1])
	d, _ := NewElement(bad[off : off+32])
	var shifted ristretto255.Element
	shifted.Add(&d.e, ristretto255.NewGeneratorElement())
	copy(bad[off:], shifted.Bytes())
	all[1] = resign(t, rnd, c.roster, c.secrets[1], bad)
	other := testTally(t, rnd, out.PublicKey, []uint64{1, 1, 1})
	all[3], _ = out.DecryptShare(rnd, c.roster, 4, c.secrets[3], shares[3], other)
	dec, err := out.Combine(c.roster, cts, all, 10)
	if err != nil || !slices.Equal(dec.Results, []uint64{4, 1, 0}) || !slices.Equal(dec.Valid, []int{1, 3, 5}) {
		t.Fatalf("%+v %v", dec, err)
	}
	named := map[int]string{}
	for _, f := range dec.Faults {
		named[f.Trustee] = f.Reason
	}
	if !strings.Contains(named[2], "shares [2]") || !strings.Contains(named[4], "do not match") {
		t.Fatalf("culprits not named: %+v", dec.Faults)
	}
	// With only two honest shares left, decryption fails and names them.
	_, err = out.Combine(c.roster, cts, [][]byte{all[0], all[1], all[4]}, 10)
	if !errors.Is(err, ErrCeremony) || !strings.Contains(err.Error(), "trustee 2 (T2)") {
		t.Fatalf("got %v", err)
	}
}

// TestCeremonyMessagesRejectEveryFlip flips bytes throughout each message
// type: every flip must make the message be rejected or ignored.
func TestCeremonyMessagesRejectEveryFlip(t *testing.T) {
	rnd := testRand(25)
	c := newTestCeremony(t, rnd, 2, 3)
	dealings := c.deal(t)
	dealings[2] = badShare(t, c, dealings[2], 3, 1)
	complaints := c.complain(t, dealings)
	out, shares, msgs := c.finish(t, append(slices.Clone(dealings), complaints...))
	cts := testTally(t, rnd, out.PublicKey, []uint64{1})
	dshares := c.shares(t, out, shares, cts)
	f := c.roster.Fingerprint()
	check := func(name string, msg []byte, accept func([]byte) error) {
		for i := 0; i < len(msg); i += 1 + i/64 {
			m := slices.Clone(msg)
			m[i] ^= 0x40
			if accept(m) == nil {
				t.Fatalf("%s: flipped byte %d accepted", name, i)
			}
		}
	}
	check("dealing", dealings[0], func(m []byte) error { _, err := ParseDealing(c.roster, m); return err })
	check("complaints", complaints[0], func(m []byte) error { _, err := parseMessage(c.roster, f, msgComplaints, m); return err })
	conf := msgs[len(msgs)-1]
	check("confirmation", conf, func(m []byte) error {
		p, err := parseMessage(c.roster, f, msgConfirmation, m)
		if err != nil {
			return err
		}
		return p.confirmation.check(out, p.sender)
	})
	check("decryption", dshares[0], func(m []byte) error { _, err := out.verifyDecryptionShares(c.roster, cts, m); return err })

	// A message of another ceremony is refused.
	c2 := newTestCeremony(t, rnd, 2, 3)
	c2.roster = c.roster
	c2.roster = &Roster{Label: c.roster.Label, ID: CeremonyID{9}, Threshold: 2, Trustees: c.roster.Trustees}
	if _, err := ParseDealing(c2.roster, dealings[0]); err == nil || !strings.Contains(err.Error(), "another ceremony") {
		t.Fatalf("replayed dealing: %v", err)
	}
}

func TestRosterValidation(t *testing.T) {
	rnd := testRand(26)
	c := newTestCeremony(t, rnd, 2, 3)
	good := *c.roster
	for name, edit := range map[string]func(r *Roster){
		"threshold 0":          func(r *Roster) { r.Threshold = 0 },
		"threshold above n":    func(r *Roster) { r.Threshold = 4 },
		"empty label":          func(r *Roster) { r.Label = "" },
		"duplicate name":       func(r *Roster) { r.Trustees[1].Name = r.Trustees[0].Name },
		"duplicate key":        func(r *Roster) { r.Trustees[1].Encryption = r.Trustees[0].Signing },
		"missing key":          func(r *Roster) { r.Trustees[2].Signing = nil },
		"identity key":         func(r *Roster) { r.Trustees[2].Signing = new(PublicKey) },
		"no trustees":          func(r *Roster) { r.Trustees = nil },
		"name not UTF-8":       func(r *Roster) { r.Trustees[0].Name = "\xff" },
		"label over 200 bytes": func(r *Roster) { r.Label = strings.Repeat("x", 201) },
		"no ceremony id":       func(r *Roster) { r.ID = CeremonyID{} },
	} {
		r := good
		r.Trustees = slices.Clone(good.Trustees)
		edit(&r)
		if err := r.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Deal(rnd, c.roster, 1, c.secrets[1]); !errors.Is(err, ErrCeremony) {
		t.Errorf("dealing with another trustee's keys: %v", err)
	}
}

// TestTrusteeIdentity: Check refuses what a roster would refuse of one
// trustee alone, and the identity fingerprint (spec §13.1) binds the name
// and both keys.
func TestTrusteeIdentity(t *testing.T) {
	rnd := testRand(27)
	a, _ := NewTrusteeSecrets(rnd)
	b, _ := NewTrusteeSecrets(rnd)
	good := Trustee{Name: "Ada", Signing: a.Signing.PublicKey(), Encryption: a.Encryption.PublicKey()}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(t *Trustee){
		"empty name":       func(t *Trustee) { t.Name = "" },
		"long name":        func(t *Trustee) { t.Name = strings.Repeat("x", MaxTrusteeNameLen+1) },
		"name not UTF-8":   func(t *Trustee) { t.Name = "\xff" },
		"missing key":      func(t *Trustee) { t.Encryption = nil },
		"identity key":     func(t *Trustee) { t.Signing = new(PublicKey) },
		"one key for both": func(t *Trustee) { t.Encryption = t.Signing },
	} {
		tr := good
		edit(&tr)
		if err := tr.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	fp := good.Fingerprint()
	for name, other := range map[string]Trustee{
		"another name":           {Name: "Adb", Signing: good.Signing, Encryption: good.Encryption},
		"another signing key":    {Name: "Ada", Signing: b.Signing.PublicKey(), Encryption: good.Encryption},
		"another encryption key": {Name: "Ada", Signing: good.Signing, Encryption: b.Encryption.PublicKey()},
		"keys swapped":           {Name: "Ada", Signing: good.Encryption, Encryption: good.Signing},
	} {
		if other.Fingerprint() == fp {
			t.Errorf("%s: the same fingerprint", name)
		}
	}
	// The definition, written out (spec §13.1).
	h := sha512.New()
	for _, f := range [][]byte{[]byte("scrutin/v0/trustee-identity"), []byte("Ada"), good.Signing.Bytes(), good.Encryption.Bytes()} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	if want := h.Sum(nil)[:IdentityFingerprintSize]; !bytes.Equal(fp[:], want) {
		t.Fatalf("fingerprint %x, the spec says %x", fp, want)
	}
}
