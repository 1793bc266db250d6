package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/mirror"
)

func newWitness(t *testing.T, name string) (note.Signer, note.Verifier) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

// TestWitnessCosignatures: a known witness's cosignature of the current
// checkpoint is served with it, so a reader requiring that witness accepts
// the log; an unknown witness, a checkpoint of another tree, and a stale
// checkpoint are handled as they should be.
func TestWitnessCosignatures(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 3, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	ws, wv := newWitness(t, "observers.example/w1")
	stranger, _ := newWitness(t, "stranger.example/w9")
	f.Election.SetWitnesses([]note.Verifier{wv})
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	lv, _ := note.NewVerifier(f.LogKey)
	log := &mirror.HTTP{Base: f.Log(base)}
	post := func(b []byte) (int, string) {
		resp, err := http.Post(f.API(base)+"/cosignatures", "text/plain", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(rb)
	}
	cosign := func(s note.Signer) []byte {
		signed, err := log.ReadFile(ctx, board.CheckpointFile, board.MaxCheckpointFile)
		if err != nil {
			t.Fatal(err)
		}
		w := &board.Witness{Signer: s, Origin: lv.Name(), LogKey: lv}
		out, _, err := w.Cosign(ctx, log, nil, signed)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	readWith := func(quorum int) error {
		_, _, err := board.ReadPublished(ctx, log, board.ReadOptions{Origin: lv.Name(), LogKey: lv, Witnesses: []note.Verifier{wv}, Quorum: quorum})
		return err
	}
	if err := readWith(1); err == nil {
		t.Fatal("a witness quorum was met before any witness cosigned")
	}
	if code, body := post(cosign(stranger)); code != http.StatusBadRequest {
		t.Errorf("an unknown witness's cosignature: %d %s", code, body)
	}
	if code, body := post(cosign(ws)); code != http.StatusCreated || !strings.Contains(body, "observers.example/w1") {
		t.Fatalf("the known witness's cosignature: %d %s", code, body)
	}
	if err := readWith(1); err != nil {
		t.Fatalf("the served checkpoint does not carry the witness's cosignature: %v", err)
	}
	if st := f.Election.Witnesses(); len(st) != 1 || st[0].Size == 0 {
		t.Errorf("witness status %+v", st)
	}
	// The log grows: the old cosignature is not attached to the new
	// checkpoint, and the witness shows as behind.
	if _, err := f.Vote(ctx, base); err != nil {
		t.Fatal(err)
	}
	if err := readWith(1); err == nil {
		t.Error("the cosignature of an older checkpoint was attached to the new one")
	}
	_, body := func() (int, string) {
		resp, err := http.Get(base + "/e/" + f.ID + "/board")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}()
	if !strings.Contains(body, "observers.example/w1") || !strings.Contains(body, "an earlier one") {
		t.Errorf("the public log page does not show the witness behind")
	}
	// A cosignature that does not verify is refused.
	fake := cosign(ws)
	fake[len(fake)-5] ^= 1
	if code, _ := post(fake); code != http.StatusBadRequest {
		t.Errorf("a damaged cosigned checkpoint: %d", code)
	}
}
