// Package tlogwitness serves the C2SP tlog-witness protocol's add-checkpoint
// (docs/spec.md §16.3) over HTTP, on board's protocol code: the witness of
// "scrutin witness serve", and of tests. It keeps, for each log it follows,
// the last checkpoint it cosigned, in a State; a fork's evidence is handed
// to the caller.
package tlogwitness

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/internal/dirlock"
	"github.com/scrutin/scrutin/internal/mirror"
)

// State keeps the last checkpoint cosigned for each origin.
type State interface {
	// Update calls f with the last checkpoint of origin (nil: none), with
	// no other Update of origin running meanwhile (in any process); if f
	// returns a checkpoint, it is the new last one, stored durably before
	// Update returns.
	Update(origin string, f func(last []byte) ([]byte, error)) error
	// Last returns the last checkpoint of origin (nil: none).
	Last(origin string) ([]byte, error)
}

// Handler answers add-checkpoint requests (POST .../add-checkpoint) for the
// logs in Logs, and serves the last cosigned checkpoint of each
// (GET .../<hex SHA-256 of the origin>/checkpoint).
type Handler struct {
	Logs  map[string]*board.Witness // by origin
	State State
	// Fork, if set, is told of each refused fork, with both signed
	// checkpoints.
	Fork func(origin string, f *board.ForkError)
	// Cosigned, if set, is told of each checkpoint cosigned.
	Cosigned func(origin string, size int64)
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/add-checkpoint"):
		h.add(w, r)
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/checkpoint"):
		h.checkpoint(w, r)
	default:
		http.Error(w, "a witness answers POST add-checkpoint (C2SP tlog-witness)", http.StatusNotFound)
	}
}

func (h *Handler) add(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, board.MaxAddCheckpoint+1))
	if err != nil {
		http.Error(w, "failed to read the request", http.StatusBadRequest)
		return
	}
	if len(body) > board.MaxAddCheckpoint {
		http.Error(w, "the request is too large", http.StatusRequestEntityTooLarge)
		return
	}
	req, err := board.ParseAddCheckpoint(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	origin, _, _ := strings.Cut(string(req.Checkpoint), "\n")
	wit := h.Logs[origin]
	if wit == nil {
		http.Error(w, "unknown log", http.StatusNotFound)
		return
	}
	var lines []byte
	err = h.State.Update(origin, func(last []byte) ([]byte, error) {
		var err error
		lines, err = wit.Add(last, req)
		if err != nil {
			return nil, err
		}
		return req.Checkpoint, nil
	})
	var conflict *board.Conflict
	var refused *board.WitnessError
	switch {
	case errors.As(err, &conflict):
		w.Header().Set("Content-Type", board.ConflictContentType)
		w.WriteHeader(http.StatusConflict)
		fmt.Fprintf(w, "%d\n", conflict.Known)
	case errors.As(err, &refused):
		if refused.Fork != nil && h.Fork != nil {
			h.Fork(origin, refused.Fork)
		}
		http.Error(w, refused.Reason, refused.Status)
	case err != nil:
		http.Error(w, "internal error", http.StatusInternalServerError)
	default:
		if h.Cosigned != nil {
			if n, err := sizeOf(req.Checkpoint); err == nil {
				h.Cosigned(origin, n)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(lines)
	}
}

// checkpoint serves the monitoring endpoint: the last checkpoint cosigned
// for the origin whose hash names it. (It holds the log's signature; the
// witness's cosignature of it was returned to the log.)
func (h *Handler) checkpoint(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimSuffix(r.URL.Path, "/checkpoint"), "/")
	want := parts[len(parts)-1]
	for origin := range h.Logs {
		sum := sha256.Sum256([]byte(origin))
		if fmt.Sprintf("%x", sum) != want {
			continue
		}
		last, err := h.State.Last(origin)
		if err != nil || last == nil {
			break
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(last)
		return
	}
	http.Error(w, "no checkpoint of that log was cosigned", http.StatusNotFound)
}

func sizeOf(signed []byte) (int64, error) {
	lines := strings.SplitN(string(signed), "\n", 3)
	if len(lines) < 3 {
		return 0, errors.New("short")
	}
	var n int64
	_, err := fmt.Sscanf(lines[1], "%d", &n)
	return n, err
}

// Memory is a State in memory (tests).
type Memory struct {
	mu   sync.Mutex
	last map[string][]byte
}

func (m *Memory) Update(origin string, f func(last []byte) ([]byte, error)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	next, err := f(m.last[origin])
	if err != nil || next == nil {
		return err
	}
	if m.last == nil {
		m.last = map[string][]byte{}
	}
	m.last[origin] = next
	return nil
}

func (m *Memory) Last(origin string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last[origin], nil
}

// Dir is a State in a witness's folder, shared with "scrutin witness run":
// the last checkpoint of each origin in state-<first 8 bytes of
// SHA-256(origin) in hex>.checkpoint, under the folder's lock.
type Dir string

// StateFile is the name of origin's state file in a witness's folder.
func StateFile(origin string) string {
	h := sha256.Sum256([]byte(origin))
	return fmt.Sprintf("state-%x.checkpoint", h[:8])
}

func (d Dir) Update(origin string, f func(last []byte) ([]byte, error)) error {
	l, err := dirlock.Wait(string(d))
	if err != nil {
		return err
	}
	defer l.Unlock()
	last, err := d.Last(origin)
	if err != nil {
		return err
	}
	next, err := f(last)
	if err != nil || next == nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return mirror.Dir(d).WriteFile(ctx, StateFile(origin), next)
}

func (d Dir) Last(origin string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(string(d), StateFile(origin)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
