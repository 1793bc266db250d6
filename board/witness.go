package board

// spec: §16.2 witnesses

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ForkError is a witness's refusal: two checkpoints signed by the log key
// that are not consistent. Both are evidence.
type ForkError struct {
	Old, New []byte // the signed checkpoints
	Reason   string
}

func (e *ForkError) Error() string { return fmt.Sprintf("%v: %s", ErrFork, e.Reason) }

func (e *ForkError) Unwrap() error { return ErrFork }

// Witness cosigns a log's checkpoints that are consistent with the last one
// it accepted.
type Witness struct {
	Signer note.Signer
	Origin string
	LogKey note.Verifier
}

// Cosign checks signed (a checkpoint fetched from the log) against last
// (the last checkpoint this witness accepted, or nil) and, if it is
// consistent, returns it with the witness's cosignature added. The
// consistency proof is computed from the published tiles read through r,
// each checked against the new tree hash. A fork or rollback is a
// *ForkError carrying both checkpoints.
func (w *Witness) Cosign(ctx context.Context, r FileReader, last, signed []byte) ([]byte, Checkpoint, error) {
	c, n, err := Open(signed, w.Origin, w.LogKey, nil, 0)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	if last != nil {
		old, _, err := Open(last, w.Origin, w.LogKey, nil, 0)
		if err != nil {
			return nil, Checkpoint{}, fmt.Errorf("the witness's own last checkpoint does not verify: %w", err)
		}
		switch {
		case c.Size < old.Size:
			return nil, c, &ForkError{Old: last, New: signed, Reason: fmt.Sprintf("the log went back from %d to %d entries", old.Size, c.Size)}
		case c.Size == old.Size && c.Hash != old.Hash:
			return nil, c, &ForkError{Old: last, New: signed, Reason: fmt.Sprintf("two different trees of %d entries", c.Size)}
		case c.Size > old.Size:
			proof, err := tlog.ProveTree(c.Size, old.Size, PublishedHashes(ctx, r, c.Tree()))
			if err != nil {
				return nil, c, fmt.Errorf("failed to read the consistency proof from the published tiles: %w", err)
			}
			if err := tlog.CheckTree(proof, c.Size, c.Hash, old.Size, old.Hash); err != nil {
				return nil, c, &ForkError{Old: last, New: signed, Reason: fmt.Sprintf("the tree of %d entries does not extend the tree of %d entries it cosigned before", c.Size, old.Size)}
			}
		}
	}
	// Other witnesses' cosignatures, which this witness cannot verify, are
	// passed on; a reader ignores any invalid one (see Open).
	cosigned, err := note.Sign(n, w.Signer)
	if err != nil {
		return nil, c, err
	}
	return cosigned, c, nil
}
