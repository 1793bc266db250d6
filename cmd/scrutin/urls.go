package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/scrutin/scrutin/store"
)

// electionURL parses an election's address as its pages print it,
// https://host/e/ID (a trailing slash, or a page or the log under it, is
// allowed), into the server's base URL and the id; ok is false if u is not
// such an address.
func electionURL(u string) (base, id string, ok bool) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", "", false
	}
	rest, found := strings.CutPrefix(p.Path, "/e/")
	if !found {
		return "", "", false
	}
	id, _, _ = strings.Cut(rest, "/")
	if store.CheckID(id) != nil {
		return "", "", false
	}
	return p.Scheme + "://" + p.Host, id, true
}

// logLocation is where the published log of loc is: a folder as it is, an
// election's address (https://host/e/ID, as its pages print it) its log's,
// https://host/e/ID/log; any other URL (a mirror) as it is.
func logLocation(loc string) string {
	if !strings.HasPrefix(loc, "http://") && !strings.HasPrefix(loc, "https://") {
		return loc
	}
	if base, id, ok := electionURL(loc); ok {
		return base + "/e/" + id + "/log"
	}
	return loc
}

// electionAPI is the API of the election at address u (https://host/e/ID):
// https://host/api/e/ID.
func electionAPI(u string) (string, error) {
	base, id, ok := electionURL(u)
	if !ok {
		return "", fmt.Errorf("%q is not an election's address, like https://vote.example.org/e/ID", u)
	}
	return base + "/api/e/" + id, nil
}

// electionKey names the election at address u independently of how it is
// spelt: scheme and host in lower case, without a trailing dot or the
// scheme's default port, then the id (pages under the address, a trailing
// slash: the same election). A trustee's keystore keys what it remembers
// of an election by it, so that a spelling cannot skip a check.
func electionKey(u string) string {
	base, id, ok := electionURL(u)
	if !ok {
		return u
	}
	p, err := url.Parse(base)
	if err != nil {
		return u
	}
	host, port := p.Hostname(), p.Port()
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if port == map[string]string{"http": "80", "https": "443"}[p.Scheme] {
		port = ""
	}
	if port != "" {
		host = net.JoinHostPort(host, port)
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return p.Scheme + "://" + host + "/e/" + id
}

// serverRoot reports whether u is a server's own address (https://host or
// https://host/), not an election's; if so, hint names the elections its
// home page lists, as addresses to give instead.
func serverRoot(u string) (hint string, ok bool) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || (p.Path != "" && p.Path != "/") {
		return "", false
	}
	base := p.Scheme + "://" + p.Host
	var found []string
	c := &http.Client{Timeout: 10 * time.Second}
	if resp, err := c.Get(base + "/"); err == nil {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		seen := map[string]bool{}
		for _, m := range regexp.MustCompile(`href="/e/([^"/]+)/"`).FindAllStringSubmatch(string(b), -1) {
			if store.CheckID(m[1]) == nil && !seen[m[1]] {
				seen[m[1]] = true
				found = append(found, base+"/e/"+m[1])
			}
		}
	}
	hint = fmt.Sprintf("%s is the server's address, not an election's: give the election's address as its pages print it, %s/e/ID", u, base)
	if len(found) > 0 {
		hint += "; this server lists " + strings.Join(found, ", ")
	}
	return hint, true
}
