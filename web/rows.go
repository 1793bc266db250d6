package web

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/server"
)

// ballotRows caches the list of ballots (issue 13, defect 7). Entries never
// change, so the rows of a page [from, to) are read from the store once and
// extended as the log grows; only whether each ballot counts is looked up
// afresh, in memory.
type ballotRows struct {
	mu    sync.Mutex
	pages map[int64][]server.BallotRow // by the page's first entry
	ends  map[int64]int64              // the entries the rows cover: [from, end)
	reads atomic.Int64                 // entries read from the store
}

// maxCachedPages bounds the pages kept (500 rows of about 100 bytes each).
const maxCachedPages = 256

// get returns the ballots among entries [from, to) of the log.
func (c *ballotRows) get(ctx context.Context, e *server.Election, from, to int64) ([]server.BallotRow, error) {
	if from%ballotsPerPage != 0 { // not a page the site links to: not kept
		c.reads.Add(to - from)
		return e.Ballots(ctx, from, to)
	}
	c.mu.Lock()
	rows, end := c.pages[from], max(from, c.ends[from])
	c.mu.Unlock()
	if end < to {
		more, err := e.Ballots(ctx, end, to)
		if err != nil {
			return nil, err
		}
		c.reads.Add(to - end)
		rows = append(rows[:len(rows):len(rows)], more...)
		c.mu.Lock()
		if c.ends[from] < to {
			if c.pages == nil || (len(c.pages) >= maxCachedPages && c.pages[from] == nil) {
				c.pages, c.ends = map[int64][]server.BallotRow{}, map[int64]int64{}
			}
			c.pages[from], c.ends[from] = rows, to
		}
		c.mu.Unlock()
	}
	out := make([]server.BallotRow, 0, len(rows))
	for _, r := range rows {
		if r.Index < to {
			out = append(out, r)
		}
	}
	e.State(func(s *election.State) {
		for i := range out {
			_, out[i].Counted, _ = s.FindTracker(out[i].Tracker)
		}
	})
	return out, nil
}
