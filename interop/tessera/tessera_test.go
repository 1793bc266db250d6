package tessera

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
)

// TestTesseraReadsThePublishedLog: a reader built on transparency-dev's
// tessera client (v1.0.4) reads an election's log as scrutin serve
// publishes it (C2SP tlog-tiles, spec §17): the checkpoint opens with the
// log key; every entry bundle parses, and its entries hash to the leaf
// hashes of the published tiles, and to the checkpoint's tree hash; the
// inclusion proof it builds from the tiles for a voter's ballot verifies,
// and is the proof in the voter's receipt; the log extends the receipt's
// checkpoint.
func TestTesseraReadsThePublishedLog(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 300, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	// A voter's ballot, and its receipt.
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	k, err := election.CredentialKey(f.F, f.Codes[0])
	if err != nil {
		t.Fatal(err)
	}
	b, err := view.Encrypt(nil, k.PublicKey(), f.Choices(0, []int{1}, []int{0}))
	if err != nil {
		t.Fatal(err)
	}
	ballot, err := b.Sign(nil, k)
	if err != nil {
		t.Fatal(err)
	}
	receipt, err := f.Election.Cast(ctx, ballot)
	if err != nil {
		t.Fatal(err)
	}
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	// Everyone else votes after: the log grows past the receipt.
	if _, err := f.Vote(ctx, base); err != nil {
		t.Fatal(err)
	}

	root, _ := url.Parse(f.Log(base) + "/")
	fetch, err := client.NewHTTPFetcher(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	lv, err := note.NewVerifier(f.LogKey)
	if err != nil {
		t.Fatal(err)
	}
	origin := board.Origin(f.F)
	cp, _, _, err := client.FetchCheckpoint(ctx, fetch.ReadCheckpoint, lv, origin)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size <= uint64(receipt.Index)+1 {
		t.Fatalf("the log has %d entries, the receipt's ballot is entry %d", cp.Size, receipt.Index)
	}
	// Every entry, from the bundles; its leaf hash, from the tiles.
	h := rfc6962.DefaultHasher
	rf := compact.RangeFactory{Hash: h.HashChildren}
	rng := rf.NewEmptyRange(0)
	var found bool
	for i := uint64(0); i*256 < cp.Size; i++ {
		bundle, err := client.GetEntryBundle(ctx, fetch.ReadEntryBundle, i, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		leaves, err := client.FetchLeafHashes(ctx, fetch.ReadTile, i*256, uint64(len(bundle.Entries)), cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		for j, e := range bundle.Entries {
			lh := h.HashLeaf(e)
			if !bytes.Equal(lh, leaves[j]) {
				t.Fatalf("entry %d: its leaf hash is not the tile's", i*256+uint64(j))
			}
			if err := rng.Append(lh, nil); err != nil {
				t.Fatal(err)
			}
			if i*256+uint64(j) == uint64(receipt.Index) {
				found = bytes.Equal(e, ballot)
			}
		}
	}
	got, err := rng.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rng.End() != cp.Size || !bytes.Equal(got, cp.Hash) {
		t.Fatalf("the entries (%d) hash to %x, the checkpoint (%d) says %x", rng.End(), got, cp.Size, cp.Hash)
	}
	if !found {
		t.Fatal("the receipt's entry is not the ballot cast")
	}
	// The receipt: its checkpoint, its inclusion proof, and the current
	// log extending it.
	rcp, _, _, err := client.FetchCheckpoint(ctx, func(context.Context) ([]byte, error) { return []byte(receipt.Checkpoint), nil }, lv, origin)
	if err != nil {
		t.Fatal(err)
	}
	var rproof [][]byte
	for _, s := range receipt.InclusionProof {
		p, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		rproof = append(rproof, p)
	}
	if err := proof.VerifyInclusion(h, uint64(receipt.Index), rcp.Size, h.HashLeaf(ballot), rproof, rcp.Hash); err != nil {
		t.Fatalf("the receipt's proof: %v", err)
	}
	pb, err := client.NewProofBuilder(ctx, rcp.Size, fetch.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	built, err := pb.InclusionProof(ctx, uint64(receipt.Index))
	if err != nil {
		t.Fatal(err)
	}
	if len(built) != len(rproof) {
		t.Fatalf("tessera's inclusion proof has %d hashes, the receipt's %d", len(built), len(rproof))
	}
	for i := range built {
		if !bytes.Equal(built[i], rproof[i]) {
			t.Fatalf("hash %d of tessera's inclusion proof is not the receipt's", i)
		}
	}
	pb, err = client.NewProofBuilder(ctx, cp.Size, fetch.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := pb.ConsistencyProof(ctx, rcp.Size, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(h, rcp.Size, cp.Size, cons, rcp.Hash, cp.Hash); err != nil {
		t.Fatalf("the log does not extend the receipt's checkpoint: %v", err)
	}
	// And a forged entry is seen: its leaf hash is not the tiles'.
	forged := append(bytes.Clone(ballot[:len(ballot)-1]), ballot[len(ballot)-1]^1)
	if err := proof.VerifyInclusion(h, uint64(receipt.Index), rcp.Size, h.HashLeaf(forged), rproof, rcp.Hash); err == nil {
		t.Fatal("a changed ballot verifies")
	}
}
