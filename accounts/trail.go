package accounts

// The audit trail: every staff action is an event appended to a file, one
// JSON object per line, each naming the SHA-256 of the line before it, so
// that a line changed, removed or inserted breaks the chain and the server
// refuses to start on it. The accounts are derived by replaying the trail
// (Apply is the one code path that changes them), as the election's state
// is derived from its log.

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/scrutin/scrutin/internal/atrest"
)

// Event is one line of the trail.
type Event struct {
	Seq    int64           `json:"seq"`
	At     time.Time       `json:"at"`
	Action string          `json:"action"`
	Actor  string          `json:"actor,omitempty"`  // the account that acted, "" for the system
	Client string          `json:"client,omitempty"` // the address it acted from
	Data   json.RawMessage `json:"data,omitempty"`
	Prev   string          `json:"prev"` // SHA-256 of the previous line, hex
}

// genesisHash is the Prev of the first event.
var genesisHash = func() string {
	h := sha256.Sum256([]byte("scrutin/v0/staff-trail"))
	return hex.EncodeToString(h[:])
}()

// ErrTrail marks a trail that does not replay.
var ErrTrail = errors.New("the staff audit trail is damaged")

// maxEventLine bounds one line of the trail when it is read;
// maxAppendLine, smaller, when it is written.
const (
	maxEventLine  = 1 << 20
	maxAppendLine = 64 << 10
)

// trail is the open trail file.
type trail struct {
	mu   sync.Mutex
	f    *os.File
	seq  int64
	last string
	// head is the file that commits, under a MAC keyed by the staff key,
	// to the trail's last event: cutting events off the end, or writing a
	// whole new chain, is then seen too.
	head    string
	headKey []byte
}

// HeadFile is the trail's head record, beside it.
const HeadFile = "staff-trail.head"

func (t *trail) headLine(seq int64, hash string) []byte {
	m := hmac.New(sha256.New, t.headKey)
	fmt.Fprintf(m, "%d %s", seq, hash)
	return []byte(fmt.Sprintf("%d %s %x\n", seq, hash, m.Sum(nil)))
}

func (t *trail) writeHead() error { return atrest.WriteFile(t.head, t.headLine(t.seq, t.last), 0o600) }

// checkHead compares the head record with the replayed trail. A crash
// between an event's write and the head's leaves the head one event
// behind, naming the last event's predecessor: that is accepted.
func (t *trail) checkHead(prevOfLast string) error {
	b, err := os.ReadFile(t.head)
	if errors.Is(err, os.ErrNotExist) {
		if t.seq == 0 {
			return nil
		}
		return fmt.Errorf("%w: its head record %s is missing", ErrTrail, t.head)
	}
	if err != nil {
		return err
	}
	var seq int64
	var hash, mac string
	if _, err := fmt.Sscanf(string(b), "%d %s %s", &seq, &hash, &mac); err != nil || !hmac.Equal(b, t.headLine(seq, hash)) {
		return fmt.Errorf("%w: its head record is not authentic", ErrTrail)
	}
	switch {
	case seq == t.seq && hash == t.last:
		return nil
	case seq == t.seq-1 && hash == prevOfLast:
		return t.writeHead()
	}
	return fmt.Errorf("%w: its head record names event %d, the file ends at event %d (events were cut off or the file replaced)", ErrTrail, seq, t.seq)
}

// openTrail opens (or creates, mode 0600) the trail at path and replays
// every event into apply, checking the chain.
func openTrail(path string, key []byte, apply func(*Event) error) (*trail, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	t := &trail{f: f, last: genesisHash, head: filepath.Join(filepath.Dir(path), HeadFile), headKey: atrest.Derive(key, "scrutin/v0/staff-trail-head")}
	prevOfLast := ""
	r := bufio.NewReaderSize(f, 64<<10)
	var pos int64 // the end of the last complete line
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				// A crash mid-write leaves a line without its newline:
				// it was never acknowledged, so it is cut off.
				if terr := f.Truncate(pos); terr != nil {
					f.Close()
					return nil, terr
				}
			}
			break
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		if len(line) > maxEventLine {
			f.Close()
			return nil, fmt.Errorf("%w: event %d is too long", ErrTrail, t.seq+1)
		}
		var e Event
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: event %d: %v", ErrTrail, t.seq+1, err)
		}
		if e.Seq != t.seq+1 || e.Prev != t.last {
			f.Close()
			return nil, fmt.Errorf("%w: event %d does not follow event %d (a line was changed, removed or inserted)", ErrTrail, e.Seq, t.seq)
		}
		if err := apply(&e); err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: event %d: %v", ErrTrail, e.Seq, err)
		}
		h := sha256.Sum256(line[:len(line)-1])
		prevOfLast = t.last
		t.seq, t.last = e.Seq, hex.EncodeToString(h[:])
		pos += int64(len(line))
	}
	if err := t.checkHead(prevOfLast); err != nil {
		f.Close()
		return nil, err
	}
	return t, nil
}

// append writes an event durably (fsync) once check accepts it, then
// applies it. It fills Seq, Prev and At. If the write fails, the trail is
// closed: whether the line reached the disk is unknown, and only a restart
// (which replays the file) knows.
func (t *trail) append(e *Event, check func(*Event) error, apply func(*Event)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return errors.New("the staff audit trail is closed")
	}
	e.Seq, e.Prev = t.seq+1, t.last
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if len(line) > maxAppendLine {
		return fmt.Errorf("the event is too long for the audit trail (%d bytes)", len(line))
	}
	if err := check(e); err != nil {
		return err
	}
	_, err = t.f.Write(append(line, '\n'))
	if err == nil {
		err = t.f.Sync()
	}
	if err != nil {
		t.f.Close()
		t.f = nil
		return fmt.Errorf("the staff audit trail could not be written (restart the server): %w", err)
	}
	h := sha256.Sum256(line)
	t.seq, t.last = e.Seq, hex.EncodeToString(h[:])
	apply(e)
	if err := t.writeHead(); err != nil {
		t.f.Close()
		t.f = nil
		return fmt.Errorf("the staff audit trail's head could not be written (restart the server): %w", err)
	}
	return nil
}

func (t *trail) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}

// tail returns the last n events (at most), oldest first.
func (t *trail) tail(n int) ([]*Event, error) {
	events, _, err := t.tailWhere(n, nil)
	return events, err
}

// tailWhere returns the last n events that keep accepts (all if nil), and
// how many it accepted in all.
func (t *trail) tailWhere(n int, keep func(*Event) bool) ([]*Event, int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.f == nil {
		return nil, 0, errors.New("the staff audit trail is closed")
	}
	f, err := os.Open(t.f.Name())
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var ring []*Event
	var kept int64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxEventLine+1)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, 0, err
		}
		if keep != nil && !keep(&e) {
			continue
		}
		kept++
		ring = append(ring, &e)
		if len(ring) > n {
			ring = ring[1:]
		}
	}
	return ring, kept, sc.Err()
}
