package mirror

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirAndHTTP(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := Dir(dir)
	if err := d.WriteFile(ctx, "tile/0/x001/234", []byte("hashes")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	for _, r := range []interface {
		ReadFile(context.Context, string, int) ([]byte, error)
	}{d, For(srv.URL), For(srv.URL + "/")} {
		b, err := r.ReadFile(ctx, "tile/0/x001/234", 100)
		if err != nil || string(b) != "hashes" {
			t.Fatalf("%T: %q %v", r, b, err)
		}
		if _, err := r.ReadFile(ctx, "tile/0/x001/234", 3); err == nil {
			t.Fatalf("%T: size limit not enforced", r)
		}
		if _, err := r.ReadFile(ctx, "tile/0/missing", 100); err == nil {
			t.Fatalf("%T: missing file read", r)
		}
		for _, bad := range []string{"../etc/passwd", "/etc/passwd", "a/../../b", "", "a//b"} {
			if _, err := r.ReadFile(ctx, bad, 100); err == nil {
				t.Fatalf("%T: path %q accepted", r, bad)
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "tile/0/x001"))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

// TestHTTPWaitsWhenTold: a server that limits its readers (429, or 503 when
// busy, with Retry-After, as scrutin serve does) is asked again after the
// wait it names, a bounded number of times, so that verifying a large log
// from a live server does not fail on its first refusal.
func TestHTTPWaitsWhenTold(t *testing.T) {
	refusals := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/log/checkpoint":
			if refusals < 3 {
				refusals++
				w.Header().Set("Retry-After", "0")
				http.Error(w, "wait", []int{http.StatusTooManyRequests, http.StatusServiceUnavailable}[refusals%2])
				return
			}
			w.Write([]byte("ok"))
		default:
			w.Header().Set("Retry-After", "0")
			http.Error(w, "wait", http.StatusTooManyRequests)
		}
	}))
	defer srv.Close()
	h := &HTTP{Base: srv.URL + "/log"}
	b, err := h.ReadFile(context.Background(), "checkpoint", 100)
	if err != nil || string(b) != "ok" {
		t.Fatalf("after 3 refusals: %q %v", b, err)
	}
	if _, err := h.ReadFile(context.Background(), "tile/0/000", 100); err == nil || !strings.Contains(err.Error(), "429") {
		t.Fatalf("a server that always refuses: %v", err)
	}
}
