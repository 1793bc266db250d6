package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/scrutin/scrutin/board"
)

// TestTreeEdge: the root kept on the tree's right edge is tlog's tree hash,
// at every size.
func TestTreeEdge(t *testing.T) {
	ctx := context.Background()
	var m board.MemStorage
	var edge treeEdge
	for n := int64(1); n <= 300; n++ {
		entry := fmt.Appendf(nil, "entry %d", n)
		if _, err := m.Append(ctx, [][]byte{entry}); err != nil {
			t.Fatal(err)
		}
		edge.add(entry)
		want, err := board.TreeHash(ctx, &m, n)
		if err != nil {
			t.Fatal(err)
		}
		if got := edge.root(); got != want || edge.n != n {
			t.Fatalf("size %d: root %v, tlog %v", n, got, want)
		}
		c := edge.clone()
		c.add([]byte("x"))
		if edge.root() != want {
			t.Fatal("a clone shares the edge")
		}
	}
}
