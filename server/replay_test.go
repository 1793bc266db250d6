package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/verify"
)

// TestReplayedBallotOverHTTP (issue 13, defect 2): a voter casts B1, then
// B2; B1's bytes, public in the log, are posted again. Before the fix they
// were appended and B1 counted again. Now the server answers a byte-for-byte
// copy of a logged ballot with its original receipt and appends nothing
// (spec §21.2), so a client retrying after a dropped connection gets its
// receipt; copies sent at once give one entry; B2 still counts, and the
// record verifies.
func TestReplayedBallotOverHTTP(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 4, Workers: 2, Seed: 13, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	key, err := election.CredentialKey(f.F, f.Codes[0])
	if err != nil {
		t.Fatal(err)
	}
	ballot := func(leader int) []byte {
		b, err := view.NewBallot(nil, key, f.Choices(0, []int{leader}, []int{}))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	post := func(entry []byte) (int, server.Receipt, string) {
		resp, err := http.Post(f.API(url)+"/ballots", "application/json", bytes.NewReader(entry[1:]))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var rc server.Receipt
		json.Unmarshal(body, &rc)
		return resp.StatusCode, rc, string(body)
	}
	size := func() int64 { n, _ := f.Store.Size(ctx); return n }
	counted := func(entry []byte) bool {
		var c bool
		f.Election.State(func(s *election.State) { _, c, _ = s.FindTracker(election.Tracker(entry)) })
		return c
	}

	b1, b2 := ballot(0), ballot(1)
	st, r1, body := post(b1)
	if st != http.StatusCreated {
		t.Fatalf("B1: %d %s", st, body)
	}
	if st, _, body := post(b2); st != http.StatusCreated {
		t.Fatalf("B2: %d %s", st, body)
	}
	before := size()
	st, again, body := post(b1)
	if st != http.StatusOK || again.Index != r1.Index || again.Tracker != r1.Tracker || again.Code != r1.Code {
		t.Fatalf("B1 posted again: %d %s; want 200 and the receipt of entry %d", st, body, r1.Index)
	}
	if err := server.VerifyReceipt(&again, b1, board.Origin(f.F), f.LogKey); err != nil {
		t.Fatalf("the repeated receipt does not verify: %v", err)
	}
	if size() != before {
		t.Fatalf("B1 posted again appended %d entries", size()-before)
	}
	if counted(b1) || !counted(b2) {
		t.Fatal("after B1 was posted again, B2 no longer counts")
	}

	// The same encryption signed again (only the voter can) is refused
	// with 409: each encryption is cast at most once.
	eb, err := view.Encrypt(nil, key.PublicKey(), f.Choices(0, []int{2}, []int{0}))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := eb.Sign(nil, key)
	second, _ := eb.Sign(nil, key)
	if bytes.Equal(first, second) {
		t.Fatal("two signings gave the same entry")
	}
	if st, _, body := post(first); st != http.StatusCreated {
		t.Fatalf("a fresh ballot: %d %s", st, body)
	}
	if st, _, body := post(second); st != http.StatusConflict || !strings.Contains(body, "replay") {
		t.Fatalf("the same encryption signed again: %d %s", st, body)
	}
	before = size()

	// Eight copies of a new ballot at once: one entry, one 201, the same
	// receipt for all.
	b3 := ballot(2)
	var wg sync.WaitGroup
	statuses := make([]int, 8)
	receipts := make([]server.Receipt, 8)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i], receipts[i], _ = post(b3)
		}()
	}
	wg.Wait()
	created := 0
	for i, st := range statuses {
		if st == http.StatusCreated {
			created++
		} else if st != http.StatusOK {
			t.Fatalf("copy %d: status %d", i, st)
		}
		if receipts[i].Index != receipts[0].Index {
			t.Fatalf("copies got entries %d and %d", receipts[0].Index, receipts[i].Index)
		}
	}
	if created != 1 || size() != before+1 || !counted(b3) {
		t.Fatalf("8 copies at once: %d created, log grew by %d", created, size()-before)
	}

	// The record (still open) verifies, and the verifier finds B3 counted,
	// B1 not.
	out := t.TempDir()
	if _, err := f.Election.Publish(ctx, mirror.Dir(out)); err != nil {
		t.Fatal(err)
	}
	for tracker, want := range map[string]bool{election.Tracker(b1): false, election.Tracker(b3): true} {
		rep, err := verify.Record(ctx, mirror.Dir(out), verify.Options{Election: &f.F, Tracker: tracker, Workers: 2})
		if err != nil || !rep.OK || !rep.Tracker.Found || rep.Tracker.Counted != want {
			t.Fatalf("verify with tracker %s: %v %+v %+v", tracker, err, rep.Tracker, rep.Failures)
		}
	}
}
