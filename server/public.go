package server

// What observers read: the published log, served from the store (spec §17),
// the list of cast ballots, and the turnout over time.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/browse"
)

// tile serves a hash tile or entry bundle of the log as it is: full tiles
// never change, and a partial one is named by its width, so a reader of any
// checkpoint finds its tiles. It reads the store and writes nothing. Full
// tiles are kept in memory once read, with a strong ETag, and are immutable
// for caches (issue 13, defect 7).
func (h *handler) tile(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/log/")
	full := !strings.Contains(path, ".p/")
	t := h.tiles.get(path)
	if t == nil {
		// Reading the store takes a turn of the site's browsing Gate, and
		// counts against the client's rate: a partial tile, or one not
		// kept, is read and copied afresh for each request.
		release, ok := browse.Turn(w, r)
		if !ok {
			return
		}
		n, err := h.e.st.Size(r.Context())
		var data []byte
		if err == nil {
			data, err = board.ReadTile(r.Context(), h.e.st, n, path)
			h.tiles.reads.Add(1)
		}
		if err == nil && full {
			t = h.tiles.put(path, data) // hashed in the turn too
		}
		release()
		switch {
		case errors.Is(err, board.ErrNoTile):
			writeJSON(w, http.StatusNotFound, apiError{err.Error()})
			return
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
			return
		}
		if !full {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(data)
			return
		}
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("ETag", t.etag)
	for _, m := range strings.Split(r.Header.Get("If-None-Match"), ",") {
		if m = strings.TrimPrefix(strings.TrimSpace(m), "W/"); m == t.etag || m == "*" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(t.data)))
	w.Write(t.data)
}

// tileCache keeps the full tiles read, up to maxTileCache bytes, dropping
// the oldest first.
type tileCache struct {
	mu    sync.Mutex
	tiles map[string]*cachedTile
	order []string
	size  int
	reads atomic.Int64 // tiles read from the store
}

type cachedTile struct {
	data []byte
	etag string
}

const maxTileCache = 64 << 20

func (c *tileCache) get(path string) *cachedTile {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tiles[path]
}

func (c *tileCache) put(path string, data []byte) *cachedTile {
	sum := sha256.Sum256(data)
	t := &cachedTile{data: data, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.tiles[path]; old != nil {
		return old
	}
	if c.tiles == nil {
		c.tiles = map[string]*cachedTile{}
	}
	for c.size+len(data) > maxTileCache && len(c.order) > 0 {
		c.size -= len(c.tiles[c.order[0]].data)
		delete(c.tiles, c.order[0])
		c.order = c.order[1:]
	}
	c.tiles[path] = t
	c.order = append(c.order, path)
	c.size += len(data)
	return t
}

// Receipt returns the receipt of the ballot at index idx, as its voter
// checks it later.
func (e *Election) Receipt(ctx context.Context, idx int64, tracker string) (*Receipt, error) {
	entries, err := e.st.ReadEntries(ctx, idx, idx+1)
	if err != nil {
		return nil, err
	}
	code, err := election.BallotCode(entries[0])
	if err != nil {
		return nil, err
	}
	return e.receipt(ctx, idx, tracker, code)
}

// BallotRow is one cast ballot, as the public list shows it.
type BallotRow struct {
	Index   int64
	Tracker string
	Counted bool // the last ballot of its credential
	// Revoked: its credential was replaced since (spec §18.8); it does
	// not count.
	Revoked bool
}

// Ballots lists the ballots among entries [from, to) of the log.
func (e *Election) Ballots(ctx context.Context, from, to int64) ([]BallotRow, error) {
	entries, err := e.st.ReadEntries(ctx, from, to)
	if err != nil {
		return nil, err
	}
	var rows []BallotRow
	for i, entry := range entries {
		if len(entry) > 0 && entry[0] == election.TypeBallot {
			rows = append(rows, BallotRow{Index: from + int64(i), Tracker: election.Tracker(entry)})
		}
	}
	e.State(func(s *election.State) {
		for i := range rows {
			_, rows[i].Counted, _ = s.FindTracker(rows[i].Tracker)
			rows[i].Revoked = s.TrackerRevoked(rows[i].Tracker)
		}
	})
	return rows, nil
}

// Size returns the number of entries in the log.
func (e *Election) Size(ctx context.Context) (int64, error) { return e.st.Size(ctx) }

// TurnoutPoint is the number of voters who had voted at a time.
type TurnoutPoint struct {
	At     time.Time
	Voters int
}

// turnout keeps one point per minute in which ballots were cast, since this
// server started (the log has no times: this is not part of the record).
type turnout struct {
	mu     sync.Mutex
	points []TurnoutPoint
}

func (t *turnout) add(now time.Time, voters int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := now.Truncate(time.Minute)
	if n := len(t.points); n > 0 && t.points[n-1].At.Equal(m) {
		t.points[n-1].Voters = max(t.points[n-1].Voters, voters)
		return
	}
	if len(t.points) >= 10000 { // about a week of minutes: keep every other one
		kept := t.points[:0]
		for i := 0; i < len(t.points); i += 2 {
			kept = append(kept, t.points[i])
		}
		t.points = kept
	}
	t.points = append(t.points, TurnoutPoint{m, voters})
}

// Turnout returns the turnout over time, as this server saw it.
func (e *Election) Turnout() []TurnoutPoint {
	e.turnout.mu.Lock()
	defer e.turnout.mu.Unlock()
	return append([]TurnoutPoint(nil), e.turnout.points...)
}

func (e *Election) voted() (n int) {
	e.State(func(s *election.State) { n = s.Voted() })
	return n
}
