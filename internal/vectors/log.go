package vectors

// spec: §15 the log's hashes, §16.1 checkpoints and note keys, §16.2
// witness quorums, §17 paths
// and bundles

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
)

// LogFile is log.json (spec §15–§17): a small log, its hashes, the log
// key's note key, a signed checkpoint, checkpoints to reject, and the paths
// of tiles and bundles.
type LogFile struct {
	Spec        string           `json:"spec"`
	Entries     []Hex            `json:"entries"`
	Election    Hex              `json:"election"` // F = SHA-256(entries[0])
	LeafHashes  []Hex            `json:"leaf_hashes"`
	TreeHash    Hex              `json:"tree_hash"`
	Bundle      Hex              `json:"bundle"` // tile/entries/000.p/<n>
	LogSeed     Hex              `json:"log_seed"`
	LogKey      Hex              `json:"log_key"`
	Origin      string           `json:"origin"`
	KeyHash     Hex              `json:"key_hash"`
	VerifierKey string           `json:"verifier_key"`
	Checkpoints []CheckpointCase `json:"checkpoints"`
	Paths       []PathCase       `json:"paths"`
	// Witnesses are the verifier keys a reader lists for Quorums (§16.2):
	// two cosignature/v1 keys and a plain note key.
	Witnesses []string     `json:"witnesses"`
	Quorums   []QuorumCase `json:"quorums"`
}

// QuorumCase is the log's checkpoint with witness lines, read with the
// Witnesses, a quorum, the reader's time and its freshness bound (0:
// none), in seconds (spec §16.2).
type QuorumCase struct {
	Comment string `json:"comment"`
	Note    string `json:"note"`
	Quorum  int    `json:"quorum"`
	Now     int64  `json:"now"`
	MaxAge  int64  `json:"max_age"`
	Valid   bool   `json:"valid"`
}

// CheckpointCase is a signed note to open with the log key and origin.
type CheckpointCase struct {
	Comment string `json:"comment"`
	Note    string `json:"note"`
	Valid   bool   `json:"valid"`
}

// PathCase is the file name of a tile (level ≥ 0) or entry bundle (level
// −1), full (width 0) or partial.
type PathCase struct {
	Level int    `json:"level"`
	Index int64  `json:"index"`
	Width int    `json:"width"`
	Path  string `json:"path"`
}

func (g *gen) log() *LogFile {
	f := &LogFile{Spec: "docs/spec.md §15–§17, version 0"}
	var entries [][]byte
	for i, n := range []int{40, 1, 300, 7, 64} {
		e := g.bytes(n)
		e[0] = byte(i + 1) // entries are never empty
		entries = append(entries, e)
	}
	fp := board.Fingerprint(entries[0])
	s := &board.MemStorage{}
	_, err := s.Append(context.Background(), entries)
	g.check(err)
	c, err := board.CurrentCheckpoint(context.Background(), s, board.Origin(fp))
	g.check(err)
	seed := g.bytes(ed25519.SeedSize)
	signer, err := election.LogSigner(fp, seed)
	g.check(err)
	if g.err != nil {
		return f
	}
	pk := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(board.Origin(fp), pk)
	g.check(err)
	f.Entries, f.Election, f.TreeHash = hexes(entries), fp[:], c.Hash[:]
	for _, e := range entries {
		h := tlog.RecordHash(e)
		f.LeafHashes = append(f.LeafHashes, h[:])
	}
	f.Bundle = board.Bundle(entries)
	f.LogSeed, f.LogKey, f.Origin, f.VerifierKey = seed, Hex(pk), board.Origin(fp), vkey
	kh := signer.KeyHash()
	f.KeyHash = binary.BigEndian.AppendUint32(nil, kh)
	signed, err := board.Sign(c, signer)
	g.check(err)
	if g.err != nil {
		return f
	}
	good := string(signed)
	body, sigs, _ := strings.Cut(good, "\n\n")
	body += "\n"
	otherF := sha256.Sum256([]byte("another election"))
	other, err := election.LogSigner(otherF, seed)
	g.check(err)
	resign := func(b string, s note.Signer) string {
		n, err := note.Sign(&note.Note{Text: b}, s)
		g.check(err)
		return string(n)
	}
	lines := strings.Split(strings.TrimSuffix(sigs, "\n"), "\n")
	raw, _ := base64.StdEncoding.DecodeString(lines[0][strings.LastIndexByte(lines[0], ' ')+1:])
	badHash := slices.Clone(raw)
	badHash[0] ^= 1
	changed := strings.Replace(body, "\n5\n", "\n4\n", 1)
	f.Checkpoints = []CheckpointCase{
		{"the log's checkpoint of its 5 entries", good, true},
		{"the body's size changed to 4, the signature kept", changed + "\n" + sigs, false},
		{"re-signed for size 4: the signature is good, the tree hash is not that of 4 entries", resign(changed, signer), false},
		{"the size written 05", strings.Replace(good, "\n5\n", "\n05\n", 1), false},
		{"the signature line's key hash changed: the line is not the log key's", body + "\n— " + f.Origin + " " + base64.StdEncoding.EncodeToString(badHash) + "\n", false},
		{"signed by the same key named for another election's origin", resign(body, other), false},
		{"another election's origin, signed by the key named for it", resign(strings.Replace(body, hexOf(fp[:]), hexOf(otherF[:]), 1), other), false},
	}
	f.Witnesses, f.Quorums = g.quorums(good, body, signer)
	for _, t := range []struct {
		level int
		index int64
		width int
	}{{0, 0, 0}, {0, 0, 5}, {0, 5, 0}, {0, 256, 0}, {0, 1000, 0}, {0, 1234, 0}, {1, 1234067, 0}, {2, 7, 255}, {-1, 0, 5}, {-1, 5, 7}, {-1, 1234, 0}} {
		p := board.TilePath(tlog.Tile{H: board.TileHeight, L: t.level, N: t.index, W: max(t.width, 256*boolInt(t.width == 0))})
		f.Paths = append(f.Paths, PathCase{t.level, t.index, t.width, p})
	}
	return f
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func hexOf(b []byte) string { return fmt.Sprintf("%x", b) }

// quorums makes the witness quorum cases (§16.2) on the signed checkpoint
// good of body.
func (g *gen) quorums(good, body string, logSigner note.Signer) ([]string, []QuorumCase) {
	const t0 = 1796000000
	at := func() time.Time { return time.Unix(t0, 0) }
	cosigner := func(name string) (*board.Cosigner, string) {
		skey, vkey, err := board.GenerateCosigner(bytes.NewReader(g.bytes(ed25519.SeedSize)), name)
		g.check(err)
		s, err := board.NewCosigner(skey)
		g.check(err)
		if s != nil {
			s.Now = at
		}
		return s, vkey
	}
	a, av := cosigner("witness.example/a")
	b, bv := cosigner("witness.example/b")
	x, _ := cosigner("witness.example/unlisted")
	lskey, lvkey, err := note.GenerateKey(bytes.NewReader(g.bytes(ed25519.SeedSize)), "witness.example/plain")
	g.check(err)
	plain, err := note.NewSigner(lskey)
	g.check(err)
	if g.err != nil {
		return nil, nil
	}
	line := func(body string, s note.Signer) string {
		n, err := note.Sign(&note.Note{Text: body}, s)
		g.check(err)
		return string(n[len(body)+1:])
	}
	la, lb := line(body, a), line(body, b)
	// a's line with a byte of its Ed25519 signature changed.
	name, b64, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(la, "— "), "\n"), " ")
	sig, _ := base64.StdEncoding.DecodeString(b64)
	sig[len(sig)-1] ^= 1
	flipped := "— " + name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
	other := strings.Replace(body, "\n5\n", "\n4\n", 1)
	ok, stale, future := int64(t0+60), int64(30), int64(t0-11*60)
	return []string{av, bv, lvkey}, []QuorumCase{
		{"two cosignature/v1 witnesses, quorum 2", good + la + lb, 2, ok, 86400, true},
		{"one of two, quorum 2", good + la, 2, ok, 86400, false},
		{"two, older than the bound of 30 seconds", good + la + lb, 2, ok, stale, false},
		{"two, no bound, from more than 10 minutes in the future", good + la + lb, 2, future, 0, false},
		{"a line of witness a that does not verify, and b's: quorum 1 is met", good + flipped + lb, 1, ok, 86400, true},
		{"a line of witness a that does not verify, and b's: quorum 2 is not", good + flipped + lb, 2, ok, 86400, false},
		{"a's cosignature of another checkpoint (size 4)", good + line(other, a), 1, ok, 86400, false},
		{"an unlisted key's cosignature", good + line(body, x), 1, ok, 86400, false},
		{"a plain note witness: no time, counted whatever the bound", good + line(body, plain), 1, ok, stale, true},
		{"a's line twice counts once", good + la + la, 2, ok, 86400, false},
		{"a line that is not base64 makes the note malformed", good + la + "— witness.example/b !!!\n", 1, ok, 86400, false},
		{"the log's line missing: a's alone", body + "\n" + la, 1, ok, 86400, false},
	}
}

// checkLog recomputes log.json from the spec's definitions: RFC 6962
// hashes, §17.2 bundles, §16.1 key hash and verifier key, §17.1 paths; and
// opens each checkpoint as a verifier does.
func checkLog(f *LogFile) (int, error) {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if fp := sha256.Sum256(f.Entries[0]); !slices.Equal(fp[:], f.Election) {
		fail("election is not SHA-256 of entry 0")
	}
	var leaves [][]byte
	var bundle []byte
	for i, e := range f.Entries {
		h := sha256.Sum256(append([]byte{0}, e...))
		leaves = append(leaves, h[:])
		if !slices.Equal(h[:], f.LeafHashes[i]) {
			fail("leaf hash %d", i)
		}
		bundle = append(binary.BigEndian.AppendUint16(bundle, uint16(len(e))), e...)
	}
	if !slices.Equal(specTreeHash(leaves), f.TreeHash) {
		fail("tree hash")
	}
	if !slices.Equal(bundle, f.Bundle) {
		fail("bundle")
	}
	pk := ed25519.NewKeyFromSeed(f.LogSeed).Public().(ed25519.PublicKey)
	origin := "scrutin/v0/election/" + hexOf(f.Election)
	kh := sha256.Sum256(slices.Concat([]byte(origin), []byte{'\n', 1}, pk))
	if !slices.Equal([]byte(pk), []byte(f.LogKey)) || origin != f.Origin || !slices.Equal(kh[:4], f.KeyHash) {
		fail("log key, origin or key hash")
	}
	if want := origin + "+" + hexOf(kh[:4]) + "+" + base64.StdEncoding.EncodeToString(append([]byte{1}, pk...)); want != f.VerifierKey {
		fail("verifier key %s, want %s", f.VerifierKey, want)
	}
	v, err := note.NewVerifier(f.VerifierKey)
	if err != nil {
		return 0, err
	}
	for _, c := range f.Checkpoints {
		cp, _, err := board.Open([]byte(c.Note), origin, v, nil, 0)
		if err == nil && (cp.Size != int64(len(f.Entries)) || !slices.Equal(cp.Hash[:], f.TreeHash)) {
			err = errors.New("not the tree of the entries")
		}
		if (err == nil) != c.Valid {
			fail("checkpoint %q: %v, want valid %v", c.Comment, err, c.Valid)
		}
	}
	var ws []note.Verifier
	for _, k := range f.Witnesses {
		w, err := board.NewWitnessVerifier(k)
		if err != nil {
			return 0, fmt.Errorf("witness key %q: %w", k, err)
		}
		ws = append(ws, w)
	}
	for _, q := range f.Quorums {
		_, _, err := board.OpenFresh([]byte(q.Note), origin, v, ws, q.Quorum, board.Freshness{Now: time.Unix(q.Now, 0), MaxAge: time.Duration(q.MaxAge) * time.Second})
		if (err == nil) != q.Valid {
			fail("quorum %q: %v, want valid %v", q.Comment, err, q.Valid)
		}
	}
	for _, p := range f.Paths {
		if want := specTilePath(p.Level, p.Index, p.Width); want != p.Path {
			fail("path of %+v is %s by the spec", p, want)
		}
	}
	return len(f.Checkpoints) + len(f.Quorums) + len(f.Paths) + 1, errors.Join(errs...)
}

// specTreeHash is RFC 6962's Merkle Tree Hash over leaf hashes (spec §15.2).
func specTreeHash(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	h := sha256.Sum256(slices.Concat([]byte{1}, specTreeHash(leaves[:k]), specTreeHash(leaves[k:])))
	return h[:]
}

// specTilePath writes a path as spec §17.1 says.
func specTilePath(level int, n int64, width int) string {
	digits := strconv.FormatInt(n, 10)
	for len(digits)%3 != 0 {
		digits = "0" + digits
	}
	var groups []string
	for i := 0; i < len(digits); i += 3 {
		groups = append(groups, digits[i:i+3])
	}
	for i := range groups[:len(groups)-1] {
		groups[i] = "x" + groups[i]
	}
	l := strconv.Itoa(level)
	if level < 0 {
		l = "entries"
	}
	p := "tile/" + l + "/" + strings.Join(groups, "/")
	if width > 0 {
		p += ".p/" + strconv.Itoa(width)
	}
	return p
}
