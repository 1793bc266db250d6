package server

import (
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/board"
)

func verifyInclusion(proof [][32]byte, i int64, entry []byte, c board.Checkpoint) error {
	p := make(tlog.RecordProof, len(proof))
	for k := range proof {
		p[k] = tlog.Hash(proof[k])
	}
	return board.VerifyInclusion(p, i, entry, c)
}
