package board

import (
	"testing"
	"time"
)

// TestHugeClaimedSize: a checkpoint signed by the log key may claim any
// size; neither the witness nor the reader may spend time or memory on the
// claim before the published data proves it.
func TestHugeClaimedSize(t *testing.T) {
	l := newTestLog(t, "genesis")
	l.append(t, "a", "b")
	c, signed := l.checkpoint(t)
	files := &MemFiles{}
	Publish(ctx, l.s, 0, c, signed, files)
	ws, _ := newKey(t, "w")
	w := &Witness{Signer: ws, Origin: l.origin, LogKey: l.key}
	last, _, _ := w.Cosign(ctx, files, nil, signed)
	for _, size := range []int64{MaxTreeSize, MaxTreeSize + 1, 1 << 62} {
		big := c
		big.Size = size
		bs, _ := Sign(big, l.signer)
		start := time.Now()
		_, _, err := w.Cosign(ctx, files, last, bs)
		_, _, err2 := ReadPublished(ctx, &MemFiles{Files: map[string][]byte{"checkpoint": bs}}, ReadOptions{Origin: l.origin, LogKey: l.key})
		t.Logf("size %d: witness %v / reader %v in %v", size, err, err2, time.Since(start))
		if err == nil || err2 == nil || time.Since(start) > 5*time.Second {
			t.Fatalf("size %d accepted or slow", size)
		}
	}
}
