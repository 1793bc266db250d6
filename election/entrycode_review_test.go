package election

import "testing"

// TestEntryCodeShortSignature (review of issue 21): an entry that ends
// right after `,"signature":"` (its closing quote doubling as the suffix
// `"}`) has no code; it does not crash the reader. The streaming state
// calls entryCode on the bytes a record gives back when a superseded
// ballot is read again, and a verifier on any ballot with the voter's
// tracker: a record must not be able to stop either.
func TestEntryCodeShortSignature(t *testing.T) {
	for _, e := range []string{
		"\x06{\"contests\":[],\"credential\":\"x\",\"signature\":\"}",
		"\x06,\"signature\":\"}",
	} {
		if _, ok := entryCode([]byte(e)); ok {
			t.Fatalf("%q has a code", e)
		}
		if _, err := BallotCode([]byte(e)); err == nil {
			t.Fatalf("%q has a code", e)
		}
	}
}
