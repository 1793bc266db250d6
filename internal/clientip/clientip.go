// Package clientip says which client a request comes from, for per-client
// limits: its address, or, from a trusted reverse proxy, the address the
// proxy names in X-Forwarded-For; and the key limits count it under, an
// IPv4 address or an IPv6 /64 (what one subscriber usually holds).
package clientip

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// FromRequest returns the request's client: the rightmost address in
// X-Forwarded-For that the trusted proxies did not add, if the request
// comes from one of them, else its own address.
func FromRequest(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	addr := ap.Addr().Unmap()
	if isTrusted(addr, trusted) {
		hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a, err := parseHop(strings.TrimSpace(hops[i]))
			if err != nil {
				break
			}
			addr = a.Unmap()
			if !isTrusted(addr, trusted) {
				break
			}
		}
	}
	return addr, true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Key is the key per-client limits count an address under.
func Key(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// KeyOf is Key for an address written as text (with or without a port);
// text that is no address is its own key.
func KeyOf(s string) string {
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return s
	}
	return Key(a)
}

// parseHop reads a hop of X-Forwarded-For: an address, or an address and
// port as some proxies write it ("192.0.2.1:4711", "[2001:db8::1]:443").
func parseHop(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			return a, err
		}
		a = ap.Addr()
	}
	return a, nil
}
