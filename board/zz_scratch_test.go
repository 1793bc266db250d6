package board

import (
	"crypto/rand"
	"fmt"
	"math"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestZZScratch(t *testing.T) {
	origin := Origin(Fingerprint([]byte("g")))
	sk, vk, _ := note.GenerateKey(rand.Reader, origin)
	s, _ := note.NewSigner(sk)
	v, _ := note.NewVerifier(vk)
	wsk, _, _ := note.GenerateKey(rand.Reader, "w")
	ws, _ := note.NewSigner(wsk)
	for _, size := range []int64{1 << 50, 1 << 62, math.MaxInt64, math.MaxInt64 - 1} {
		c := Checkpoint{Origin: origin, Size: size}
		signed, _ := Sign(c, s)
		files := &MemFiles{Files: map[string][]byte{"checkpoint": signed}}
		func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Println("ReadPublished panic", size, r)
				}
			}()
			_, _, err := ReadPublished(ctx, files, ReadOptions{Origin: origin, LogKey: v})
			fmt.Println("ReadPublished", size, err)
		}()
		l := &MemStorage{}
		l.Append(ctx, [][]byte{[]byte("g")})
		h, _ := TreeHash(ctx, l, 1)
		last, _ := Sign(Checkpoint{Origin: origin, Size: 1, Hash: h}, s)
		w := &Witness{Signer: ws, Origin: origin, LogKey: v}
		func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Println("Cosign panic", size, r)
				}
			}()
			_, _, err := w.Cosign(ctx, files, last, signed)
			fmt.Println("Cosign", size, err)
		}()
		func() {
			defer func() {
				if r := recover(); r != nil {
					fmt.Println("Verify panic", size, r)
				}
			}()
			fmt.Println(VerifyInclusion(tlog.RecordProof{}, size-1, []byte("x"), c))
			fmt.Println(VerifyConsistency(tlog.TreeProof{}, Checkpoint{Origin: origin, Size: size - 1}, c))
		}()
	}
}
