package vectors

// spec: §13.2 identity commitments, self-complaints, equivocation

import (
	"encoding/binary"
	"slices"

	"github.com/scrutin/scrutin/crypto"
)

// zeroCoefficient replaces dealer i's dealing with one built from spec
// §13.2 whose polynomial has a_{i,k} = 0 for every k ≥ 1: its commitments
// C_{i,k≥1} are the identity and every share is a_{i,0}.
func zeroCoefficient(i int) *cheat {
	return &cheat{dealing: func(g *gen, r *crypto.Roster, s []*crypto.TrusteeSecrets, d [][]byte) {
		fp := r.Fingerprint()
		bind := func(what string, idx ...int) []byte {
			b := []byte(what)
			for _, x := range idx {
				b = binary.BigEndian.AppendUint32(b, uint32(x))
			}
			return b
		}
		a0, err := crypto.GenerateKey(g.rnd)
		g.check(err)
		e, err := crypto.GenerateKey(g.rnd)
		g.check(err)
		if g.err != nil {
			return
		}
		pi, err := crypto.ProveKnowledge(g.rnd, a0, crypto.Context{Election: fp, Binding: bind("dealer", i)})
		g.check(err)
		psi, err := crypto.ProveKnowledge(g.rnd, e, crypto.Context{Election: fp, Binding: bind("share-key", i)})
		g.check(err)
		if g.err != nil {
			return
		}
		body := append([]byte{1}, fp[:]...)
		body = binary.BigEndian.AppendUint32(body, uint32(i))
		body = append(body, a0.PublicKey().Bytes()...)
		for range r.Threshold - 1 {
			body = append(body, make([]byte, 32)...) // the identity
		}
		body = append(body, pi.Bytes()...)
		body = append(body, e.PublicKey().Bytes()...)
		body = append(body, psi.Bytes()...)
		for j := 1; j <= len(r.Trustees); j++ {
			p, err := crypto.NewElement(r.Trustees[j-1].Encryption.Bytes())
			g.check(err)
			if g.err != nil {
				return
			}
			// K_{i,j} = e·P_j (the proof is not used).
			k, _, err := crypto.ProveEquality(g.rnd, e, crypto.Context{Election: fp}, p)
			g.check(err)
			if g.err != nil {
				return
			}
			pad := specTupleHash("scrutin/v0/share-pad", fp[:], u32be(i), u32be(j), e.PublicKey().Bytes(), k.Bytes())[:32]
			x := a0.Bytes()
			for b := range x {
				x[b] ^= pad[b]
			}
			body = append(body, x...)
		}
		m, err := crypto.SealCeremonyMessage(g.rnd, r, s[i-1], body)
		g.check(err)
		d[i-1] = m
	}}
}

func u32be(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }

// resigned has dealer i send its dealing's body again under a new
// signature: two different valid dealings.
func resigned(i int) *cheat {
	return &cheat{extra: func(g *gen, r *crypto.Roster, s []*crypto.TrusteeSecrets, d [][]byte) [][]byte {
		m, err := crypto.SealCeremonyMessage(g.rnd, r, s[i-1], slices.Clone(d[i-1][:len(d[i-1])-64]))
		g.check(err)
		return [][]byte{m}
	}}
}

// badProof has dealer i also send its dealing with one bit of ψ_i's
// response flipped, validly signed: an invalid dealing.
func badProof(i int) *cheat {
	return &cheat{extra: func(g *gen, r *crypto.Roster, s []*crypto.TrusteeSecrets, d [][]byte) [][]byte {
		off := 37 + 32*r.Threshold + 64 + 32 + 32 // the scalar of ψ_i
		body := slices.Clone(d[i-1][:len(d[i-1])-64])
		body[off] ^= 1
		m, err := crypto.SealCeremonyMessage(g.rnd, r, s[i-1], body)
		g.check(err)
		return [][]byte{m}
	}}
}
