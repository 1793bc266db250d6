// Package vectors generates and checks scrutin's test vectors
// (docs/spec.md §12): JSON files in testdata/v0 holding valid and invalid
// cases for every encoding, hash, proof and signature of the cryptographic
// core.
//
// The generator is deterministic (a fixed ChaCha8 seed supplies all
// randomness), so the files are reproducible: the package's test regenerates
// them and requires them to match the committed ones byte for byte. The
// checker recomputes every challenge from the spec's field layout, without
// using the crypto package's internals, so the vectors also test that the code
// and the spec agree.
package vectors

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"

	"github.com/scrutin/scrutin/crypto"
)

// Files lists the vector files, in the order they are checked.
var Files = []string{
	"group.json", "elgamal.json", "knowledge.json", "equality.json",
	"selection.json", "contest-total.json", "signature.json", "ceremony.json",
	"records.json", "log.json", "shuffle.json",
}

// Hex is a byte string written as lower-case hexadecimal in JSON.
type Hex []byte

func (h Hex) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *Hex) UnmarshalText(b []byte) error {
	out, err := hex.DecodeString(string(b))
	if err != nil {
		return err
	}
	*h = out
	return nil
}

// Error kinds of invalid cases.
const (
	KindEncoding = "encoding" // a decoder must reject an input
	KindIdentity = "identity" // the identity element where it is not allowed
	KindProof    = "proof"    // everything decodes but verification fails
)

// GroupFile is group.json.
type GroupFile struct {
	Spec           string          `json:"spec"`
	Elements       []ElementCase   `json:"elements"`
	Multiples      []MultipleCase  `json:"multiples_of_g"`
	Scalars        []ScalarCase    `json:"scalars"`
	ScalarFromHash []ReductionCase `json:"scalar_from_hash"`
	TupleHash      []TupleHashCase `json:"tuple_hash"`
	Generators     []GeneratorCase `json:"generators"`
}

type ElementCase struct {
	Comment  string `json:"comment"`
	Encoding Hex    `json:"encoding"`
	Valid    bool   `json:"valid"`
	Identity bool   `json:"identity"`
}

type MultipleCase struct {
	K       uint64 `json:"k"`
	Element Hex    `json:"element"`
}

type ScalarCase struct {
	Comment  string `json:"comment"`
	Encoding Hex    `json:"encoding"`
	Valid    bool   `json:"valid"`
}

type ReductionCase struct {
	Hash   Hex `json:"hash"`
	Scalar Hex `json:"scalar"`
}

type TupleHashCase struct {
	Label  string `json:"label"`
	Fields []Hex  `json:"fields"`
	Hash   Hex    `json:"hash"`
}

type GeneratorCase struct {
	Label   string `json:"label"`
	Element Hex    `json:"element"`
}

// ElGamalFile is elgamal.json.
type ElGamalFile struct {
	Spec        string           `json:"spec"`
	Encryptions []EncryptionCase `json:"encryptions"`
	Sums        []SumCase        `json:"sums"`
	Ciphertexts []DecodingCase   `json:"ciphertext_decoding"`
	// SumDecoding decodes sums of ciphertexts (spec §2.1, §11), whose α may
	// be the identity.
	SumDecoding []DecodingCase `json:"sum_decoding"`
}

// DecodingCase is an encoding that must decode (Valid) or be rejected for
// the reason in Error.
type DecodingCase struct {
	Comment  string `json:"comment"`
	Encoding Hex    `json:"encoding"`
	Valid    bool   `json:"valid"`
	Error    string `json:"error,omitempty"`
}

type EncryptionCase struct {
	SecretKey  Hex    `json:"secret_key"`
	PublicKey  Hex    `json:"public_key"`
	Message    uint64 `json:"message"`
	Randomness Hex    `json:"randomness"`
	Ciphertext Hex    `json:"ciphertext"`
}

type SumCase struct {
	Ciphertexts []Hex `json:"ciphertexts"`
	Sum         Hex   `json:"sum"`
}

// ProofFile is the layout of every proof and signature file: the statement
// fields used depend on the file (see the spec section named in Spec).
type ProofFile struct {
	Spec  string      `json:"spec"`
	Cases []ProofCase `json:"cases"`
}

type ProofCase struct {
	Comment string `json:"comment"`
	Valid   bool   `json:"valid"`
	Error   string `json:"error,omitempty"` // KindEncoding, KindIdentity or KindProof

	Election  Hex `json:"election"`
	Binding   Hex `json:"binding,omitempty"`
	PublicKey Hex `json:"public_key"`

	// equality.json
	Base   Hex `json:"base,omitempty"`
	Result Hex `json:"result,omitempty"`
	// selection.json and contest-total.json
	Credential Hex     `json:"credential,omitempty"`
	Contest    *uint32 `json:"contest,omitempty"`
	Option     *uint32 `json:"option,omitempty"`
	Ciphertext Hex     `json:"ciphertext,omitempty"`
	Selections []Hex   `json:"selections,omitempty"`
	Min        *uint64 `json:"min,omitempty"`
	Max        *uint64 `json:"max,omitempty"`
	// signature.json
	Message *Hex `json:"message,omitempty"`

	Proof     Hex `json:"proof"`
	Challenge Hex `json:"challenge,omitempty"` // what the verifier computes, for valid cases
}

// Check reads every file of Files from fsys and checks every case against the
// crypto package. It returns the number of cases checked.
func Check(fsys fs.FS) (int, error) {
	n := 0
	var errs []error
	for _, name := range Files {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return n, fmt.Errorf("failed to read test vectors: %w", err)
		}
		k, err := checkFile(name, data)
		n += k
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return n, errors.Join(errs...)
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func checkFile(name string, data []byte) (int, error) {
	switch name {
	case "group.json":
		var f GroupFile
		if err := strictUnmarshal(data, &f); err != nil {
			return 0, err
		}
		return checkGroup(&f)
	case "ceremony.json":
		var f CeremonyFile
		if err := strictUnmarshal(data, &f); err != nil {
			return 0, err
		}
		return checkCeremonyFile(&f)
	case "log.json":
		var f LogFile
		if err := strictUnmarshal(data, &f); err != nil {
			return 0, err
		}
		return checkLog(&f)
	case "records.json":
		var f RecordFile
		if err := strictUnmarshal(data, &f); err != nil {
			return 0, err
		}
		return checkRecords(&f)
	case "shuffle.json":
		var f ShuffleFile
		if err := strictUnmarshal(data, &f); err != nil {
			return 0, err
		}
		return checkShuffleFile(&f)
	case "elgamal.json":
		var f ElGamalFile
		if err := strictUnmarshal(data, &f); err != nil {
			return 0, err
		}
		return checkElGamal(&f)
	}
	var f ProofFile
	if err := strictUnmarshal(data, &f); err != nil {
		return 0, err
	}
	var errs []error
	for i, c := range f.Cases {
		if err := checkProofCase(name, &c); err != nil {
			errs = append(errs, fmt.Errorf("case %d (%s): %w", i, c.Comment, err))
		}
	}
	return len(f.Cases), errors.Join(errs...)
}

// group order ℓ
var order, _ = new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)

func leToInt(b []byte) *big.Int {
	r := make([]byte, len(b))
	for i := range b {
		r[len(b)-1-i] = b[i]
	}
	return new(big.Int).SetBytes(r)
}

func intToLE(x *big.Int, size int) []byte {
	be := x.FillBytes(make([]byte, size))
	for i, j := 0, len(be)-1; i < j; i, j = i+1, j-1 {
		be[i], be[j] = be[j], be[i]
	}
	return be
}

func checkGroup(f *GroupFile) (int, error) {
	var errs []error
	n := 0
	for _, c := range f.Elements {
		n++
		e, err := crypto.NewElement(c.Encoding)
		if (err == nil) != c.Valid {
			errs = append(errs, fmt.Errorf("element %q: decode error %v, want valid=%v", c.Comment, err, c.Valid))
			continue
		}
		if err == nil && e.IsIdentity() != c.Identity {
			errs = append(errs, fmt.Errorf("element %q: identity=%v", c.Comment, e.IsIdentity()))
		}
		_, err = crypto.NewPublicKey(c.Encoding)
		if (err == nil) != (c.Valid && !c.Identity) {
			errs = append(errs, fmt.Errorf("element %q as public key: %v", c.Comment, err))
		}
	}
	for _, c := range f.Multiples {
		n++
		acc := new(big.Int).SetUint64(c.K)
		sk, err := crypto.NewSecretKey(intToLE(acc, 32))
		var got []byte
		if c.K == 0 {
			got = make([]byte, 32)
		} else if err == nil {
			got = sk.PublicKey().Bytes()
		}
		if !bytes.Equal(got, c.Element) {
			errs = append(errs, fmt.Errorf("%d·G: got %x", c.K, got))
		}
	}
	for _, c := range f.Scalars {
		n++
		err := checkScalar(c.Encoding)
		if (err == nil) != c.Valid {
			errs = append(errs, fmt.Errorf("scalar %q: %v, want valid=%v", c.Comment, err, c.Valid))
		}
		want := len(c.Encoding) == 32 && leToInt(c.Encoding).Cmp(order) < 0
		if want != c.Valid {
			errs = append(errs, fmt.Errorf("scalar %q: vector says valid=%v, spec §2.2 says %v", c.Comment, c.Valid, want))
		}
	}
	for _, c := range f.ScalarFromHash {
		n++
		var h [64]byte
		copy(h[:], c.Hash)
		if got := crypto.ScalarFromHash(h); len(c.Hash) != 64 || !bytes.Equal(got, c.Scalar) {
			errs = append(errs, fmt.Errorf("scalar_from_hash(%x) = %x, want %x", c.Hash, got, c.Scalar))
		}
		if want := intToLE(new(big.Int).Mod(leToInt(c.Hash), order), 32); !bytes.Equal(want, c.Scalar) {
			errs = append(errs, fmt.Errorf("scalar_from_hash(%x): vector disagrees with big-integer reduction", c.Hash))
		}
	}
	for _, c := range f.TupleHash {
		n++
		fields := make([][]byte, len(c.Fields))
		for i := range c.Fields {
			fields[i] = c.Fields[i]
		}
		if got := crypto.TupleHash(c.Label, fields...); !bytes.Equal(got[:], c.Hash) {
			errs = append(errs, fmt.Errorf("TupleHash(%q, …) = %x", c.Label, got))
		}
		if got := specTupleHash(c.Label, fields...); !bytes.Equal(got, c.Hash) {
			errs = append(errs, fmt.Errorf("TupleHash(%q, …): vector disagrees with the spec's definition", c.Label))
		}
	}
	for _, c := range f.Generators {
		n++
		if got := crypto.Generator(c.Label).Bytes(); !bytes.Equal(got, c.Element) {
			errs = append(errs, fmt.Errorf("generator %q = %x", c.Label, got))
		}
	}
	return n, errors.Join(errs...)
}

// checkScalar decodes 32 bytes as a scalar through the s field of a
// signature (the crypto package exposes no bare scalar type).
func checkScalar(b []byte) error {
	sig := append(crypto.BaseElement().Bytes(), b...)
	_, err := crypto.NewSignature(sig)
	return err
}

func checkElGamal(f *ElGamalFile) (int, error) {
	var errs []error
	n := 0
	for i, c := range f.Encryptions {
		n++
		sk, err := crypto.NewSecretKey(c.SecretKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("encryption %d: %w", i, err))
			continue
		}
		if !bytes.Equal(sk.PublicKey().Bytes(), c.PublicKey) {
			errs = append(errs, fmt.Errorf("encryption %d: public key mismatch", i))
		}
		ct, err := crypto.EncryptWithRandomness(sk.PublicKey(), c.Message, c.Randomness)
		if err != nil || !bytes.Equal(ct.Bytes(), c.Ciphertext) {
			errs = append(errs, fmt.Errorf("encryption %d: got %x (%v)", i, ct.Bytes(), err))
			continue
		}
		if m, err := sk.Decrypt(ct, c.Message+10); err != nil || m != c.Message {
			errs = append(errs, fmt.Errorf("encryption %d: decrypts to %d (%v)", i, m, err))
		}
	}
	for i, c := range f.Sums {
		n++
		cts := make([]*crypto.Ciphertext, len(c.Ciphertexts))
		for j, b := range c.Ciphertexts {
			var err error
			if cts[j], err = crypto.NewCiphertext(b); err != nil {
				errs = append(errs, fmt.Errorf("sum %d: %w", i, err))
			}
		}
		if len(errs) == 0 && !bytes.Equal(crypto.Sum(cts...).Bytes(), c.Sum) {
			errs = append(errs, fmt.Errorf("sum %d mismatch", i))
		}
	}
	for _, c := range f.Ciphertexts {
		n++
		_, err := crypto.NewCiphertext(c.Encoding)
		if (err == nil) != c.Valid || (err != nil && kind(err) != c.Error) {
			errs = append(errs, fmt.Errorf("ciphertext %q: %v, want valid=%v", c.Comment, err, c.Valid))
		}
	}
	for _, c := range f.SumDecoding {
		n++
		_, err := crypto.NewCiphertextSum(c.Encoding)
		if (err == nil) != c.Valid || (err != nil && kind(err) != c.Error) {
			errs = append(errs, fmt.Errorf("ciphertext sum %q: %v, want valid=%v", c.Comment, err, c.Valid))
		}
	}
	return n, errors.Join(errs...)
}

// specTupleHash is spec §3 written out again, independently of the crypto
// package.
func specTupleHash(label string, fields ...[]byte) []byte {
	return specHash(append([][]byte{[]byte(label)}, fields...))
}
