package accounts

// The audit trail: every staff action is an event, one JSON object, each
// naming the SHA-256 of the one before it, so that an event changed,
// removed or inserted breaks the chain and the server refuses it. The
// trail lives in the database (shared.go); this file reads the trail file
// that servers before issue 18 wrote (staff-trail.jsonl), to migrate it. The accounts are derived by replaying the trail
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
