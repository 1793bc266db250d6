package accounts

// The staff trail and sessions in the database's shared state (issue 18):
// every node on one database appends to one hash chain, under the row lock
// of its head, and follows what the others append; a session opened on one
// node is one on every node, and survives restarts (issue 17).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/pquerna/otp"

	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/store"
)

// FollowInterval bounds how far behind the database a node's copy of the
// accounts may be for what is not decided in a transaction (what a page
// shows, a role seen by a read): a node reads the events other nodes
// appended this often. Everything that changes an account, and every
// second step, is decided against the database in the transaction of its
// event.
const FollowInterval = 250 * time.Millisecond

// MigratedSuffix is added to the name of a trail file moved into the
// database; the file is kept read-only, as a backup.
const MigratedSuffix = ".migrated"

// errConflict wraps the refusal of an event that the database's state,
// newer than the node's copy, does not allow (another node acted first).
var errConflict = errors.New("another server acted first")

func (s *Service) headMAC(seq int64, hash string) string {
	m := hmac.New(sha256.New, s.headKey)
	fmt.Fprintf(m, "%d %s", seq, hash)
	return hex.EncodeToString(m.Sum(nil))
}

// replayLine checks that line is the next event of the chain, checks and
// applies it (under s.mu).
func (s *Service) replayLine(line []byte) error {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return fmt.Errorf("%w: event %d: %v", ErrTrail, s.seq+1, err)
	}
	if e.Seq != s.seq+1 || e.Prev != s.last {
		return fmt.Errorf("%w: event %d does not follow event %d (an event was changed, removed or inserted)", ErrTrail, e.Seq, s.seq)
	}
	if err := s.check(&e); err != nil {
		return fmt.Errorf("%w: event %d: %v", ErrTrail, e.Seq, err)
	}
	s.apply(&e)
	h := sha256.Sum256(line)
	s.seq, s.last = e.Seq, hex.EncodeToString(h[:])
	return nil
}

// catchUp applies the events of lines, which follow s.seq, up to head
// (under s.mu). Nothing is applied unless the lines chain from the node's
// last event to the head and the head's MAC is authentic: events written
// into the database by someone without the staff key (who can chain them
// by their hashes, but cannot make the head's MAC) are never applied, and
// so never get an authentic MAC from this node's next append.
func (s *Service) catchUp(lines [][]byte, head store.TrailHead) error {
	if err := s.authentic(lines, head); err != nil {
		return err
	}
	for _, l := range lines {
		if err := s.replayLine(l); err != nil {
			return err
		}
	}
	return nil
}

// authentic checks, without applying anything, that lines are the events
// after the node's last one (under s.mu) and that head names the last of
// them under an authentic MAC.
func (s *Service) authentic(lines [][]byte, head store.TrailHead) error {
	seq, last := s.seq, s.last
	for _, l := range lines {
		var e Event
		dec := json.NewDecoder(bytes.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return fmt.Errorf("%w: event %d: %v", ErrTrail, seq+1, err)
		}
		if e.Seq != seq+1 || e.Prev != last {
			return fmt.Errorf("%w: event %d does not follow event %d (an event was changed, removed or inserted)", ErrTrail, e.Seq, seq)
		}
		h := sha256.Sum256(l)
		seq, last = e.Seq, hex.EncodeToString(h[:])
	}
	if head.Seq == 0 && seq == 0 {
		return nil // an empty trail
	}
	if head.Seq != seq || head.Hash != last || !hmac.Equal([]byte(head.MAC), []byte(s.headMAC(head.Seq, head.Hash))) {
		return fmt.Errorf("%w: its head names event %d, which is not the last event or not authentic (events were cut off, added or replaced, or this server's staff key is not the one of the servers that wrote it)", ErrTrail, head.Seq)
	}
	return nil
}

// follow applies what other nodes appended since (under s.mu), once the
// head's MAC is checked.
func (s *Service) follow(ctx context.Context) error {
	lines, head, err := s.shared.TrailSince(ctx, s.seq)
	if err != nil {
		return err
	}
	return s.catchUp(lines, head)
}

// SeenFile, in a node's folder, names the last event of the trail the node
// has seen (its number and hash). The head's MAC tells a trail made by
// someone without the staff key, not an older one: a node refuses to start
// on a database whose trail does not reach that event (cut short, emptied,
// or put back as an older backup had it, by someone who can write the
// database but not the node's folder).
const SeenFile = "staff-trail.seen"

// checkSeen checks the replayed trail against SeenFile (under s.mu).
func (s *Service) checkSeen(ctx context.Context) error {
	if s.o.Dir == "" {
		return nil
	}
	path := filepath.Join(s.o.Dir, SeenFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var seq int64
	var hash string
	if _, err := fmt.Sscanf(string(b), "%d %s", &seq, &hash); err != nil || seq < 1 {
		return fmt.Errorf("%s: not a trail's event", path)
	}
	refuse := fmt.Errorf("%w: this server saw its event %d, which the database's trail does not have (cut short, emptied, or put back as an older backup had it); if the database was restored from a backup on purpose, delete %s", ErrTrail, seq, path)
	if seq > s.seq {
		return refuse
	}
	lines, _, err := s.shared.TrailSince(ctx, seq-1)
	if err != nil {
		return err
	}
	if h := sha256.Sum256(lines[0]); hex.EncodeToString(h[:]) != hash {
		return refuse
	}
	return nil
}

// writeSeen writes SeenFile, if the node has seen events since it last did.
func (s *Service) writeSeen() {
	s.mu.Lock()
	seq, last, seen := s.seq, s.last, s.seen
	s.mu.Unlock()
	if s.o.Dir == "" || seq == seen || seq == 0 {
		return
	}
	if err := atrest.WriteFile(filepath.Join(s.o.Dir, SeenFile), fmt.Appendf(nil, "%d %s\n", seq, last), 0o600); err != nil {
		return // written at the next event
	}
	s.mu.Lock()
	s.seen = max(s.seen, seq)
	s.mu.Unlock()
}

// followLoop follows the trail until stop is closed, reading outside
// s.mu (a slow database holds up no request), and sweeps the sessions
// expired now and then.
func (s *Service) followLoop(stop <-chan struct{}) {
	t := time.NewTicker(FollowInterval)
	defer t.Stop()
	var swept time.Time
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.mu.Lock()
		seq := s.seq
		s.mu.Unlock()
		lines, head, err := s.shared.TrailSince(ctx, seq)
		if err == nil && (len(lines) > 0 || head.Seq != seq) {
			s.mu.Lock()
			if s.seq == seq {
				if err := s.catchUp(lines, head); err != nil {
					s.broken = err
				}
			}
			s.mu.Unlock()
		}
		s.writeSeen()
		if now := time.Now(); now.Sub(swept) > time.Hour {
			swept = now
			s.shared.SweepSessions(ctx, s.now())
		}
		cancel()
	}
}

// freshen follows the trail before a decision that reads the accounts
// (under s.mu); an error leaves the copy as it was, and the decision's
// event, if any, is checked in its transaction anyway.
func (s *Service) freshen() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.follow(ctx); errors.Is(err, ErrTrail) {
		s.broken = err
	}
}

// record appends an event, checked against the database's state in the
// same transaction, under the row lock of the trail's head (under s.mu).
func (s *Service) record(action, actor, client string, data any) error {
	return s.recordWith(action, actor, client, data, nil)
}

// recordWith is record, running also (if set) in the event's transaction
// after the node's copy has caught up with the database: a decision that
// reads the accounts (a permission) is made there, and so are the
// changes to sessions that go with the event.
func (s *Service) recordWith(action, actor, client string, data any, also func(*store.TrailTx) error) error {
	if s.broken != nil {
		return s.broken
	}
	b, err := json.Marshal(data)
	if err != nil {
		return err
	}
	e := &Event{Action: action, Actor: actor, Client: client, Data: b, At: s.now().UTC()}
	var hash string
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = s.shared.Trail(ctx, func(tt *store.TrailTx) error {
		if tt.Head.Seq != s.seq {
			lines, err := tt.Since(ctx, s.seq)
			if err != nil {
				return err
			}
			if err := s.catchUp(lines, tt.Head); err != nil {
				s.broken = err
				return err
			}
		}
		if tt.Head.Seq != s.seq || (s.seq > 0 && tt.Head.Hash != s.last) {
			err := fmt.Errorf("%w: its head does not name its last event", ErrTrail)
			s.broken = err
			return err
		}
		e.Seq, e.Prev = s.seq+1, s.last
		line, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if len(line) > maxAppendLine {
			return fmt.Errorf("the event is too long for the audit trail (%d bytes)", len(line))
		}
		if err := s.check(e); err != nil {
			return fmt.Errorf("%w: %w", errConflict, err)
		}
		if also != nil {
			if err := also(tt); err != nil {
				return err
			}
		}
		h := sha256.Sum256(line)
		hash = hex.EncodeToString(h[:])
		return tt.Append([][]byte{line}, store.TrailHead{Seq: e.Seq, Hash: hash, MAC: s.headMAC(e.Seq, hash)})
	})
	if err != nil {
		return err
	}
	s.apply(e)
	s.seq, s.last = e.Seq, hash
	return nil
}

// migrateFile moves the trail file of a server older than issue 18 into the
// database, on first start: the file is replayed (its chain and head
// checked, as before), its lines appended as they are (so that the chain's
// hashes stay), and the file renamed with MigratedSuffix, read-only. A
// database that has a trail already must begin with the file's events
// (another node moved the same file, or this one stopped before renaming
// it); a file with another history is refused.
func (s *Service) migrateFile(ctx context.Context, path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	// Replayed on a scratch copy: the check and apply of every event, the
	// chain and the head, as a server before issue 18 did.
	scratch := &Service{accounts: map[string]*Account{}, byEmail: map[string]string{}}
	t, err := openTrail(path, s.key, func(e *Event) error {
		if err := scratch.check(e); err != nil {
			return err
		}
		scratch.apply(e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	seq, last := t.seq, t.last
	t.close()
	lines, err := readLines(path, seq)
	if err != nil {
		return err
	}
	err = s.shared.Trail(ctx, func(tt *store.TrailTx) error {
		if tt.Head.Seq == 0 {
			if seq == 0 {
				return nil
			}
			return tt.Append(lines, store.TrailHead{Seq: seq, Hash: last, MAC: s.headMAC(seq, last)})
		}
		have, err := tt.Since(ctx, 0)
		if err != nil {
			return err
		}
		if int64(len(have)) < seq {
			return fmt.Errorf("%w: the database's trail is shorter than the file %s: is it this server's database?", ErrTrail, path)
		}
		for i, l := range lines {
			if !bytes.Equal(l, have[i]) {
				return fmt.Errorf("%w: the database's trail and the file %s differ at event %d: is it this server's database?", ErrTrail, path, i+1)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range []string{path, filepath.Join(filepath.Dir(path), HeadFile)} {
		if _, err := os.Stat(p); err != nil {
			continue
		}
		if err := os.Rename(p, p+MigratedSuffix); err != nil {
			return err
		}
		if err := os.Chmod(p+MigratedSuffix, 0o400); err != nil {
			return err
		}
	}
	return nil
}

// readLines reads the first n lines of a trail file (without their line
// ends).
func readLines(path string, n int64) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxEventLine+1)
	var out [][]byte
	for int64(len(out)) < n && sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if int64(len(out)) != n {
		return nil, fmt.Errorf("%w: %s changed while it was read", ErrTrail, path)
	}
	return out, nil
}

// events returns the trail's events after seq up to upto, read from the
// database and checked: they chain, by their hashes, to last, the hash of
// event upto as the node checked it (its copy's head). An event changed in
// the database since is refused, not shown.
func (s *Service) events(ctx context.Context, seq, upto int64, last string) ([]*Event, error) {
	if upto <= seq {
		return nil, nil
	}
	lines, _, err := s.shared.TrailSince(ctx, seq)
	if err != nil {
		return nil, err
	}
	if int64(len(lines)) < upto-seq {
		return nil, fmt.Errorf("%w: the database's trail ends before event %d", ErrTrail, upto)
	}
	lines = lines[:upto-seq]
	out := make([]*Event, len(lines))
	want := last
	for i := len(lines) - 1; i >= 0; i-- {
		h := sha256.Sum256(lines[i])
		var e Event
		if hex.EncodeToString(h[:]) != want || json.Unmarshal(lines[i], &e) != nil || e.Seq != seq+int64(i)+1 {
			return nil, fmt.Errorf("%w: event %d was changed in the database", ErrTrail, seq+int64(i)+1)
		}
		out[i], want = &e, e.Prev
	}
	return out, nil
}

// --- sessions ---

// sessionRecord is a session as the database keeps it, sealed.
type sessionRecord struct {
	Account      string                `json:"account"`
	SecondFactor bool                  `json:"second_factor"`
	StepAt       time.Time             `json:"step_at"`
	Created      time.Time             `json:"created"`
	LastSeen     time.Time             `json:"last_seen"`
	Client       string                `json:"client"`
	Device       string                `json:"device,omitempty"`
	UserAgent    string                `json:"user_agent,omitempty"`
	PendingTOTP  string                `json:"pending_totp,omitempty"` // an enrolment's otpauth URL: its secret
	PendingWA    *webauthn.SessionData `json:"pending_wa,omitempty"`
	WARegister   bool                  `json:"wa_register,omitempty"`
}

func sessionPurpose(hash [32]byte) string {
	return "scrutin/v0/staff-session\x00" + hex.EncodeToString(hash[:])
}

// sessionTTL is how long a session lives from its creation.
func sessionTTL(se *Session) time.Duration {
	if se.SecondFactor {
		return SessionTTL
	}
	return HalfTTL
}

// sealSession seals a session, bound to its hash (a row moved under
// another session's hash does not open).
func (s *Service) sealSession(hash [32]byte, se *Session) []byte {
	r := sessionRecord{Account: se.Account, SecondFactor: se.SecondFactor, StepAt: se.StepAt, Created: se.Created, LastSeen: se.LastSeen,
		Client: se.Client, Device: se.Device, UserAgent: se.UserAgent}
	if se.pendingTOTP != nil {
		r.PendingTOTP = se.pendingTOTP.URL()
	}
	if se.pendingWA != nil {
		r.PendingWA, r.WARegister = &se.pendingWA.data, se.pendingWA.register
	}
	b, _ := json.Marshal(r)
	return atrest.Seal(s.key, sessionPurpose(hash), b)
}

func (s *Service) openSession(id string, hash [32]byte, sealed []byte) (*Session, error) {
	b, err := atrest.Open(s.key, sessionPurpose(hash), sealed)
	if err != nil {
		return nil, err
	}
	var r sessionRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	se := &Session{ID: id, Account: r.Account, SecondFactor: r.SecondFactor, StepAt: r.StepAt, Created: r.Created, LastSeen: r.LastSeen,
		Client: r.Client, Device: r.Device, UserAgent: r.UserAgent}
	if r.PendingTOTP != "" {
		if se.pendingTOTP, err = otp.NewKeyFromURL(r.PendingTOTP); err != nil {
			return nil, err
		}
	}
	if r.PendingWA != nil {
		se.pendingWA = &waSession{data: *r.PendingWA, register: r.WARegister}
	}
	return se, nil
}

// keepSession keeps a new session.
func (s *Service) keepSession(se *Session) error {
	h := sha256.Sum256([]byte(se.ID))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.shared.PutSession(ctx, h, se.Account, se.Created.Add(sessionTTL(se)), s.sealSession(h, se))
}

// saveSession saves a kept session's changes; a session ended meanwhile
// (signed out, revoked, its account disabled) stays ended: ErrDenied.
func (s *Service) saveSession(se *Session) error {
	h := sha256.Sum256([]byte(se.ID))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, err := s.shared.UpdateSession(ctx, h, se.Created.Add(sessionTTL(se)), s.sealSession(h, se))
	if err == nil && !ok {
		err = ErrDenied
	}
	return err
}

// loadSession reads the session with this id from the database.
func (s *Service) loadSession(id string) (*Session, bool) {
	h := sha256.Sum256([]byte(id))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, sealed, ok, err := s.shared.Session(ctx, h)
	if err != nil || !ok {
		return nil, false
	}
	se, err := s.openSession(id, h, sealed)
	if err != nil {
		return nil, false
	}
	return se, true
}

// live reports whether the session is kept in the database.
func (s *Service) live(se *Session) bool {
	_, ok := s.loadSession(se.ID)
	return ok
}

// ghostKey names the failures of a client at an address without an
// account, in the shared state.
func ghostKey(email, client string) string {
	return "staff/ghost/" + hashHex(email+"\x00"+clientKey(client))
}

func (s *Service) ghostLockedUntil(email, client string) time.Time {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, last, err := s.shared.Failures(ctx, ghostKey(email, client))
	if err != nil {
		return s.now().Add(time.Minute) // unknown: locked, as an account would be
	}
	return lockedUntil(failures{n, last})
}

func (s *Service) ghostFailed(email, client string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.shared.Failed(ctx, ghostKey(email, client), 24*time.Hour, s.now())
}

// tailWhere returns the last n events that keep accepts (all if nil), and
// how many it accepted in all.
func (s *Service) tailWhere(n int, keep func(*Event) bool) ([]*Event, int64, error) {
	s.mu.Lock()
	s.freshen() // what other nodes appended, checked
	seq, last := s.seq, s.last
	s.mu.Unlock()
	events, err := s.events(context.Background(), 0, seq, last)
	if err != nil {
		return nil, 0, err
	}
	var ring []*Event
	var kept int64
	for _, e := range events {
		if keep != nil && !keep(e) {
			continue
		}
		kept++
		ring = append(ring, e)
		if len(ring) > n {
			ring = ring[1:]
		}
	}
	return ring, kept, nil
}
