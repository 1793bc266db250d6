package board

// spec: §16.3 the C2SP tlog-witness protocol (add-checkpoint), both sides:
// the request a log sends and the checks a witness makes. No I/O here: the
// caller keeps the witness's state and speaks HTTP.

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// MaxProofLines is the most consistency proof lines an add-checkpoint
// request may carry (C2SP tlog-witness).
const MaxProofLines = 63

// MaxAddCheckpoint bounds an add-checkpoint request's body.
const MaxAddCheckpoint = MaxCheckpointFile + 5*1024

// AddCheckpoint is an add-checkpoint request: the size of the checkpoint
// the witness last cosigned (as the log believes), a consistency proof from
// it, and the new signed checkpoint.
type AddCheckpoint struct {
	OldSize    int64
	Proof      tlog.TreeProof
	Checkpoint []byte
}

// Marshal encodes the request body.
func (a AddCheckpoint) Marshal() []byte {
	b := fmt.Appendf(nil, "old %d\n", a.OldSize)
	for _, h := range a.Proof {
		b = append(b, base64.StdEncoding.EncodeToString(h[:])...)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, a.Checkpoint...)
}

// ErrBadRequest is a request that does not parse (400).
var ErrBadRequest = errors.New("bad add-checkpoint request")

// ParseAddCheckpoint parses an add-checkpoint request body strictly.
func ParseAddCheckpoint(body []byte) (AddCheckpoint, error) {
	var a AddCheckpoint
	if len(body) > MaxAddCheckpoint {
		return a, fmt.Errorf("%w: too long", ErrBadRequest)
	}
	head, cp, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		return a, fmt.Errorf("%w: no empty line before the checkpoint", ErrBadRequest)
	}
	lines := strings.Split(string(head), "\n")
	old, ok := strings.CutPrefix(lines[0], "old ")
	n, err := strconv.ParseInt(old, 10, 64)
	if !ok || err != nil || n < 0 || strconv.FormatInt(n, 10) != old {
		return a, fmt.Errorf("%w: the first line is not \"old <size>\"", ErrBadRequest)
	}
	if len(lines)-1 > MaxProofLines {
		return a, fmt.Errorf("%w: more than %d proof lines", ErrBadRequest, MaxProofLines)
	}
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.Strict().DecodeString(l)
		if err != nil || len(h) != tlog.HashSize {
			return a, fmt.Errorf("%w: a proof line is not a base64 hash", ErrBadRequest)
		}
		a.Proof = append(a.Proof, tlog.Hash(h))
	}
	a.OldSize, a.Checkpoint = n, cp
	return a, nil
}

// Conflict is a witness's 409 answer: the size of the checkpoint it last
// cosigned for the origin is not the old size sent.
type Conflict struct{ Known int64 }

func (c *Conflict) Error() string {
	return fmt.Sprintf("the witness last cosigned a tree of %d entries", c.Known)
}

// ConflictContentType is the content type of a 409 answer's body.
const ConflictContentType = "text/x.tlog.size"

// ParseConflict parses a 409 answer's body: a size and a newline.
func ParseConflict(body []byte) (int64, error) {
	s, ok := strings.CutSuffix(string(body), "\n")
	n, err := strconv.ParseInt(s, 10, 64)
	if !ok || err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, errors.New("a conflict's body is a tree size and a newline")
	}
	return n, nil
}

// WitnessError is a witness's refusal of an add-checkpoint request, with
// the HTTP status the protocol gives it (400, 403, 404 or 422; a 409 is a
// *Conflict). (Written as numbers: this package does not import net/http,
// which the WebAssembly build would carry.) Fork, if set, holds both
// checkpoints the log signed that are not consistent (evidence).
type WitnessError struct {
	Status int
	Reason string
	Fork   *ForkError
}

func (e *WitnessError) Error() string { return e.Reason }

func (e *WitnessError) Unwrap() error {
	if e.Fork != nil {
		return e.Fork
	}
	return nil
}

// emptyHash is the hash of the empty tree (RFC 6962: SHA-256 of nothing).
var emptyHash = tlog.Hash(sha256.Sum256(nil))

// witnessed is a checkpoint as a witness reads it from any C2SP log: an
// origin, a size (0 allowed), a hash, and any extension lines.
type witnessed struct {
	origin string
	size   int64
	hash   tlog.Hash
}

func parseWitnessed(text string) (witnessed, error) {
	var c witnessed
	lines := strings.Split(text, "\n")
	if len(lines) < 4 || lines[len(lines)-1] != "" {
		return c, errors.New("a checkpoint has at least three lines")
	}
	c.origin = lines[0]
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return c, fmt.Errorf("bad tree size %q", lines[1])
	}
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return c, fmt.Errorf("bad tree hash %q", lines[2])
	}
	c.size, c.hash = n, tlog.Hash(h)
	return c, nil
}

// Add is the witness's side of add-checkpoint (C2SP tlog-witness): last is
// the signed checkpoint it last cosigned for w.Origin (nil: none). On
// success it returns its signature lines for the new checkpoint, which the
// caller MUST record as its last (durably, atomically with the check
// against last) before answering with them. A refusal is a *WitnessError;
// one with Fork set carries evidence of a fork.
func (w *Witness) Add(last []byte, req AddCheckpoint) ([]byte, error) {
	refuse := func(status int, format string, a ...any) error {
		return &WitnessError{Status: status, Reason: fmt.Sprintf(format, a...)}
	}
	origin, _, _ := strings.Cut(string(req.Checkpoint), "\n")
	if origin != w.Origin {
		return nil, refuse(404, "unknown log %q", origin)
	}
	n, err := note.Open(req.Checkpoint, note.VerifierList(w.LogKey))
	if err != nil {
		return nil, refuse(403, "the checkpoint is not signed by the log's key: %v", err)
	}
	c, err := parseWitnessed(n.Text)
	if err != nil {
		return nil, refuse(400, "%v", err)
	}
	if req.OldSize > c.size {
		return nil, refuse(400, "the old size %d is larger than the checkpoint's %d", req.OldSize, c.size)
	}
	var known witnessed
	if last != nil {
		ln, err := note.Open(last, note.VerifierList(w.LogKey))
		if err != nil {
			return nil, fmt.Errorf("the witness's own last checkpoint does not verify: %w", err)
		}
		if known, err = parseWitnessed(ln.Text); err != nil {
			return nil, fmt.Errorf("the witness's own last checkpoint does not parse: %w", err)
		}
	}
	if req.OldSize != known.size {
		return nil, &Conflict{Known: known.size}
	}
	if c.size == 0 && c.hash != emptyHash {
		return nil, refuse(422, "a tree of 0 entries has the empty tree's hash")
	}
	fork := func(reason string) error {
		f := &ForkError{Old: last, New: req.Checkpoint, Reason: reason}
		return &WitnessError{Status: 422, Reason: f.Error(), Fork: f}
	}
	switch {
	case req.OldSize == 0:
		if len(req.Proof) != 0 {
			return nil, refuse(422, "a proof from the empty tree is empty")
		}
	case req.OldSize == c.size:
		if c.hash != known.hash {
			return nil, fork(fmt.Sprintf("two different trees of %d entries", c.size))
		}
		if len(req.Proof) != 0 {
			return nil, refuse(422, "a proof between equal trees is empty")
		}
	default:
		if err := tlog.CheckTree(req.Proof, c.size, c.hash, known.size, known.hash); err != nil {
			return nil, fork(fmt.Sprintf("the tree of %d entries is not proven to extend the tree of %d entries cosigned before", c.size, known.size))
		}
	}
	signed, err := note.Sign(&note.Note{Text: n.Text}, w.Signer)
	if err != nil {
		return nil, err
	}
	return signed[len(n.Text)+1:], nil
}
