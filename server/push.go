package server

// Pushing checkpoints to the election's witnesses over C2SP tlog-witness
// (spec §16.3). One goroutine per loaded election pushes, apart from every
// request: casting only wakes it (a send that never waits), so a witness
// that hangs, refuses or is gone slows no ballot. A witness that fails is
// tried again after a back-off that doubles up to pushMaxBackoff.
//
// With several nodes on one database, each node pushes the checkpoints it
// signs. Witnesses are idempotent and check the old size they are sent: a
// node behind another gets 409 with the size the witness holds and, if that
// is beyond its own tree, waits until it has caught up; pushing the same
// checkpoint twice gets the same statement again.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
)

// Push timings (variables for tests).
var (
	// pushTimeout bounds one add-checkpoint request.
	pushTimeout = 10 * time.Second
	// pushRefresh is how often a witness is sent the current checkpoint
	// again even when the log has not grown, so that its cosignature stays
	// fresh (readers bound its age, spec §16.2: 24 hours by default).
	pushRefresh = time.Hour
	// pushMinBackoff and pushMaxBackoff bound the wait after a failure.
	pushMinBackoff = time.Second
	pushMaxBackoff = 5 * time.Minute
)

// pushTarget is a witness the server pushes to (fields under
// witnessState.mu).
type pushTarget struct {
	key note.Verifier
	url string
	// known is the size of the checkpoint the witness last cosigned, as
	// far as this node knows (-1: not known yet; 0 is sent, and a 409
	// tells).
	known int64
	// held is the size of the checkpoint whose cosignature by this
	// witness this node keeps: with several nodes the witness may know a
	// newer checkpoint (known) than the one this node holds a
	// cosignature of.
	held     int64
	pushed   time.Time // of the last cosignature received
	failures int
	retryAt  time.Time
	lastErr  string
}

var pushClient = &http.Client{Timeout: pushTimeout}

// StartPushing starts pushing checkpoints to the witnesses with an address
// (SetWitnessList, now and whenever it changes them), until done is closed
// or the election stops for good: one goroutine a witness, so that one
// that hangs delays no other. Failures are logged to logger (nil: nowhere)
// and shown by Witnesses. A second call replaces the first.
func (e *Election) StartPushing(done <-chan struct{}, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e.witnesses.mu.Lock()
	defer e.witnesses.mu.Unlock()
	e.witnesses.logger, e.witnesses.done = logger, done
	e.startPushersLocked()
}

// startPushersLocked (witnesses.mu held) stops the pushers running, if
// any, and starts one for each witness with an address.
func (e *Election) startPushersLocked() {
	ws := &e.witnesses
	if ws.cancel != nil {
		ws.cancel()
		ws.cancel, ws.kicks = nil, nil
	}
	if ws.done == nil || len(ws.targets) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	ws.cancel = cancel
	done, stopped := ws.done, e.Stopped()
	go func() {
		select {
		case <-done:
		case <-stopped:
		case <-ctx.Done():
		}
		cancel()
	}()
	for _, t := range ws.targets {
		kick := make(chan struct{}, 1)
		ws.kicks = append(ws.kicks, kick)
		go e.pushLoop(ctx, t, kick)
	}
}

// kickPush wakes the pushers, never waiting.
func (e *Election) kickPush() {
	e.witnesses.mu.Lock()
	defer e.witnesses.mu.Unlock()
	for _, kick := range e.witnesses.kicks {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
}

// pushLoop pushes the current checkpoint to one witness whenever it is
// due: when the log has grown (kick), after a back-off following a
// failure, and every pushRefresh.
func (e *Election) pushLoop(ctx context.Context, t *pushTarget, kick <-chan struct{}) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-timer.C:
		}
		next := e.pushOnce(ctx, t)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(time.Until(next))
	}
}

// pushOnce pushes the current checkpoint to t if it is due, and returns
// when t is next due.
func (e *Election) pushOnce(ctx context.Context, t *pushTarget) time.Time {
	now := time.Now()
	e.cpMu.Lock()
	cp := e.cp
	e.cpMu.Unlock()
	if cp == nil {
		return now.Add(pushRefresh)
	}
	e.witnesses.mu.Lock()
	switch {
	case t.retryAt.After(now):
		e.witnesses.mu.Unlock()
		return t.retryAt
	case t.held >= cp.c.Size && t.lastErr == "" && now.Sub(t.pushed) < pushRefresh:
		e.witnesses.mu.Unlock()
		return t.pushed.Add(pushRefresh)
	}
	e.witnesses.mu.Unlock()
	err := e.pushTo(ctx, t, cp)
	e.witnesses.mu.Lock()
	defer e.witnesses.mu.Unlock()
	if err == nil {
		t.failures, t.lastErr, t.retryAt = 0, "", time.Time{}
		if t.held < cp.c.Size {
			// The witness knows a newer checkpoint, another node's: this
			// node's own will catch up (following the log, which wakes no
			// pusher), and then be pushed.
			return time.Now().Add(pushMinBackoff)
		}
		return time.Now().Add(pushRefresh)
	}
	if ctx.Err() != nil {
		return time.Now().Add(pushRefresh)
	}
	t.failures++
	backoff := min(pushMinBackoff<<min(t.failures-1, 20), pushMaxBackoff)
	t.retryAt, t.lastErr = time.Now().Add(backoff), err.Error()
	e.witnesses.logger.Warn("a witness did not cosign the checkpoint", "witness", t.key.Name(), "size", cp.c.Size, "err", err, "retry", t.retryAt)
	return t.retryAt
}

// pushTo sends the checkpoint to one witness and keeps its cosignature.
func (e *Election) pushTo(ctx context.Context, t *pushTarget, cp *signedCheckpoint) error {
	e.witnesses.mu.Lock()
	old := max(t.known, 0)
	e.witnesses.mu.Unlock()
	n := cp.c.Size
	// At most: a first try, one after a 409 telling the witness's size.
	for range 2 {
		if old > n {
			e.witnesses.mu.Lock()
			t.known = old
			e.witnesses.mu.Unlock()
			return nil // another node's newer checkpoint; not a failure
		}
		req := board.AddCheckpoint{OldSize: old, Checkpoint: cp.signed}
		if old != 0 && old != n {
			p, err := board.ProveConsistency(ctx, e.st, old, n)
			if err != nil {
				return fmt.Errorf("failed to prove the tree of %d entries extends that of %d: %w", n, old, err)
			}
			req.Proof = p
		}
		status, resp, err := postWitness(ctx, t.url+"/add-checkpoint", req.Marshal())
		if err != nil {
			return err
		}
		switch status {
		case http.StatusOK:
			return e.takeCosignature(ctx, t, cp, resp)
		case http.StatusConflict:
			m, err := board.ParseConflict(resp)
			if err != nil {
				return fmt.Errorf("the witness answered 409 Conflict without its size: %w", err)
			}
			if m == old {
				return fmt.Errorf("the witness answered 409 Conflict with the old size sent (%d)", m)
			}
			old = m
			continue
		default:
			return fmt.Errorf("the witness answered %d: %s", status, firstLine(resp))
		}
	}
	return errors.New("the witness answered 409 Conflict twice")
}

// takeCosignature checks a witness's answer: signature lines, of which the
// witness's own must verify on this checkpoint (and be fresh, if it is a
// cosignature/v1); it is kept and served with the checkpoint.
func (e *Election) takeCosignature(ctx context.Context, t *pushTarget, cp *signedCheckpoint, lines []byte) error {
	if len(lines) == 0 || lines[len(lines)-1] != '\n' || !bytes.HasPrefix(lines, []byte("— ")) {
		return errors.New("the witness's answer is not signature lines")
	}
	var logKey string
	e.State(func(s *election.State) { logKey = s.LogKey })
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		return err
	}
	// Only the log's line and the witness's own: other lines in the
	// answer (other keys of the witness) are not passed on.
	signed := append(bytes.Clone(cp.signed), lines...)
	_, opened, err := board.OpenFresh(signed, lv.Name(), lv, []note.Verifier{t.key}, 1, board.Freshness{MaxAge: pushRefresh})
	if err != nil {
		return fmt.Errorf("the witness's answer holds no valid, fresh cosignature by its key: %w", err)
	}
	var own []byte
	own = append(own, cp.signed...)
	for _, s := range opened.Sigs {
		if s.Name == t.key.Name() && s.Hash == t.key.KeyHash() {
			own = append(own, "— "+s.Name+" "+s.Base64+"\n"...)
		}
	}
	if _, err := e.AddCosignature(ctx, own); err != nil {
		return err
	}
	e.witnesses.mu.Lock()
	t.known, t.held, t.pushed = cp.c.Size, cp.c.Size, time.Now()
	e.witnesses.mu.Unlock()
	return nil
}

func postWitness(ctx context.Context, url string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, pushTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := pushClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("the witness could not be reached: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, nil, fmt.Errorf("the witness's answer could not be read: %w", err)
	}
	return resp.StatusCode, b, nil
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}
