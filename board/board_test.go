package board

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var ctx = context.Background()

type testLog struct {
	s      *MemStorage
	origin string
	signer note.Signer
	key    note.Verifier
}

func newKey(t testing.TB, name string) (note.Signer, note.Verifier) {
	skey, vkey, err := note.GenerateKey(mrand.NewChaCha8([32]byte{byte(len(name))}), name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func newTestLog(t testing.TB, genesis string) *testLog {
	origin := Origin(Fingerprint([]byte(genesis)))
	s, v := newKey(t, origin)
	l := &testLog{s: &MemStorage{}, origin: origin, signer: s, key: v}
	l.append(t, genesis)
	return l
}

func (l *testLog) append(t testing.TB, entries ...string) {
	var b [][]byte
	for _, e := range entries {
		b = append(b, []byte(e))
	}
	if _, err := l.s.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
}

func (l *testLog) checkpoint(t testing.TB) (Checkpoint, []byte) {
	c, err := CurrentCheckpoint(ctx, l.s, l.origin)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(c, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	return c, signed
}

func entry(i int) string { return fmt.Sprintf("entry %d", i) }

// TestInclusionEveryLeafEverySize: for every tree size up to 128, every
// leaf's inclusion proof verifies, and every single-byte corruption of
// every proof is rejected.
func TestInclusionEveryLeafEverySize(t *testing.T) {
	l := newTestLog(t, "genesis")
	for n := int64(2); n <= 128; n++ {
		l.append(t, entry(int(n-1)))
		c, _ := l.checkpoint(t)
		for i := int64(0); i < n; i++ {
			e, _ := l.s.ReadEntries(ctx, i, i+1)
			p, err := ProveInclusion(ctx, l.s, i, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(p, i, e[0], c); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			if err := VerifyInclusion(p, i, append(e[0], 'x'), c); !errors.Is(err, ErrProof) {
				t.Fatalf("n=%d i=%d: changed entry accepted", n, i)
			}
			if i+1 < n {
				if err := VerifyInclusion(p, i+1, e[0], c); err == nil {
					t.Fatalf("n=%d i=%d: proof accepted for another index", n, i)
				}
			}
			for k := range p {
				for b := range tlog.HashSize {
					q := slices.Clone(p)
					q[k][b] ^= 1
					if err := VerifyInclusion(q, i, e[0], c); err == nil {
						t.Fatalf("n=%d i=%d: proof with hash %d byte %d flipped accepted", n, i, k, b)
					}
				}
			}
		}
	}
}

func TestConsistencyEveryPair(t *testing.T) {
	l := newTestLog(t, "genesis")
	var cps []Checkpoint
	c, _ := l.checkpoint(t)
	cps = append(cps, c)
	for n := 2; n <= 70; n++ {
		l.append(t, entry(n-1))
		c, _ := l.checkpoint(t)
		cps = append(cps, c)
	}
	for _, old := range cps {
		for _, nw := range cps {
			if nw.Size < old.Size {
				continue
			}
			p, err := ProveConsistency(ctx, l.s, old.Size, nw.Size)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(p, old, nw); err != nil {
				t.Fatalf("%d→%d: %v", old.Size, nw.Size, err)
			}
			for k := range p {
				q := slices.Clone(p)
				q[k][k%32] ^= 0x80
				if err := VerifyConsistency(q, old, nw); err == nil {
					t.Fatalf("%d→%d: corrupted proof accepted", old.Size, nw.Size)
				}
			}
			bad := old
			bad.Hash[0] ^= 1
			if nw.Size > 1 && VerifyConsistency(p, bad, nw) == nil {
				t.Fatalf("%d→%d: other old tree accepted", old.Size, nw.Size)
			}
		}
	}
}

// TestCheckpointEveryByte: every single-byte change of a signed checkpoint
// is rejected (signature, origin, size, hash, framing).
func TestCheckpointEveryByte(t *testing.T) {
	l := newTestLog(t, "genesis")
	l.append(t, "a", "b", "c")
	c, signed := l.checkpoint(t)
	got, _, err := Open(signed, l.origin, l.key, nil, 0)
	if err != nil || got != c {
		t.Fatalf("open: %v", err)
	}
	for i := range signed {
		for _, mask := range []byte{0x01, 0x20} {
			m := slices.Clone(signed)
			m[i] ^= mask
			if c2, _, err := Open(m, l.origin, l.key, nil, 0); err == nil && c2 != c {
				t.Fatalf("byte %d ^ %#x: accepted a different checkpoint %+v", i, mask, c2)
			} else if err == nil {
				// Only a change that leaves the meaning intact may pass; there
				// is none in a canonical note.
				t.Fatalf("byte %d ^ %#x: accepted", i, mask)
			}
		}
	}
	other := newTestLog(t, "another election")
	if _, _, err := Open(signed, other.origin, other.key, nil, 0); err == nil {
		t.Fatal("checkpoint accepted for another election")
	}
	if _, _, err := Open(signed, l.origin, other.key, nil, 0); err == nil {
		t.Fatal("checkpoint accepted under another key")
	}
	for _, body := range []string{
		"o\n01\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"o\n0\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
		"o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n",
		"o o\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	} {
		if _, err := ParseCheckpoint([]byte(body)); err == nil {
			t.Errorf("accepted %q", body)
		}
	}
}

func TestWitnessQuorum(t *testing.T) {
	l := newTestLog(t, "genesis")
	_, signed := l.checkpoint(t)
	ws, wv := newKey(t, "witness.example/alpha")
	xs, xv := newKey(t, "witness.example/beta")
	files := &MemFiles{}
	if err := Publish(ctx, l.s, 0, mustCheckpoint(t, signed, l), signed, files); err != nil {
		t.Fatal(err)
	}
	w := &Witness{Signer: ws, Origin: l.origin, LogKey: l.key}
	co, _, err := w.Cosign(ctx, files, nil, signed)
	if err != nil {
		t.Fatal(err)
	}
	x := &Witness{Signer: xs, Origin: l.origin, LogKey: l.key}
	co2, _, err := x.Cosign(ctx, files, nil, co)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(co2, l.origin, l.key, []note.Verifier{wv, xv}, 2); err != nil {
		t.Fatalf("quorum of 2: %v", err)
	}
	if _, _, err := Open(co, l.origin, l.key, []note.Verifier{wv, xv}, 2); err == nil || !strings.Contains(err.Error(), "witness.example/beta") {
		t.Fatalf("one cosignature passed a quorum of 2: %v", err)
	}
	if _, _, err := Open(signed, l.origin, l.key, []note.Verifier{wv}, 1); err == nil {
		t.Fatal("uncosigned checkpoint passed a quorum of 1")
	}
}

func mustCheckpoint(t testing.TB, signed []byte, l *testLog) Checkpoint {
	c, _, err := Open(signed, l.origin, l.key, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestWitnessDetectsForks: a witness follows a log, cosigns consistent
// growth, and refuses, with both checkpoints as evidence, a rollback, a
// different tree of the same size, and a tree that rewrites history.
func TestWitnessDetectsForks(t *testing.T) {
	l := newTestLog(t, "genesis")
	for i := range 300 {
		l.append(t, entry(i))
	}
	files := &MemFiles{}
	c1, s1 := l.checkpoint(t)
	if err := Publish(ctx, l.s, 0, c1, s1, files); err != nil {
		t.Fatal(err)
	}
	ws, _ := newKey(t, "witness.example/w")
	w := &Witness{Signer: ws, Origin: l.origin, LogKey: l.key}
	last, _, err := w.Cosign(ctx, files, nil, s1)
	if err != nil {
		t.Fatal(err)
	}
	for i := 300; i < 700; i++ {
		l.append(t, entry(i))
	}
	c2, s2 := l.checkpoint(t)
	if err := Publish(ctx, l.s, c1.Size, c2, s2, files); err != nil {
		t.Fatal(err)
	}
	last2, _, err := w.Cosign(ctx, files, last, s2)
	if err != nil {
		t.Fatalf("consistent growth refused: %v", err)
	}
	// A fork: same genesis and key, but entry 5 rewritten, grown larger.
	fork := &testLog{s: &MemStorage{}, origin: l.origin, signer: l.signer, key: l.key}
	fork.append(t, "genesis")
	for i := range 800 {
		e := entry(i)
		if i == 5 {
			e = "rewritten"
		}
		fork.append(t, e)
	}
	forkFiles := &MemFiles{}
	fc, fs := fork.checkpoint(t)
	if err := Publish(ctx, fork.s, 0, fc, fs, forkFiles); err != nil {
		t.Fatal(err)
	}
	var fe *ForkError
	if _, _, err := w.Cosign(ctx, forkFiles, last2, fs); !errors.As(err, &fe) || !bytes.Equal(fe.Old, last2) || !bytes.Equal(fe.New, fs) {
		t.Fatalf("rewritten history cosigned: %v", err)
	}
	// Rollback to the first checkpoint.
	if _, _, err := w.Cosign(ctx, files, last2, s1); !errors.As(err, &fe) {
		t.Fatalf("rollback cosigned: %v", err)
	}
	// Same size, different tree.
	same := &testLog{s: &MemStorage{}, origin: l.origin, signer: l.signer, key: l.key}
	same.append(t, "genesis")
	for i := range 700 {
		same.append(t, entry(i+1))
	}
	_, ss := same.checkpoint(t)
	if _, _, err := w.Cosign(ctx, files, last2, ss); !errors.As(err, &fe) {
		t.Fatalf("split view of the same size cosigned: %v", err)
	}
	// The same checkpoint again is fine.
	if _, _, err := w.Cosign(ctx, files, last2, s2); err != nil {
		t.Fatalf("same checkpoint: %v", err)
	}
}

// TestPublishedLog publishes a log incrementally and reads it back, then
// changes one byte of every file in turn: each change must be rejected,
// naming the file.
func TestPublishedLog(t *testing.T) {
	l := newTestLog(t, "genesis")
	files := &MemFiles{}
	var prev int64
	for _, grow := range []int{0, 100, 200, 400, 56, 1} {
		for range grow {
			l.append(t, entry(int(mustSize(t, l))))
		}
		c, signed := l.checkpoint(t)
		if err := Publish(ctx, l.s, prev, c, signed, files); err != nil {
			t.Fatal(err)
		}
		prev = c.Size
	}
	opt := ReadOptions{Origin: l.origin, LogKey: l.key}
	var seen int64
	opt.Visit = func(i int64, e []byte) error {
		if i != seen {
			return fmt.Errorf("entry %d visited at %d", i, seen)
		}
		seen++
		return nil
	}
	c, _, err := ReadPublished(ctx, files, opt)
	if err != nil || c.Size != 758 || seen != 758 {
		t.Fatalf("read: size %d, seen %d: %v", c.Size, seen, err)
	}
	// A full publication gives the same files for the current tree.
	full := &MemFiles{}
	cs, signed := l.checkpoint(t)
	Publish(ctx, l.s, 0, cs, signed, full)
	for p, b := range full.Files {
		if p != CheckpointFile && !bytes.Equal(files.Files[p], b) {
			t.Fatalf("%s differs between incremental and full publication", p)
		}
	}
	opt.Visit = nil
	for p := range full.Files {
		orig := files.Files[p]
		for _, i := range []int{0, len(orig) / 2, len(orig) - 1} {
			files.Files[p] = slices.Clone(orig)
			files.Files[p][i] ^= 0x04
			if _, _, err := ReadPublished(ctx, files, opt); err == nil {
				t.Fatalf("%s with byte %d changed accepted", p, i)
			} else if !strings.Contains(err.Error(), p) && !strings.Contains(err.Error(), "tree hash") && !strings.Contains(err.Error(), "checkpoint") {
				t.Fatalf("%s changed: the error does not say where: %v", p, err)
			}
		}
		files.Files[p] = orig
	}
	// A reader that saw an earlier checkpoint detects a rewritten history.
	early := &testLog{s: &MemStorage{}, origin: l.origin, signer: l.signer, key: l.key}
	early.append(t, "genesis", "other history")
	_, earlySigned := early.checkpoint(t)
	_, prefixSigned := func() (Checkpoint, []byte) {
		p := &testLog{s: &MemStorage{}, origin: l.origin, signer: l.signer, key: l.key}
		all, _ := l.s.ReadEntries(ctx, 0, 300)
		p.s.Append(ctx, all)
		return p.checkpoint(t)
	}()
	var fe *ForkError
	if _, _, err := ReadPublished(ctx, files, ReadOptions{Origin: l.origin, LogKey: l.key, Previous: earlySigned}); !errors.As(err, &fe) {
		t.Fatalf("rewritten history not detected by the reader: %v", err)
	}
	if _, _, err := ReadPublished(ctx, files, ReadOptions{Origin: l.origin, LogKey: l.key, Previous: prefixSigned}); err != nil {
		t.Fatalf("a true prefix refused: %v", err)
	}
	delete(files.Files, "tile/0/001")
	if _, _, err := ReadPublished(ctx, files, opt); err == nil || !strings.Contains(err.Error(), "tile/0/001") {
		t.Fatalf("missing tile: %v", err)
	}
}

func mustSize(t testing.TB, l *testLog) int64 {
	n, err := l.s.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTilePaths(t *testing.T) {
	for tile, want := range map[tlog.Tile]string{
		{H: 8, L: 0, N: 1234, W: 256}: "tile/0/x001/234",
		{H: 8, L: 1, N: 0, W: 17}:     "tile/1/000.p/17",
		{H: 8, L: -1, N: 5, W: 256}:   "tile/entries/005",
		{H: 8, L: -1, N: 1000, W: 3}:  "tile/entries/x001/000.p/3",
	} {
		if got := TilePath(tile); got != want {
			t.Errorf("%+v: %s, want %s", tile, got, want)
		}
	}
	if _, err := ParseBundle([]byte{0, 2, 'a'}, 1); err == nil {
		t.Error("truncated bundle accepted")
	}
	if _, err := ParseBundle(Bundle([][]byte{[]byte("a"), []byte("bc")}), 3); err == nil {
		t.Error("bundle with too few entries accepted")
	}
	if err := CheckEntry(make([]byte, MaxEntrySize+1)); err == nil {
		t.Error("oversized entry accepted")
	}
}
