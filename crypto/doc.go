// Package crypto is scrutin's cryptographic core: the ristretto255 group,
// exponential ElGamal, zero-knowledge proofs (Schnorr, Chaum–Pedersen,
// disjunctive range proofs), key-prefixed Schnorr signatures for voter
// credentials, batch verification, and the verifiable shuffle of a mix-net
// (spec §23: Terelius–Wikström proofs of shuffle).
//
// It implements exactly docs/spec.md §2–§11, §13–§14 and §23, and nothing
// else: it does no I/O, keeps no state, and imports only the standard library,
// the group library and golang.org/x/crypto, so that it also compiles to
// WebAssembly for the voter's browser. A test enforces the import rule.
//
// Conventions:
//
//   - Every decoder is strict: it accepts only the canonical encoding of a valid
//     object and re-encoding gives back the input bytes. On error the receiver is
//     left unchanged.
//   - Malformed or malicious input gives an error, never a panic. A panic means
//     an internal error (a programmer's mistake, such as mismatched arguments).
//   - Operations on secrets (keys, the vote, encryption randomness) run in
//     constant time: the code never branches on them or indexes by them. The
//     one exception is a shuffle's secret permutation, which is applied by
//     indexing memory (shuffle.go says what that leaks, and to whom).
//   - Randomness comes from an [io.Reader] argument; nil means crypto/rand. Tests
//     and the test-vector generator pass a seeded deterministic stream.
package crypto
