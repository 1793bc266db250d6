// Package selftest checks, on the machine it runs on, that the cryptographic
// core works end to end: a returning officer runs it (as `scrutin selftest`)
// before trusting a build.
//
// It plays a small election with one contest: it generates an election key and
// voter credentials, encrypts and signs one ballot per voter, verifies every
// proof and signature in one batch, tampers with one ballot and checks that
// batch verification names exactly the bad items, then adds the ballots up
// homomorphically, decrypts the tally and compares it with the votes cast.
//
// The votes come from a seeded generator, so the expected tally is known;
// keys and encryption randomness come from crypto/rand, as in a real election.
// Version 0 of the protocol has no trustee ceremony yet, so a single election
// key is used (docs/spec.md §5.1).
package selftest

import (
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"time"

	"github.com/scrutin/scrutin"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/internal/vectors"
)

// The contest every ballot answers: choose exactly one of three options.
const (
	contestOptions = 3
	contestMin     = 1
	contestMax     = 1
	contestNumber  = 0
)

// Limits on Options.Ballots. The upper bound keeps the tally's discrete-log
// search (docs/spec.md §5.4) and the run time reasonable.
const (
	MinBallots     = 2
	MaxBallots     = 100_000
	DefaultBallots = 200
	DefaultSeed    = 1
)

// Options configure a run. The zero value runs DefaultBallots ballots with
// DefaultSeed.
type Options struct {
	// Ballots is the number of voters, each casting one ballot.
	Ballots int
	// Seed seeds the generator that chooses the votes; 0 means DefaultSeed.
	Seed uint64
	// Progress, if set, is called with a line of text after each step.
	Progress func(line string)
}

// Report holds the figures of a run. Durations are in nanoseconds in JSON.
type Report struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error,omitempty"`
	Step    string `json:"step,omitempty"` // the step that failed
	Ballots int    `json:"ballots"`
	Options int    `json:"options"`
	Seed    uint64 `json:"seed"`

	// Selections is Ballots × Options; BatchItems counts every selection
	// proof, contest-total proof and signature verified in the batch.
	Selections int `json:"selections"`
	BatchItems int `json:"batch_items"`

	// Expected is the number of votes cast for each option, Tally the
	// decrypted homomorphic sum.
	Expected []uint64 `json:"expected"`
	Tally    []uint64 `json:"tally"`

	// TamperedBallot and TamperedOption (indexes from 0) say which
	// selection proof was altered; BadItems are the batch indexes
	// verification rejected: that proof and the ballot's signature.
	TamperedBallot int   `json:"tampered_ballot"`
	TamperedOption int   `json:"tampered_option"`
	BadItems       []int `json:"bad_items"`

	// VectorCases is the number of known-answer cases of docs/spec.md §12
	// checked against this binary.
	VectorCases int `json:"vector_cases"`

	KeyGeneration time.Duration `json:"key_generation_ns"`
	Encryption    time.Duration `json:"encryption_ns"`
	Signing       time.Duration `json:"signing_ns"`
	Verification  time.Duration `json:"verification_ns"`
	Decryption    time.Duration `json:"decryption_ns"`
	Total         time.Duration `json:"total_ns"`

	// EncryptionPerBallot is Encryption / Ballots: the booth's cost of one
	// contest with its proofs. VerificationPerSelection is Verification /
	// Selections; Verification includes the contest totals and signatures.
	EncryptionPerBallot      time.Duration `json:"encryption_per_ballot_ns"`
	VerificationPerSelection time.Duration `json:"verification_per_selection_ns"`
}

// Error is the error Run returns when a check fails.
type Error struct {
	Step string // the step that failed, e.g. "decrypt the tally"
	Err  error
}

func (e *Error) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ballot is one voter's encrypted contest and signature.
type ballot struct {
	credential *crypto.PublicKey
	contest    *crypto.EncryptedContest
	signature  *crypto.Signature
}

// message returns the bytes a ballot's signature covers: for each option its
// ciphertext then its selection proof, then the contest-total proof. The
// encoding of a whole ballot is defined with the election record
// (docs/spec.md §8.4); this one is only the self-test's.
func (b *ballot) message() []byte {
	var msg []byte
	for j, ct := range b.contest.Selections {
		msg = append(msg, ct.Bytes()...)
		msg = append(msg, b.contest.Proofs[j].Bytes()...)
	}
	return append(msg, b.contest.TotalProof.Bytes()...)
}

// run carries the state of one self-test.
type run struct {
	opts     Options
	report   *Report
	election crypto.Fingerprint
	key      *crypto.SecretKey
	ballots  []ballot

	// credentials are the voters' signing keys, dropped once the ballots
	// are signed.
	credentials []*crypto.SecretKey
}

// Run runs the self-test. It always returns a report with the figures
// gathered so far; when a check fails, the report has OK false and the error
// is an *Error naming the step.
func Run(opts Options) (*Report, error) {
	if opts.Ballots == 0 {
		opts.Ballots = DefaultBallots
	}
	if opts.Seed == 0 {
		opts.Seed = DefaultSeed
	}
	r := &run{opts: opts, report: &Report{
		Ballots:        opts.Ballots,
		Options:        contestOptions,
		Seed:           opts.Seed,
		Selections:     opts.Ballots * contestOptions,
		TamperedBallot: -1,
		TamperedOption: -1,
	}}
	if opts.Ballots < MinBallots || opts.Ballots > MaxBallots {
		return r.fail("check the options", fmt.Errorf("the number of ballots must be between %d and %d, got %d", MinBallots, MaxBallots, opts.Ballots))
	}
	start := time.Now()
	steps := []struct {
		name string
		fn   func() error
	}{
		{"check the test vectors", r.checkVectors},
		{"generate keys", r.generateKeys},
		{"encrypt and sign ballots", r.castBallots},
		{"verify ballots", r.verifyBallots},
		{"detect a tampered ballot", r.detectTampering},
		{"decrypt the tally", r.tally},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			r.report.Total = time.Since(start)
			return r.fail(s.name, err)
		}
	}
	r.report.Total = time.Since(start)
	r.report.OK = true
	return r.report, nil
}

func (r *run) fail(step string, err error) (*Report, error) {
	r.report.OK = false
	r.report.Step = step
	r.report.Error = err.Error()
	return r.report, &Error{Step: step, Err: err}
}

func (r *run) progress(format string, args ...any) {
	if r.opts.Progress != nil {
		r.opts.Progress(fmt.Sprintf(format, args...))
	}
}

// checkVectors runs the embedded known-answer vectors (valid and invalid)
// against this binary's crypto.
func (r *run) checkVectors() error {
	n, err := vectors.Check(scrutin.TestVectors())
	r.report.VectorCases = n
	if err != nil {
		return fmt.Errorf("the test vectors do not check out: %w", err)
	}
	r.progress("checked %d test-vector cases (valid and invalid)", n)
	return nil
}

// generateKeys makes the election key and the election fingerprint. The
// voters' credentials are made with their ballots.
func (r *run) generateKeys() error {
	t := time.Now()
	var err error
	if r.key, err = crypto.GenerateKey(nil); err != nil {
		return fmt.Errorf("failed to generate the election key: %w", err)
	}
	// A real election's fingerprint is the hash of its manifest, defined
	// with the election record; the self-test's only has to be unique.
	h := crypto.TupleHash("scrutin/selftest/election", r.key.PublicKey().Bytes())
	copy(r.election[:], h[:])
	r.ballots = make([]ballot, r.opts.Ballots)
	creds := make([]*crypto.SecretKey, r.opts.Ballots)
	for i := range creds {
		if creds[i], err = crypto.GenerateKey(nil); err != nil {
			return fmt.Errorf("failed to generate voter credential %d: %w", i, err)
		}
		r.ballots[i].credential = creds[i].PublicKey()
	}
	r.report.KeyGeneration = time.Since(t)
	r.progress("generated the election key and %d voter credentials in %v", len(creds), round(r.report.KeyGeneration))
	r.credentials = creds
	return nil
}

// castBallots encrypts and signs one ballot per voter, each choosing one
// option drawn from the seeded generator.
func (r *run) castBallots() error {
	rng := mrand.New(mrand.NewPCG(r.opts.Seed, 0x5c2071))
	pk := r.key.PublicKey()
	r.report.Expected = make([]uint64, contestOptions)
	for i := range r.ballots {
		b := &r.ballots[i]
		votes := make([]int, contestOptions)
		choice := rng.IntN(contestOptions)
		votes[choice] = 1
		r.report.Expected[choice]++

		t := time.Now()
		ec, err := crypto.EncryptContest(nil, pk, r.election, b.credential, contestNumber, votes, contestMin, contestMax)
		r.report.Encryption += time.Since(t)
		if err != nil {
			return fmt.Errorf("failed to encrypt ballot %d: %w", i, err)
		}
		b.contest = ec

		t = time.Now()
		b.signature, err = r.credentials[i].Sign(nil, r.election, b.message())
		r.report.Signing += time.Since(t)
		if err != nil {
			return fmt.Errorf("failed to sign ballot %d: %w", i, err)
		}
	}
	r.credentials = nil // the voters keep them; the rest of the test needs only the public halves
	r.report.EncryptionPerBallot = r.report.Encryption / time.Duration(len(r.ballots))
	rules := fmt.Sprintf("choose %d to %d", contestMin, contestMax)
	if contestMin == contestMax {
		rules = fmt.Sprintf("choose exactly %d", contestMin)
	}
	r.progress("encrypted and signed %d ballots (1 contest, %d options, %s): %v per ballot",
		len(r.ballots), contestOptions, rules, round(r.report.EncryptionPerBallot))
	return nil
}

// batchIndex records where a ballot's items sit in a batch.
type batchIndex struct {
	contest   int // index of the first selection proof; the total proof follows the last
	signature int
}

// addAll adds every ballot's proofs and signature to a new batch.
func (r *run) addAll() (*crypto.Batch, []batchIndex) {
	pk := r.key.PublicKey()
	batch := crypto.NewBatch()
	idx := make([]batchIndex, len(r.ballots))
	for i := range r.ballots {
		b := &r.ballots[i]
		idx[i].contest = batch.AddContest(pk, r.election, b.credential, contestNumber, contestMin, contestMax, b.contest)
		idx[i].signature = batch.AddSignature(b.credential, r.election, b.message(), b.signature)
	}
	return batch, idx
}

// verifyBallots verifies every proof and signature in one batch.
func (r *run) verifyBallots() error {
	t := time.Now()
	batch, _ := r.addAll()
	err := batch.Verify()
	r.report.Verification = time.Since(t)
	r.report.BatchItems = batch.Len()
	if want := len(r.ballots) * (contestOptions + 2); batch.Len() != want {
		return fmt.Errorf("the batch holds %d items, want %d", batch.Len(), want)
	}
	if err != nil {
		return fmt.Errorf("valid ballots were rejected: %w", err)
	}
	r.report.VerificationPerSelection = r.report.Verification / time.Duration(r.report.Selections)
	r.progress("verified %d selections, %d contest totals and %d signatures in one batch: %v per selection",
		r.report.Selections, len(r.ballots), len(r.ballots), round(r.report.VerificationPerSelection))
	return nil
}

// detectTampering flips one byte of one selection proof, keeping only
// alterations that still decode (so that the proof reaches the verification
// equations), and checks that batch verification rejects exactly that proof
// and the ballot's signature, which covers the proof's bytes.
func (r *run) detectTampering() error {
	rng := mrand.New(mrand.NewPCG(r.opts.Seed, 0x7a3e9))
	bi, opt := rng.IntN(len(r.ballots)), rng.IntN(contestOptions)
	b := &r.ballots[bi]
	orig := b.contest.Proofs[opt]
	enc := orig.Bytes()
	start := rng.IntN(len(enc))
	var tampered *crypto.RangeProof
	for k := range enc {
		pos := (start + k) % len(enc)
		bad := slices.Clone(enc)
		bad[pos] ^= 0x01
		if p, err := crypto.NewRangeProof(bad); err == nil {
			tampered = p
			break
		}
	}
	if tampered == nil {
		return errors.New("no single-bit change of the proof decodes, which cannot happen with a correct decoder")
	}
	r.report.TamperedBallot, r.report.TamperedOption = bi, opt

	b.contest.Proofs[opt] = tampered
	batch, idx := r.addAll()
	err := batch.Verify()
	b.contest.Proofs[opt] = orig

	want := []int{idx[bi].contest + opt, idx[bi].signature}
	var be *crypto.BatchError
	switch {
	case err == nil:
		return fmt.Errorf("ballot %d with a tampered proof for option %d was accepted", bi, opt)
	case !errors.As(err, &be):
		return fmt.Errorf("verification failed without naming the bad items: %w", err)
	}
	r.report.BadItems = be.Bad()
	if !slices.Equal(r.report.BadItems, want) {
		return fmt.Errorf("the batch rejected items %v, want exactly %v (the proof of ballot %d, option %d, and its signature)",
			r.report.BadItems, want, bi, opt)
	}
	if !errors.Is(err, crypto.ErrInvalidProof) {
		return fmt.Errorf("the batch error does not wrap crypto.ErrInvalidProof: %w", err)
	}
	r.progress("tampered with the proof of ballot %d, option %d: batch verification named exactly that proof and the ballot's signature (items %d and %d of %d)",
		bi+1, opt+1, want[0], want[1], batch.Len())
	return nil
}

// tally adds each option's ciphertexts over all ballots, decrypts the sums
// and compares them with the votes cast.
func (r *run) tally() error {
	t := time.Now()
	r.report.Tally = make([]uint64, contestOptions)
	cts := make([]*crypto.Ciphertext, len(r.ballots))
	for j := range contestOptions {
		for i := range r.ballots {
			cts[i] = r.ballots[i].contest.Selections[j]
		}
		n, err := r.key.Decrypt(crypto.Sum(cts...), uint64(len(r.ballots)))
		if err != nil {
			return fmt.Errorf("failed to decrypt the tally of option %d: %w", j+1, err)
		}
		r.report.Tally[j] = n
	}
	r.report.Decryption = time.Since(t)
	if !slices.Equal(r.report.Tally, r.report.Expected) {
		return fmt.Errorf("the decrypted tally %v differs from the votes cast %v", r.report.Tally, r.report.Expected)
	}
	r.progress("decrypted the tally %v in %v: it matches the votes cast", r.report.Tally, round(r.report.Decryption))
	return nil
}

// round shortens a duration for progress lines.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(100 * time.Nanosecond)
	}
}
