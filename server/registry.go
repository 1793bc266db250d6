package server

// The registry: every election of one store, served by one process. Each
// election has its own log, log key, checkpoint file and API; one that
// fails to load is marked failed, and the others serve. Elections being set
// up or voted on are loaded at start; decided ones (closed, tallied, result
// recorded) are listed from the summary the store keeps of them, loaded on
// first use, and unloaded after a while unused.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/store"
)

// ElectionInfo is what the store's catalogue records about an election.
type ElectionInfo = store.Info

// Catalogue is the store of every election (a *store.DB).
type Catalogue interface {
	Elections(ctx context.Context) ([]ElectionInfo, error)
	Create(ctx context.Context, id string, witnesses []string) error
	Log(ctx context.Context, id string) (store.Store, error)
	SaveSummary(ctx context.Context, id string, size int64, summary []byte) error
	SetWitnesses(ctx context.Context, id string, witnesses []string) error
}

// Errors of the registry.
var (
	// ErrNoElection: no election has this id (404, with no detail).
	ErrNoElection = store.ErrNoElection
	// ErrFailed wraps the reason an election's log failed to load.
	ErrFailed = errors.New("the election failed to load")
)

// LogSeed is the seed of an election's log key: derived from the server's
// master seed and the election's id (spec: "scrutin/v0/log-key/" + id),
// except for a legacy election (a single-election folder or database made
// before elections had ids), whose log key is the master seed itself.
func LogSeed(master []byte, id string, legacy bool) []byte {
	if legacy {
		return master
	}
	m := hmac.New(sha256.New, master)
	m.Write([]byte("scrutin/v0/log-key/" + id))
	return m.Sum(nil)
}

// The per-election files of a data folder.
const (
	// CheckpointDir holds each election's checkpoint file, named by its id.
	CheckpointDir = "checkpoints"
	// ElectionsDir holds a folder per election (its sign-in list and key).
	ElectionsDir = "elections"
	// LegacyID is the id of the election of a folder or database made
	// before elections had ids.
	LegacyID = "main"
)

// ElectionDir is the folder of election id's files in the data folder dir.
func ElectionDir(dir, id string) string { return filepath.Join(dir, ElectionsDir, id) }

// MoveLegacyFiles moves the files of a single-election data folder to
// where those of election "main" live: the sign-in list and its key to
// DIR/elections/main/ and, if cpDir (the server's checkpoint folder) is
// given, DIR/log.checkpoint (and its witnessed companion) to cpDir/main.
// Only the server knows its checkpoint folder (--checkpoint-dir): other
// commands leave the checkpoint file for it. It does nothing for files
// already moved, and refuses to overwrite.
func MoveLegacyFiles(dir, cpDir string) error {
	moves := [][2]string{
		{filepath.Join(dir, SignInListFile), filepath.Join(ElectionDir(dir, LegacyID), SignInListFile)},
		{filepath.Join(dir, SignInKeyFile), filepath.Join(ElectionDir(dir, LegacyID), SignInKeyFile)},
	}
	if cpDir != "" {
		moves = append(moves,
			[2]string{filepath.Join(dir, CheckpointFile), filepath.Join(cpDir, LegacyID)},
			[2]string{filepath.Join(dir, CheckpointFile+WitnessedSuffix), filepath.Join(cpDir, LegacyID+WitnessedSuffix)})
	}
	for _, m := range moves {
		if _, err := os.Lstat(m[0]); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if _, err := os.Lstat(m[1]); err == nil {
			return fmt.Errorf("both %s and %s exist: keep the right one (the latest) at %s, and remove the other", m[0], m[1], m[1])
		}
		if err := os.MkdirAll(filepath.Dir(m[1]), 0o700); err != nil {
			return err
		}
		if err := os.Rename(m[0], m[1]); err != nil {
			return err
		}
		syncDir(filepath.Dir(m[1]))
		syncDir(filepath.Dir(m[0]))
	}
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// RegistryOptions configure OpenRegistry.
type RegistryOptions struct {
	DB         Catalogue
	MasterSeed []byte // DIR/log.key (or --log-key-file)
	// CheckpointDir holds each election's checkpoint file, named by its id
	// ("": none). A legacy checkpoint file beside it (its parent's
	// log.checkpoint) moves to CheckpointDir/main on first start.
	CheckpointDir string
	// AcceptRollback is the operator's choice to start on logs that do not
	// extend the checkpoints this server signed (OpenOptions): with it,
	// every election is loaded at start (and the decided ones unloaded
	// after), and later loads do not accept a rollback.
	AcceptRollback bool
	// Shared says that other nodes run these elections on the same
	// database (PostgreSQL): an election whose checkpoint file is missing
	// is loaded as a joining node does (OpenOptions.Joining).
	Shared bool
	Logger *slog.Logger
	// Handler gives an election's API options (sign-in, officers' check).
	// It is called when the election is loaded, and again when its
	// manifest is recorded (its fingerprint is then known); a SignIn it
	// gave before is then closed, as when the election is unloaded.
	Handler func(id string, e *Election) Options
}

// Summary is what lists show of an election, kept without its log.
type Summary struct {
	ID      string
	Created time.Time
	Title   election.Text
	Phase   election.Phase
	// Opens and Closes are the voting window (zero if none); Closes is
	// the end in force (spec §18.7), later than the manifest's if voting
	// was extended.
	Opens, Closes time.Time
	Ballots       int
	Public        bool   // its manifest is recorded
	Failed        string // why its log failed to load ("" if it did not)
}

// storedSummary is the summary kept in the store (Info.Summary), valid
// while the log's size is the one it was made at.
type storedSummary struct {
	Title   election.Text `json:"title,omitempty"`
	Phase   string        `json:"phase"`
	Opens   time.Time     `json:"opens,omitzero"`
	Closes  time.Time     `json:"closes,omitzero"`
	Ballots int           `json:"ballots"`
}

func summarize(s *election.State) storedSummary {
	sum := storedSummary{Phase: s.Phase.String(), Ballots: s.Ballots}
	if m := s.Manifest; m != nil {
		sum.Title = m.Title
		sum.Opens, _ = time.Parse(election.TimeFormat, m.Window.Opens)
		sum.Closes = s.Ends()
	}
	return sum
}

func parsePhase(s string) (election.Phase, bool) {
	for p := election.PhaseEmpty; p <= election.PhaseDecided; p++ {
		if p.String() == s {
			return p, true
		}
	}
	return 0, false
}

// decided: no ballot can be cast any more; the election is loaded only
// when used.
func decided(p election.Phase) bool { return p >= election.PhaseClosed }

// IdleUnload is how long a decided election stays loaded after its last use.
const IdleUnload = 10 * time.Minute

// MaxDecidedLoaded bounds the decided elections kept loaded at once (the
// least recently used is unloaded to load another), but for those used in
// the last minute: a caller of Election may still hold one (a page reading
// it, an officer's action appending to it), which no request in flight
// counts.
const MaxDecidedLoaded = 64

// Registry holds every election of a store.
type Registry struct {
	o   RegistryOptions
	log *slog.Logger

	mu    sync.Mutex
	slots map[string]*slot

	stop    chan struct{}
	stopped sync.WaitGroup
	closed  atomic.Bool

	replays atomic.Int64 // logs replayed (loads), for tests
	idle    time.Duration
	// maxDecided bounds the decided elections kept loaded (those used in
	// the last evictAfter excepted).
	maxDecided int
	evictAfter time.Duration
	// loads bounds the elections loaded at once on demand.
	loads   chan struct{}
	started atomic.Bool // the loads at start are done

	refreshMu   sync.Mutex
	refreshedAt time.Time

	probeMu  sync.Mutex // the store's answer to /healthz, kept a second
	probedAt time.Time
	probeErr error

	cpu *cpuPool // the ballot checks of every election
}

// slot is one election of the registry, loaded or not.
type slot struct {
	id      string
	created time.Time
	legacy  bool

	load     sync.Mutex   // held while loading or unloading
	inflight atomic.Int64 // API requests being served: it stays loaded

	mu        sync.Mutex
	witnesses []string
	e         *Election
	st        store.Store
	api       http.Handler
	apiH      *handler
	signIn    *SignIn
	manifest  bool // the API was built with a manifest recorded
	sum       storedSummary
	failed    error
	savedSize int64 // of the summary last saved
	lastUsed  time.Time
	unloaded  chan struct{} // closed when the loaded election is unloaded
	// entries: its log held entries when the registry found it (its first
	// is the manifest: it is public).
	entries bool
}

// public tells whether the election's manifest is recorded (spec §22.4):
// only then may anyone but its staff learn that it exists.
func (s *slot) public() bool {
	s.mu.Lock()
	e, sum, entries := s.e, s.sum, s.entries
	s.mu.Unlock()
	if e != nil {
		return hasManifest(e)
	}
	p, _ := parsePhase(sum.Phase)
	return entries || p > election.PhaseEmpty
}

func hasManifest(e *Election) bool {
	var m bool
	e.State(func(st *election.State) { m = st.Manifest != nil })
	return m
}

// OpenRegistry opens every election of o.DB: those being set up or voted on
// are loaded (their logs replayed, several at once), decided ones only
// listed from their stored summary, unless it is out of date. An election
// that fails to load is marked failed; OpenRegistry fails only if the
// catalogue cannot be read.
func OpenRegistry(ctx context.Context, o RegistryOptions) (*Registry, error) {
	if o.DB == nil {
		return nil, errors.New("server: OpenRegistry needs a DB")
	}
	if len(o.MasterSeed) != 32 {
		return nil, fmt.Errorf("the log key seed is %d bytes, not 32", len(o.MasterSeed))
	}
	r := &Registry{o: o, log: o.Logger, slots: map[string]*slot{}, stop: make(chan struct{}), idle: IdleUnload, maxDecided: MaxDecidedLoaded, evictAfter: time.Minute, loads: make(chan struct{}, max(2, runtime.GOMAXPROCS(0))), cpu: newCPUPool(runtime.GOMAXPROCS(0))}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	infos, err := o.DB.Elections(ctx)
	if err != nil {
		return nil, err
	}
	var toLoad []*slot
	for _, in := range infos {
		s := &slot{id: in.ID, created: in.Created, legacy: in.Legacy, witnesses: in.Witnesses, savedSize: -1, entries: in.Size > 0}
		r.slots[in.ID] = s
		if in.Legacy && o.CheckpointDir != "" {
			legacy := filepath.Join(filepath.Dir(o.CheckpointDir), CheckpointFile)
			for _, suffix := range []string{"", WitnessedSuffix} {
				if err := moveIfAbsent(legacy+suffix, filepath.Join(o.CheckpointDir, in.ID+suffix)); err != nil {
					s.failed = err
				}
			}
		}
		if sum, ok := storedOf(in); ok {
			p, _ := parsePhase(sum.Phase)
			s.sum, s.savedSize = sum, in.SummarySize
			if decided(p) && !o.AcceptRollback && !r.rolledBack(in) {
				continue
			}
		} else if in.Size == 0 {
			s.sum = storedSummary{Phase: election.PhaseEmpty.String()}
		}
		if s.failed == nil {
			toLoad = append(toLoad, s)
		}
	}
	if err := r.missingElections(); err != nil {
		return nil, err
	}
	// Several logs are replayed at once (each verifies its ballots in
	// parallel too).
	work := make(chan *slot)
	var wg sync.WaitGroup
	for range min(len(toLoad), max(2, runtime.GOMAXPROCS(0))) {
		wg.Go(func() {
			for s := range work {
				s.load.Lock()
				err := r.loadLocked(ctx, s)
				if err == nil {
					s.mu.Lock()
					p, _ := parsePhase(s.sum.Phase)
					s.mu.Unlock()
					if decided(p) {
						r.unloadLocked(s)
					}
				}
				s.load.Unlock()
			}
		})
	}
	for _, s := range toLoad {
		work <- s
	}
	close(work)
	wg.Wait()
	r.started.Store(true)
	if err := ctx.Err(); err != nil {
		r.Close()
		return nil, err
	}
	r.stopped.Add(1)
	go r.janitor()
	return r, nil
}

// rolledBack tells, without opening the log, whether the checkpoint file of
// election in names more entries than its log holds (or is missing while
// the log has some): its log was rolled back, and loading it at start says
// so at once rather than on first use.
func (r *Registry) rolledBack(in ElectionInfo) bool {
	if r.o.CheckpointDir == "" {
		return false
	}
	b, err := os.ReadFile(filepath.Join(r.o.CheckpointDir, in.ID))
	if err != nil {
		return in.Size > 0 && !(r.o.Shared && errors.Is(err, os.ErrNotExist))
	}
	lines := strings.SplitN(string(b), "\n", 3)
	if len(lines) < 3 {
		return true
	}
	var n int64
	if _, err := fmt.Sscan(lines[1], &n); err != nil {
		return true
	}
	return n > in.Size
}

// missingElections finds the checkpoint files of elections the database
// does not hold: it was restored from a backup made before they were
// created, or replaced. Each is listed failed (rolled back), as a log
// shorter than its checkpoint is, unless the operator accepts the rollback:
// its files are then set aside.
func (r *Registry) missingElections() error {
	if r.o.CheckpointDir == "" {
		return nil
	}
	des, err := os.ReadDir(r.o.CheckpointDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("the checkpoint files: %w", err)
	}
	seen := map[string]bool{}
	for _, de := range des {
		id := strings.TrimSuffix(de.Name(), WitnessedSuffix)
		if de.IsDir() || store.CheckID(id) != nil || r.slots[id] != nil || seen[id] {
			continue
		}
		seen[id] = true
		file := filepath.Join(r.o.CheckpointDir, id)
		saved := checkpointSize(file)
		if !r.o.AcceptRollback {
			r.slots[id] = &slot{id: id, savedSize: -1, entries: true, sum: storedSummary{Phase: election.PhaseEmpty.String()},
				failed: &RollbackError{File: file, Saved: saved, Stored: 0, Reason: fmt.Sprintf("the database holds no election %s, but this server signed a checkpoint of its log", id)}}
			continue
		}
		stamp := ".rolled-back-" + time.Now().UTC().Format("20060102T150405Z")
		for _, f := range []string{file, file + WitnessedSuffix} {
			if err := os.Rename(f, f+stamp); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("failed to keep the old checkpoint aside: %w", err)
			}
		}
		r.log.Warn("starting without an election the database does not hold, as the operator chose (--accept-rollback); its checkpoint is kept aside", "election", id, "file", file+stamp, "size", saved)
	}
	return nil
}

// checkpointSize reads the size of the signed checkpoint in file (-1 if
// it cannot).
func checkpointSize(file string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return -1
	}
	lines := strings.SplitN(string(b), "\n", 3)
	var n int64
	if len(lines) < 3 {
		return -1
	}
	if _, err := fmt.Sscan(lines[1], &n); err != nil {
		return -1
	}
	return n
}

func moveIfAbsent(from, to string) error {
	if _, err := os.Lstat(from); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if _, err := os.Lstat(to); err == nil {
		return fmt.Errorf("both %s and %s exist: keep the right one (the latest) at %s, and remove the other", from, to, to)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	if err := os.Rename(from, to); err != nil {
		return err
	}
	syncDir(filepath.Dir(to))
	syncDir(filepath.Dir(from))
	return nil
}

// loadLocked opens and replays s's log (s.load held). A failure other than
// the caller's context ending marks the election failed.
func (r *Registry) loadLocked(ctx context.Context, s *slot) error {
	if r.closed.Load() {
		return store.ErrClosed
	}
	s.mu.Lock()
	failed, loaded, witnesses := s.failed, s.e != nil, s.witnesses
	s.mu.Unlock()
	if failed != nil {
		return failed
	}
	if loaded {
		return nil
	}
	e, st, err := r.open(ctx, s, witnesses)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		r.log.Error("an election failed to load; the others serve", "election", s.id, "err", err)
		s.mu.Lock()
		s.failed = err
		s.mu.Unlock()
		return err
	}
	// The election is published with its API, never without (a request
	// takes both at once, see use).
	unloaded := make(chan struct{})
	api, h, si, m := r.buildAPI(s, e)
	s.mu.Lock()
	old := s.signIn
	s.e, s.st, s.unloaded = e, st, unloaded
	s.api, s.apiH, s.signIn, s.manifest = api, h, si, m
	s.lastUsed = time.Now()
	s.mu.Unlock()
	if old != nil && old != si {
		old.Close()
	}
	// The follower runs from the open on: an officer's entry another node
	// appended meanwhile (the manifest, after the API above was made) was
	// applied while this election was not yet published, and its notice
	// (changed) ignored. Looked at once now: the API is made again if the
	// manifest came, and the summary saved.
	r.changed(s, e)
	go r.watch(s, e, unloaded)
	e.StartPushing(unloaded, r.log.With("election", s.id))
	return nil
}

// open opens and replays s's log. A panic there (a bug met on this log
// alone) fails this election, not the server.
func (r *Registry) open(ctx context.Context, s *slot, witnesses []string) (e *Election, st store.Store, err error) {
	var opened store.Store
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("a panic while loading an election", "election", s.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if opened != nil {
				opened.Close()
			}
			e, st, err = nil, nil, fmt.Errorf("internal error while loading the log: %v", p)
		}
	}()
	return r.openLog(ctx, s, witnesses, &opened)
}

func (r *Registry) openLog(ctx context.Context, s *slot, witnesses []string, opened *store.Store) (*Election, store.Store, error) {
	var keys []Witness
	for _, w := range witnesses {
		v, err := ParseWitness(w)
		if err != nil {
			return nil, nil, fmt.Errorf("witness %q: %w", w, err)
		}
		keys = append(keys, v)
	}
	st, err := r.o.DB.Log(ctx, s.id)
	if err != nil {
		return nil, nil, err
	}
	*opened = st
	cp := ""
	if r.o.CheckpointDir != "" {
		if err := os.MkdirAll(r.o.CheckpointDir, 0o700); err != nil {
			st.Close()
			return nil, nil, err
		}
		cp = filepath.Join(r.o.CheckpointDir, s.id)
	}
	r.replays.Add(1)
	e, err := OpenWith(ctx, st, LogSeed(r.o.MasterSeed, s.id, s.legacy), OpenOptions{CheckpointFile: cp, AcceptRollback: r.o.AcceptRollback && !r.started.Load(), Joining: r.o.Shared, Logger: r.log.With("election", s.id)})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	e.SetWitnessList(keys)
	e.mu.Lock()
	e.changed = func() { r.changed(s, e) }
	e.mu.Unlock()
	e.cpu = r.cpu
	return e, st, nil
}

// watch marks the election failed if it stops for good (its store
// contradicts what it acknowledged); the others go on. It ends when the
// election is unloaded, so as to keep nothing of it.
func (r *Registry) watch(s *slot, e *Election, unloaded <-chan struct{}) {
	select {
	case <-unloaded:
	case <-e.Stopped():
		r.log.Error("an election stopped; the others serve", "election", s.id, "err", e.Err())
		s.mu.Lock()
		if s.e == e {
			s.failed = e.Err()
		}
		s.mu.Unlock()
	case <-r.stop:
	}
}

// changed is called after an officer's or trustee's entry is appended.
func (r *Registry) changed(s *slot, e *Election) {
	s.mu.Lock()
	current := s.e == e
	manifest := s.manifest
	s.mu.Unlock()
	if !current {
		return
	}
	if !manifest {
		var m bool
		e.State(func(st *election.State) { m = st.Manifest != nil })
		if m {
			r.rebuildAPI(s)
		}
	}
	r.saveSummary(s)
}

// rebuildAPI makes the election's API handler again with the options
// given for it (its manifest is recorded).
func (r *Registry) rebuildAPI(s *slot) {
	s.mu.Lock()
	e := s.e
	s.mu.Unlock()
	if e == nil {
		return
	}
	api, h, si, m := r.buildAPI(s, e)
	s.mu.Lock()
	if s.e != e {
		// Unloaded meanwhile: this API is nobody's.
		s.mu.Unlock()
		if si != nil {
			si.Close()
		}
		return
	}
	old := s.signIn
	s.api, s.apiH, s.signIn, s.manifest = api, h, si, m
	s.mu.Unlock()
	if old != nil && old != si {
		old.Close()
	}
}

// buildAPI makes election e's API handler with the options given for it.
func (r *Registry) buildAPI(s *slot, e *Election) (http.Handler, *handler, *SignIn, bool) {
	// Whether the options are made with the manifest: read before they
	// are, since the follower may apply it meanwhile (then they are made
	// again, see changed).
	m := hasManifest(e)
	var o Options
	if r.o.Handler != nil {
		o = r.o.Handler(s.id, e)
	}
	if o.Logger == nil {
		o.Logger = r.log.With("election", s.id)
	}
	h := e.newHandler(o)
	return h.routes(), h, o.SignIn, m
}

// saveSummary records the summary of a loaded election in the store.
func (r *Registry) saveSummary(s *slot) {
	s.mu.Lock()
	e := s.e
	s.mu.Unlock()
	if e == nil {
		return
	}
	var sum storedSummary
	var size int64
	e.State(func(st *election.State) { sum, size = summarize(st), st.Size })
	s.mu.Lock()
	s.sum = sum
	stale := size > s.savedSize
	s.mu.Unlock()
	if !stale {
		return
	}
	b, _ := json.Marshal(sum)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.o.DB.SaveSummary(ctx, s.id, size, b); err != nil {
		r.log.Warn("could not save an election's summary (it is replayed at the next start)", "election", s.id, "err", err)
		return
	}
	s.mu.Lock()
	s.savedSize = max(s.savedSize, size)
	s.mu.Unlock()
}

// unloadLocked saves the summary of a loaded election and closes its log
// (s.load held).
func (r *Registry) unloadLocked(s *slot) {
	r.saveSummary(s)
	r.detachLocked(s, nil)
}

// detachLocked forgets s's election and closes its log (s.load held),
// unless keep, called under s.mu, says to keep it: the check and the
// forgetting are one step, so that no request takes the election between
// them.
func (r *Registry) detachLocked(s *slot, keep func() bool) bool {
	s.mu.Lock()
	if keep != nil && keep() {
		s.mu.Unlock()
		return false
	}
	st, si, unloaded := s.st, s.signIn, s.unloaded
	s.e, s.st, s.api, s.apiH, s.signIn, s.unloaded = nil, nil, nil, nil, nil, nil
	s.mu.Unlock()
	if unloaded != nil {
		close(unloaded)
	}
	if si != nil {
		si.Close()
	}
	if st != nil {
		st.Close()
	}
	return true
}

// janitor unloads the decided elections unused for r.idle.
func (r *Registry) janitor() {
	defer r.stopped.Done()
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.unloadIdle(time.Now())
		}
	}
}

// unloadIdle unloads the decided elections not used since now - r.idle.
func (r *Registry) unloadIdle(now time.Time) int {
	n := 0
	for _, s := range r.all() {
		s.mu.Lock()
		e, used := s.e, s.lastUsed
		s.mu.Unlock()
		if e == nil || now.Sub(used) < r.idle {
			continue
		}
		var p election.Phase
		e.State(func(st *election.State) { p = st.Phase })
		if !decided(p) {
			continue
		}
		// A request takes the election (use) under s.mu, having counted
		// itself in flight before: checked again under s.mu as the
		// election is forgotten, after its summary is saved.
		busy := func() bool { return s.e != e || now.Sub(s.lastUsed) < r.idle || s.inflight.Load() != 0 }
		s.load.Lock()
		s.mu.Lock()
		still := !busy()
		s.mu.Unlock()
		if still {
			r.saveSummary(s)
			if r.detachLocked(s, busy) {
				n++
			}
		}
		s.load.Unlock()
	}
	return n
}

func (r *Registry) all() []*slot {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*slot, 0, len(r.slots))
	for _, s := range r.slots {
		out = append(out, s)
	}
	return out
}

func (r *Registry) slot(id string) *slot {
	r.mu.Lock()
	s := r.slots[id]
	r.mu.Unlock()
	if s == nil && store.CheckID(id) == nil && r.refresh() {
		r.mu.Lock()
		s = r.slots[id]
		r.mu.Unlock()
	}
	return s
}

// refreshInterval bounds how often an unknown id makes the registry read
// the catalogue again (for elections created by another process, such as
// "scrutin election new").
const refreshInterval = time.Second

// refresh adds the elections created in the store since the registry read
// it, at most once per refreshInterval; it tells whether it read it.
func (r *Registry) refresh() bool {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	if r.closed.Load() || time.Since(r.refreshedAt) < refreshInterval {
		return false
	}
	r.refreshedAt = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	infos, err := r.o.DB.Elections(ctx)
	if err != nil {
		r.log.Warn("could not read the elections' catalogue", "err", err)
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, in := range infos {
		if r.slots[in.ID] == nil {
			s := &slot{id: in.ID, created: in.Created, legacy: in.Legacy, witnesses: in.Witnesses, savedSize: -1, entries: in.Size > 0}
			if sum, ok := storedOf(in); ok {
				s.sum, s.savedSize = sum, in.SummarySize
			} else {
				s.sum = storedSummary{Phase: election.PhaseEmpty.String()}
			}
			r.slots[in.ID] = s
		}
	}
	return true
}

// storedOf decodes the summary of in if it is up to date.
func storedOf(in ElectionInfo) (storedSummary, bool) {
	var sum storedSummary
	if in.Summary == nil || in.SummarySize != in.Size || json.Unmarshal(in.Summary, &sum) != nil {
		return sum, false
	}
	if _, ok := parsePhase(sum.Phase); !ok {
		return sum, false
	}
	return sum, true
}

// SummaryOf is the summary of an election as its catalogue entry keeps it
// (for lists made without a server); false if it is out of date.
func SummaryOf(in ElectionInfo) (Summary, bool) {
	sum, ok := storedOf(in)
	if !ok {
		return Summary{ID: in.ID, Created: in.Created}, false
	}
	s := &slot{id: in.ID, created: in.Created, sum: sum}
	return s.summary(), true
}

// List returns every election, newest first (pages show the Public ones).
func (r *Registry) List() []Summary {
	var out []Summary
	for _, s := range r.all() {
		out = append(out, s.summary())
	}
	slices.SortFunc(out, func(a, b Summary) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

func (s *slot) summary() Summary {
	s.mu.Lock()
	e, sum, failed := s.e, s.sum, s.failed
	s.mu.Unlock()
	if e != nil {
		e.State(func(st *election.State) { sum = summarize(st) })
	}
	out := Summary{ID: s.id, Created: s.created, Title: sum.Title, Opens: sum.Opens, Closes: sum.Closes, Ballots: sum.Ballots}
	out.Phase, _ = parsePhase(sum.Phase)
	out.Public = out.Phase > election.PhaseEmpty
	if failed != nil {
		out.Failed = failed.Error()
	}
	return out
}

// Election returns the election id, loading it if needed: ErrNoElection,
// or its failure (wrapping ErrFailed).
func (r *Registry) Election(ctx context.Context, id string) (*Election, error) {
	s := r.slot(id)
	if s == nil {
		return nil, ErrNoElection
	}
	e, _, err := r.use(ctx, s)
	return e, err
}

// use returns s's election and API handler, loading it if needed.
func (r *Registry) use(ctx context.Context, s *slot) (*Election, http.Handler, error) {
	s.mu.Lock()
	e, api, failed := s.e, s.api, s.failed
	if e != nil {
		s.lastUsed = time.Now()
	}
	s.mu.Unlock()
	if failed != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrFailed, failed)
	}
	if e != nil {
		return e, api, nil
	}
	s.load.Lock()
	err := r.loadOnDemand(ctx, s)
	s.load.Unlock()
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	r.unloadBeyondBound(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.e, s.api, nil
}

// loadOnDemand loads s (s.load held) when a request asks for it: a few
// elections at once (each replay uses every processor), so that requests
// to many elections do not starve those being voted on.
func (r *Registry) loadOnDemand(ctx context.Context, s *slot) error {
	s.mu.Lock()
	ready := s.e != nil || s.failed != nil
	s.mu.Unlock()
	if !ready {
		select {
		case r.loads <- struct{}{}:
			defer func() { <-r.loads }()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return r.loadLocked(ctx, s)
}

// unloadBeyondBound unloads the least recently used decided elections
// beyond r.maxDecided loaded (but s, just loaded, and those serving a
// request): requests to every public election in turn do not keep them
// all in memory.
func (r *Registry) unloadBeyondBound(s *slot) {
	type loaded struct {
		s    *slot
		e    *Election
		used time.Time
	}
	var ds []loaded
	for _, o := range r.all() {
		o.mu.Lock()
		e, used := o.e, o.lastUsed
		o.mu.Unlock()
		if e == nil {
			continue
		}
		var p election.Phase
		e.State(func(st *election.State) { p = st.Phase })
		if decided(p) {
			ds = append(ds, loaded{o, e, used})
		}
	}
	if len(ds) <= r.maxDecided {
		return
	}
	slices.SortFunc(ds, func(a, b loaded) int { return a.used.Compare(b.used) })
	over := len(ds) - r.maxDecided
	for _, d := range ds {
		if over == 0 {
			return
		}
		if d.s == s || time.Since(d.used) < r.evictAfter || !d.s.load.TryLock() {
			continue
		}
		busy := func() bool { return d.s.e != d.e || d.s.inflight.Load() != 0 || d.s.lastUsed.After(d.used) }
		d.s.mu.Lock()
		still := !busy()
		d.s.mu.Unlock()
		if still {
			r.saveSummary(d.s)
			if r.detachLocked(d.s, busy) {
				over--
			}
		}
		d.s.load.Unlock()
	}
}

// Create records a new, empty election with its witnesses (ParseWitness:
// a verifier key, as "scrutin witness init" or litewitness prints it, and
// optionally its tlog-witness address), and loads it.
func (r *Registry) Create(ctx context.Context, id string, witnesses []string) (*Election, error) {
	if err := store.CheckID(id); err != nil {
		return nil, err
	}
	for _, w := range witnesses {
		if _, err := ParseWitness(w); err != nil {
			return nil, fmt.Errorf("witness %q: %w", w, err)
		}
	}
	if err := r.o.DB.Create(ctx, id, witnesses); err != nil {
		return nil, err
	}
	s := &slot{id: id, created: time.Now().UTC(), witnesses: witnesses, savedSize: -1, sum: storedSummary{Phase: election.PhaseEmpty.String()}}
	r.mu.Lock()
	if r.slots[id] == nil { // else a refresh found it first
		r.slots[id] = s
	}
	r.mu.Unlock()
	return r.Election(ctx, id)
}

// SetWitnesses records the witnesses of election id (their verifier keys)
// and gives them to it if it is loaded.
func (r *Registry) SetWitnesses(ctx context.Context, id string, witnesses []string) error {
	s := r.slot(id)
	if s == nil {
		return ErrNoElection
	}
	var keys []Witness
	for _, w := range witnesses {
		v, err := ParseWitness(w)
		if err != nil {
			return fmt.Errorf("witness %q: %w", w, err)
		}
		keys = append(keys, v)
	}
	if err := r.o.DB.SetWitnesses(ctx, id, witnesses); err != nil {
		return err
	}
	s.mu.Lock()
	s.witnesses = witnesses
	e := s.e
	s.mu.Unlock()
	if e != nil {
		e.SetWitnessList(keys)
	}
	return nil
}

// notFound is the answer for an unknown election: no detail.
func notFound(w http.ResponseWriter) {
	securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{"not found"})
	})).ServeHTTP(w, nil)
}

// Handler serves, for every election, its API under /api/e/{id}/ and its
// published log under /e/{id}/log/, and the server's /healthz and
// /metrics. Any other path is not found.
func (r *Registry) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/e/{id}/", func(w http.ResponseWriter, req *http.Request) { r.serve(w, req, "/api/e/", "/api/") })
	mux.HandleFunc("/e/{id}/log/", func(w http.ResponseWriter, req *http.Request) { r.serve(w, req, "/e/", "/log/") })
	mux.HandleFunc("GET /healthz", r.health)
	mux.HandleFunc("GET /metrics", r.metrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) { notFound(w) })
	return mux
}

// serve passes a request for election {id} to its API, as the path the
// election's handler knows: /api/e/{id}/x → /api/x, /e/{id}/log/x → /log/x.
func (r *Registry) serve(w http.ResponseWriter, req *http.Request, prefix, inner string) {
	// An encoded slash would route here as a slash, past whatever a site
	// in front matched by segments (limits, officers' checks): no address
	// of the API or the log holds one.
	if strings.Contains(strings.ToUpper(req.URL.EscapedPath()), "%2F") {
		notFound(w)
		return
	}
	id := req.PathValue("id")
	s := r.slot(id)
	if s == nil {
		notFound(w)
		return
	}
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	e, api, err := r.use(req.Context(), s)
	if err != nil {
		if !s.public() {
			notFound(w)
			return
		}
		if req.Context().Err() == nil && !errors.Is(err, ErrFailed) {
			r.log.Warn("could not load an election", "election", id, "err", err)
		}
		securityHeaders(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusServiceUnavailable, apiError{"this election is unavailable for now; the server's operator is told why"})
		})).ServeHTTP(w, req)
		return
	}
	rest := strings.TrimPrefix(req.URL.Path, prefix+id+"/")
	if prefix == "/e/" {
		rest = strings.TrimPrefix(rest, "log/")
	}
	// An election without its manifest exists only for its officers (who
	// record the manifest): anyone else is answered as for an unknown id
	// (the officers' routes see to it, see handler.officer).
	if officers := inner == "/api/" && strings.HasPrefix(rest, "admin/"); !officers && !hasManifest(e) {
		notFound(w)
		return
	}
	r2 := new(http.Request)
	*r2 = *req
	u := *req.URL
	u.Path, u.RawPath = inner+rest, ""
	r2.URL = &u
	api.ServeHTTP(w, r2)
}

// health: 200 while the server serves (with the elections that failed,
// are recovering from a store failure, or stopped); 503 if the store does
// not answer.
func (r *Registry) health(w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
	defer cancel()
	type problem struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	problems := map[string]problem{}
	var probe *Election
	unlisted := 0
	for _, s := range r.all() {
		s.mu.Lock()
		e, failed := s.e, s.failed
		s.mu.Unlock()
		if (e != nil || failed != nil) && !s.public() {
			// Not named (spec §22.3); its problem is counted, and logged.
			if e != nil {
				if _, err := e.Health(); err != nil {
					unlisted++
				}
			} else {
				unlisted++
			}
			if probe == nil && e != nil {
				probe = e
			}
			continue
		}
		switch {
		case e != nil:
			if probe == nil {
				probe = e
			}
			if recovering, err := e.Health(); err != nil {
				st := "stopped"
				if recovering {
					st = "recovering"
				}
				problems[s.id] = problem{st, err.Error()}
			}
		case failed != nil:
			problems[s.id] = problem{"failed", failed.Error()}
		}
	}
	if probe != nil {
		if _, err := probe.st.Size(ctx); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "error": "the store does not answer"})
			return
		}
	} else if err := r.probeCatalogue(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "error": "the store does not answer"})
		return
	}
	resp := map[string]any{"status": "ok"}
	if len(problems) > 0 {
		resp["elections"] = problems
	}
	if unlisted > 0 {
		resp["elections_not_public_with_problems"] = unlisted
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, resp)
}

// probeCatalogue tells whether the store answers when no election's log
// is open to ask: by reading the catalogue (every election's summary), at
// most once a second, since anyone may ask for /healthz.
func (r *Registry) probeCatalogue(ctx context.Context) error {
	r.probeMu.Lock()
	defer r.probeMu.Unlock()
	if time.Since(r.probedAt) < time.Second {
		return r.probeErr
	}
	// Not the request's context: a client that leaves must not make the
	// next ones read "unavailable".
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, err := r.o.DB.Elections(ctx)
	r.probedAt, r.probeErr = time.Now(), err
	return err
}

// metrics: the server's, and every loaded election's series labelled
// election="id".
func (r *Registry) metrics(w http.ResponseWriter, req *http.Request) {
	slots := r.all()
	slices.SortFunc(slots, func(a, b *slot) int { return strings.Compare(a.id, b.id) })
	var loaded, failed int
	type row struct {
		id string
		h  *handler
		e  *Election
	}
	var rows []row
	for _, s := range slots {
		s.mu.Lock()
		if s.failed != nil {
			failed++
		} else if s.e != nil {
			loaded++
			rows = append(rows, row{s.id, s.apiH, s.e})
		}
		s.mu.Unlock()
	}
	// Elections without their manifest are counted, not named.
	rows = slices.DeleteFunc(rows, func(rw row) bool { return !hasManifest(rw.e) })
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "# HELP scrutin_elections Elections of this server, by state.\n# TYPE scrutin_elections gauge\n")
	fmt.Fprintf(w, "scrutin_elections{state=\"loaded\"} %d\nscrutin_elections{state=\"unloaded\"} %d\nscrutin_elections{state=\"failed\"} %d\n", loaded, len(slots)-loaded-failed, failed)
	series := []struct{ name, typ, help string }{
		{"scrutin_ballots_accepted_total", "counter", "Ballots accepted since the election was loaded."},
		{"scrutin_ballots_refused_total", "counter", "Ballot requests refused since the election was loaded."},
		{"scrutin_cast_seconds_total", "counter", "Time spent accepting ballots."},
		{"scrutin_log_entries", "gauge", "Entries in the election's log."},
		{"scrutin_ballots_in_log", "gauge", "Ballot entries in the log, re-votes included."},
		{"scrutin_log_tiles_read_total", "counter", "Log tiles read from the store (full ones are read once, then kept)."},
		{"scrutin_taking_entries", "gauge", "1 while the election takes entries, 0 while it recovers from a store failure or has stopped."},
		{"scrutin_recovering", "gauge", "1 while the election reloads its log after a store failure."},
		{"scrutin_store_recoveries_total", "counter", "Times the election reloaded its log after a store failure."},
		{"scrutin_phase", "gauge", "The election's phase."},
	}
	values := make([][]string, len(rows))
	for i, rw := range rows {
		var phase string
		var entries int64
		var ballots int
		rw.e.State(func(s *election.State) { phase, entries, ballots = s.Phase.String(), s.Size, s.Ballots })
		recovering, err := rw.e.Health()
		rw.e.mu.Lock()
		recoveries := rw.e.recoveries
		rw.e.mu.Unlock()
		var acc, ref, nanos, tiles int64
		if rw.h != nil {
			acc, ref, nanos, tiles = rw.h.accepted.Load(), rw.h.refused.Load(), rw.h.castNanos.Load(), rw.h.tiles.reads.Load()
		}
		b := func(v bool) string {
			if v {
				return "1"
			}
			return "0"
		}
		l := fmt.Sprintf("{election=%q}", rw.id)
		values[i] = []string{
			l + fmt.Sprint(" ", acc), l + fmt.Sprint(" ", ref), l + fmt.Sprintf(" %g", float64(nanos)/1e9),
			l + fmt.Sprint(" ", entries), l + fmt.Sprint(" ", ballots), l + fmt.Sprint(" ", tiles),
			l + " " + b(err == nil), l + " " + b(recovering), l + fmt.Sprint(" ", recoveries),
			fmt.Sprintf("{election=%q,phase=%q} 1", rw.id, phase),
		}
	}
	for k, sr := range series {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", sr.name, sr.help, sr.name, sr.typ)
		for i := range rows {
			fmt.Fprintf(w, "%s%s\n", sr.name, values[i][k])
		}
	}
}

// Close saves the summaries of the loaded elections and closes their logs
// (not the DB, which its opener closes).
func (r *Registry) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	close(r.stop)
	r.stopped.Wait()
	for _, s := range r.all() {
		s.load.Lock()
		r.unloadLocked(s)
		s.load.Unlock()
	}
	return nil
}

// SignedCheckpointSize returns the size of the latest checkpoint this
// server signed of election id, kept in checkpoint folder cpDir, or -1 if
// it has none (or it cannot be read).
func SignedCheckpointSize(cpDir, id string) int64 {
	return checkpointSize(filepath.Join(cpDir, id))
}
