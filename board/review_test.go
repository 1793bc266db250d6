package board

// Security review findings (failing tests until fixed).

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func reviewKey(t *testing.T, name string) (note.Signer, note.Verifier) {
	t.Helper()
	sk, vk, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(sk)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vk)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// TestReviewGenesisNotBoundToOrigin: spec §16.1 (2) and §17.3 (5) require
// a reader to check that entry 0 hashes to F, the fingerprint in the origin.
// ReadPublished never looks at entry 0: a log whose genesis entry is not the
// announced manifest is accepted as the election's log.
func TestReviewGenesisNotBoundToOrigin(t *testing.T) {
	announced := []byte("the manifest whose fingerprint is on the voters' letters")
	origin := Origin(Fingerprint(announced))
	signer, key := reviewKey(t, origin)
	s := &MemStorage{}
	if _, err := s.Append(ctx, [][]byte{[]byte("a different manifest"), []byte("ballot")}); err != nil {
		t.Fatal(err)
	}
	c, err := CurrentCheckpoint(ctx, s, origin)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(c, signer)
	if err != nil {
		t.Fatal(err)
	}
	files := &MemFiles{}
	if err := Publish(ctx, s, 0, c, signed, files); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadPublished(ctx, files, ReadOptions{Origin: origin, LogKey: key}); err == nil {
		t.Fatalf("accepted a log whose entry 0 does not hash to the origin's fingerprint %x", Fingerprint(announced))
	}
}

// TestReviewCosignRelaysUnverifiedSignatures: Cosign re-emits every
// signature line it could not verify (note.Sign copies n.UnverifiedSigs).
// A log can thus plant a bogus line for another witness B in the checkpoint;
// witness A relays it; a reader that requires 1 of {A, B} then rejects A's
// validly cosigned checkpoint (note.Open fails on an invalid signature by a
// known key), although spec §16.2 only asks for valid signatures from k of
// the list.
func TestReviewCosignRelaysUnverifiedSignatures(t *testing.T) {
	l := newTestLog(t, "genesis")
	l.append(t, "a", "b")
	c, signed := l.checkpoint(t)
	files := &MemFiles{}
	if err := Publish(ctx, l.s, 0, c, signed, files); err != nil {
		t.Fatal(err)
	}
	wa, va := reviewKey(t, "witness-a")
	_, vb := reviewKey(t, "witness-b")
	bogus := binary.BigEndian.AppendUint32(nil, vb.KeyHash())
	bogus = append(bogus, make([]byte, 64)...)
	planted := append(append([]byte(nil), signed...), []byte("— witness-b "+base64.StdEncoding.EncodeToString(bogus)+"\n")...)

	w := &Witness{Signer: wa, Origin: l.origin, LogKey: l.key}
	cosigned, _, err := w.Cosign(ctx, files, nil, planted)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(cosigned, l.origin, l.key, []note.Verifier{va, vb}, 1); err != nil {
		t.Fatalf("witness A's cosigned checkpoint is rejected by a 1-of-{A,B} reader: %v\n%s", err, cosigned)
	}
}
