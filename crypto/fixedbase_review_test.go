package crypto

import (
	"sync"
	"testing"

	"github.com/gtank/ristretto255"
)

// TestKeyMultConcurrent (review of issue 21): encryptions to many keys at
// once, from many goroutines, while the cache fills and starts again, each
// give s·Y for their own key Y (never another key's table); run with -race.
func TestKeyMultConcurrent(t *testing.T) {
	const keys = keyTablesMax + 4
	pks := make([]*PublicKey, keys)
	for i := range pks {
		sk, err := GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		pks[i] = sk.PublicKey()
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8*keys)
	for g := range 8 {
		wg.Go(func() {
			for k := range keys {
				pk := pks[(k+g)%keys]
				s := scalarFromUint64(uint64(1000*g + k + 1))
				s.Multiply(s, lMinus1) // a full-length scalar
				want := new(ristretto255.Element).ScalarMult(s, pk.elem())
				if keyMult(pk, s).Equal(want) != 1 {
					errs <- "a key's multiple differs"
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
