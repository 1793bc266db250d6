package crypto

import "testing"

func TestSmoke(t *testing.T) {
	sk, _ := GenerateKey(nil)
	pk := sk.PublicKey()
	cred, _ := GenerateKey(nil)
	var fp Fingerprint
	for v := 0; v < 2; v++ {
		ctx := SelectionContext(fp, cred.PublicKey(), 0, 0)
		ct, p, err := EncryptSelection(nil, pk, ctx, v)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifySelection(pk, ctx, ct, p); err != nil {
			t.Fatal(v, err)
		}
		if m, err := sk.Decrypt(ct, 5); err != nil || m != uint64(v) {
			t.Fatal(m, err)
		}
		if err := VerifySelection(pk, SelectionContext(fp, cred.PublicKey(), 0, 1), ct, p); err == nil {
			t.Fatal("replay accepted")
		}
	}
	ec, err := EncryptContest(nil, pk, fp, cred.PublicKey(), 2, []int{1, 0, 1, 1}, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyContest(pk, fp, cred.PublicKey(), 2, 1, 3, ec); err != nil {
		t.Fatal(err)
	}
	if err := VerifyContest(pk, fp, cred.PublicKey(), 2, 0, 2, ec); err == nil {
		t.Fatal("wrong range accepted")
	}
	kp, _ := ProveKnowledge(nil, sk, Context{Election: fp})
	if err := VerifyKnowledge(pk, Context{Election: fp}, kp); err != nil {
		t.Fatal(err)
	}
	z, ep, _ := ProveEquality(nil, sk, Context{}, ec.Selections[0].Alpha())
	if err := VerifyEquality(pk, ec.Selections[0].Alpha(), z, Context{}, ep); err != nil {
		t.Fatal(err)
	}
	sig, _ := cred.Sign(nil, fp, []byte("hello"))
	if err := cred.PublicKey().Verify(fp, []byte("hello"), sig); err != nil {
		t.Fatal(err)
	}
	if err := cred.PublicKey().Verify(fp, []byte("hellp"), sig); err == nil {
		t.Fatal("bad sig accepted")
	}
}
