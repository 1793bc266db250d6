package board

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

var vectorTime = time.Unix(1796000000, 0)

func newCosigner(t testing.TB, name string, at time.Time) (*Cosigner, note.Verifier) {
	skey, vkey, err := GenerateCosigner(mrand.NewChaCha8([32]byte{byte(len(name)), 4}), name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewCosigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return at }
	v, err := NewWitnessVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if v.(*CosignatureVerifier).String() != vkey {
		t.Fatalf("vkey %q reads back as %q", vkey, v.(*CosignatureVerifier).String())
	}
	return s, v
}

// TestCosignatureVector: the spec's §16.2 test vector. The seed is 32
// bytes 0x07; the checkpoint is C2SP's example. (The same key and line
// were checked with filippo.io/torchwood v0.6.1's CosignatureSigner and
// its verifier, an independent implementation.)
func TestCosignatureVector(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	s := &Cosigner{name: "witness.example/w1", key: priv, Now: func() time.Time { return time.Unix(1679315147, 0) }}
	body := "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
	signed, err := note.Sign(&note.Note{Text: body}, s)
	if err != nil {
		t.Fatal(err)
	}
	const wantVkey = "witness.example/w1+aa4a09d1+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
	const wantLine = "— witness.example/w1 qkoJ0QAAAABkGFDLWr4Jea05CAgwNVtwky0Jgz6WfX0QJgM//FkB/W9BoT9TX0DkTxG+2cT4p/ViKNhUM/SnUwFcYQzugGFQ15LwDw==\n"
	if got := s.Verifier().String(); got != wantVkey {
		t.Errorf("vkey %s, want %s", got, wantVkey)
	}
	if got := string(signed[len(body)+1:]); got != wantLine {
		t.Errorf("line %q, want %q", got, wantLine)
	}
	v, err := NewWitnessVerifier(wantVkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
		t.Fatal(err)
	}
	if at, ok := CosignedAt(signed, v); !ok || at.Unix() != 1679315147 {
		t.Fatalf("CosignedAt = %v %v", at, ok)
	}
}

func TestWitnessVerifierKeys(t *testing.T) {
	_, v := newCosigner(t, "w.example/a", vectorTime)
	good := v.(*CosignatureVerifier).String()
	_, legacy := newKey(t, "w.example/b")
	for _, k := range []string{good, legacyVkey(t)} {
		if _, err := NewWitnessVerifier(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	_ = legacy
	name, rest, _ := strings.Cut(good, "+")
	hash, key64, _ := strings.Cut(rest, "+")
	key, _ := base64.StdEncoding.DecodeString(key64)
	other := func(alg byte, k []byte) string {
		return name + "+" + hash + "+" + base64.StdEncoding.EncodeToString(append([]byte{alg}, k...))
	}
	for _, bad := range []string{
		"", "w.example/a", name + "+" + hash,
		other(0x02, key[1:]), other(0x06, key[1:]), other(0x04, key[1:31]),
		name + "+00000000+" + key64, name + "+" + strings.ToUpper(hash) + "+" + key64,
		"other/name+" + hash + "+" + key64, "a b+" + hash + "+" + key64,
		name + "+" + hash + "+" + strings.TrimRight(key64, "=") + "=",
	} {
		if _, err := NewWitnessVerifier(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func legacyVkey(t testing.TB) string {
	_, vkey, err := note.GenerateKey(mrand.NewChaCha8([32]byte{9}), "w.example/legacy")
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

// TestCosignatureEveryByte: every corruption of a cosignature/v1 line's
// signature, and the line put on another checkpoint or origin, fails.
func TestCosignatureEveryByte(t *testing.T) {
	s, v := newCosigner(t, "w.example/a", vectorTime)
	body := []byte("o.example/log\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n")
	sig, err := s.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Verify(body, sig) {
		t.Fatal("does not verify")
	}
	for i := range sig {
		bad := bytes.Clone(sig)
		bad[i] ^= 1
		if v.Verify(body, bad) {
			t.Fatalf("byte %d flipped verifies", i)
		}
	}
	for _, other := range []string{
		"o.example/log\n6\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n",
		"o.example/other\n5\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n",
		"o.example/log\n5\n" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32)) + "\n",
	} {
		if v.Verify([]byte(other), sig) {
			t.Fatalf("verifies for %q", other)
		}
	}
	if v.Verify(body, sig[:len(sig)-1]) || v.Verify(body, append(sig, 0)) {
		t.Fatal("a signature of another length verifies")
	}
}

// TestQuorumCosignatureV1: what counts towards a quorum, and what does not.
func TestQuorumCosignatureV1(t *testing.T) {
	l := newTestLog(t, "genesis")
	l.append(t, entry(1))
	_, signed := l.checkpoint(t)
	now := vectorTime
	a, av := newCosigner(t, "w.example/a", now.Add(-time.Hour))
	b, bv := newCosigner(t, "w.example/bb", now.Add(-2*time.Hour))
	cosign := func(signed []byte, s note.Signer) []byte {
		n, err := note.Open(signed, note.VerifierList(l.key))
		if err != nil {
			t.Fatal(err)
		}
		line, err := note.Sign(&note.Note{Text: n.Text}, s)
		if err != nil {
			t.Fatal(err)
		}
		return append(bytes.Clone(signed), line[len(n.Text)+1:]...)
	}
	both := cosign(cosign(signed, a), b)
	ws := []note.Verifier{av, bv}
	fresh := Freshness{Now: now, MaxAge: 24 * time.Hour}
	if _, _, err := OpenFresh(both, l.origin, l.key, ws, 2, fresh); err != nil {
		t.Fatalf("two fresh cosignatures: %v", err)
	}
	fail := func(what string, signed []byte, quorum int, fresh Freshness) {
		t.Helper()
		_, _, err := OpenFresh(signed, l.origin, l.key, ws, quorum, fresh)
		if !errors.Is(err, ErrCheckpoint) {
			t.Errorf("%s: counted (%v)", what, err)
		}
	}
	fail("only one of two", cosign(signed, a), 2, fresh)
	fail("older than the bound", both, 2, Freshness{Now: now, MaxAge: 90 * time.Minute})
	fail("from the future", both, 2, Freshness{Now: now.Add(-2*time.Hour - MaxClockSkew - time.Second)})

	// A line whose signature does not verify does not count, and does
	// not make the checkpoint invalid.
	badLine := func(signed []byte, mutate func(sig []byte) []byte) []byte {
		i := bytes.LastIndex(signed, []byte("\n— w.example/a "))
		j := bytes.IndexByte(signed[i+1:], '\n') + i + 1
		b64 := string(signed[i+1+len("— w.example/a ") : j])
		sig, _ := base64.StdEncoding.DecodeString(b64)
		out := append(bytes.Clone(signed[:i+1]), "— w.example/a "+base64.StdEncoding.EncodeToString(mutate(sig))...)
		return append(out, signed[j:]...)
	}
	flipped := badLine(both, func(s []byte) []byte { s[20] ^= 1; return s })
	if _, _, err := OpenFresh(flipped, l.origin, l.key, ws, 1, fresh); err != nil {
		t.Errorf("a bad line hid a good one: %v", err)
	}
	fail("a line that does not verify", flipped, 2, fresh)
	fail("a line with a changed time", badLine(both, func(s []byte) []byte { s[11]++; return s }), 2, fresh)
	fail("a short line", badLine(both, func(s []byte) []byte { return s[:len(s)-1] }), 2, fresh)
	fail("a plain note signature by a cosignature/v1 key", badLine(both, func(s []byte) []byte {
		return append(s[:4], ed25519.Sign(a.key, []byte(mustText(t, signed)))...)
	}), 2, fresh)

	// Unknown keys and lines of another checkpoint or origin do not count.
	c2, _ := newCosigner(t, "w.example/ccc", now)
	fail("an unknown key's cosignature", cosign(cosign(signed, a), c2), 2, fresh)
	l.append(t, entry(2))
	_, next := l.checkpoint(t)
	moved := append(bytes.Clone(next), cosign(signed, a)[len(signed):]...)
	fail("a cosignature of another checkpoint", moved, 1, fresh)
	other := newTestLog(t, "another election")
	_, otherSigned := other.checkpoint(t)
	n, _ := note.Open(otherSigned, note.VerifierList(other.key))
	line, _ := note.Sign(&note.Note{Text: n.Text}, a)
	fail("a cosignature of another origin", append(bytes.Clone(signed), line[len(n.Text)+1:]...), 1, fresh)
	// A malformed line (not base64) makes the whole note unreadable.
	fail("a malformed line", append(bytes.Clone(both), "— w.example/a !!!\n"...), 1, fresh)
}

func mustText(t testing.TB, signed []byte) string {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	return string(signed[:i+1])
}

// TestAddCheckpoint: the witness's side of tlog-witness, every answer.
func TestAddCheckpoint(t *testing.T) {
	l := newTestLog(t, "genesis")
	for i := range 9 {
		l.append(t, entry(i))
	}
	c10, s10 := l.checkpoint(t)
	ws, wv := newCosigner(t, "w.example/a", vectorTime)
	w := &Witness{Signer: ws, Origin: l.origin, LogKey: l.key}
	status := func(err error) int {
		var we *WitnessError
		var c *Conflict
		switch {
		case errors.As(err, &c):
			return 409
		case errors.As(err, &we):
			return we.Status
		case err == nil:
			return 200
		}
		return 500
	}
	add := func(last []byte, a AddCheckpoint) ([]byte, error) {
		t.Helper()
		p, err := ParseAddCheckpoint(a.Marshal())
		if err != nil {
			t.Fatal(err)
		}
		return w.Add(last, p)
	}
	lines, err := add(nil, AddCheckpoint{OldSize: 0, Checkpoint: s10})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenFresh(append(bytes.Clone(s10), lines...), l.origin, l.key, []note.Verifier{wv}, 1, Freshness{Now: vectorTime}); err != nil {
		t.Fatal(err)
	}
	// Idempotent: the same checkpoint again.
	if _, err := add(s10, AddCheckpoint{OldSize: 10, Checkpoint: s10}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		l.append(t, entry(100+i))
	}
	c15, s15 := l.checkpoint(t)
	proof, err := ProveConsistency(ctx, l.s, 10, 15)
	_ = c15
	if err != nil {
		t.Fatal(err)
	}
	if _, err := add(s10, AddCheckpoint{OldSize: 10, Proof: proof, Checkpoint: s15}); err != nil {
		t.Fatal(err)
	}
	_ = c10
	var conflict *Conflict
	if _, err := add(s10, AddCheckpoint{OldSize: 0, Checkpoint: s15}); !errors.As(err, &conflict) || conflict.Known != 10 {
		t.Errorf("old 0 against 10: %v", err)
	}
	if got := status(func() error { _, err := add(s10, AddCheckpoint{OldSize: 16, Checkpoint: s15}); return err }()); got != 400 {
		t.Errorf("old size beyond the checkpoint: %d", got)
	}
	badProof := append(tlog.TreeProof(nil), proof...)
	badProof[0][0] ^= 1
	_, err = add(s10, AddCheckpoint{OldSize: 10, Proof: badProof, Checkpoint: s15})
	if got := status(err); got != 422 {
		t.Errorf("bad proof: %d", got)
	}
	if got := status(func() error { _, err := add(nil, AddCheckpoint{OldSize: 0, Proof: proof, Checkpoint: s15}); return err }()); got != 422 {
		t.Errorf("a proof from 0: %d", got)
	}
	// A fork of the same size: 422 with both signed checkpoints.
	fork := newTestLog(t, "genesis")
	for i := range 9 {
		fork.append(t, entry(i+1))
	}
	fork.signer = l.signer
	_, f10 := fork.checkpoint(t)
	_, err = add(s10, AddCheckpoint{OldSize: 10, Checkpoint: f10})
	var fe *ForkError
	if status(err) != 422 || !errors.As(err, &fe) || !bytes.Equal(fe.Old, s10) || !bytes.Equal(fe.New, f10) {
		t.Errorf("fork: %v", err)
	}
	// Not signed by the log: 403; another origin: 404.
	_, unsigned := l.checkpoint(t)
	unsigned = []byte(mustText(t, unsigned) + "\n— " + l.origin + " AAAAAAAA\n")
	if got := status(func() error { _, err := add(s10, AddCheckpoint{OldSize: 10, Checkpoint: unsigned}); return err }()); got != 403 {
		t.Errorf("unsigned: %d", got)
	}
	other := newTestLog(t, "another")
	_, os := other.checkpoint(t)
	if got := status(func() error { _, err := add(nil, AddCheckpoint{Checkpoint: os}); return err }()); got != 404 {
		t.Errorf("another log: %d", got)
	}
	// Requests that do not parse.
	for _, body := range []string{"", "old 1\n", "old 01\n\n" + string(s10), "old -1\n\n" + string(s10), "old 1\nAAAA\n\n" + string(s10), "new 1\n\n" + string(s10)} {
		if _, err := ParseAddCheckpoint([]byte(body)); !errors.Is(err, ErrBadRequest) {
			t.Errorf("parsed %q", body)
		}
	}
	for _, body := range []string{"10", "010\n", "-1\n", "1 \n"} {
		if _, err := ParseConflict([]byte(body)); err == nil {
			t.Errorf("conflict parsed %q", body)
		}
	}
}

// TestQuorumOneKeyCountsOnce: one witness's Ed25519 key listed twice, as a
// plain note key and as a cosignature/v1 key (or under two names), is one
// witness: its two lines must not meet a quorum of two (spec §16.2).
func TestQuorumOneKeyCountsOnce(t *testing.T) {
	l := newTestLog(t, "genesis")
	l.append(t, entry(1))
	_, signed := l.checkpoint(t)
	seed := [32]byte{42}
	skey1, vkey1, err := note.GenerateKey(mrand.NewChaCha8(seed), "w.example/twice")
	if err != nil {
		t.Fatal(err)
	}
	skey4, vkey4, err := GenerateCosigner(mrand.NewChaCha8(seed), "w.example/twice")
	if err != nil {
		t.Fatal(err)
	}
	skey1b, vkey1b, err := note.GenerateKey(mrand.NewChaCha8(seed), "w.example/alias")
	if err != nil {
		t.Fatal(err)
	}
	s1, err := note.NewSigner(skey1)
	if err != nil {
		t.Fatal(err)
	}
	s1b, err := note.NewSigner(skey1b)
	if err != nil {
		t.Fatal(err)
	}
	s4, err := NewCosigner(skey4)
	if err != nil {
		t.Fatal(err)
	}
	s4.Now = func() time.Time { return vectorTime }
	if !bytes.Equal(s4.Public(), mustPub(t, vkey1)) {
		t.Fatal("the two forms do not share a key")
	}
	var ws []note.Verifier
	for _, k := range []string{vkey1, vkey4, vkey1b} {
		v, err := NewWitnessVerifier(k)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, v)
	}
	text := mustText(t, signed)
	lines := bytes.Clone(signed)
	for _, s := range []note.Signer{s1, s4, s1b} {
		line, err := note.Sign(&note.Note{Text: text}, s)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line[len(text)+1:]...)
	}
	fresh := Freshness{Now: vectorTime}
	if _, _, err := OpenFresh(lines, l.origin, l.key, ws, 1, fresh); err != nil {
		t.Fatalf("one witness, quorum 1: %v", err)
	}
	for _, pair := range [][]note.Verifier{{ws[0], ws[1]}, {ws[0], ws[2]}, {ws[1], ws[2]}} {
		if _, _, err := OpenFresh(lines, l.origin, l.key, pair, 2, fresh); !errors.Is(err, ErrCheckpoint) {
			t.Errorf("one key as %s and %s met a quorum of 2 (%v)", pair[0].Name(), pair[1].Name(), err)
		}
	}
}

func mustPub(t testing.TB, vkey string) []byte {
	_, rest, _ := strings.Cut(vkey, "+")
	_, key64, _ := strings.Cut(rest, "+")
	k, err := base64.StdEncoding.DecodeString(key64)
	if err != nil || len(k) != 33 {
		t.Fatalf("bad vkey %q", vkey)
	}
	return k[1:]
}

// TestQuorumBadLineBeforeGoodLine: a line of a listed witness that does
// not verify is ignored (spec §16.2 step 3), and so does not hide a valid
// line of the same witness after it.
func TestQuorumBadLineBeforeGoodLine(t *testing.T) {
	l := newTestLog(t, "genesis")
	l.append(t, entry(1))
	_, signed := l.checkpoint(t)
	a, av := newCosigner(t, "w.example/a", vectorTime)
	text := mustText(t, signed)
	good, err := note.Sign(&note.Note{Text: text}, a)
	if err != nil {
		t.Fatal(err)
	}
	line := good[len(text)+1:]
	sig, _ := base64.StdEncoding.DecodeString(string(line[len("— w.example/a ") : len(line)-1]))
	sig[30] ^= 1
	bad := "— w.example/a " + base64.StdEncoding.EncodeToString(sig) + "\n"
	both := append(append(bytes.Clone(signed), bad...), line...)
	if _, _, err := OpenFresh(both, l.origin, l.key, []note.Verifier{av}, 1, Freshness{Now: vectorTime}); err != nil {
		t.Errorf("a bad line hid the same witness's good line after it: %v", err)
	}
}
