package main

import "testing"

// TestSeenFileSpellings: the checkpoint a trustee's keystore remembers for
// an election is found again whatever spelling of the election's address
// the trustee types next time (host in capitals, the scheme's default
// port, a trailing dot, a page under the address), so that a server
// cannot show another log to a command given the same address spelt
// otherwise; another election, host or port is another file.
func TestSeenFileSpellings(t *testing.T) {
	seen := func(u string) string { return (&trusteeFlags{dir: "ks", election: u}).seenFile() }
	want := seen("https://vote.example.org/e/city-2027")
	for _, u := range []string{
		"https://vote.example.org/e/city-2027/",
		"https://VOTE.Example.ORG/e/city-2027",
		"HTTPS://vote.example.org/e/city-2027",
		"https://vote.example.org:443/e/city-2027",
		"https://vote.example.org./e/city-2027",
		"https://vote.example.org/e/city-2027/results",
	} {
		if got := seen(u); got != want {
			t.Errorf("%s: %s, not %s", u, got, want)
		}
	}
	for _, u := range []string{
		"https://vote.example.org/e/city-2028",
		"https://vote.example.net/e/city-2027",
		"https://vote.example.org:8443/e/city-2027",
	} {
		if seen(u) == want {
			t.Errorf("%s: the same file as another election's", u)
		}
	}
}
