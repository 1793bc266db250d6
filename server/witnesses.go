package server

// Witnesses' cosignatures (spec §16.2). A witness that follows the log posts
// each checkpoint it cosigns here; the server keeps, for each witness it was
// told of, the latest cosignature that verifies and whose tree is this log's,
// and adds the cosignatures of the current checkpoint to the checkpoint it
// serves, so that readers requiring a witness quorum find them there.

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/atrest"
)

// WitnessStatus is what the server knows of one witness.
type WitnessStatus struct {
	Name string
	Key  string // the verifier key's hash, in hex
	// Size is the size of the latest checkpoint it cosigned (0: none yet),
	// At when the server received it, and Cosigned the time in its
	// cosignature (cosignature/v1 keys only; zero otherwise).
	Size     int64
	At       time.Time
	Cosigned time.Time
	// Pushed says the server pushes checkpoints to the witness (it has a
	// tlog-witness address); Error, if set, is why the last push failed,
	// and Retry when the server tries again.
	Pushed bool
	Error  string
	Retry  time.Time
}

// Witness is one of an election's witnesses: its verifier key and, if the
// server is to push checkpoints to it over C2SP tlog-witness, its
// submission prefix (URL).
type Witness struct {
	Key note.Verifier
	URL string
}

// ParseWitness reads a witness as an election's list holds it: its
// verifier key (a plain Ed25519 note key or a C2SP cosignature/v1 key),
// then optionally a space and its tlog-witness submission prefix
// (http:// or https://), spec §16.3.
func ParseWitness(s string) (Witness, error) {
	key, u, hasURL := strings.Cut(strings.TrimSpace(s), " ")
	v, err := board.NewWitnessVerifier(key)
	if err != nil {
		return Witness{}, err
	}
	w := Witness{Key: v}
	if hasURL {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.RawQuery != "" || p.Fragment != "" || p.User != nil {
			return Witness{}, fmt.Errorf("%q is not a witness's address (http:// or https://host/prefix)", u)
		}
		w.URL = strings.TrimSuffix(u, "/")
	}
	return w, nil
}

type witnessState struct {
	mu sync.Mutex
	// configured is the list the server was given (SetWitnessList); keys
	// and targets add the manifest's witnesses to it (spec §18.3).
	configured []Witness
	// manifestSeen is set once the manifest's witnesses were added (or
	// are being): checked on each new checkpoint until then.
	manifestSeen atomic.Bool
	keys         []note.Verifier
	targets      map[string]*pushTarget // by witness name, those with an address
	// The pushers (push.go): done ends them, cancel stops those running,
	// kicks wake them.
	done   <-chan struct{}
	cancel context.CancelFunc
	kicks  []chan struct{}
	logger *slog.Logger
	sigs   map[string]cosignature // by witness name
	// saved is the latest cosigned checkpoint kept in the checkpoint
	// file's witnessed companion, with every cosignature of it.
	saved     []byte
	savedSize int64
}

type cosignature struct {
	size     int64
	line     string // "— name base64\n"
	at       time.Time
	cosigned time.Time // the cosignature/v1 timestamp
}

// SetWitnesses names the witnesses whose cosignatures the server accepts
// (posted to it; it pushes to none).
func (e *Election) SetWitnesses(keys []note.Verifier) {
	var ws []Witness
	for _, k := range keys {
		ws = append(ws, Witness{Key: k})
	}
	e.SetWitnessList(ws)
}

// SetWitnessList names the election's witnesses: the server accepts their
// cosignatures, and pushes its checkpoints to those with an address (see
// StartPushing).
// The manifest's witnesses (spec §18.3) are added to the list: the server
// accepts their cosignatures and pushes to those with an address too.
func (e *Election) SetWitnessList(ws []Witness) {
	mws, ok := e.manifestWitnesses()
	e.witnesses.mu.Lock()
	defer e.witnesses.mu.Unlock()
	if ok {
		e.witnesses.manifestSeen.Store(true)
	}
	e.witnesses.configured = ws
	e.setWitnessesLocked(append(slices.Clone(ws), mws...))
}

// setWitnessesLocked (witnesses.mu held) makes ws the witnesses, a key
// given twice counting once (the first address given wins).
func (e *Election) setWitnessesLocked(ws []Witness) {
	e.witnesses.keys = nil
	e.witnesses.targets = map[string]*pushTarget{}
	seen := map[string]bool{}
	for _, w := range ws {
		id := fmt.Sprintf("%s+%08x", w.Key.Name(), w.Key.KeyHash())
		if seen[id] {
			if t := e.witnesses.targets[w.Key.Name()]; t == nil && w.URL != "" {
				e.witnesses.targets[w.Key.Name()] = &pushTarget{key: w.Key, url: w.URL, known: -1}
			}
			continue
		}
		seen[id] = true
		e.witnesses.keys = append(e.witnesses.keys, w.Key)
		if w.URL != "" {
			e.witnesses.targets[w.Key.Name()] = &pushTarget{key: w.Key, url: w.URL, known: -1}
		}
	}
	e.witnesses.sigs = map[string]cosignature{}
	e.startPushersLocked()
}

// manifestWitnesses returns the witnesses the manifest names, and whether
// the election has its manifest yet.
func (e *Election) manifestWitnesses() ([]Witness, bool) {
	var m *election.Manifest
	e.State(func(s *election.State) { m = s.Manifest })
	if m == nil {
		return nil, false
	}
	vs, err := m.WitnessVerifiers()
	if err != nil {
		return nil, true // cannot be: the manifest was validated
	}
	var ws []Witness
	for i, v := range vs {
		ws = append(ws, Witness{Key: v, URL: strings.TrimSuffix(m.Witnesses[i].URL, "/")})
	}
	return ws, true
}

// addManifestWitnesses adds the manifest's witnesses once the election has
// its manifest (called on each new checkpoint until then, without waiting:
// it runs apart, as it takes the election's lock).
func (e *Election) addManifestWitnesses() {
	if !e.witnesses.manifestSeen.CompareAndSwap(false, true) {
		return
	}
	go func() {
		mws, ok := e.manifestWitnesses()
		if !ok {
			e.witnesses.manifestSeen.Store(false)
			return
		}
		if len(mws) == 0 {
			return
		}
		e.witnesses.mu.Lock()
		defer e.witnesses.mu.Unlock()
		e.setWitnessesLocked(append(slices.Clone(e.witnesses.configured), mws...))
	}()
}

// Witnesses returns the status of each witness, in name order.
func (e *Election) Witnesses() []WitnessStatus {
	e.witnesses.mu.Lock()
	defer e.witnesses.mu.Unlock()
	var out []WitnessStatus
	for _, k := range e.witnesses.keys {
		s := e.witnesses.sigs[k.Name()]
		st := WitnessStatus{Name: k.Name(), Key: fmt.Sprintf("%08x", k.KeyHash()), Size: s.size, At: s.at, Cosigned: s.cosigned}
		if t := e.witnesses.targets[k.Name()]; t != nil {
			st.Pushed, st.Error, st.Retry = true, t.lastErr, t.retryAt
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// AddCosignature takes a checkpoint cosigned by a known witness: the log's
// signature and the witness's must verify, and the checkpoint's tree must
// be this log's. It returns the witness's name.
func (e *Election) AddCosignature(ctx context.Context, signed []byte) (string, error) {
	var logKey string
	e.State(func(s *election.State) { logKey = s.LogKey })
	if logKey == "" {
		return "", fmt.Errorf("%w: the election is not created yet", ErrRefused)
	}
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		return "", err
	}
	e.witnesses.mu.Lock()
	keys := e.witnesses.keys
	e.witnesses.mu.Unlock()
	for _, w := range keys {
		c, n, err := board.Open(signed, lv.Name(), lv, []note.Verifier{w}, 1)
		if err != nil {
			continue
		}
		size, err := e.st.Size(ctx)
		if err != nil {
			return "", err
		}
		if c.Size > size {
			return "", fmt.Errorf("%w: the checkpoint has %d entries, the log %d", ErrRefused, c.Size, size)
		}
		h, err := board.TreeHash(ctx, e.st, c.Size)
		if err != nil {
			return "", err
		}
		if h != c.Hash {
			return "", fmt.Errorf("%w: the cosigned tree of %d entries is not this log's", ErrRefused, c.Size)
		}
		var line string
		for _, s := range n.Sigs {
			if s.Name == w.Name() && s.Hash == w.KeyHash() {
				line = "— " + s.Name + " " + s.Base64 + "\n"
			}
		}
		// A cosignature/v1 witness's latest line is kept (the one whose
		// time the freshness bound sees), not its first.
		latest, at, ok := board.LatestCosignature(signed, w)
		if ok {
			line = latest
		}
		e.witnesses.mu.Lock()
		defer e.witnesses.mu.Unlock()
		if old := e.witnesses.sigs[w.Name()]; c.Size > old.size || c.Size == old.size && !at.Before(old.cosigned) {
			e.witnesses.sigs[w.Name()] = cosignature{size: c.Size, line: line, at: time.Now(), cosigned: at}
		}
		if err := e.saveWitnessed(c.Size, n, lv.Name()); err != nil {
			return "", err
		}
		return w.Name(), nil
	}
	return "", fmt.Errorf("%w: not a checkpoint of this log cosigned by a witness this server knows", ErrRefused)
}

// PublicCheckpoint is the checkpoint as readers get it: Checkpoint, with
// the witnesses' cosignatures of it.
func (e *Election) PublicCheckpoint(ctx context.Context) (board.Checkpoint, []byte, error) {
	c, signed, err := e.Checkpoint(ctx)
	if err != nil {
		return c, nil, err
	}
	return c, e.withCosignatures(signed, c.Size), nil
}

// withCosignatures adds to a signed checkpoint of size n the cosignatures
// the witnesses made of that same checkpoint.
func (e *Election) withCosignatures(signed []byte, n int64) []byte {
	e.witnesses.mu.Lock()
	defer e.witnesses.mu.Unlock()
	out := signed
	for _, s := range e.witnesses.sigs {
		if s.size == n && !strings.Contains(string(out), s.line) {
			out = append(out[:len(out):len(out)], s.line...)
		}
	}
	return out
}

// cosign takes a witness's cosigned checkpoint (POST /api/cosignatures).
func (h *handler) cosign(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if len(body) > board.MaxCheckpointFile {
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{"a checkpoint is smaller than that"})
		return
	}
	name, err := h.e.AddCosignature(r.Context(), body)
	if err != nil {
		h.appended(w, 0, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"witness": name})
}

// saveWitnessed keeps the latest cosigned checkpoint, with the log's
// signature and the latest cosignature of it by each witness, beside the
// checkpoint file (OpenWith checks the log against it). Called with
// witnesses.mu held. (One line a witness: a witness cosigning the same
// checkpoint again, as pushes refresh it, replaces its line.)
func (e *Election) saveWitnessed(size int64, n *note.Note, logName string) error {
	if e.cpFile == "" || size < e.witnesses.savedSize {
		return nil
	}
	out := append([]byte(n.Text), '\n')
	for _, s := range n.Sigs {
		if s.Name == logName {
			out = append(out, "— "+s.Name+" "+s.Base64+"\n"...)
			break
		}
	}
	var lines []string
	names := map[string]bool{logName: true}
	for name, c := range e.witnesses.sigs {
		if c.size == size {
			lines = append(lines, c.line)
			names[name] = true
		}
	}
	// Lines kept before (of witnesses this node has no newer line of,
	// since a restart) stay.
	if size == e.witnesses.savedSize && e.witnesses.saved != nil {
		if i := bytes.LastIndex(e.witnesses.saved, []byte("\n\n")); i >= 0 {
			for _, l := range strings.SplitAfter(string(e.witnesses.saved[i+2:]), "\n") {
				name, _, ok := strings.Cut(strings.TrimPrefix(l, "— "), " ")
				if ok && strings.HasPrefix(l, "— ") && !names[name] {
					lines = append(lines, l)
				}
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		out = append(out, l...)
	}
	if bytes.Equal(out, e.witnesses.saved) {
		return nil
	}
	if err := atrest.WriteFile(e.cpFile+WitnessedSuffix, out, 0o600); err != nil {
		return fmt.Errorf("failed to save the cosigned checkpoint: %w", err)
	}
	e.witnesses.saved, e.witnesses.savedSize = out, size
	return nil
}
