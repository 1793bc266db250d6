package board

// spec: §17 the published layout

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// CheckpointFile is the path of the checkpoint in a published log.
const CheckpointFile = "checkpoint"

// Size limits of published files, for readers.
const (
	MaxCheckpointFile = 1 << 16
	MaxTileFile       = tlog.HashSize << TileHeight
	MaxBundleFile     = (2 + MaxEntrySize) << TileHeight
)

// FileWriter writes a published file; the write of one file must be atomic.
type FileWriter interface {
	WriteFile(ctx context.Context, path string, data []byte) error
}

// FileReader reads a published file of at most max bytes.
type FileReader interface {
	ReadFile(ctx context.Context, path string, max int) ([]byte, error)
}

// TilePath returns the C2SP tlog-tiles path of a tile: tile/L/N[.p/W] for
// hash tiles, tile/entries/N[.p/W] for entry bundles (tlog's L = −1).
func TilePath(t tlog.Tile) string {
	p := t.Path() // tile/8/L/N or tile/8/data/N, Go checksum-database style
	p = strings.Replace(p, fmt.Sprintf("tile/%d/data/", TileHeight), "tile/entries/", 1)
	return strings.Replace(p, fmt.Sprintf("tile/%d/", TileHeight), "tile/", 1)
}

func bundleTile(t tlog.Tile) tlog.Tile { return tlog.Tile{H: t.H, L: -1, N: t.N, W: t.W} }

// Bundle encodes entries as an entry bundle (spec §17.2).
func Bundle(entries [][]byte) []byte {
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint16(b, uint16(len(e)))
		b = append(b, e...)
	}
	return b
}

// ParseBundle decodes an entry bundle of exactly want entries.
func ParseBundle(b []byte, want int) ([][]byte, error) {
	entries := make([][]byte, 0, want)
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errors.New("truncated length")
		}
		n := int(binary.BigEndian.Uint16(b))
		if n == 0 || len(b) < 2+n {
			return nil, fmt.Errorf("entry %d: bad length %d", len(entries), n)
		}
		entries = append(entries, b[2:2+n])
		b = b[2+n:]
	}
	if len(entries) != want {
		return nil, fmt.Errorf("%d entries, %d expected", len(entries), want)
	}
	return entries, nil
}

// Publish writes the tiles and entry bundles that changed between the tree
// of size from (0 for all) and the checkpoint's tree, then the signed
// checkpoint itself, last, so that a reader never finds a checkpoint whose
// tiles are missing. Older partial tiles are left in place for readers of
// older checkpoints.
func Publish(ctx context.Context, s Storage, from int64, c Checkpoint, signed []byte, w FileWriter) error {
	r := hashReader(ctx, s)
	for _, t := range tlog.NewTiles(TileHeight, from, c.Size) {
		data, err := tlog.ReadTileData(t, r)
		if err != nil {
			return fmt.Errorf("failed to read tile %s: %w", TilePath(t), err)
		}
		if err := w.WriteFile(ctx, TilePath(t), data); err != nil {
			return err
		}
		if t.L != 0 {
			continue
		}
		start := t.N << TileHeight
		entries, err := s.ReadEntries(ctx, start, start+int64(t.W))
		if err != nil {
			return err
		}
		if err := w.WriteFile(ctx, TilePath(bundleTile(t)), Bundle(entries)); err != nil {
			return err
		}
	}
	return w.WriteFile(ctx, CheckpointFile, signed)
}

// ReadOptions say what a reader requires of a published log.
type ReadOptions struct {
	Origin    string
	LogKey    note.Verifier
	Witnesses []note.Verifier
	Quorum    int
	// Fresh bounds the age of cosignature/v1 cosignatures (spec §16.2).
	Fresh Freshness
	// AlsoWitnesses and AlsoQuorum, if set, are a second quorum the same
	// checkpoint must meet as well (the manifest's witnesses, spec §19).
	AlsoWitnesses []note.Verifier
	AlsoQuorum    int
	// Previous, if set, is a signed checkpoint of the same log the reader
	// saw before: the published tree must extend it, or the read fails
	// with a *ForkError holding both checkpoints.
	Previous []byte
	// Visit, if set, is called with every entry in order. If ReadPublished
	// then returns an error, none of the visited entries may be trusted.
	Visit func(i int64, entry []byte) error
	// Progress, if set, is called after each bundle with entries done and
	// total.
	Progress func(done, total int64)
}

// memHashes is an in-memory tlog.HashReader over stored hashes.
type memHashes []tlog.Hash

func (m *memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(*m)) {
			return nil, fmt.Errorf("board: internal error: hash %d not computed", x)
		}
		out[i] = (*m)[x]
	}
	return out, nil
}

// ReadPublished reads a published log and checks all of it (spec §17.3):
// the checkpoint's signatures and quorum, every entry bundle, the tree hash
// recomputed from the entries, and every published hash tile byte for byte.
// The error names the file that failed.
func ReadPublished(ctx context.Context, r FileReader, opt ReadOptions) (Checkpoint, *note.Note, error) {
	signed, err := r.ReadFile(ctx, CheckpointFile, MaxCheckpointFile)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: %s: %v", ErrPublished, CheckpointFile, err)
	}
	f, err := ParseOrigin(opt.Origin)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: %v", ErrPublished, err)
	}
	c, n, err := OpenFresh(signed, opt.Origin, opt.LogKey, opt.Witnesses, opt.Quorum, opt.Fresh)
	if err != nil {
		return Checkpoint{}, nil, fmt.Errorf("%w: %s: %v", ErrPublished, CheckpointFile, err)
	}
	if len(opt.AlsoWitnesses) > 0 || opt.AlsoQuorum > 0 {
		if _, _, err := OpenFresh(signed, opt.Origin, opt.LogKey, opt.AlsoWitnesses, opt.AlsoQuorum, opt.Fresh); err != nil {
			return Checkpoint{}, nil, fmt.Errorf("%w: %s: the election's witnesses: %v", ErrPublished, CheckpointFile, err)
		}
	}
	// Nothing is sized or listed from the claimed size until the entry
	// bundles have proven it: a checkpoint claiming a huge tree fails at its
	// first missing bundle.
	var hashes memHashes
	for start := int64(0); start < c.Size; start += 1 << TileHeight {
		t := tlog.Tile{H: TileHeight, L: 0, N: start >> TileHeight, W: int(min(1<<TileHeight, c.Size-start))}
		bt := bundleTile(t)
		data, err := r.ReadFile(ctx, TilePath(bt), MaxBundleFile)
		if err != nil {
			return c, n, fmt.Errorf("%w: %s: %v", ErrPublished, TilePath(bt), err)
		}
		entries, err := ParseBundle(data, t.W)
		if err != nil {
			return c, n, fmt.Errorf("%w: %s: %v", ErrPublished, TilePath(bt), err)
		}
		for k, e := range entries {
			i := t.N<<TileHeight + int64(k)
			if i == 0 && Fingerprint(e) != f {
				return c, n, fmt.Errorf("%w: %s: entry 0 does not hash to the election's fingerprint %x named by the origin", ErrPublished, TilePath(bt), f[:])
			}
			hs, err := tlog.StoredHashes(i, e, &hashes)
			if err != nil {
				return c, n, err
			}
			hashes = append(hashes, hs...)
			if opt.Visit != nil {
				if err := opt.Visit(i, e); err != nil {
					return c, n, err
				}
			}
		}
		if opt.Progress != nil {
			opt.Progress(t.N<<TileHeight+int64(t.W), c.Size)
		}
	}
	root, err := tlog.TreeHash(c.Size, &hashes)
	if err != nil {
		return c, n, err
	}
	if root != c.Hash {
		return c, n, fmt.Errorf("%w: the entries' tree hash %v is not the checkpoint's %v", ErrPublished, root, c.Hash)
	}
	if opt.Previous != nil {
		prev, _, err := Open(opt.Previous, opt.Origin, opt.LogKey, nil, 0)
		if err != nil {
			return c, n, fmt.Errorf("the previous checkpoint: %w", err)
		}
		if prev.Size > c.Size {
			return c, n, &ForkError{Old: opt.Previous, New: signed, Reason: fmt.Sprintf("the log went back from %d to %d entries", prev.Size, c.Size)}
		}
		if h, err := tlog.TreeHash(prev.Size, &hashes); err != nil || h != prev.Hash {
			return c, n, &ForkError{Old: opt.Previous, New: signed, Reason: fmt.Sprintf("its first %d entries are not the tree of the previous checkpoint", prev.Size)}
		}
	}
	for _, t := range tlog.NewTiles(TileHeight, 0, c.Size) {
		want, err := tlog.ReadTileData(t, &hashes)
		if err != nil {
			return c, n, err
		}
		got, err := r.ReadFile(ctx, TilePath(t), MaxTileFile)
		if err != nil {
			return c, n, fmt.Errorf("%w: %s: %v", ErrPublished, TilePath(t), err)
		}
		if string(got) != string(want) {
			return c, n, fmt.Errorf("%w: %s differs from the tile computed from the entries", ErrPublished, TilePath(t))
		}
	}
	return c, n, nil
}

// tileReader adapts a FileReader to tlog.TileReader, for reading proofs
// straight from published tiles (tlog checks them against the tree hash).
type tileReader struct {
	ctx context.Context
	r   FileReader
}

func (tr tileReader) Height() int { return TileHeight }

func (tr tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		b, err := tr.r.ReadFile(tr.ctx, TilePath(t), MaxTileFile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", TilePath(t), err)
		}
		out[i] = b
	}
	return out, nil
}

func (tr tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// PublishedHashes returns a HashReader over a published tree's tiles, which
// checks every tile it loads against the tree's hash.
func PublishedHashes(ctx context.Context, r FileReader, tree tlog.Tree) tlog.HashReader {
	return tlog.TileHashReader(tree, tileReader{ctx, r})
}

// ErrNoTile is returned by ReadTile for a path that is not a file of the
// published log of the given size.
var ErrNoTile = errors.New("no such file in the published log")

// ReadTile returns the file at path (a hash tile or an entry bundle, spec
// §17.1) of the published log of the tree of size n, computed from storage:
// what Publish would have written there. It lets a server publish its log
// without writing files.
func ReadTile(ctx context.Context, s Storage, n int64, path string) ([]byte, error) {
	goPath, ok := strings.CutPrefix(path, "tile/")
	if !ok || strings.Contains(goPath, "tile/") {
		return nil, ErrNoTile
	}
	if rest, ok := strings.CutPrefix(goPath, "entries/"); ok {
		goPath = "data/" + rest
	}
	t, err := tlog.ParseTilePath(fmt.Sprintf("tile/%d/%s", TileHeight, goPath))
	if err != nil || TilePath(t) != path {
		return nil, ErrNoTile
	}
	// The level-L hashes of the tree: n >> (L·H); the tile's last one must
	// be among them.
	// Compared without shifting N, which could overflow.
	level := max(t.L, 0)
	if level*TileHeight >= 63 {
		return nil, ErrNoTile
	}
	hashes := n >> (level * TileHeight)
	if t.N > hashes>>TileHeight || t.N<<TileHeight+int64(t.W) > hashes {
		return nil, ErrNoTile
	}
	if t.L == -1 {
		start := t.N << TileHeight
		entries, err := s.ReadEntries(ctx, start, start+int64(t.W))
		if err != nil {
			return nil, err
		}
		return Bundle(entries), nil
	}
	return tlog.ReadTileData(t, hashReader(ctx, s))
}
