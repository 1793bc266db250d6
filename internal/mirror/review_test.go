package mirror

// Security review findings (failing tests until fixed).

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"testing"
)

// TestReviewHTTPPercentEncodedTraversal: checkPath passes "%2e%2e/…" (a
// clean relative path), but url.JoinPath treats its argument as an escaped
// path, so the request leaves Base: the server sees /log/../secret.
func TestReviewHTTPPercentEncodedTraversal(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.Path)
		w.Write([]byte("x"))
	}))
	defer srv.Close()
	h := &HTTP{Base: srv.URL + "/log/"}
	for _, p := range []string{"%2e%2e/secret", "tile/%2e%2e/%2e%2e/secret", "tile%2f..%2f..%2fsecret"} {
		got = nil
		h.ReadFile(context.Background(), p, 100)
		for _, g := range got {
			if !strings.HasPrefix(path.Clean(g), "/log/") {
				t.Errorf("ReadFile(%q) requested %q, outside the log's base /log/", p, g)
			}
		}
	}
}
