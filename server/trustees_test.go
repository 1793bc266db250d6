package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
)

// TestTrusteeMessageRefusals (issue 16, refusals): the trustees' routes
// refuse, with a reason that says what is wrong and nothing appended, a
// ceremony message of another ceremony (another roster fingerprint), one
// after voting opened, decryption shares before the tally, of anything but
// the recorded tally, or after the result; a message byte for byte equal
// to one in the log (anyone can copy it from there) is not appended again:
// the answer is the existing entry's index (200), so that a trustee's
// retry is harmless and nobody can pad the log with copies.
func TestTrusteeMessageRefusals(t *testing.T) {
	ctx := context.Background()
	var secrets []*crypto.TrusteeSecrets
	id, _ := crypto.NewCeremonyID(nil)
	roster := &crypto.Roster{Label: "refusals", ID: id, Threshold: 2}
	for j := 1; j <= 3; j++ {
		s, _ := crypto.NewTrusteeSecrets(nil)
		secrets = append(secrets, s)
		roster.Trustees = append(roster.Trustees, crypto.Trustee{Name: fmt.Sprintf("T%d", j), Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	}
	other := *roster
	other.ID, _ = crypto.NewCeremonyID(nil)

	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 3, NoSignIn: true, Roster: roster, ID: "refusals"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	size := func() int64 { n, _ := f.Store.Size(ctx); return n }
	post := func(route string, msg []byte) (int, int64, string) {
		t.Helper()
		resp, err := http.Post(f.API(url)+"/"+route, "application/octet-stream", bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var ok struct{ Index int64 }
		json.Unmarshal(body, &ok)
		return resp.StatusCode, ok.Index, string(body)
	}
	accept := func(what, route string, msg []byte) int64 {
		t.Helper()
		st, i, body := post(route, msg)
		if st != http.StatusCreated {
			t.Fatalf("%s: %d %s", what, st, body)
		}
		return i
	}
	refuse := func(what, route string, msg []byte, says string) {
		t.Helper()
		before := size()
		st, _, body := post(route, msg)
		if st != http.StatusBadRequest || !strings.Contains(body, says) {
			t.Fatalf("%s: %d %s; want 400 saying %q", what, st, body, says)
		}
		if size() != before {
			t.Fatalf("%s: appended", what)
		}
	}
	again := func(what, route string, msg []byte, index int64) {
		t.Helper()
		before := size()
		st, i, body := post(route, msg)
		if st != http.StatusOK || i != index {
			t.Fatalf("%s posted again: %d %s; want 200 and entry %d", what, st, body, index)
		}
		if size() != before {
			t.Fatalf("%s posted again: appended", what)
		}
	}

	var dealings [][]byte
	for j := 1; j <= 3; j++ {
		d, _ := crypto.Deal(nil, roster, j, secrets[j-1])
		dealings = append(dealings, d)
	}
	d1 := accept("dealing 1", "ceremony", dealings[0])
	again("dealing 1", "ceremony", dealings[0], d1)
	foreign, _ := crypto.Deal(nil, &other, 2, secrets[1])
	refuse("a dealing of another ceremony", "ceremony", foreign, "another ceremony")
	accept("dealing 2", "ceremony", dealings[1])
	accept("dealing 3", "ceremony", dealings[2])
	for j := 1; j <= 3; j++ {
		c, _ := crypto.Complain(nil, roster, j, secrets[j-1], dealings)
		i := accept(fmt.Sprintf("complaints %d", j), "ceremony", c)
		again(fmt.Sprintf("complaints %d", j), "ceremony", c, i)
	}
	var out *crypto.Outcome
	f.Election.State(func(s *election.State) { out = s.Ceremony })
	shares := make([]*crypto.SecretKey, 3)
	for j := 1; j <= 3; j++ {
		shares[j-1], _ = out.Share(roster, j, secrets[j-1])
		c, _ := out.Confirm(nil, roster, j, secrets[j-1], shares[j-1])
		i := accept(fmt.Sprintf("confirmation %d", j), "ceremony", c)
		again(fmt.Sprintf("confirmation %d", j), "ceremony", c, i)
	}
	if err := f.OpenVoting(ctx); err != nil {
		t.Fatal(err)
	}
	late, _ := crypto.Complain(nil, roster, 1, secrets[0], dealings)
	refuse("a ceremony message once voting is open", "ceremony", late, "the ceremony is over")
	// A copy is answered with its entry's index in any phase (spec §22.3),
	// and only at the address of its entry's type.
	again("dealing 1 once voting is open", "ceremony", dealings[0], d1)
	refuse("dealing 1 as decryption shares", "decryptions", dealings[0], "")
	f.Election.State(func(s *election.State) { out = s.Ceremony })
	ct, _ := crypto.Encrypt(nil, out.PublicKey, 1)
	early, _ := out.DecryptShare(nil, roster, 1, secrets[0], shares[0], []*crypto.Ciphertext{ct})
	refuse("decryption shares before the tally", "decryptions", early, "no tally")
	if _, err := f.Vote(ctx, url); err != nil {
		t.Fatal(err)
	}
	if err := f.CloseAndTally(ctx); err != nil {
		t.Fatal(err)
	}
	var tally []*crypto.Ciphertext
	f.Election.State(func(s *election.State) { tally = s.TallyCiphertexts() })
	wrong := append([]*crypto.Ciphertext{ct}, tally[1:]...)
	bad, _ := out.DecryptShare(nil, roster, 1, secrets[0], shares[0], wrong)
	refuse("decryption shares of another tally", "decryptions", bad, "not valid decryption shares of the recorded tally")
	short, _ := out.DecryptShare(nil, roster, 1, secrets[0], shares[0], tally[:1])
	refuse("decryption shares of part of the tally", "decryptions", short, "not valid decryption shares of the recorded tally")
	s1, _ := out.DecryptShare(nil, roster, 1, secrets[0], shares[0], tally)
	i := accept("decryption 1", "decryptions", s1)
	again("decryption 1", "decryptions", s1, i)
	s1b, _ := out.DecryptShare(nil, roster, 1, secrets[0], shares[0], tally)
	refuse("a second decryption of trustee 1", "decryptions", s1b, "already recorded")
	s2, _ := out.DecryptShare(nil, roster, 2, secrets[1], shares[1], tally)
	accept("decryption 2", "decryptions", s2)
	if _, err := f.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	s3, _ := out.DecryptShare(nil, roster, 3, secrets[2], shares[2], tally)
	refuse("decryption shares after the result", "decryptions", s3, "result")
	again("decryption 1 after the result", "decryptions", s1, i)
}
