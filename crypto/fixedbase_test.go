package crypto

import (
	mrand "math/rand/v2"
	"testing"

	"github.com/gtank/ristretto255"
)

// TestFixedBase compares the table's multiplication with ristretto255's
// ScalarMult for random and edge scalars (0, 1, 8, 9, 2^k ± 1, ℓ − 1) and
// several points: the generator, decoded points (Z = 1) and computed ones.
func TestFixedBase(t *testing.T) {
	rng := mrand.NewChaCha8([32]byte{31})
	var b [64]byte
	var points []*ristretto255.Element
	points = append(points, ristretto255.NewGeneratorElement())
	for range 3 {
		rng.Read(b[:])
		p := new(ristretto255.Element).ScalarBaseMult(scalarFromHash(b))
		points = append(points, p) // computed
		q, _ := new(ristretto255.Element).SetCanonicalBytes(p.Bytes())
		points = append(points, q) // decoded
	}
	scalars := []*ristretto255.Scalar{new(ristretto255.Scalar), scalarFromUint64(1), scalarFromUint64(8), scalarFromUint64(9), scalarFromUint64(0x88888888), lMinus1}
	for k := 0; k < 253; k += 7 {
		var w [32]byte
		w[k/8] |= 1 << (k % 8)
		s, _ := new(ristretto255.Scalar).SetCanonicalBytes(w[:])
		scalars = append(scalars, s, new(ristretto255.Scalar).Add(s, scalarFromUint64(1)), new(ristretto255.Scalar).Subtract(s, scalarFromUint64(1)))
	}
	for range 50 {
		rng.Read(b[:])
		scalars = append(scalars, scalarFromHash(b))
	}
	for pi, p := range points {
		f := newFixedBase(p)
		for si, s := range scalars {
			want := new(ristretto255.Element).ScalarMult(s, p)
			if got := f.mult(s); got.Equal(want) != 1 {
				t.Fatalf("point %d, scalar %d (%x): the table gives another point", pi, si, s.Bytes())
			}
		}
	}
}

// TestSignedRadix16 checks that the digits are in [−8, 8] and add up to
// the scalar.
func TestSignedRadix16(t *testing.T) {
	rng := mrand.NewChaCha8([32]byte{32})
	var b [64]byte
	for i := range 200 {
		s := lMinus1
		if i > 0 {
			rng.Read(b[:])
			s = scalarFromHash(b)
		}
		d := signedRadix16(s.Bytes())
		sum := new(ristretto255.Scalar)
		pow := scalarFromUint64(1)
		sixteen := scalarFromUint64(16)
		for k := range 64 {
			if d[k] < -8 || d[k] > 8 {
				t.Fatalf("digit %d is %d", k, d[k])
			}
			term := new(ristretto255.Scalar).Multiply(pow, scalarFromUint64(uint64(max(d[k], -d[k]))))
			if d[k] < 0 {
				term.Negate(term)
			}
			sum.Add(sum, term)
			pow.Multiply(pow, sixteen)
		}
		if sum.Equal(s) != 1 {
			t.Fatalf("the digits of %x do not add up to it", s.Bytes())
		}
	}
}

// TestKeyTableCache: a key's table is computed once and reused, and a
// full cache starts again rather than growing.
func TestKeyTableCache(t *testing.T) {
	sk, _ := GenerateKey(nil)
	pk := sk.PublicKey()
	first := keyTable(pk)
	if keyTable(pk) != first {
		t.Fatal("the table is computed again")
	}
	for range keyTablesMax + 2 {
		k, _ := GenerateKey(nil)
		keyTable(k.PublicKey())
	}
	keyTables.Lock()
	n := len(keyTables.m)
	keyTables.Unlock()
	if n > keyTablesMax {
		t.Fatalf("%d tables kept", n)
	}
}
