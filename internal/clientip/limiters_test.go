package clientip

import (
	"fmt"
	"testing"
	"time"
)

// TestLimitersFull: a full table forgets only buckets full again; while
// every bucket kept was spent lately, new clients share one bucket, and
// the table never grows past its bound.
func TestLimitersFull(t *testing.T) {
	c := NewLimiters(1, 2)
	now := time.Unix(1_800_000_000, 0)
	for i := range MaxLimiters {
		if ok, _ := c.Reserve(fmt.Sprint(i), now, 1); !ok {
			t.Fatalf("client %d refused", i)
		}
	}
	// Every bucket holds 1.5 of 2: none is forgotten, new clients share one.
	now = now.Add(500 * time.Millisecond)
	if ok, _ := c.Reserve("a", now, 2); !ok {
		t.Fatal("the shared bucket refused its first client")
	}
	if ok, d := c.Reserve("b", now, 1); ok || d <= 0 {
		t.Fatalf("a second new client while the table is full of spent buckets: %v %v", ok, d)
	}
	if c.Len() > MaxLimiters {
		t.Fatalf("%d buckets kept", c.Len())
	}
	// Later every bucket is full again: they make room.
	now = now.Add(1500 * time.Millisecond)
	if ok, _ := c.Reserve("b", now, 2); !ok {
		t.Fatal("a new client refused once the buckets kept are full again")
	}
	if c.Len() != 1 {
		t.Fatalf("%d buckets kept, want the new one only", c.Len())
	}
	// A cost over the burst is capped at the burst.
	if ok, _ := c.Reserve("c", now, 3); !ok {
		t.Fatal("a cost over the burst is capped at the burst")
	}
}
