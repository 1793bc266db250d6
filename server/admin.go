package server

// Officers' and trustees' actions over HTTP. Trustees' messages (ceremony,
// decryption shares) are signed by their keys and checked by the state, so
// they need no session. Officers' actions need a staff session (package
// accounts, through Options.Officer).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/scrutin/scrutin/election"
)

// MaxEntryRequest bounds the body of an entry-carrying request.
const MaxEntryRequest = 1 << 20

// officer wraps a handler with the staff check (Options.Officer), and
// records its outcome: the response's status.
func (h *handler) officer(action string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// An election without its manifest exists only for its officers:
		// anyone else is answered as for an unknown id (spec §22.3).
		hidden := !hasManifest(h.e)
		if h.officerCheck == nil && hidden {
			writeJSON(w, http.StatusNotFound, apiError{"not found"})
			return
		}
		if h.officerCheck == nil {
			writeJSON(w, http.StatusForbidden, apiError{"officers' actions are disabled on this server"})
			return
		}
		record, err := h.officerCheck(r, action)
		if errors.Is(err, ErrNoElection) || err != nil && hidden {
			// Someone with no role in this election: as if it did not
			// exist (the same answer as an unknown id's).
			writeJSON(w, http.StatusNotFound, apiError{"not found"})
			return
		}
		if err != nil {
			writeJSON(w, http.StatusUnauthorized, apiError{"this action needs a staff session with a second factor and an officer's role: sign in at /staff/sign-in (" + err.Error() + ")"})
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next(sw, r)
		if sw.status < 300 {
			record("done")
		} else {
			record(fmt.Sprintf("refused (%d)", sw.status))
		}
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
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
		switch {
		case errors.Is(err, ErrBusy):
			// Nothing appended (a node catching up with the log): the
			// same submission may be sent again (spec §22.5).
			status = http.StatusServiceUnavailable
			w.Header().Set("Retry-After", "1")
		case !errors.Is(err, ErrRefused):
			status = http.StatusServiceUnavailable
			h.log.Error("append failed", "err", err)
		}
		writeJSON(w, status, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]int64{"index": i})
}

// trusteeMessage accepts a signed trustee message (its raw bytes, as
// application/octet-stream) as an entry of the given type. A message the
// log already holds byte for byte is not appended again (spec §18.1): the
// answer is 200 with the index of its entry, so that a trustee's retry
// after a lost answer is harmless.
func (h *handler) trusteeMessage(typ byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		entry := append([]byte{typ}, body...)
		found := func() bool {
			var i int64
			var dup bool
			h.e.State(func(s *election.State) { i, dup = s.FindMessage(entry) })
			if dup {
				writeJSON(w, http.StatusOK, map[string]int64{"index": i})
			}
			return dup
		}
		if found() {
			return
		}
		i, err := h.e.Append(r.Context(), entry)
		if errors.Is(err, election.ErrMessageReplay) && found() {
			return // the same message, posted twice at once
		}
		h.appended(w, i, err)
	}
}

// adminEntry appends an officer's entry given whole (type byte and payload)
// as the request body: roll, credentials, authority, open, and the
// credential authority's replacements (spec §18.8).
func (h *handler) adminEntry(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if len(body) == 0 || (body[0] != election.TypeManifest && body[0] != election.TypeRoll && body[0] != election.TypeCredentials && body[0] != election.TypeOpen &&
		body[0] != election.TypeAuthority && body[0] != election.TypeReplacement) {
		writeJSON(w, http.StatusBadRequest, apiError{"officers send the manifest, roll, credentials, authority, open and replacement entries here; use /api/admin/close, /extend, /tally and /result for the rest"})
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

// adminExtend records an extension of the voting window (spec §18.7): the
// new end and the officer's reason, both required.
func (h *handler) adminExtend(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Closes string `json:"closes"`
		Reason string `json:"reason"`
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Reason == "" || req.Closes == "" {
		writeJSON(w, http.StatusBadRequest, apiError{`send {"closes": "2027-03-09T18:00:00Z", "reason": "…"}: the new end of voting, and why (it is published)`})
		return
	}
	closes, err := time.Parse(election.TimeFormat, req.Closes)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"closes is a UTC time like 2027-03-09T18:00:00Z"})
		return
	}
	i, err := h.e.Extend(r.Context(), closes, req.Reason)
	h.appended(w, i, err)
}
