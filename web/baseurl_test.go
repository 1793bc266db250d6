package web

import (
	"crypto/tls"
	"net/http/httptest"
	"testing"
)

// TestBaseURL: the address the pages print (the verifier's command, invitation
// links) is https, but for a server tried on this machine over plain HTTP,
// whose https address does not answer.
func TestBaseURL(t *testing.T) {
	for _, c := range []struct {
		public, host string
		tls          bool
		want         string
	}{
		{"", "127.0.0.1:8080", false, "http://127.0.0.1:8080"},
		{"", "localhost:8080", false, "http://localhost:8080"},
		{"", "[::1]:8080", false, "http://[::1]:8080"},
		{"", "127.0.0.1:8443", true, "https://127.0.0.1:8443"},
		{"", "vote.example.org", false, "https://vote.example.org"}, // behind a reverse proxy
		{"", "192.0.2.7:8080", false, "https://192.0.2.7:8080"},
		{"https://vote.example.org/", "127.0.0.1:8080", false, "https://vote.example.org"},
	} {
		s := &Site{o: Options{PublicURL: c.public}}
		r := httptest.NewRequest("GET", "/e/x/verify", nil)
		r.Host = c.host
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := s.baseURL(r); got != c.want {
			t.Errorf("public %q, host %q, TLS %v: %q, want %q", c.public, c.host, c.tls, got, c.want)
		}
	}
}
