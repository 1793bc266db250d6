package server

// Officers' and trustees' actions over HTTP. Trustees' messages (ceremony,
// decryption shares) are signed by their keys and checked by the state, so
// they need no session. Officers' actions need the officer token (until
// staff accounts exist): a secret generated on first start, never a default.

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/scrutin/scrutin/election"
)

// MaxEntryRequest bounds the body of an entry-carrying request.
const MaxEntryRequest = 1 << 20

// LoadOrCreateToken reads the officer token from path, or creates a fresh
// random one there (readable only by its owner) and reports that it did.
func LoadOrCreateToken(path string) (token string, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		t := strings.TrimSpace(string(b))
		if len(t) < 32 {
			return "", false, fmt.Errorf("%s holds a token too short to be safe; delete it to have a new one made", path)
		}
		return t, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", false, err
	}
	var raw [32]byte
	rand.Read(raw[:])
	t := base64.RawURLEncoding.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	if _, err := f.WriteString(t + "\n"); err != nil {
		return "", false, err
	}
	return t, true, f.Sync()
}

// officer wraps a handler with the officer-token check.
func (h *handler) officer(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if h.token == nil {
			writeJSON(w, http.StatusForbidden, apiError{"officer actions are disabled on this server (no officer token)"})
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], h.token) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="scrutin officer"`)
			writeJSON(w, http.StatusUnauthorized, apiError{"this action needs the officer token (Authorization: Bearer …)"})
			return
		}
		next(w, r)
	}
}

// readEntry reads a request body of at most MaxEntryRequest bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEntryRequest))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{fmt.Sprintf("at most %d bytes", MaxEntryRequest)})
		return nil, false
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"could not read the request body"})
		return nil, false
	}
	return body, true
}

// appended answers an append.
func (h *handler) appended(w http.ResponseWriter, i int64, err error) {
	if err != nil {
		status := http.StatusBadRequest
		if !errors.Is(err, ErrRefused) {
			status = http.StatusServiceUnavailable
			h.log.Error("append failed", "err", err)
		}
		writeJSON(w, status, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"index": i})
}

// trusteeMessage accepts a signed trustee message (its raw bytes, as
// application/octet-stream) as an entry of the given type.
func (h *handler) trusteeMessage(typ byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		i, err := h.e.Append(r.Context(), append([]byte{typ}, body...))
		h.appended(w, i, err)
	}
}

// adminEntry appends an officer's entry given whole (type byte and payload)
// as the request body: roll, credentials, open.
func (h *handler) adminEntry(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if len(body) == 0 || (body[0] != election.TypeManifest && body[0] != election.TypeRoll && body[0] != election.TypeCredentials && body[0] != election.TypeOpen) {
		writeJSON(w, http.StatusBadRequest, apiError{"officers send the manifest, roll, credentials and open entries here; use /api/admin/close, /tally and /result for the rest"})
		return
	}
	i, err := h.e.Append(r.Context(), body)
	h.appended(w, i, err)
}

func (h *handler) adminClose(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Reason == "" {
		writeJSON(w, http.StatusBadRequest, apiError{`send {"reason": "…"}: why voting closes (it is published)`})
		return
	}
	i, err := h.e.Append(r.Context(), (&election.Close{At: election.Now(time.Now()), Reason: req.Reason}).Entry())
	h.appended(w, i, err)
}

// adminDerived appends an entry the state computes (the tally, the result).
func (h *handler) adminDerived(compute func(s *election.State) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var entry []byte
		var err error
		h.e.State(func(s *election.State) { entry, err = compute(s) })
		if err != nil {
			writeJSON(w, http.StatusConflict, apiError{err.Error()})
			return
		}
		i, err := h.e.Append(r.Context(), entry)
		h.appended(w, i, err)
	}
}
