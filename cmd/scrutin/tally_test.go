package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/verify"
)

// TestTallyFromRecord: the trustees take the tally to decrypt from the
// election's published record (its address or a folder), verified first,
// since nothing else gives it to them in the form "trustee decrypt" reads;
// a record of another election key, or a file that is not a tally, is
// refused.
func TestTallyFromRecord(t *testing.T) {
	bin := buildScrutin(t)
	out := filepath.Join(t.TempDir(), "record")
	if r := runScrutin(t, bin, "demo", "--voters", "6", "--dir", t.TempDir(), "--out", out, "--json"); r.status != 0 {
		t.Fatalf("demo: %d %s", r.status, r.stderr)
	}
	rep, err := verify.Record(context.Background(), mirror.For(out), verify.Options{})
	if err != nil || !rep.OK || rep.ElectionKey == nil {
		t.Fatalf("the demo's record: %v %+v", err, rep)
	}
	cts, err := readTally(out, rep.ElectionKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(cts) != 7 { // 3 + 2 + 2 options
		t.Fatalf("%d ciphertexts, want 7", len(cts))
	}
	for i, c := range cts {
		if !bytes.Equal(c.Bytes(), rep.Tally[i].Bytes()) {
			t.Fatalf("ciphertext %d differs from the recorded tally's", i+1)
		}
	}
	other, err := crypto.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readTally(out, other.PublicKey()); err == nil || !strings.Contains(err.Error(), "not encrypted under this ceremony's key") {
		t.Fatalf("another ceremony's key: %v", err)
	}
	if _, err := readTally(filepath.Join(out, "checkpoint"), rep.ElectionKey); err == nil {
		t.Fatal("a checkpoint file read as a tally")
	}
}
