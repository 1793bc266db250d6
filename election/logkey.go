package election

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
)

// LogSigner returns the note signer of an election's log from its Ed25519
// seed: the key named by the election's origin (spec §16.1).
func LogSigner(f crypto.Fingerprint, seed []byte) (note.Signer, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("a log key seed is %d bytes", ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	vkey, err := note.NewEd25519VerifierKey(board.Origin(f), priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	parts := strings.SplitN(vkey, "+", 3) // origin, key hash, key
	return note.NewSigner("PRIVATE+KEY+" + parts[0] + "+" + parts[1] + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, seed...)))
}
