package vectors

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/scrutin/scrutin/crypto"
)

// Domain labels of spec §3, written out again here.
var labels = map[string]string{
	"knowledge.json":     "scrutin/v0/knowledge",
	"equality.json":      "scrutin/v0/equality",
	"selection.json":     "scrutin/v0/selection",
	"contest-total.json": "scrutin/v0/contest-total",
	"signature.json":     "scrutin/v0/signature",
}

func kind(err error) string {
	switch {
	case errors.Is(err, crypto.ErrIdentity):
		return KindIdentity
	case errors.Is(err, crypto.ErrEncoding):
		return KindEncoding
	case errors.Is(err, crypto.ErrInvalidProof):
		return KindProof
	}
	return "unexpected: " + err.Error()
}

func checkProofCase(file string, c *ProofCase) error {
	err := verifyCase(file, c)
	if !c.Valid {
		if err == nil {
			return errors.New("invalid case accepted")
		}
		if k := kind(err); k != c.Error {
			return fmt.Errorf("rejected as %q (%v), want %q", k, err, c.Error)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("valid case rejected: %w", err)
	}
	want, err := specChallenge(file, c)
	if err != nil {
		return err
	}
	if !bytes.Equal(want, c.Challenge) {
		return fmt.Errorf("challenge %x, the spec gives %x", c.Challenge, want)
	}
	if file == "selection.json" || file == "contest-total.json" {
		sum := new(big.Int)
		for off := 64; off < len(c.Proof); off += 128 {
			sum.Add(sum, leToInt(c.Proof[off:off+32]))
		}
		if !bytes.Equal(intToLE(sum.Mod(sum, order), 32), want) {
			return errors.New("branch challenges do not add up to the challenge")
		}
	}
	return nil
}

func fingerprint(b []byte) (crypto.Fingerprint, error) {
	var fp crypto.Fingerprint
	if len(b) != len(fp) {
		return fp, fmt.Errorf("%w: election fingerprint must be 32 bytes", crypto.ErrEncoding)
	}
	copy(fp[:], b)
	return fp, nil
}

// verifyCase decodes a case's inputs and verifies it with the crypto package.
func verifyCase(file string, c *ProofCase) error {
	fp, err := fingerprint(c.Election)
	if err != nil {
		return err
	}
	pk, err := crypto.NewPublicKey(c.PublicKey)
	if err != nil {
		return err
	}
	switch file {
	case "knowledge.json":
		p, err := crypto.NewKnowledgeProof(c.Proof)
		if err != nil {
			return err
		}
		return crypto.VerifyKnowledge(pk, crypto.Context{Election: fp, Binding: c.Binding}, p)
	case "equality.json":
		base, err := crypto.NewElement(c.Base)
		if err != nil {
			return err
		}
		z, err := crypto.NewElement(c.Result)
		if err != nil {
			return err
		}
		p, err := crypto.NewEqualityProof(c.Proof)
		if err != nil {
			return err
		}
		return crypto.VerifyEquality(pk, base, z, crypto.Context{Election: fp, Binding: c.Binding}, p)
	case "selection.json":
		cred, err := crypto.NewPublicKey(c.Credential)
		if err != nil {
			return err
		}
		ct, err := crypto.NewCiphertext(c.Ciphertext)
		if err != nil {
			return err
		}
		p, err := crypto.NewRangeProof(c.Proof)
		if err != nil {
			return err
		}
		ctx := crypto.SelectionContext(fp, cred, *c.Contest, *c.Option)
		if !bytes.Equal(ctx.Binding, specSelectionBinding(c.Credential, *c.Contest, *c.Option)) || !bytes.Equal(ctx.Binding, c.Binding) {
			return errors.New("binding differs from spec §3.1")
		}
		return crypto.VerifySelection(pk, ctx, ct, p)
	case "contest-total.json":
		cred, err := crypto.NewPublicKey(c.Credential)
		if err != nil {
			return err
		}
		cts := make([]*crypto.Ciphertext, len(c.Selections))
		for i, b := range c.Selections {
			if cts[i], err = crypto.NewCiphertext(b); err != nil {
				return err
			}
		}
		p, err := crypto.NewRangeProof(c.Proof)
		if err != nil {
			return err
		}
		ctx := crypto.TotalContext(fp, cred, *c.Contest)
		if !bytes.Equal(ctx.Binding, c.Binding) {
			return errors.New("binding differs from spec §3.1")
		}
		return crypto.VerifyTotal(pk, ctx, *c.Min, *c.Max, crypto.Sum(cts...), p)
	case "signature.json":
		sig, err := crypto.NewSignature(c.Proof)
		if err != nil {
			return err
		}
		return pk.Verify(fp, c.message(), sig)
	}
	return fmt.Errorf("unknown vector file %s", file)
}

func (c *ProofCase) message() []byte {
	if c.Message == nil {
		return nil
	}
	return *c.Message
}

func specSelectionBinding(cred []byte, contest, option uint32) []byte {
	b := append([]byte(nil), cred...)
	b = binary.BigEndian.AppendUint32(b, contest)
	return binary.BigEndian.AppendUint32(b, option)
}

// specHash is SHA-512 over u64-length-prefixed fields (spec §3).
func specHash(fields [][]byte) []byte {
	h := sha512.New()
	for _, f := range fields {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(f))))
		h.Write(f)
	}
	return h.Sum(nil)
}

// specChallenge recomputes a valid case's challenge from the field layout of
// spec §6–§9, with big-integer reduction modulo ℓ.
func specChallenge(file string, c *ProofCase) ([]byte, error) {
	f := [][]byte{[]byte(labels[file])}
	u64 := func(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }
	switch file {
	case "knowledge.json":
		f = append(f, c.Election, c.Binding, c.PublicKey, c.Proof[:32])
	case "equality.json":
		f = append(f, c.Election, c.Binding, c.PublicKey, c.Base, c.Result, c.Proof[:32], c.Proof[32:64])
	case "selection.json", "contest-total.json":
		ct := c.Ciphertext
		lo, hi := uint64(0), uint64(1)
		if file == "contest-total.json" {
			cts := make([]*crypto.Ciphertext, len(c.Selections))
			for i, b := range c.Selections {
				var err error
				if cts[i], err = crypto.NewCiphertext(b); err != nil {
					return nil, err
				}
			}
			ct = crypto.Sum(cts...).Bytes()
			lo, hi = *c.Min, *c.Max
		}
		f = append(f, c.Election, c.Binding, u64(lo), u64(hi), c.PublicKey, ct[:32], ct[32:])
		for off := 0; off < len(c.Proof); off += 128 {
			f = append(f, c.Proof[off:off+32], c.Proof[off+32:off+64])
		}
	case "signature.json":
		f = append(f, c.Election, c.PublicKey, c.Proof[:32], c.message())
	}
	return intToLE(new(big.Int).Mod(leToInt(specHash(f)), order), 32), nil
}
