package web_test

import (
	"net/http"
	"strings"
)

// singleAPI serves an election's own handler (server.Election.Handler,
// at /api/… and /log/…) at the addresses the demo fixture uses
// (/api/e/{id}/…).
//
// Interim, until web.Options takes the Registry.
func singleAPI(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rest, ok := strings.CutPrefix(r.URL.Path, "/api/e/"); ok {
			if _, p, ok := strings.Cut(rest, "/"); ok {
				r2 := new(http.Request)
				*r2 = *r
				u := *r.URL
				u.Path, u.RawPath = "/api/"+p, ""
				r2.URL = &u
				r = r2
			}
		}
		h.ServeHTTP(w, r)
	})
}
