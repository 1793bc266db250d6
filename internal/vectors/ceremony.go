package vectors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/scrutin/scrutin/crypto"
)

// CeremonyFile is ceremony.json (spec §13–§14).
type CeremonyFile struct {
	Spec       string         `json:"spec"`
	Ceremonies []CeremonyCase `json:"ceremonies"`
}

// CeremonyCase is a complete transcript and what replaying it must give.
type CeremonyCase struct {
	Comment     string         `json:"comment"`
	Roster      *crypto.Roster `json:"roster"`
	RosterBytes Hex            `json:"roster_bytes"`
	Fingerprint Hex            `json:"fingerprint"`
	Messages    []Hex          `json:"messages"`

	Fails            bool  `json:"fails"`
	Qualified        []int `json:"qualified"`
	Disqualified     []int `json:"disqualified"`
	ElectionKey      Hex   `json:"election_key,omitempty"`
	VerificationKeys []Hex `json:"verification_keys,omitempty"`
	Confirmed        []int `json:"confirmed"`
	Complete         bool  `json:"complete"`

	Tally            []Hex         `json:"tally,omitempty"`
	DecryptionShares []Hex         `json:"decryption_shares,omitempty"`
	Combinations     []CombineCase `json:"combinations,omitempty"`
}

// CombineCase gives some of the decryption-share messages (by position in
// DecryptionShares) and what combining them must give.
type CombineCase struct {
	Comment  string   `json:"comment"`
	Shares   []int    `json:"shares"`
	Fails    bool     `json:"fails"`
	Results  []uint64 `json:"results,omitempty"`
	Used     []int    `json:"used,omitempty"`
	Rejected []int    `json:"rejected"`
}

func (g *gen) ceremony() *CeremonyFile {
	f := &CeremonyFile{Spec: "docs/spec.md §13–§14, version 0"}
	f.Ceremonies = append(f.Ceremonies,
		g.ceremonyCase("honest 2-of-3", 2, 3, nil),
		g.ceremonyCase("3-of-4, dealer 2 deals trustee 4 a bad share; trustee 4's complaint excludes it", 3, 4, badShareOf(2, 4)),
		g.ceremonyCase("3-of-3, dealer 1 deals trustee 3 a bad share: too few dealers qualify", 3, 3, badShareOf(1, 3)),
		g.ceremonyCase("2-of-3, trustee 3 falsely accuses honest dealer 1: the complaint is unfounded", 2, 3, falseComplaint(1, 3)),
		g.ceremonyCase("2-of-3, dealer 1's coefficient a_{1,1} is 0, so C_{1,1} is the identity: valid", 2, 3, zeroCoefficient(1)),
		g.ceremonyCase("2-of-3, dealer 2 deals itself a bad share and complains about it: founded, dealer 2 excluded", 2, 3, badShareOf(2, 2)),
		g.ceremonyCase("2-of-3, dealer 3 signs its dealing twice (messages[3] is the second signature): equivocation, dealer 3 excluded", 2, 3, resigned(3)),
		g.ceremonyCase("2-of-3, dealer 3 also sends a dealing whose ψ does not verify (messages[3]): an invalid dealing, not equivocation; dealer 3 stays", 2, 3, badProof(3)),
	)
	return f
}

type cheat struct {
	dealing func(g *gen, r *crypto.Roster, s []*crypto.TrusteeSecrets, dealings [][]byte)
	// extra returns messages sent after the dealings, before the complaints
	// (which are made from the dealings alone).
	extra     func(g *gen, r *crypto.Roster, s []*crypto.TrusteeSecrets, dealings [][]byte) [][]byte
	complaint func(g *gen, r *crypto.Roster, s []*crypto.TrusteeSecrets, dealings, complaints [][]byte)
}

// badShareOf makes dealer i's share for trustee j off its polynomial, by
// flipping a bit of X_{i,j} at its place in spec §13.2 and re-signing.
func badShareOf(i, j int) *cheat {
	return &cheat{dealing: func(g *gen, r *crypto.Roster, s []*crypto.TrusteeSecrets, d [][]byte) {
		off := 37 + 32*r.Threshold + 64 + 32 + 64 + 32*(j-1)
		body := slices.Clone(d[i-1][:len(d[i-1])-64])
		body[off] ^= 1
		m, err := crypto.SealCeremonyMessage(g.rnd, r, s[i-1], body)
		g.check(err)
		d[i-1] = m
	}}
}

// falseComplaint has trustee j complain, with a correct proof, against
// dealer i's correct share: the message is built from spec §13.2.
func falseComplaint(i, j int) *cheat {
	return &cheat{complaint: func(g *gen, r *crypto.Roster, s []*crypto.TrusteeSecrets, d, c [][]byte) {
		off := 37 + 32*r.Threshold + 64 // E_i
		e, err := crypto.NewElement(d[i-1][off : off+32])
		g.check(err)
		fp := r.Fingerprint()
		ctx := crypto.Context{Election: fp, Binding: binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32([]byte("complaint"), uint32(i)), uint32(j))}
		k, proof, err := crypto.ProveEquality(g.rnd, s[j-1].Encryption, ctx, e)
		g.check(err)
		body := append([]byte{2}, fp[:]...)
		body = binary.BigEndian.AppendUint32(body, uint32(j))
		body = binary.BigEndian.AppendUint32(body, 1)
		body = binary.BigEndian.AppendUint32(body, uint32(i))
		body = append(append(body, k.Bytes()...), proof.Bytes()...)
		m, err := crypto.SealCeremonyMessage(g.rnd, r, s[j-1], body)
		g.check(err)
		c[j-1] = m
	}}
}

func (g *gen) ceremonyCase(comment string, t, n int, ch *cheat) CeremonyCase {
	id, err := crypto.NewCeremonyID(g.rnd)
	g.check(err)
	r := &crypto.Roster{Label: "scrutin test vectors: " + comment, ID: id, Threshold: t}
	var secrets []*crypto.TrusteeSecrets
	for j := 1; j <= n; j++ {
		s, err := crypto.NewTrusteeSecrets(g.rnd)
		g.check(err)
		secrets = append(secrets, s)
		r.Trustees = append(r.Trustees, crypto.Trustee{Name: fmt.Sprintf("Trustee %d", j), Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	}
	fp := r.Fingerprint()
	c := CeremonyCase{Comment: comment, Roster: r, RosterBytes: r.Bytes(), Fingerprint: fp[:], Qualified: []int{}, Disqualified: []int{}, Confirmed: []int{}}
	var dealings, complaints [][]byte
	for j := 1; j <= n; j++ {
		m, err := crypto.Deal(g.rnd, r, j, secrets[j-1])
		g.check(err)
		dealings = append(dealings, m)
	}
	if ch != nil && ch.dealing != nil {
		ch.dealing(g, r, secrets, dealings)
	}
	for j := 1; j <= n; j++ {
		m, err := crypto.Complain(g.rnd, r, j, secrets[j-1], dealings)
		g.check(err)
		complaints = append(complaints, m)
	}
	if ch != nil && ch.complaint != nil {
		ch.complaint(g, r, secrets, dealings, complaints)
	}
	msgs := slices.Clone(dealings)
	if ch != nil && ch.extra != nil {
		msgs = append(msgs, ch.extra(g, r, secrets, dealings)...)
	}
	msgs = append(msgs, complaints...)
	out, err := crypto.Replay(r, msgs)
	for _, fault := range out.Faults {
		if fault.Disqualified {
			c.Disqualified = append(c.Disqualified, fault.Trustee)
		}
	}
	c.Qualified = append(c.Qualified, out.Qualified...)
	if err != nil {
		c.Fails = true
		c.Messages = hexes(msgs)
		return c
	}
	shares := make([]*crypto.SecretKey, n)
	for j := 1; j <= n; j++ {
		shares[j-1], err = out.Share(r, j, secrets[j-1])
		g.check(err)
		m, err := out.Confirm(g.rnd, r, j, secrets[j-1], shares[j-1])
		g.check(err)
		msgs = append(msgs, m)
	}
	out, err = crypto.Replay(r, msgs)
	g.check(err)
	c.Messages = hexes(msgs)
	c.ElectionKey = out.PublicKey.Bytes()
	for _, k := range out.VerificationKeys {
		c.VerificationKeys = append(c.VerificationKeys, k.Bytes())
	}
	c.Confirmed = append(c.Confirmed, out.Confirmed...)
	c.Complete = out.Complete

	counts := []uint64{3, 0, 1}
	var cts []*crypto.Ciphertext
	for _, m := range counts {
		ct, err := crypto.Encrypt(g.rnd, out.PublicKey, m)
		g.check(err)
		cts = append(cts, ct)
		c.Tally = append(c.Tally, ct.Bytes())
	}
	for j := 1; j <= n; j++ {
		m, err := out.DecryptShare(g.rnd, r, j, secrets[j-1], shares[j-1], cts)
		g.check(err)
		c.DecryptionShares = append(c.DecryptionShares, m)
	}
	// A validly signed share message made for another tally.
	other, _ := crypto.Encrypt(g.rnd, out.PublicKey, 0)
	wrong, err := out.DecryptShare(g.rnd, r, 2, secrets[1], shares[1], append(slices.Clone(cts[:2]), other))
	g.check(err)
	c.DecryptionShares = append(c.DecryptionShares, wrong)
	bad := len(c.DecryptionShares) - 1

	for _, set := range subsetsOf(n, t) {
		c.Combinations = append(c.Combinations, CombineCase{Comment: fmt.Sprintf("trustees %v", set), Shares: positions(set), Results: counts, Used: set, Rejected: []int{}})
	}
	c.Combinations = append(c.Combinations,
		CombineCase{Comment: "t − 1 trustees cannot decrypt", Shares: positions(seq(t - 1)), Fails: true, Rejected: []int{}},
		CombineCase{Comment: "trustee 2's shares are for another tally: rejected and named", Shares: append(positions(seq(t + 1)[2:]), bad, 0), Fails: t+1 > n, Rejected: []int{2}},
	)
	last := &c.Combinations[len(c.Combinations)-1]
	if !last.Fails {
		last.Results = counts
		last.Used = append([]int{1}, seq(t + 1)[2:]...)[:t]
	}
	return c
}

func hexes(msgs [][]byte) []Hex {
	out := make([]Hex, len(msgs))
	for i, m := range msgs {
		out[i] = m
	}
	return out
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func positions(trustees []int) []int {
	p := make([]int, len(trustees))
	for i, j := range trustees {
		p[i] = j - 1
	}
	return p
}

func subsetsOf(n, k int) [][]int {
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

func checkCeremonyFile(f *CeremonyFile) (int, error) {
	var errs []error
	n := 0
	for _, c := range f.Ceremonies {
		k, err := checkCeremony(&c)
		n += k
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Comment, err))
		}
	}
	return n, errors.Join(errs...)
}

// specRosterBytes is spec §13.1's layout, written out again.
func specRosterBytes(r *crypto.Roster) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Label)))
	b = append(b, r.Label...)
	b = append(b, r.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(r.Threshold))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Trustees)))
	for _, t := range r.Trustees {
		b = binary.BigEndian.AppendUint32(b, uint32(len(t.Name)))
		b = append(b, t.Name...)
		b = append(append(b, t.Signing.Bytes()...), t.Encryption.Bytes()...)
	}
	return b
}

func checkCeremony(c *CeremonyCase) (int, error) {
	r := c.Roster
	if err := r.Validate(); err != nil {
		return 1, err
	}
	fp := r.Fingerprint()
	if !bytes.Equal(specRosterBytes(r), c.RosterBytes) || !bytes.Equal(r.Bytes(), c.RosterBytes) {
		return 1, errors.New("roster bytes differ from spec §13.1")
	}
	if want := specHash([][]byte{[]byte("scrutin/v0/roster"), c.RosterBytes})[:32]; !bytes.Equal(want, c.Fingerprint) || !bytes.Equal(fp[:], c.Fingerprint) {
		return 1, errors.New("fingerprint differs from spec §13.1")
	}
	msgs := make([][]byte, len(c.Messages))
	for i, m := range c.Messages {
		msgs[i] = m
	}
	out, err := crypto.Replay(r, msgs)
	if (err != nil) != c.Fails {
		return 1, fmt.Errorf("replay: %v, want fails=%v", err, c.Fails)
	}
	var disq []int
	for _, f := range out.Faults {
		if f.Disqualified {
			disq = append(disq, f.Trustee)
		}
	}
	if !slices.Equal(out.Qualified, c.Qualified) || !slices.Equal(disq, c.Disqualified) {
		return 1, fmt.Errorf("qualified %v, disqualified %v; want %v, %v", out.Qualified, disq, c.Qualified, c.Disqualified)
	}
	if c.Fails {
		return 1, nil
	}
	if !bytes.Equal(out.PublicKey.Bytes(), c.ElectionKey) || !slices.Equal(out.Confirmed, c.Confirmed) || out.Complete != c.Complete {
		return 1, errors.New("election key, confirmations or completion differ")
	}
	for j, k := range out.VerificationKeys {
		if !bytes.Equal(k.Bytes(), c.VerificationKeys[j]) {
			return 1, fmt.Errorf("verification key %d differs", j+1)
		}
	}
	cts := make([]*crypto.Ciphertext, len(c.Tally))
	for i, b := range c.Tally {
		if cts[i], err = crypto.NewCiphertext(b); err != nil {
			return 1, err
		}
	}
	n := 1
	var errs []error
	for _, cc := range c.Combinations {
		n++
		var msgs [][]byte
		for _, p := range cc.Shares {
			msgs = append(msgs, c.DecryptionShares[p])
		}
		dec, err := out.Combine(r, cts, msgs, 10)
		var rejected []int
		for _, f := range dec.Faults {
			rejected = append(rejected, f.Trustee)
		}
		if rejected == nil {
			rejected = []int{}
		}
		switch {
		case (err != nil) != cc.Fails:
			errs = append(errs, fmt.Errorf("%s: %v, want fails=%v", cc.Comment, err, cc.Fails))
		case !slices.Equal(rejected, cc.Rejected):
			errs = append(errs, fmt.Errorf("%s: rejected %v, want %v", cc.Comment, rejected, cc.Rejected))
		case !cc.Fails && (!slices.Equal(dec.Results, cc.Results) || !slices.Equal(dec.Used, cc.Used)):
			errs = append(errs, fmt.Errorf("%s: results %v with %v, want %v with %v", cc.Comment, dec.Results, dec.Used, cc.Results, cc.Used))
		}
	}
	return n, errors.Join(errs...)
}
