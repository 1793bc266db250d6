package online_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/internal/trustee/online"
	"github.com/scrutin/scrutin/verify"
)

// TestOnlineSteps follows three trustees through an election's record as
// the trustee page does: the step due, whom each waits for, a dealing
// kept and sent again rather than made anew, the share stored, and a
// decryption from a keystore that lacks the share.
func TestOnlineSteps(t *testing.T) {
	ctx := context.Background()
	names := []string{"Ada", "Bea", "Cy"}
	var files []*trustee.KeystoreFile
	roster := &crypto.Roster{Label: "steps", Threshold: 2}
	roster.ID, _ = crypto.NewCeremonyID(nil)
	for _, n := range names {
		kf, pub, err := trustee.NewKeystoreFile(nil, n)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, kf)
		roster.Trustees = append(roster.Trustees, *pub)
	}
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, Seed: 3, NoSignIn: true, Roster: roster, ID: "steps"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	openAt := func(kf *trustee.KeystoreFile) (*online.Online, error) {
		t.Helper()
		rep, err := verify.Record(ctx, mirror.For(base+"/e/steps/log"), verify.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return online.NewOnline(rep, kf)
	}
	at := func(j int) (*online.Online, *online.Situation) {
		t.Helper()
		o, err := openAt(files[j-1])
		if err != nil {
			t.Fatal(err)
		}
		return o, o.Situation()
	}
	post := func(typ byte, msg []byte) {
		t.Helper()
		if _, err := f.Election.Append(ctx, append([]byte{typ}, msg...)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(j int, next, wait string, waiting ...string) *online.Online {
		t.Helper()
		o, s := at(j)
		if s.Next != next || s.Wait != wait || !slices.Equal(s.Waiting, append([]string{}, waiting...)) || len(s.Faults) != 0 {
			t.Fatalf("trustee %d: next %q, wait %q for %q, faults %v; want %q, %q for %q", j, s.Next, s.Wait, s.Waiting, s.Faults, next, wait, waiting)
		}
		return o
	}

	stranger, _, _ := trustee.NewKeystoreFile(nil, "Stranger")
	if _, err := openAt(stranger); !errors.Is(err, online.ErrNotOnRoster) {
		t.Fatalf("a stranger: %v", err)
	}

	// Round 1. Ada's dealing, kept, is the one sent again; it is no
	// dealing of Cy's.
	o := expect(1, online.StepDeal, "")
	d1, err := o.Deal(nil)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := o.Deal(d1); err != nil || !bytes.Equal(again, d1) {
		t.Fatalf("a kept dealing is not sent again: %v", err)
	}
	post(election.TypeCeremony, d1)
	if _, err := expect(1, "", "dealings", "Bea", "Cy").Deal(nil); err == nil {
		t.Fatal("Ada deals twice")
	}
	for j := 2; j <= 3; j++ {
		d, err := expect(j, online.StepDeal, "").Deal(d1)
		if err != nil || bytes.Equal(d, d1) {
			t.Fatalf("trustee %d deals Ada's dealing: %v", j, err)
		}
		post(election.TypeCeremony, d)
	}
	// Round 2.
	for j := 1; j <= 3; j++ {
		c, err := expect(j, online.StepCheck, "").Check()
		if err != nil {
			t.Fatal(err)
		}
		post(election.TypeCeremony, c)
	}
	// Round 3: Bea's keystore before it stores the share is kept.
	beforeShare, err := files[1].Seal("a passphrase long enough", trustee.MinWorkFactor)
	if err != nil {
		t.Fatal(err)
	}
	for j := 1; j <= 2; j++ {
		c, err := expect(j, online.StepFinish, "").Finish()
		if err != nil {
			t.Fatal(err)
		}
		if files[j-1].Shares() != 1 {
			t.Fatalf("trustee %d's keystore holds %d shares", j, files[j-1].Shares())
		}
		post(election.TypeCeremony, c)
	}
	// Two of three confirmed: the key is made; Cy may still store its
	// share.
	expect(1, "", "voting")
	o = expect(3, online.StepFinish, "")
	c, err := o.Finish()
	if err != nil {
		t.Fatal(err)
	}
	post(election.TypeCeremony, c)
	expect(3, "", "voting")

	if err := f.OpenVoting(ctx); err != nil {
		t.Fatal(err)
	}
	expect(1, "", "voting")
	if _, err := f.Vote(ctx, base); err != nil {
		t.Fatal(err)
	}
	if err := f.CloseAndTally(ctx); err != nil {
		t.Fatal(err)
	}
	o, s := at(1)
	if s.Next != online.StepDecrypt || s.Counted == 0 || s.Sums == 0 || len(s.Contests) == 0 {
		t.Fatalf("after the tally: %+v", s)
	}
	msg, err := o.Decrypt()
	if err != nil {
		t.Fatal(err)
	}
	post(election.TypeDecryption, msg)
	expect(1, "", "decryptions", "Bea", "Cy")
	// Bea decrypts with the keystore saved before its share: it is
	// computed again from the record.
	if files[1], err = trustee.OpenKeystoreFile(beforeShare, "a passphrase long enough"); err != nil {
		t.Fatal(err)
	}
	if msg, err = expect(2, online.StepDecrypt, "").Decrypt(); err != nil {
		t.Fatal(err)
	}
	post(election.TypeDecryption, msg)
	if _, err := f.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	if _, s := at(3); s.Done != "decided" {
		t.Fatalf("after the result: %+v", s)
	}
}

// TestOnlineOtherEncryptionKey: a roster that holds the trustee's signing
// key with an encryption key of someone else's (a server that changed
// the identity it received) is no roster the trustee is on: every other
// dealer would encrypt the trustee's shares to that key. NewOnline says
// so before any step, not at the dealing's failure.
func TestOnlineOtherEncryptionKey(t *testing.T) {
	ctx := context.Background()
	kf, pub, err := trustee.NewKeystoreFile(nil, "Bea")
	if err != nil {
		t.Fatal(err)
	}
	thief, _ := crypto.NewTrusteeSecrets(nil)
	other, _ := crypto.NewTrusteeSecrets(nil)
	roster := &crypto.Roster{Label: "swapped", Threshold: 1, Trustees: []crypto.Trustee{
		{Name: pub.Name, Signing: pub.Signing, Encryption: thief.Encryption.PublicKey()},
		{Name: "Ada", Signing: other.Signing.PublicKey(), Encryption: other.Encryption.PublicKey()},
	}}
	roster.ID, _ = crypto.NewCeremonyID(nil)
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 1, Seed: 3, NoSignIn: true, Roster: roster, ID: "swapped"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Record(ctx, mirror.For(base+"/e/swapped/log"), verify.Options{})
	if err != nil || !rep.OK {
		t.Fatalf("the record: %v %v", err, rep.Failures)
	}
	o, err := online.NewOnline(rep, kf)
	if !errors.Is(err, online.ErrNotOnRoster) {
		t.Fatalf("NewOnline on a roster with another encryption key: %v (next step %q)", err, func() string {
			if o != nil {
				return o.Situation().Next
			}
			return ""
		}())
	}
}
