// Package board is the election's public bulletin board: an append-only
// Merkle log (RFC 6962, via golang.org/x/mod/sumdb/tlog) with signed
// checkpoints (C2SP signed notes), witness cosignatures, inclusion and
// consistency proofs, and the static tile layout in which a log is published
// (C2SP tlog-tiles). It implements docs/spec.md §15–§17.
//
// The package does no I/O of its own: entries and hashes live behind the
// [Storage] interface (package store implements it on SQLite and
// PostgreSQL), published files are written through a [FileWriter] and read
// through a [FileReader] (a folder or an HTTP URL, supplied by the caller).
package board

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/crypto"
)

// MaxEntrySize is the largest entry (spec §15.1).
const MaxEntrySize = 65535

// MaxTreeSize bounds the size a checkpoint may claim (spec §16.1): far
// beyond any election, and small enough that no computation on a claimed
// size can run away.
const MaxTreeSize = 1 << 40

// TileHeight is the height of published tiles (spec §17): 256 hashes.
const TileHeight = 8

// Errors a caller may need to tell apart.
var (
	ErrEntry      = errors.New("invalid entry")
	ErrCheckpoint = errors.New("invalid checkpoint")
	ErrProof      = errors.New("proof does not verify")
	ErrFork       = errors.New("the log has forked")
	ErrPublished  = errors.New("published log does not verify")
)

// Fingerprint returns F = SHA-256(entry 0), the election's identity
// (spec §15.1).
func Fingerprint(genesis []byte) crypto.Fingerprint { return sha256.Sum256(genesis) }

// Origin returns the checkpoint origin of the election with fingerprint f
// (spec §16.1); it is also the name of the log key.
func Origin(f crypto.Fingerprint) string { return originPrefix + hex.EncodeToString(f[:]) }

const originPrefix = "scrutin/v0/election/"

// ParseOrigin returns the fingerprint an election's origin names.
func ParseOrigin(origin string) (crypto.Fingerprint, error) {
	var f crypto.Fingerprint
	h, ok := strings.CutPrefix(origin, originPrefix)
	b, err := hex.DecodeString(h)
	if !ok || err != nil || len(b) != len(f) || hex.EncodeToString(b) != h {
		return f, fmt.Errorf("%w: %q is not an election's origin (%s<64 lower-case hex digits>)", ErrCheckpoint, origin, originPrefix)
	}
	copy(f[:], b)
	return f, nil
}

// CheckEntry checks an entry's size.
func CheckEntry(e []byte) error {
	if len(e) == 0 || len(e) > MaxEntrySize {
		return fmt.Errorf("%w: an entry is 1 to %d bytes, this one is %d", ErrEntry, MaxEntrySize, len(e))
	}
	return nil
}

// Checkpoint is a tree size and hash for an origin (spec §16.1).
type Checkpoint struct {
	Origin string
	Size   int64
	Hash   tlog.Hash
}

// Tree returns the checkpoint's tree.
func (c Checkpoint) Tree() tlog.Tree { return tlog.Tree{N: c.Size, Hash: c.Hash} }

// Body returns the checkpoint's note text.
func (c Checkpoint) Body() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
}

// ParseCheckpoint parses a checkpoint body strictly: three lines, a size
// without leading zeros, a canonical base64 hash.
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	var c Checkpoint
	lines := strings.Split(string(body), "\n")
	if len(lines) != 4 || lines[3] != "" {
		return c, fmt.Errorf("%w: a checkpoint has exactly three lines", ErrCheckpoint)
	}
	c.Origin = lines[0]
	if c.Origin == "" || strings.ContainsAny(c.Origin, " +\t") {
		return c, fmt.Errorf("%w: bad origin %q", ErrCheckpoint, c.Origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 1 || size > MaxTreeSize || strconv.FormatInt(size, 10) != lines[1] {
		return c, fmt.Errorf("%w: bad tree size %q", ErrCheckpoint, lines[1])
	}
	c.Size = size
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return c, fmt.Errorf("%w: bad tree hash %q", ErrCheckpoint, lines[2])
	}
	copy(c.Hash[:], h)
	return c, nil
}

// Sign returns the checkpoint as a signed note.
func Sign(c Checkpoint, signer note.Signer) ([]byte, error) {
	return note.Sign(&note.Note{Text: string(c.Body())}, signer)
}

// Open verifies a signed checkpoint: its origin must be origin, it must be
// signed by logKey, and by at least quorum of the witnesses. It returns the
// checkpoint and the note (with every verified signature).
func Open(signed []byte, origin string, logKey note.Verifier, witnesses []note.Verifier, quorum int) (Checkpoint, *note.Note, error) {
	return OpenFresh(signed, origin, logKey, witnesses, quorum, Freshness{})
}

// MaxClockSkew is how far in the future a cosignature/v1 timestamp may be
// and still count (spec §16.2).
const MaxClockSkew = 10 * time.Minute

// Freshness bounds the age of cosignature/v1 cosignatures (spec §16.2).
type Freshness struct {
	// Now is the reader's time (zero: time.Now()).
	Now time.Time
	// MaxAge, if not zero, is the oldest a cosignature/v1 cosignature may
	// be to count towards the quorum.
	MaxAge time.Duration
}

// OpenFresh is Open where a cosignature/v1 cosignature counts towards the
// quorum only if its timestamp is within fresh (never more than
// MaxClockSkew in the future). Plain note cosignatures carry no time and
// count as in Open.
func OpenFresh(signed []byte, origin string, logKey note.Verifier, witnesses []note.Verifier, quorum int, fresh Freshness) (Checkpoint, *note.Note, error) {
	if logKey == nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: no log key given", ErrCheckpoint)
	}
	if logKey.Name() != origin {
		return Checkpoint{}, nil, fmt.Errorf("%w: the log key is named %q, not the election's origin %q", ErrCheckpoint, logKey.Name(), origin)
	}
	if quorum > len(witnesses) {
		return Checkpoint{}, nil, fmt.Errorf("%w: a quorum of %d among %d witnesses can never be met", ErrCheckpoint, quorum, len(witnesses))
	}
	// An invalid signature line by a listed witness (which anyone can
	// write) must not hide the valid ones: such lines are dropped and the
	// note opened again; they simply do not count.
	verifiers := note.VerifierList(append([]note.Verifier{logKey}, witnesses...)...)
	var n *note.Note
	var err error
	for range 1 + len(witnesses) {
		n, err = note.Open(signed, verifiers)
		var bad *note.InvalidSignatureError
		if !errors.As(err, &bad) || (bad.Name == logKey.Name() && bad.Hash == logKey.KeyHash()) {
			break
		}
		v, verr := verifiers.Verifier(bad.Name, bad.Hash)
		if verr != nil {
			break
		}
		signed = dropInvalidSignatures(signed, v)
	}
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, nil, err
	}
	if c.Origin != origin {
		return Checkpoint{}, nil, fmt.Errorf("%w: origin %q is not this election's (%q)", ErrCheckpoint, c.Origin, origin)
	}
	signedBy := func(v note.Verifier) bool {
		for _, s := range n.Sigs {
			if s.Name == v.Name() && s.Hash == v.KeyHash() {
				return true
			}
		}
		return false
	}
	if !signedBy(logKey) {
		return Checkpoint{}, nil, fmt.Errorf("%w: not signed by the log key", ErrCheckpoint)
	}
	now := fresh.Now
	if now.IsZero() {
		now = time.Now()
	}
	count := 0
	var missing []string
	// One Ed25519 key is one witness, whatever the forms (plain note key,
	// cosignature/v1) or names it is listed under: it counts once.
	counted := map[string]bool{}
	for _, w := range witnesses {
		pub := WitnessPublicKey(w)
		if pub != nil && counted[string(pub)] {
			continue
		}
		if !signedBy(w) {
			missing = append(missing, w.Name())
			continue
		}
		if _, ok := w.(*CosignatureVerifier); ok {
			// The latest valid line of the witness decides.
			t, _ := CosignedAt(signed, w)
			switch {
			case t.After(now.Add(MaxClockSkew)):
				missing = append(missing, fmt.Sprintf("%s (cosigned in the future, at %s)", w.Name(), t.Format(time.RFC3339)))
				continue
			case fresh.MaxAge > 0 && t.Before(now.Add(-fresh.MaxAge)):
				missing = append(missing, fmt.Sprintf("%s (cosigned at %s, more than %v ago)", w.Name(), t.Format(time.RFC3339), fresh.MaxAge))
				continue
			}
		}
		if pub != nil {
			counted[string(pub)] = true
		}
		count++
	}
	if count < quorum {
		return Checkpoint{}, nil, fmt.Errorf("%w: cosigned by %d witnesses, %d required (missing: %s)", ErrCheckpoint, count, quorum, strings.Join(missing, ", "))
	}
	return c, n, nil
}

// dropInvalidSignatures removes from a signed note the signature lines of
// v's key whose signature does not verify; its valid lines stay.
func dropInvalidSignatures(signed []byte, v note.Verifier) []byte {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return signed
	}
	text := signed[:i+1]
	out := append([]byte(nil), signed[:i+2]...)
	for _, line := range strings.SplitAfter(string(signed[i+2:]), "\n") {
		fields := strings.Fields(strings.TrimPrefix(line, "— "))
		if len(fields) == 2 && fields[0] == v.Name() {
			if sig, err := base64.StdEncoding.DecodeString(fields[1]); err == nil && len(sig) >= 4 &&
				uint32(sig[0])<<24|uint32(sig[1])<<16|uint32(sig[2])<<8|uint32(sig[3]) == v.KeyHash() &&
				!v.Verify(text, sig[4:]) {
				continue
			}
		}
		out = append(out, line...)
	}
	return out
}

// Storage holds a log's entries and stored hashes (in tlog's numbering).
// Implementations append atomically and durably, computing the new hashes
// with [NewHashes] in the same transaction.
type Storage interface {
	// Append appends entries and returns the index of the first.
	Append(ctx context.Context, entries [][]byte) (int64, error)
	// Size returns the number of entries.
	Size(ctx context.Context) (int64, error)
	// ReadEntries returns entries [start, end).
	ReadEntries(ctx context.Context, start, end int64) ([][]byte, error)
	// ReadHashes returns the stored hashes at the given indexes.
	ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error)
}

// NewHashes returns the stored hashes that appending entries to a tree of
// size n adds: they occupy indexes [tlog.StoredHashCount(n),
// tlog.StoredHashCount(n+len(entries))), in order. r reads the existing
// stored hashes.
func NewHashes(n int64, entries [][]byte, r tlog.HashReader) ([]tlog.Hash, error) {
	base := tlog.StoredHashCount(n)
	var out []tlog.Hash
	overlay := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		res := make([]tlog.Hash, len(idx))
		var old []int64
		var where []int
		for i, x := range idx {
			if x >= base {
				if x-base >= int64(len(out)) {
					return nil, fmt.Errorf("board: internal error: hash %d not yet computed", x)
				}
				res[i] = out[x-base]
			} else {
				old = append(old, x)
				where = append(where, i)
			}
		}
		if len(old) > 0 {
			hs, err := r.ReadHashes(old)
			if err != nil {
				return nil, err
			}
			for k, i := range where {
				res[i] = hs[k]
			}
		}
		return res, nil
	})
	for i, e := range entries {
		if err := CheckEntry(e); err != nil {
			return nil, fmt.Errorf("entry %d of the batch: %w", i, err)
		}
		hs, err := tlog.StoredHashes(n+int64(i), e, overlay)
		if err != nil {
			return nil, err
		}
		out = append(out, hs...)
	}
	return out, nil
}

// hashReader adapts a Storage to tlog.HashReader.
func hashReader(ctx context.Context, s Storage) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return s.ReadHashes(ctx, idx) })
}

// TreeHash returns the hash of the first n entries of the log.
func TreeHash(ctx context.Context, s Storage, n int64) (tlog.Hash, error) {
	return tlog.TreeHash(n, hashReader(ctx, s))
}

// CurrentCheckpoint returns the unsigned checkpoint of the log's current
// size.
func CurrentCheckpoint(ctx context.Context, s Storage, origin string) (Checkpoint, error) {
	n, err := s.Size(ctx)
	if err != nil {
		return Checkpoint{}, err
	}
	if n == 0 {
		return Checkpoint{}, fmt.Errorf("%w: the log is empty; append the genesis entry first", ErrCheckpoint)
	}
	h, err := TreeHash(ctx, s, n)
	if err != nil {
		return Checkpoint{}, err
	}
	return Checkpoint{Origin: origin, Size: n, Hash: h}, nil
}

// ProveInclusion proves that entry i is in the tree of size n.
func ProveInclusion(ctx context.Context, s Storage, i, n int64) (tlog.RecordProof, error) {
	return tlog.ProveRecord(n, i, hashReader(ctx, s))
}

// ProveConsistency proves that the tree of size m is a prefix of the tree
// of size n.
func ProveConsistency(ctx context.Context, s Storage, m, n int64) (tlog.TreeProof, error) {
	return tlog.ProveTree(n, m, hashReader(ctx, s))
}

// VerifyInclusion checks that entry (index i) is in the checkpoint's tree.
func VerifyInclusion(p tlog.RecordProof, i int64, entry []byte, c Checkpoint) error {
	if i < 0 || i >= c.Size {
		return fmt.Errorf("%w: entry %d is beyond the checkpoint's size %d", ErrProof, i, c.Size)
	}
	if err := tlog.CheckRecord(p, c.Size, c.Hash, i, tlog.RecordHash(entry)); err != nil {
		return fmt.Errorf("%w: inclusion of entry %d in the tree of size %d: %v", ErrProof, i, c.Size, err)
	}
	return nil
}

// CheckReceipt checks a receipt's proof that entry is entry number index of
// the log (spec §15.3): the signed checkpoint is opened with the log key, and
// the inclusion proof (base64 hashes) is checked against it.
func CheckReceipt(signed []byte, origin string, logKey note.Verifier, index int64, proof []string, entry []byte) (Checkpoint, error) {
	c, _, err := Open(signed, origin, logKey, nil, 0)
	if err != nil {
		return c, err
	}
	p := make(tlog.RecordProof, len(proof))
	for i, s := range proof {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) != tlog.HashSize {
			return c, fmt.Errorf("%w: the inclusion proof's hash %d is not 32 bytes in base64", ErrProof, i)
		}
		copy(p[i][:], b)
	}
	return c, VerifyInclusion(p, index, entry, c)
}

// VerifyConsistency checks that old's tree is a prefix of new's.
func VerifyConsistency(p tlog.TreeProof, old, new Checkpoint) error {
	if old.Origin != new.Origin {
		return fmt.Errorf("%w: checkpoints of different logs (%q, %q)", ErrProof, old.Origin, new.Origin)
	}
	if new.Size < old.Size {
		return fmt.Errorf("%w: the tree shrank from %d to %d entries", ErrFork, old.Size, new.Size)
	}
	if err := tlog.CheckTree(p, new.Size, new.Hash, old.Size, old.Hash); err != nil {
		return fmt.Errorf("%w: %d entries are not a prefix of the %d entries: %v", ErrFork, old.Size, new.Size, err)
	}
	return nil
}

// FormatProof writes a proof as base64 hashes, one per line (spec §15.3).
func FormatProof(p []tlog.Hash) []byte {
	var b bytes.Buffer
	for _, h := range p {
		b.WriteString(base64.StdEncoding.EncodeToString(h[:]))
		b.WriteByte('\n')
	}
	return b.Bytes()
}
