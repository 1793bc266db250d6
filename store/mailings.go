package store

// The officer's mailings to members (issue 17): which recipient of which
// send was claimed, sent or failed, shared by every node on the database,
// so that no member gets two copies of one send whoever clicks, and
// whichever node restarts in the middle.

import (
	"context"
	"time"
)

// Mailing states of a recipient of a send.
const (
	MailClaimed = 0 // being sent, or its sender stopped meanwhile: never sent again
	MailSent    = 1
	MailFailed  = 2 // the mail server refused it: a resumed send tries again
)

// MailCounts are a send's recipients by state.
type MailCounts struct {
	Send          string
	Claimed, Sent int
	Failed        int
	First, Last   time.Time // of the recipients' rows
	Total         int       // Claimed+Sent+Failed
}

// ClaimMail claims the recipient addr (a MAC of the address) of send in
// election: true if nobody had, or if its letter failed before; false if
// it is claimed or sent already. The caller sends the letter, then says
// how it went with MailDone.
func (s *Shared) ClaimMail(ctx context.Context, election, send, addr string, now time.Time) (bool, error) {
	var claimed bool
	err := s.inTx(ctx, func(t *Tx) error {
		res, err := t.exec(`INSERT INTO mailings (election, send, addr, state, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (election, send, addr) DO NOTHING`,
			election, send, addr, MailClaimed, micros(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			claimed = true
			return nil
		}
		res, err = t.exec(`UPDATE mailings SET state = ?, at = ? WHERE election = ? AND send = ? AND addr = ? AND state = ?`,
			MailClaimed, micros(now), election, send, addr, MailFailed)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		claimed = n == 1
		return nil
	})
	return claimed, err
}

// MailDone records how a claimed recipient's letter went.
func (s *Shared) MailDone(ctx context.Context, election, send, addr string, sent bool, now time.Time) error {
	state := MailFailed
	if sent {
		state = MailSent
	}
	return s.inTx(ctx, func(t *Tx) error {
		_, err := t.exec(`UPDATE mailings SET state = ?, at = ? WHERE election = ? AND send = ? AND addr = ?`,
			state, micros(now), election, send, addr)
		return err
	})
}

// MailSends returns the counts of every send of an election, the latest
// first.
func (s *Shared) MailSends(ctx context.Context, election string) ([]MailCounts, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT send, state, COUNT(*), MIN(at), MAX(at) FROM mailings WHERE election = ? GROUP BY send, state`), election)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	by := map[string]*MailCounts{}
	var order []string
	for rows.Next() {
		var send string
		var state, n int
		var first, last int64
		if err := rows.Scan(&send, &state, &n, &first, &last); err != nil {
			return nil, err
		}
		c := by[send]
		if c == nil {
			c = &MailCounts{Send: send, First: fromMicros(first), Last: fromMicros(last)}
			by[send] = c
			order = append(order, send)
		}
		switch state {
		case MailClaimed:
			c.Claimed += n
		case MailSent:
			c.Sent += n
		case MailFailed:
			c.Failed += n
		}
		c.Total += n
		if t := fromMicros(first); t.Before(c.First) {
			c.First = t
		}
		if t := fromMicros(last); t.After(c.Last) {
			c.Last = t
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]MailCounts, 0, len(order))
	for _, k := range order {
		out = append(out, *by[k])
	}
	// The latest first.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].First.After(out[j-1].First); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// MailRecipients returns the recipients (MACs) of a send by state.
func (s *Shared) MailRecipients(ctx context.Context, election, send string) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT addr, state FROM mailings WHERE election = ? AND send = ?`), election, send)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var a string
		var st int
		if err := rows.Scan(&a, &st); err != nil {
			return nil, err
		}
		out[a] = st
	}
	return out, rows.Err()
}
