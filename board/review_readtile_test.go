package board

// Review finding: ReadTile's range check overflows.

import (
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestReviewReadTileOverflow: the range check computes t.N<<TileHeight,
// which wraps for N ≥ 2^55 (tlog.ParseTilePath accepts any int64 N). With
// N = 2^56 it wraps to 0, so a path far beyond the tree is served as tile 0
// (with an immutable cache header by the server); with N = 2^55 it wraps
// negative and a hash tile is "computed" from stored hash 0 repeated. Such
// paths are no file of the published log: ErrNoTile is the answer.
func TestReviewReadTileOverflow(t *testing.T) {
	l := newTestLog(t, "genesis")
	for size, _ := l.s.Size(ctx); size < 300; size++ {
		l.append(t, entry(int(size)))
	}
	for _, tile := range []tlog.Tile{
		{H: TileHeight, L: -1, N: 1 << 56, W: 1 << TileHeight}, // wraps to 0
		{H: TileHeight, L: 0, N: 1 << 56, W: 1 << TileHeight},  // wraps to 0
		{H: TileHeight, L: 0, N: 1 << 55, W: 1 << TileHeight},  // wraps negative
		{H: TileHeight, L: 1, N: 1 << 55, W: 1},                // wraps negative
	} {
		path := TilePath(tile)
		data, err := ReadTile(ctx, l.s, 300, path)
		if !errors.Is(err, ErrNoTile) {
			t.Errorf("ReadTile(%s) at size 300 = %d bytes, %v; want ErrNoTile", path, len(data), err)
		}
	}
}
