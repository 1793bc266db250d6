package crypto

// spec: §14 threshold decryption

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gtank/ristretto255"
)

// MaxTallySize bounds the number of ciphertexts one decryption message
// covers.
const MaxTallySize = 4096

// DecryptShare returns trustee self's decryption-share message for the
// ciphertexts of a tally (spec §14.1): D_k = x_j·α_k, each with a proof that
// it uses the same secret as the trustee's verification key.
func (out *Outcome) DecryptShare(rnd io.Reader, r *Roster, self int, secrets *TrusteeSecrets, share *SecretKey, cts []*Ciphertext) ([]byte, error) {
	if err := checkSelf(r, self, secrets); err != nil {
		return nil, err
	}
	if err := out.check(r); err != nil {
		return nil, err
	}
	if !share.PublicKey().Equal(out.VerificationKeys[self-1]) {
		return nil, fmt.Errorf("%w: this share does not belong to %s in this ceremony", ErrCeremony, r.name(self))
	}
	if len(cts) == 0 || len(cts) > MaxTallySize {
		return nil, fmt.Errorf("%w: a tally has 1 to %d ciphertexts, not %d", ErrCeremony, MaxTallySize, len(cts))
	}
	body := header(msgDecryption, out.Fingerprint, self)
	body = binary.BigEndian.AppendUint32(body, uint32(len(cts)))
	for k, ct := range cts {
		d, p, err := ProveEquality(rnd, share, Context{Election: out.Fingerprint, Binding: binding("decrypt", self, k+1)}, ct.Alpha())
		if err != nil {
			return nil, err
		}
		body = append(append(body, d.enc[:]...), p.Bytes()...)
	}
	return sealMessage(rnd, out.Fingerprint, secrets, body)
}

// decryptionShares is a parsed, verified decryption-share message.
type decryptionShares struct {
	trustee int
	d       []point
	raw     []byte
}

// verifyDecryptionShares parses a decryption-share message and verifies its
// signature and every proof against the trustee's verification key.
func (out *Outcome) verifyDecryptionShares(r *Roster, cts []*Ciphertext, msg []byte) (*decryptionShares, error) {
	j, rd, err := openMessage(r, out.Fingerprint, msgDecryption, msg)
	if err != nil {
		return nil, fmt.Errorf("decryption shares: %w", err)
	}
	if len(cts) == 0 || len(cts) > MaxTallySize {
		return nil, fmt.Errorf("%w: a tally has 1 to %d ciphertexts, not %d", ErrCeremony, MaxTallySize, len(cts))
	}
	if n := rd.u32(); rd.err == nil && n != len(cts) {
		return nil, fmt.Errorf("decryption shares of %s: %w: %d shares for a tally of %d", r.name(j), ErrInvalidProof, n, len(cts))
	}
	ds := &decryptionShares{trustee: j, d: make([]point, len(cts)), raw: msg}
	proofs := make([]EqualityProof, len(cts))
	for k := range cts {
		rd.point(&ds.d[k], true)
		rd.point(&proofs[k].a1, true)
		rd.point(&proofs[k].a2, true)
		rd.scalar(&proofs[k].s)
	}
	if err := rd.done(); err != nil {
		return nil, fmt.Errorf("decryption shares of %s: %w", r.name(j), err)
	}
	b := NewBatch()
	for k, ct := range cts {
		b.AddEquality(out.VerificationKeys[j-1], ct.Alpha(), &Element{point: ds.d[k]}, Context{Election: out.Fingerprint, Binding: binding("decrypt", j, k+1)}, &proofs[k])
	}
	if err := b.Verify(); err != nil {
		var be *BatchError
		if errors.As(err, &be) {
			return nil, fmt.Errorf("decryption shares of %s: %w: shares %v do not match its verification key", r.name(j), ErrInvalidProof, oneBased(be.Bad()))
		}
		return nil, err
	}
	return ds, nil
}

func oneBased(idx []int) []int {
	out := make([]int, len(idx))
	for i, k := range idx {
		out[i] = k + 1
	}
	return out
}

func sameShares(a, b *decryptionShares) bool {
	if len(a.d) != len(b.d) {
		return false
	}
	for k := range a.d {
		if a.d[k].enc != b.d[k].enc {
			return false
		}
	}
	return true
}

// Decryption is the verified result of a threshold decryption.
type Decryption struct {
	// Results[k] is the plaintext of ciphertext k.
	Results []uint64
	// Used are the trustees whose shares were combined (the t lowest
	// numbers among the valid ones).
	Used []int
	// Valid are all trustees whose shares verified; Faults names the others.
	Valid  []int
	Faults []Fault
}

// Combine verifies decryption-share messages and combines t valid ones by
// Lagrange interpolation (spec §14.2) into the plaintexts, each at most max.
// Bad shares are rejected and their trustees named; it fails if fewer than t
// remain.
func (out *Outcome) Combine(r *Roster, cts []*Ciphertext, msgs [][]byte, max uint64) (*Decryption, error) {
	if err := out.check(r); err != nil {
		return nil, err
	}
	res := &Decryption{}
	byTrustee := make(map[int]*decryptionShares)
	equivocated := make(map[int]bool)
	for _, m := range msgs {
		ds, err := out.verifyDecryptionShares(r, cts, m)
		if err != nil {
			res.Faults = append(res.Faults, Fault{Trustee: blame(senderOf(r, m), err), Kind: FaultInvalidMessage, Reason: err.Error()})
			continue
		}
		// Shares are deterministic (x_j·α_k), so two valid messages of one
		// trustee differ only in their proofs; different shares cannot both
		// verify, but are refused if they ever did.
		if prev, ok := byTrustee[ds.trustee]; ok && !sameShares(prev, ds) {
			equivocated[ds.trustee] = true
		}
		byTrustee[ds.trustee] = ds
	}
	for _, j := range sortedKeys(byTrustee) {
		if equivocated[j] {
			res.Faults = append(res.Faults, Fault{Trustee: j, Kind: FaultDecryptionEquivocation, Reason: fmt.Sprintf("%s signed two different sets of decryption shares; both ignored", r.name(j))})
			continue
		}
		res.Valid = append(res.Valid, j)
	}
	if len(res.Valid) < r.Threshold {
		err := &CeremonyError{Faults: res.Faults, Reason: fmt.Sprintf("%v: %d valid decryption shares (%v), the threshold is %d", ErrCeremony, len(res.Valid), res.Valid, r.Threshold)}
		for _, f := range res.Faults {
			err.Reason += "; " + f.Reason
		}
		return res, err
	}
	res.Used = res.Valid[:r.Threshold]
	lambdas := lagrangeAtZero(res.Used)
	res.Results = make([]uint64, len(cts))
	for k, ct := range cts {
		scalars := make([]*ristretto255.Scalar, len(res.Used))
		points := make([]*ristretto255.Element, len(res.Used))
		for i, j := range res.Used {
			scalars[i] = lambdas[i]
			points[i] = byTrustee[j].d[k].elem()
		}
		xa := new(ristretto255.Element).VarTimeMultiScalarMult(scalars, points)
		m, err := discreteLog(new(ristretto255.Element).Subtract(ct.beta.elem(), xa), max)
		if err != nil {
			return res, fmt.Errorf("ciphertext %d: %w", k+1, err)
		}
		res.Results[k] = m
	}
	return res, nil
}

// lagrangeAtZero returns λ_j = Π_{m≠j} m·(m − j)^−1 for the trustee numbers
// in set (spec §14.2).
func lagrangeAtZero(set []int) []*ristretto255.Scalar {
	out := make([]*ristretto255.Scalar, len(set))
	for i, j := range set {
		num, den := scalarFromUint64(1), scalarFromUint64(1)
		for _, m := range set {
			if m == j {
				continue
			}
			num.Multiply(num, scalarFromIndex(m))
			den.Multiply(den, new(ristretto255.Scalar).Subtract(scalarFromIndex(m), scalarFromIndex(j)))
		}
		out[i] = num.Multiply(num, new(ristretto255.Scalar).Invert(den))
	}
	return out
}

// VerifyDecryptionShares checks one decryption-share message for a tally
// (signature and every proof, spec §14.1) and returns its trustee.
func (out *Outcome) VerifyDecryptionShares(r *Roster, cts []*Ciphertext, msg []byte) (int, error) {
	if err := out.check(r); err != nil {
		return 0, err
	}
	ds, err := out.verifyDecryptionShares(r, cts, msg)
	if err != nil {
		return 0, err
	}
	return ds.trustee, nil
}
