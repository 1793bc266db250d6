package board

// spec: §16.2 witnesses' keys and cosignatures: plain Ed25519 note
// signatures (algorithm 0x01) and C2SP cosignature/v1 (algorithm 0x04,
// timestamped).

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
)

// Signature algorithms of verifier keys (C2SP signed-note).
const (
	algEd25519     = 0x01 // a plain note signature
	algCosignature = 0x04 // C2SP cosignature/v1, Ed25519
)

// cosignatureSize is the length of a cosignature/v1 signature: a
// big-endian 8-byte timestamp and a 64-byte Ed25519 signature.
const cosignatureSize = 8 + ed25519.SignatureSize

// NewWitnessVerifier parses a witness's verifier key (vkey): either a plain
// Ed25519 note key (algorithm 0x01, as golang.org/x/mod/sumdb/note makes
// them) or a C2SP cosignature/v1 key (algorithm 0x04, as litewitness and
// "scrutin witness init" make them). Any other algorithm is refused.
func NewWitnessVerifier(vkey string) (note.Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 {
		return nil, errors.New("a verifier key is name+hash+key")
	}
	key, err := base64.StdEncoding.Strict().DecodeString(key64)
	if err != nil || len(key) == 0 || base64.StdEncoding.EncodeToString(key) != key64 {
		return nil, errors.New("the key part of a verifier key is not base64")
	}
	switch key[0] {
	case algEd25519:
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, err
		}
		return &ed25519Verifier{Verifier: v, key: ed25519.PublicKey(key[1:])}, nil
	case algCosignature:
	default:
		return nil, fmt.Errorf("unknown verifier algorithm 0x%02x (a witness key is Ed25519 0x01 or cosignature/v1 0x04)", key[0])
	}
	if !validKeyName(name) {
		return nil, fmt.Errorf("bad key name %q", name)
	}
	if len(key) != 1+ed25519.PublicKeySize {
		return nil, errors.New("a cosignature/v1 key is 32 bytes")
	}
	h, err := strconv.ParseUint(hash16, 16, 32)
	if err != nil || len(hash16) != 8 || fmt.Sprintf("%08x", h) != hash16 {
		return nil, errors.New("the hash part of a verifier key is 8 lower-case hex digits")
	}
	v := &CosignatureVerifier{name: name, key: ed25519.PublicKey(key[1:])}
	if v.KeyHash() != uint32(h) {
		return nil, errors.New("the verifier key's hash does not match its name and key")
	}
	return v, nil
}

// ed25519Verifier is a plain Ed25519 note verifier that knows its public
// key, so that a quorum counts one key once (spec §16.2).
type ed25519Verifier struct {
	note.Verifier
	key ed25519.PublicKey
}

// WitnessPublicKey is the Ed25519 public key behind a witness's verifier,
// whatever its form, or nil if unknown.
func WitnessPublicKey(v note.Verifier) ed25519.PublicKey {
	switch v := v.(type) {
	case *CosignatureVerifier:
		return v.key
	case *ed25519Verifier:
		return v.key
	}
	return nil
}

// validKeyName is C2SP signed-note's rule: non-empty UTF-8, no Unicode
// space, no plus.
func validKeyName(name string) bool {
	if name == "" || !utf8.ValidString(name) || strings.Contains(name, "+") {
		return false
	}
	for _, r := range name {
		if unicode.IsSpace(r) || r < 0x20 {
			return false
		}
	}
	return true
}

func cosignatureKeyHash(name string, pk ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', algCosignature})
	h.Write(pk)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// cosignedMessage is what a cosignature/v1 signs: its header line, its time
// line, and the checkpoint's body.
func cosignedMessage(body []byte, t uint64) []byte {
	return append(fmt.Appendf(nil, "cosignature/v1\ntime %d\n", t), body...)
}

// CosignatureVerifier verifies C2SP cosignature/v1 signatures (Ed25519). It
// is a note.Verifier, so that note.Open checks such lines.
type CosignatureVerifier struct {
	name string
	key  ed25519.PublicKey
}

func (v *CosignatureVerifier) Name() string    { return v.name }
func (v *CosignatureVerifier) KeyHash() uint32 { return cosignatureKeyHash(v.name, v.key) }

// Verify checks a cosignature/v1 signature (timestamp and Ed25519
// signature, without the key hash) of msg, a checkpoint's body.
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	t, ok := cosignatureTime(sig)
	return ok && ed25519.Verify(v.key, cosignedMessage(msg, t), sig[8:])
}

// String returns the verifier key.
func (v *CosignatureVerifier) String() string {
	return fmt.Sprintf("%s+%08x+%s", v.name, v.KeyHash(), base64.StdEncoding.EncodeToString(append([]byte{algCosignature}, v.key...)))
}

func cosignatureTime(sig []byte) (uint64, bool) {
	if len(sig) != cosignatureSize {
		return 0, false
	}
	t := binary.BigEndian.Uint64(sig)
	return t, t < 1<<63
}

// Cosigner makes C2SP cosignature/v1 signatures. It is a note.Signer.
type Cosigner struct {
	name string
	key  ed25519.PrivateKey
	// Now, if set, gives the time to sign with (tests).
	Now func() time.Time
}

// GenerateCosigner makes a new cosignature/v1 key named name; it returns
// the private key in the text form NewCosigner reads, and the verifier key.
func GenerateCosigner(rand io.Reader, name string) (skey, vkey string, err error) {
	if !validKeyName(name) {
		return "", "", fmt.Errorf("bad key name %q", name)
	}
	pub, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return "", "", err
	}
	h := cosignatureKeyHash(name, pub)
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, h, base64.StdEncoding.EncodeToString(append([]byte{algCosignature}, priv.Seed()...)))
	vkey = (&CosignatureVerifier{name: name, key: pub}).String()
	return skey, vkey, nil
}

// NewCosigner reads a cosignature/v1 private key, written as a note private
// key with algorithm 0x04: PRIVATE+KEY+name+hash+base64(0x04 || seed).
func NewCosigner(skey string) (*Cosigner, error) {
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	name, rest, ok1 := strings.Cut(rest, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	if !ok || !ok1 || !ok2 || !validKeyName(name) {
		return nil, errors.New("not a cosignature/v1 private key")
	}
	key, err := base64.StdEncoding.Strict().DecodeString(key64)
	if err != nil || len(key) != 1+ed25519.SeedSize || key[0] != algCosignature {
		return nil, errors.New("not a cosignature/v1 private key")
	}
	priv := ed25519.NewKeyFromSeed(key[1:])
	s := &Cosigner{name: name, key: priv}
	if fmt.Sprintf("%08x", s.KeyHash()) != hash16 {
		return nil, errors.New("the private key's hash does not match its name and key")
	}
	return s, nil
}

func (s *Cosigner) Name() string    { return s.name }
func (s *Cosigner) KeyHash() uint32 { return cosignatureKeyHash(s.name, s.Public()) }

// Public returns the Ed25519 public key.
func (s *Cosigner) Public() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Verifier returns the cosigner's verifier.
func (s *Cosigner) Verifier() *CosignatureVerifier {
	return &CosignatureVerifier{name: s.name, key: s.Public()}
}

// Sign cosigns msg (a checkpoint's body) at the current time.
func (s *Cosigner) Sign(msg []byte) ([]byte, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	if now.Unix() <= 0 {
		return nil, errors.New("the clock is before 1970")
	}
	t := uint64(now.Unix())
	sig := binary.BigEndian.AppendUint64(nil, t)
	return append(sig, ed25519.Sign(s.key, cosignedMessage(msg, t))...), nil
}

// CosignedAt returns the latest time at which v cosigned the body of the
// signed note under cosignature/v1 (a line of v whose signature verifies),
// and false if v is not a cosignature/v1 key or no such line verifies.
func CosignedAt(signed []byte, v note.Verifier) (time.Time, bool) {
	_, t, ok := LatestCosignature(signed, v)
	return t, ok
}

// LatestCosignature returns the line ("— name base64\n") of v's latest
// cosignature/v1 of the signed note's body that verifies, and its time;
// false if v is not a cosignature/v1 key or no line of it verifies.
func LatestCosignature(signed []byte, v note.Verifier) (string, time.Time, bool) {
	cv, ok := v.(*CosignatureVerifier)
	if !ok {
		return "", time.Time{}, false
	}
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return "", time.Time{}, false
	}
	body := signed[:i+1]
	var best uint64
	var bestLine string
	found := false
	for _, line := range strings.Split(string(signed[i+2:]), "\n") {
		name, b64, ok := strings.Cut(strings.TrimPrefix(line, "— "), " ")
		if !ok || name != cv.name || !strings.HasPrefix(line, "— ") {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) != 4+cosignatureSize || binary.BigEndian.Uint32(sig) != cv.KeyHash() {
			continue
		}
		if t, ok := cosignatureTime(sig[4:]); ok && cv.Verify(body, sig[4:]) && (!found || t > best) {
			best, bestLine, found = t, line+"\n", true
		}
	}
	if !found {
		return "", time.Time{}, false
	}
	return bestLine, time.Unix(int64(best), 0).UTC(), true
}
