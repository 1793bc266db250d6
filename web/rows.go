package web

import (
	"context"
	"html/template"
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
	mu      sync.Mutex
	html    map[tableKey]*table          // the rendered tables, by language and page
	pages   map[int64][]server.BallotRow // by the page's first entry
	ends    map[int64]int64              // the entries the rows cover: [from, end)
	reads   atomic.Int64                 // entries read from the store
	renders atomic.Int64                 // tables rendered
}

type tableKey struct {
	lang string
	from int64
}

// table is a page's rendered table: it stands while its rows and which of
// them count are the same.
type table struct {
	to      int64
	counted string // one byte per row
	html    template.HTML
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
			out[i].Revoked = s.TrackerRevoked(out[i].Tracker)
		}
	})
	return out, nil
}

// table returns the page's table, rendered by render unless the one kept
// shows the same rows, counted the same.
func (c *ballotRows) table(lang string, from, to int64, rows []server.BallotRow, render func() (template.HTML, error)) (template.HTML, error) {
	counted := make([]byte, len(rows))
	for i, r := range rows {
		switch {
		case r.Counted:
			counted[i] = '1'
		case r.Revoked: // spec §18.8: shown otherwise than superseded
			counted[i] = '2'
		default:
			counted[i] = '0'
		}
	}
	k := tableKey{lang, from}
	c.mu.Lock()
	t := c.html[k]
	c.mu.Unlock()
	if t != nil && t.to == to && t.counted == string(counted) {
		return t.html, nil
	}
	html, err := render()
	if err != nil || from%ballotsPerPage != 0 {
		return html, err
	}
	c.renders.Add(1)
	c.mu.Lock()
	if c.html == nil || len(c.html) >= 2*maxCachedPages {
		c.html = map[tableKey]*table{}
	}
	c.html[k] = &table{to: to, counted: string(counted), html: html}
	c.mu.Unlock()
	return html, nil
}
