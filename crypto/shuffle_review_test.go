package crypto

import (
	"encoding/binary"
	"errors"
	"testing"
)

// TestShuffleLargeRejects checks that a mix large enough for the verifier's
// sum to go through the bucket method (4N + 4Nw terms ≥ pippengerMin)
// accepts the honest mix and rejects tampered ones: the small mixes of the
// other tests only exercise the library's Straus method.
func TestShuffleLargeRejects(t *testing.T) {
	rnd := shuffleRand(90)
	const n, w = 48, 3 // 4·48 + 4·144 = 768 terms
	f := newShuffleFixture(t, rnd, n, w)
	m, err := ShuffleAndProve(rnd, f.pk, f.ctx, f.inputs)
	if err != nil {
		t.Fatal(err)
	}
	enc := m.Bytes()
	if err := VerifyShuffle(f.pk, f.ctx, f.inputs, m); err != nil {
		t.Fatalf("the honest mix fails: %v", err)
	}
	tamper := map[string]func(b []byte){
		"outputs 1 and 2 swapped": func(b []byte) {
			a := append([]byte(nil), b[8:8+64*w]...)
			copy(b[8:], b[8+64*w:8+128*w])
			copy(b[8+64*w:], a)
		},
		"k_E,N + 1": func(b []byte) {
			off := len(b) - 32*w - 32 // k_E,N
			b[off]++                  // a small change of a canonical scalar stays canonical
		},
		"u_1 and u_2 swapped": func(b []byte) {
			p := 8 + 64*n*w
			a := append([]byte(nil), b[p:p+32]...)
			copy(b[p:], b[p+32:p+64])
			copy(b[p+32:], a)
		},
	}
	for name, edit := range tamper {
		b := append([]byte(nil), enc...)
		edit(b)
		bad, err := NewMix(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := VerifyShuffle(f.pk, f.ctx, f.inputs, bad); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("%s: got %v, want an invalid proof", name, err)
		}
	}
}

// TestNewMixSizeOverflow: on a platform whose int has 32 bits (386, arm),
// MixSize(141206, 948) wraps around to 8, so an 8-byte header claiming
// 141,206 vectors of width 948 passed the length check and NewMix then
// asked for 133 million ciphertexts: a panic (or gigabytes) from 8 bytes.
// The decoder must compare lengths without overflow on every platform.
func TestNewMixSizeOverflow(t *testing.T) {
	for _, c := range [][2]uint32{{141206, 948}, {840830, 636}, {MaxShuffleSize, MaxShuffleWidth}} {
		b := binary.BigEndian.AppendUint32(nil, c[0])
		b = binary.BigEndian.AppendUint32(b, c[1])
		if _, err := NewMix(b); !errors.Is(err, ErrEncoding) {
			t.Errorf("an 8-byte mix claiming %d vectors of width %d: got %v, want an encoding error", c[0], c[1], err)
		}
	}
}
