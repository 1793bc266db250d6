// Package scrutin is the root of scrutin, a platform for online ballots that
// nobody has to take on trust: encrypted ballots, trustees holding a split
// key, a public append-only log and a verifier anyone can run.
//
// The protocol is specified in docs/spec.md; the cryptographic core is package
// crypto; the binary is cmd/scrutin. This package only carries what the whole
// module shares: the test vectors of docs/spec.md §12, embedded so that
// `scrutin selftest` checks the very binary it runs in.
package scrutin

import (
	"embed"
	"io/fs"
)

//go:embed testdata/v0/*.json
var vectorFiles embed.FS

// TestVectors returns the shared test vectors (docs/spec.md §12), as a file
// system holding group.json, elgamal.json and the rest.
func TestVectors() fs.FS {
	sub, err := fs.Sub(vectorFiles, "testdata/v0")
	if err != nil {
		panic("scrutin: internal error: " + err.Error())
	}
	return sub
}
