package web_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/internal/tlogwitness"
	"github.com/scrutin/scrutin/server"
)

// TestBoardShowsWitnesses: the public log page says, in both languages,
// which witness cosigned which checkpoint and when, which one did not
// answer (and when it is tried again), and which one is not pushed to.
func TestBoardShowsWitnesses(t *testing.T) {
	f, base := newDemo(t, 3)
	lv, _ := note.NewVerifier(f.LogKey)
	key := func(name string) (*board.Cosigner, note.Verifier) { return boardWitness(t, name) }
	as, av := key("observers.example/answers")
	_, rv := key("observers.example/refuses")
	_, pv := key("observers.example/posts")
	srv := httptest.NewServer(&tlogwitness.Handler{Logs: map[string]*board.Witness{lv.Name(): {Signer: as, Origin: lv.Name(), LogKey: lv}}, State: &tlogwitness.Memory{}})
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close()
	f.Election.SetWitnessList([]server.Witness{{Key: av, URL: srv.URL}, {Key: rv, URL: refused}, {Key: pv}})
	done := make(chan struct{})
	defer close(done)
	f.Election.StartPushing(done, nil)
	if _, _, err := f.Election.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok := 0
		for _, s := range f.Election.Witnesses() {
			if s.Name == "observers.example/answers" && s.Size > 0 || s.Name == "observers.example/refuses" && s.Error != "" {
				ok++
			}
		}
		if ok == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the witnesses' state: %+v", f.Election.Witnesses())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for lang, want := range map[string][]string{
		"en": {"the current one (", "yes, and it answered the last one", "it did not answer the last one; next try <time", "none: it fetches them itself", "never", "Cosigned at"},
		"fr": {"l&#39;actuel (", "oui, et il a répondu au dernier", "il n&#39;a pas répondu au dernier ; prochain essai <time", "aucun : il les récupère lui-même", "jamais", "Cosigné le"},
	} {
		_, body := get(t, http.DefaultClient, base+el+"/board", "Accept-Language", lang)
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: the board page lacks %q", lang, w)
			}
		}
		if strings.Contains(body, "MISSING") {
			t.Errorf("%s: a missing string", lang)
		}
	}
}

// boardWitness is a new cosignature/v1 witness key.
func boardWitness(t testing.TB, name string) (*board.Cosigner, note.Verifier) {
	skey, vkey, err := board.GenerateCosigner(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := board.NewCosigner(skey)
	v, _ := board.NewWitnessVerifier(vkey)
	return s, v
}
