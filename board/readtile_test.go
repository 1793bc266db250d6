package board

import (
	"bytes"
	"errors"
	"testing"
)

// TestReadTileIsPublish: every file Publish writes, ReadTile computes the
// same, at several tree sizes; and it refuses what is not in the tree.
func TestReadTileIsPublish(t *testing.T) {
	l := newTestLog(t, "genesis")
	for _, n := range []int{1, 255, 256, 257, 70000} {
		for size, _ := l.s.Size(ctx); size < int64(n); size++ {
			l.append(t, entry(int(size)))
		}
		c, signed := l.checkpoint(t)
		var files MemFiles
		if err := Publish(ctx, l.s, 0, c, signed, &files); err != nil {
			t.Fatal(err)
		}
		for path, want := range files.Files {
			if path == CheckpointFile {
				continue
			}
			got, err := ReadTile(ctx, l.s, c.Size, path)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("size %d: ReadTile(%s) = %d bytes, %v; Publish wrote %d bytes", n, path, len(got), err, len(want))
			}
		}
		// A reader of this checkpoint reads it all back.
		files.Files[CheckpointFile] = signed
		if _, _, err := ReadPublished(ctx, &files, ReadOptions{Origin: l.origin, LogKey: l.key}); err != nil {
			t.Fatal(err)
		}
	}
	for _, bad := range []string{
		"tile/entries/x001/000", "tile/0/x001/000", "tile/2/000", "tile/1/001",
		"tile/8/0/000", "tile/entries/274", "tile/entries/273.p/113", "tile/0/273.p/112/x",
		"checkpoint", "../tile/0/000", "tile/0/000.p/0", "tile/0/000.p/256", "tile/-1/000", "tile/9/000",
	} {
		if _, err := ReadTile(ctx, l.s, 70000, bad); !errors.Is(err, ErrNoTile) {
			t.Errorf("ReadTile(%s) = %v, want ErrNoTile", bad, err)
		}
	}
	if _, err := ReadTile(ctx, l.s, 70000, "tile/entries/273.p/112"); err != nil {
		t.Errorf("the last partial bundle: %v", err)
	}
	// Older partial tiles stay readable, as Publish leaves them in place.
	if _, err := ReadTile(ctx, l.s, 70000, "tile/entries/000.p/1"); err != nil {
		t.Errorf("an older partial bundle: %v", err)
	}
}
