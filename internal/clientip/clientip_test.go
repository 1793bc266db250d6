package clientip

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

// TestForwardedWithPort: some proxies name the client with its port
// ("203.0.113.9:41234", "[2001:db8::1]:443"); without reading it, every
// request through such a proxy would count as the proxy's own, so that
// one client's requests would spend everyone's limit.
func TestForwardedWithPort(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	for xff, want := range map[string]string{
		"203.0.113.9:41234":                "203.0.113.9",
		"[2001:db8:1:2::7]:443":            "2001:db8:1:2::/64",
		"6.6.6.6, 203.0.113.9:1, 10.0.0.2": "203.0.113.9",
		"203.0.113.9":                      "203.0.113.9",
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.1:443"
		r.Header.Set("X-Forwarded-For", xff)
		a, ok := FromRequest(r, trusted)
		if got := Key(a); !ok || got != want {
			t.Errorf("X-Forwarded-For %q: client %q, want %q", xff, got, want)
		}
	}
}
