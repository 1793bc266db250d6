package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestBrowse: the costly-GET clients ask without gzip, each from its own
// X-Forwarded-For address if asked to, count the answers, and stop when
// told.
func TestBrowse(t *testing.T) {
	var mu sync.Mutex
	from := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "" {
			t.Errorf("Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
		}
		mu.Lock()
		from[r.Header.Get("X-Forwarded-For")] = true
		mu.Unlock()
		if r.URL.Path == "/e/x/ballots" {
			w.WriteHeader(http.StatusTooManyRequests)
		}
		w.Write([]byte("0123456789"))
	}))
	defer srv.Close()
	o := &Options{URL: srv.URL, Election: "x", Browsers: 3, BrowseFrom: true}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep := o.browse(ctx)
	if rep.Requests < 2 || rep.Status["200"] == 0 || rep.Status["429"] == 0 || rep.Bytes != int64(10*rep.Requests) {
		t.Fatalf("%+v", rep)
	}
	srv.Close() // waits for the handlers of requests cut short by the end of the run
	mu.Lock()
	defer mu.Unlock()
	if len(from) != 3 || from[""] {
		t.Fatalf("clients seen as %v", from)
	}
}
