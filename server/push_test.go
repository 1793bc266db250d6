package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/internal/tlogwitness"
	"github.com/scrutin/scrutin/server"
)

// counting counts the requests a handler gets.
type counting struct {
	mu    sync.Mutex
	calls int
	h     http.Handler
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	c.h.ServeHTTP(w, r)
}

func newCosigner(t *testing.T, name string) (*board.Cosigner, note.Verifier) {
	skey, vkey, err := board.GenerateCosigner(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := board.NewCosigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := board.NewWitnessVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

// TestPushToWitnesses: the server pushes its checkpoints to its witnesses
// over tlog-witness and serves their cosignatures; a witness that knows an
// earlier checkpoint is sent the consistency proof from it (after a 409);
// a witness that hangs and one that refuses connections slow no ballot,
// and are shown failing, to be tried again.
func TestPushToWitnesses(t *testing.T) {
	ctx := context.Background()
	defer server.SetPushTimings(time.Minute, 50*time.Millisecond)()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 12, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	lv, _ := note.NewVerifier(f.LogKey)

	// A witness that cosigned an earlier checkpoint already.
	as, av := newCosigner(t, "observers.example/a")
	aw := &board.Witness{Signer: as, Origin: lv.Name(), LogKey: lv}
	_, early, err := f.Election.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	state := &tlogwitness.Memory{}
	if err := state.Update(lv.Name(), func([]byte) ([]byte, error) { return early, nil }); err != nil {
		t.Fatal(err)
	}
	a := &counting{h: &tlogwitness.Handler{Logs: map[string]*board.Witness{lv.Name(): aw}, State: state}}
	aSrv := httptest.NewServer(a)
	defer aSrv.Close()
	// A witness that never answers, and one that refuses connections.
	hang := make(chan struct{})
	hSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer hSrv.Close()
	defer close(hang)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()
	_, hv := newCosigner(t, "observers.example/hangs")
	_, rv := newCosigner(t, "observers.example/refuses")

	f.Election.SetWitnessList([]server.Witness{{Key: av, URL: aSrv.URL}, {Key: hv, URL: hSrv.URL + "/w"}, {Key: rv, URL: refused}})
	done := make(chan struct{})
	defer close(done)
	f.Election.StartPushing(done, nil)
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	start := time.Now()
	if _, err := f.Vote(ctx, base); err != nil {
		t.Fatal(err)
	}
	// A push waits for the hanging witness for a minute: had a ballot
	// waited for it, voting would take that long.
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("voting took %v with a witness that hangs", d)
	}
	var c board.Checkpoint
	deadline := time.Now().Add(30 * time.Second)
	for {
		var signed []byte
		c, signed, err = f.Election.PublicCheckpoint(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = board.OpenFresh(signed, lv.Name(), lv, []note.Verifier{av}, 1, board.Freshness{MaxAge: time.Hour})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the witness's cosignature of the current checkpoint is not served: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The log serves it too, and a reader requiring the hanging or the
	// refusing witness is refused.
	if _, _, err := board.ReadPublished(ctx, &mirror.HTTP{Base: f.Log(base)}, board.ReadOptions{Origin: lv.Name(), LogKey: lv, Witnesses: []note.Verifier{av}, Quorum: 1, Fresh: board.Freshness{MaxAge: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := board.ReadPublished(ctx, &mirror.HTTP{Base: f.Log(base)}, board.ReadOptions{Origin: lv.Name(), LogKey: lv, Witnesses: []note.Verifier{av, hv, rv}, Quorum: 2}); err == nil {
		t.Fatal("a quorum of 2 met with one witness's cosignature")
	}
	for _, st := range f.Election.Witnesses() {
		switch st.Name {
		case "observers.example/a":
			if st.Size == 0 || st.Cosigned.IsZero() || st.Error != "" || !st.Pushed {
				t.Errorf("witness a: %+v", st)
			}
		case "observers.example/refuses":
			if st.Size != 0 || st.Error == "" || st.Retry.IsZero() {
				t.Errorf("refusing witness: %+v", st)
			}
		case "observers.example/hangs":
			if st.Size != 0 {
				t.Errorf("hanging witness: %+v", st)
			}
		}
	}
	_ = c
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.calls < 2 {
		t.Errorf("witness a was called %d times (a 409 then the proof)", a.calls)
	}
}

// TestTwoNodesPushToOneWitness: two nodes on one database push the
// checkpoints they sign to the same witness, uncoordinated. The witness
// never sees an inconsistent tree (no 422), each node ends up serving a
// cosignature of the whole log, and the witness holds it.
func TestTwoNodesPushToOneWitness(t *testing.T) {
	const voters = 12
	ns := newNodes(t, 2, voters)
	ctx := context.Background()
	lv, _ := note.NewVerifier(ns.f.LogKey)
	ws, wv := newCosigner(t, "observers.example/shared")
	state := &tlogwitness.Memory{}
	var mu sync.Mutex
	statuses := map[int]int{}
	h := &tlogwitness.Handler{Logs: map[string]*board.Witness{lv.Name(): {Signer: ws, Origin: lv.Name(), LogKey: lv}}, State: state}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		mu.Lock()
		statuses[rec.Code]++
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()
	done := make(chan struct{})
	defer close(done)
	for _, e := range ns.nodes {
		e.SetWitnessList([]server.Witness{{Key: wv, URL: srv.URL}})
		e.StartPushing(done, nil)
	}
	for i := range voters {
		if _, err := ns.nodes[i%2].Cast(ctx, ns.ballot(t, i, i%2)); err != nil {
			t.Fatalf("ballot %d: %v", i, err)
		}
	}
	n := ns.waitFollowed(t)
	deadline := time.Now().Add(30 * time.Second)
	for i, e := range ns.nodes {
		for {
			c, signed, err := e.PublicCheckpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := board.Open(signed, lv.Name(), lv, []note.Verifier{wv}, 1); err == nil && c.Size == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d serves no cosignature of the whole log (%d entries): %+v", i, n, e.Witnesses())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	last, _ := state.Last(lv.Name())
	c, _, err := board.Open(last, lv.Name(), lv, nil, 0)
	if err != nil || c.Size != n {
		t.Errorf("the witness holds %v (%v), want the tree of %d entries", c, err, n)
	}
	mu.Lock()
	defer mu.Unlock()
	if statuses[422] != 0 || statuses[400] != 0 || statuses[200] == 0 {
		t.Errorf("the witness answered %v", statuses)
	}
	t.Logf("the witness answered %v", statuses)
}

// TestPushToManifestWitnesses: the server pushes to the witnesses the
// manifest names (spec §18.3) besides those it is given, and serves their
// cosignatures, so that a verifier finds the manifest's quorum.
func TestPushToManifestWitnesses(t *testing.T) {
	ctx := context.Background()
	defer server.SetPushTimings(time.Minute, 50*time.Millisecond)()
	ms, mv := newCosigner(t, "observers.example/named")
	cs, cv := newCosigner(t, "observers.example/configured")
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 4, Workers: 2, NoSignIn: true,
		Witnesses: []election.Witness{{Key: mv.(*board.CosignatureVerifier).String(), URL: srv.URL + "/named/"}}, WitnessQuorum: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	lv, _ := note.NewVerifier(f.LogKey)
	for name, s := range map[string]*board.Cosigner{"named": ms, "configured": cs} {
		h := &tlogwitness.Handler{Logs: map[string]*board.Witness{lv.Name(): {Signer: s, Origin: lv.Name(), LogKey: lv}}, State: &tlogwitness.Memory{}}
		mux.Handle("/"+name+"/", http.StripPrefix("/"+name, h))
	}
	f.Election.SetWitnessList([]server.Witness{{Key: cv, URL: srv.URL + "/configured"}})
	done := make(chan struct{})
	defer close(done)
	f.Election.StartPushing(done, nil)
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := f.Vote(ctx, base); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, err := board.ReadPublished(ctx, &mirror.HTTP{Base: f.Log(base)}, board.ReadOptions{Origin: lv.Name(), LogKey: lv, Witnesses: []note.Verifier{mv, cv}, Quorum: 2, Fresh: board.Freshness{MaxAge: time.Hour}})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the manifest's and the configured witness's cosignatures are not both served: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPostedCosignatureKeepsTheLatestLine: a checkpoint posted with two
// genuine lines of one cosignature/v1 witness, an old one first, keeps and
// serves the latest, not the first (which would make the witness look
// stale to readers until its next push).
func TestPostedCosignatureKeepsTheLatestLine(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 1, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	lv, _ := note.NewVerifier(f.LogKey)
	s, v := newCosigner(t, "observers.example/twice")
	f.Election.SetWitnesses([]note.Verifier{v})
	_, signed, err := f.Election.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	text := string(signed[:bytes.Index(signed, []byte("\n\n"))+1])
	posted := bytes.Clone(signed)
	for _, at := range []time.Time{time.Now().Add(-48 * time.Hour), time.Now()} {
		s.Now = func() time.Time { return at }
		line, err := note.Sign(&note.Note{Text: text}, s)
		if err != nil {
			t.Fatal(err)
		}
		posted = append(posted, line[len(text)+1:]...)
	}
	if _, err := f.Election.AddCosignature(ctx, posted); err != nil {
		t.Fatal(err)
	}
	_, served, err := f.Election.PublicCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := board.OpenFresh(served, lv.Name(), lv, []note.Verifier{v}, 1, board.Freshness{MaxAge: time.Hour}); err != nil {
		t.Errorf("the served checkpoint has the old line: %v", err)
	}
}
