// Package verify is the universal verifier: it reads an election's
// published record (a folder or a URL) and checks all of it, with no access
// to any server or database: the log (checkpoint, witnesses, every tile and
// entry), then every entry replayed through package election — the same
// code the server ran before appending — so the manifest, the trustees'
// ceremony, the credentials, every ballot's proofs and signature, which
// ballot of each credential counts, the tally, every decryption share and
// the result. It is built only on packages crypto, board and election.
package verify

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
)

// Options say what to check.
type Options struct {
	// Election is the fingerprint F as the officer announced it. Without
	// it, the record is checked against its own manifest only.
	Election *crypto.Fingerprint
	// Witnesses and Quorum: cosignatures required on the checkpoint.
	Witnesses []note.Verifier
	Quorum    int
	// Fresh bounds the age of cosignature/v1 cosignatures (spec §16.2).
	Fresh board.Freshness
	// Previous is an earlier signed checkpoint the log must extend.
	Previous []byte
	// Tracker, if set, is a voter's tracker to find and prove.
	Tracker string
	// Workers verify ballots in parallel (default: the number of CPUs).
	Workers int
	// Progress is called now and then with entries checked and total.
	Progress func(done, total int64)
}

// Failure is one failed check, with its evidence.
type Failure struct {
	Check   string `json:"check"`
	Entry   int64  `json:"entry"` // -1 when not about one entry
	Tracker string `json:"tracker,omitempty"`
	Reason  string `json:"reason"`
}

// Report is what the verifier found.
type Report struct {
	OK          bool               `json:"ok"`
	Fingerprint string             `json:"fingerprint"`
	LogKey      string             `json:"log_key,omitempty"`     // the log's verifier key, from the manifest: what witnesses follow it with (spec §16)
	Announced   bool               `json:"fingerprint_announced"` // checked against Options.Election
	Entries     int64              `json:"entries"`
	Phase       string             `json:"phase"`   // how far the record goes (spec §19)
	Decided     bool               `json:"decided"` // the result is recorded
	Voters      int                `json:"voters"`
	Ballots     int                `json:"ballots"`         // ballot entries, re-votes included
	Counted     int                `json:"counted_ballots"` // in the tally
	Selections  int                `json:"selections"`      // proofs of selections verified
	Result      *election.Result   `json:"result,omitempty"`
	Manifest    *election.Manifest `json:"-"`
	ElectionKey *crypto.PublicKey  `json:"-"` // once voting opened
	// Tally is the recorded tally's ciphertexts in decryption order (spec
	// §18.6), once it is recorded: what the trustees decrypt.
	Tally []*crypto.Ciphertext `json:"-"`
	// Checkpoint is the signed checkpoint the record was verified against
	// (with the signatures that verified), to give as Options.Previous
	// next time: a later record must extend it.
	Checkpoint []byte `json:"-"`
	// State is the election replayed from the record, up to its last
	// valid entry: what a trustee reads the ceremony and the decryption
	// shares from.
	State *election.State `json:"-"`
	// Eligibility gives the contests a published credential may answer
	// (a bit mask), and whether it is published.
	Eligibility func(*crypto.PublicKey) (uint64, bool) `json:"-"`
	Tracker     *TrackerReport                         `json:"tracker,omitempty"`
	// Window is the voting window as the record sets it (spec §18.7, §19),
	// once the manifest is valid.
	Window *Window `json:"window,omitempty"`
	// Authority is the credential authority's key of the authority entry
	// (spec §18.8, §19), in unpadded base64url, "" if none: for the
	// authority to check that it is its own.
	Authority string `json:"authority,omitempty"`
	// Replacements are the replacements of lost credentials (spec §18.8),
	// in log order.
	Replacements []Replacement `json:"replacements"`
	Failures     []Failure     `json:"failures"`
	Seconds      float64       `json:"seconds"`
}

// Window is the voting window as the record sets it (spec §19): the
// manifest's planned end, every valid extension, the end in force, and
// the close entry's time and reason once closed.
type Window struct {
	Planned    string      `json:"planned_end"`
	Extensions []Extension `json:"extensions"`
	Ends       string      `json:"end_in_force"`
	// Closed is the close entry's time ("" while voting is open), Reason
	// its reason, and Early whether it came before the end in force.
	Closed string `json:"closed,omitempty"`
	Reason string `json:"close_reason,omitempty"`
	Early  bool   `json:"closed_early"`
}

// Extension is one valid extension entry (spec §18.7).
type Extension struct {
	Entry  int64  `json:"entry"`
	At     string `json:"at"`
	Closes string `json:"closes"`
	Reason string `json:"reason"`
}

// window reads the voting window from a replayed state.
func window(s *election.State) *Window {
	if s.Manifest == nil {
		return nil
	}
	w := &Window{Planned: s.Manifest.Window.Closes, Extensions: []Extension{}, Ends: election.Now(s.Ends())}
	for i, x := range s.Extensions {
		w.Extensions = append(w.Extensions, Extension{Entry: s.ExtendedAt[i], At: x.At, Closes: x.Closes, Reason: x.Reason})
	}
	if c := s.Close; c != nil {
		w.Closed, w.Reason = c.At, c.Reason
		at, err := time.Parse(election.TimeFormat, c.At)
		w.Early = err == nil && at.Before(s.Ends())
	}
	return w
}

// Replacement is one valid replacement of a lost credential (spec §18.8).
type Replacement struct {
	Entry int64  `json:"entry"`
	At    string `json:"at"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

func replacements(s *election.State) []Replacement {
	out := []Replacement{}
	for i, r := range s.Replacements {
		o, _ := r.Old.MarshalText()
		n, _ := r.New.MarshalText()
		out = append(out, Replacement{Entry: s.ReplacedAt[i], At: r.At, Old: string(o), New: string(n)})
	}
	return out
}

// TrackerReport is the voter's check.
type TrackerReport struct {
	Tracker string `json:"tracker"`
	Found   bool   `json:"found"`
	Index   int64  `json:"index"`
	Counted bool   `json:"counted"`
	// Revoked: the ballot's credential was replaced since (spec §18.8).
	Revoked bool   `json:"revoked"`
	Proof   bool   `json:"inclusion_proof_verified"`
	Code    string `json:"code,omitempty"` // the ballot code (spec §21.1)
}

func (r *Report) fail(check string, entry int64, tracker, reason string) {
	r.Failures = append(r.Failures, Failure{check, entry, tracker, reason})
}

// Record verifies the published record read through src.
func Record(ctx context.Context, src board.FileReader, o Options) (*Report, error) {
	start := time.Now()
	rep := &Report{Failures: []Failure{}, Replacements: []Replacement{}, Phase: election.PhaseEmpty.String()} // spec §19
	defer func() { rep.Seconds = time.Since(start).Seconds(); rep.OK = len(rep.Failures) == 0 }()

	// Entry 0 names the log key; the announced F names entry 0.
	bundle, err := src.ReadFile(ctx, board.TilePath(tlog.Tile{H: board.TileHeight, L: -1, N: 0, W: 1}), board.MaxBundleFile)
	if err != nil {
		// The first bundle may be full or partial; read the checkpoint for its size.
		bundle, err = firstBundle(ctx, src)
	}
	if err != nil {
		rep.fail("log", -1, "", fmt.Sprintf("cannot read entry 0: %v", err))
		return rep, nil
	}
	genesis, err := firstEntry(bundle)
	if err != nil {
		rep.fail("log", 0, "", err.Error())
		return rep, nil
	}
	f := board.Fingerprint(genesis)
	rep.Fingerprint = fmt.Sprintf("%x", f[:])
	if o.Election != nil {
		rep.Announced = true
		if *o.Election != f {
			rep.fail("fingerprint", 0, "", fmt.Sprintf("entry 0 hashes to %x, not to the announced fingerprint %x: this is another election's record", f[:], o.Election[:]))
			return rep, nil
		}
	}
	state := election.NewStreaming()
	// total is the checkpoint's size, once the first bundle is read: set by
	// the reader's goroutine, read by the replay's.
	var total atomic.Int64
	state.Reread = func(idx []int64) ([][]byte, error) { return reread(ctx, src, total.Load(), idx) }
	if err := state.Apply(genesis); err != nil {
		rep.fail("manifest", 0, "", err.Error())
		return rep, nil
	}
	rep.Manifest = state.Manifest
	logKey, err := note.NewVerifier(state.LogKey)
	if err != nil {
		rep.fail("manifest", 0, "", err.Error())
		return rep, nil
	}
	rep.LogKey = state.LogKey

	// spec §19 step 2: the manifest's witnesses, a quorum required in
	// addition to the reader's.
	mws, err := state.Manifest.WitnessVerifiers()
	if err != nil {
		rep.fail("manifest", 0, "", err.Error())
		return rep, nil
	}

	r := &replay{rep: rep, state: state, workers: o.Workers}
	if t, err := hex.DecodeString(o.Tracker); err == nil && len(t) == 32 && hex.EncodeToString(t) == o.Tracker {
		r.want = &found{tracker: [32]byte(t)} // only the lower-case hex a tracker is written in
	}
	var trackerCode string
	if r.workers <= 0 {
		r.workers = runtime.NumCPU()
	}
	r.start()
	// The freshness bound (spec §16.2) is checked after the entries: it
	// does not apply to a record that holds its result, which no valid
	// entry can follow, so no stale view can hide one.
	cpSrc := &checkpointCopy{FileReader: src}
	c, signed, err := board.ReadPublished(ctx, cpSrc, board.ReadOptions{
		Origin: board.Origin(f), LogKey: logKey, Witnesses: o.Witnesses, Quorum: o.Quorum, Previous: o.Previous,
		AlsoWitnesses: mws, AlsoQuorum: state.Manifest.WitnessQuorum,
		Visit: func(i int64, e []byte) error {
			if i > 0 {
				if o.Tracker != "" && e[0] == election.TypeBallot && election.Tracker(e) == o.Tracker {
					trackerCode, _ = election.BallotCode(e)
				}
				r.submit(i, e)
			}
			return nil
		},
		Progress: func(done, t int64) {
			total.Store(t)
			if o.Progress != nil {
				o.Progress(done, t)
			}
		},
	})
	r.finish()
	if err != nil {
		rep.Failures = append([]Failure{{Check: "log", Entry: -1, Reason: err.Error()}}, rep.Failures...)
		return rep, nil
	}
	if r.state.Result == nil && o.Fresh.MaxAge > 0 {
		for _, q := range []struct {
			ws []note.Verifier
			k  int
		}{{o.Witnesses, o.Quorum}, {mws, state.Manifest.WitnessQuorum}} {
			if len(q.ws) == 0 && q.k == 0 {
				continue
			}
			if _, _, err := board.OpenFresh(cpSrc.signed, board.Origin(f), logKey, q.ws, q.k, o.Fresh); err != nil {
				rep.Failures = append([]Failure{{Check: "log", Entry: -1, Reason: fmt.Sprintf("%s: the election is not decided, and %v", board.CheckpointFile, err)}}, rep.Failures...)
				return rep, nil
			}
		}
	}
	rep.Entries = c.Size
	rep.Checkpoint = noteBytes(signed)
	s := r.state
	rep.Phase = s.Phase.String()
	rep.Ballots = s.Ballots
	if s.Roll != nil {
		rep.Voters = s.Roll.Voters
	}
	if s.Tally != nil {
		rep.Counted = s.Tally.Ballots
		rep.Tally = s.TallyCiphertexts()
	}
	rep.Result, rep.Decided = s.Result, s.Result != nil
	rep.ElectionKey, rep.Eligibility, rep.State = s.ElectionKey, s.Eligibility, s
	rep.Window, rep.Replacements = window(s), replacements(s)
	if s.Authority != nil {
		a, _ := s.Authority.MarshalText()
		rep.Authority = string(a)
	}
	if o.Tracker != "" {
		rep.Tracker = r.tracker(ctx, src, c, o.Tracker)
		if rep.Tracker.Found {
			rep.Tracker.Code = trackerCode
		}
	}
	return rep, nil
}

// reread returns the entries at the given indexes (increasing) of a log of
// size entries, read again from its bundles, one read per bundle. They are
// not authenticated here: election's streaming state checks each against
// the ballot code it recorded.
func reread(ctx context.Context, src board.FileReader, size int64, idx []int64) ([][]byte, error) {
	if size == 0 {
		// Before the first bundle is done (a log of under 256 entries):
		// the size is read unverified, only to name the bundles; the
		// entries are authenticated by the caller, and the log by
		// ReadPublished.
		signed, err := src.ReadFile(ctx, board.CheckpointFile, board.MaxCheckpointFile)
		if err != nil {
			return nil, err
		}
		c, err := board.ParseCheckpoint(noteText(signed))
		if err != nil {
			return nil, err
		}
		size = c.Size
	}
	out := make([][]byte, 0, len(idx))
	var entries [][]byte
	bundle := int64(-1)
	for _, i := range idx {
		if i < 0 || i >= size {
			return nil, fmt.Errorf("entry %d is outside the log of %d entries", i, size)
		}
		if n := i >> board.TileHeight; n != bundle {
			w := int(min(1<<board.TileHeight, size-n<<board.TileHeight))
			t := tlog.Tile{H: board.TileHeight, L: -1, N: n, W: w}
			data, err := src.ReadFile(ctx, board.TilePath(t), board.MaxBundleFile)
			if err != nil {
				return nil, err
			}
			if entries, err = board.ParseBundle(data, w); err != nil {
				return nil, fmt.Errorf("%s: %v", board.TilePath(t), err)
			}
			bundle = n
		}
		// A copy: the entry alone, not its bundle, stays in memory.
		out = append(out, bytes.Clone(entries[i-bundle<<board.TileHeight]))
	}
	return out, nil
}

func firstBundle(ctx context.Context, src board.FileReader) ([]byte, error) {
	signed, err := src.ReadFile(ctx, board.CheckpointFile, board.MaxCheckpointFile)
	if err != nil {
		return nil, err
	}
	// The size is read unverified here, only to name the partial bundle;
	// everything is verified afterwards.
	c, err := board.ParseCheckpoint(noteText(signed))
	if err != nil {
		return nil, err
	}
	w := int(min(c.Size, 1<<board.TileHeight))
	return src.ReadFile(ctx, board.TilePath(tlog.Tile{H: board.TileHeight, L: -1, N: 0, W: w}), board.MaxBundleFile)
}

func noteText(signed []byte) []byte {
	for i := 0; i+1 < len(signed); i++ {
		if signed[i] == '\n' && signed[i+1] == '\n' {
			return signed[:i+1]
		}
	}
	return signed
}

func firstEntry(bundle []byte) ([]byte, error) {
	if len(bundle) < 2 {
		return nil, errors.New("entry bundle 0 is empty")
	}
	n := int(bundle[0])<<8 | int(bundle[1])
	if n == 0 || len(bundle) < 2+n {
		return nil, errors.New("entry bundle 0 is truncated")
	}
	return bundle[2 : 2+n], nil
}

// replay applies entries in order; ballots are prepared (proofs and
// signature, the costly part) by workers in parallel, chunkBallots
// consecutive ballots in one batch (election.PrepareMany), then applied in
// order.
type replay struct {
	rep     *Report
	state   *election.State
	workers int

	view    atomic.Pointer[election.Election]
	jobs    chan job
	results chan job
	wg      sync.WaitGroup
	done    chan struct{}
	stopped bool   // a non-ballot entry failed: nothing after it is checked
	want    *found // the voter's tracker, found or not
	chunk   job    // consecutive ballots not yet handed to the workers

	pending map[int64]job
	next    int64
	mu      sync.Mutex
	applied *sync.Cond // signalled when next moves
}

// found is the voter's tracker, and where its first valid ballot is (the
// one a tracker names, spec §19).
type found struct {
	tracker [32]byte
	ok      bool
	index   int64
	key     [32]byte
}

// chunkBallots ballots are verified in one batch: about 35 points each for
// a ballot of 5 selections, so a few thousand points per multi-scalar
// multiplication, where the bucket method is several times faster than
// per-ballot batches; a bad ballot is then named by bisection.
const chunkBallots = 256

// job is consecutive entries from index i: several ballots, or one entry
// of another kind.
type job struct {
	i        int64
	entries  [][]byte
	prepared []*election.PreparedBallot
	errs     []error
}

func (r *replay) start() {
	// Few chunks in flight: each holds 256 entries and their decoded
	// selections (about 2 MB), and the memory must not grow with the record.
	r.jobs = make(chan job, r.workers)
	r.results = make(chan job, r.workers)
	r.pending = make(map[int64]job)
	r.next = 1
	r.done = make(chan struct{})
	r.applied = sync.NewCond(&r.mu)
	for range r.workers {
		r.wg.Go(func() {
			for j := range r.jobs {
				j.prepared = make([]*election.PreparedBallot, len(j.entries))
				j.errs = make([]error, len(j.entries))
				if v := r.view.Load(); v != nil && j.entries[0][0] == election.TypeBallot {
					j.prepared, j.errs = v.PrepareMany(j.entries)
				}
				r.results <- j
			}
		})
	}
	go func() {
		for j := range r.results {
			r.pending[j.i] = j
			for {
				k, ok := r.pending[r.next]
				if !ok {
					break
				}
				delete(r.pending, r.next)
				for n := range k.entries {
					r.apply(k.i+int64(n), k.entries[n], k.prepared[n], k.errs[n])
				}
				r.mu.Lock()
				r.next += int64(len(k.entries))
				r.applied.Broadcast()
				r.mu.Unlock()
			}
		}
		close(r.done)
	}()
}

// submit hands entry i to the workers. Ballots can only be prepared once
// the election key is known (after the open entry): until then entries are
// applied one by one. Consecutive ballots are handed over by chunks.
func (r *replay) submit(i int64, e []byte) {
	ballot := len(e) > 0 && e[0] == election.TypeBallot
	if r.view.Load() == nil && ballot {
		// Wait until every earlier entry is applied, so that the open
		// entry has set the key.
		r.flush()
		r.mu.Lock()
		for r.next < i {
			r.applied.Wait()
		}
		if r.state.ElectionKey != nil {
			v, _ := r.state.Voter()
			r.view.Store(v)
		}
		r.mu.Unlock()
	}
	if !ballot || r.view.Load() == nil {
		r.flush()
		r.jobs <- job{i: i, entries: [][]byte{e}}
		return
	}
	if len(r.chunk.entries) == 0 {
		r.chunk.i = i
	}
	r.chunk.entries = append(r.chunk.entries, e)
	if len(r.chunk.entries) == chunkBallots {
		r.flush()
	}
}

// flush hands the chunk of ballots to the workers.
func (r *replay) flush() {
	if len(r.chunk.entries) > 0 {
		r.jobs <- r.chunk
		r.chunk = job{}
	}
}

func (r *replay) apply(i int64, entry []byte, prepared *election.PreparedBallot, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	s := r.state
	if len(entry) > 0 && entry[0] == election.TypeBallot {
		tracker := election.Tracker(entry)
		if err == nil && prepared == nil {
			prepared, err = s.PrepareBallot(entry)
		}
		if err == nil {
			err = s.ApplyBallot(prepared)
		}
		if err != nil {
			r.rep.fail("ballot", i, tracker, err.Error())
			s.Skip()
			return
		}
		r.rep.Selections += prepared.Selections()
		if w := r.want; w != nil && !w.ok && prepared.TrackerBytes() == w.tracker {
			w.ok, w.index, w.key = true, i, prepared.CredentialBytes()
		}
		return
	}
	if s.Size != i {
		panic(fmt.Sprintf("verify: internal error: entry %d applied at %d", i, s.Size))
	}
	if err := s.Apply(entry); err != nil {
		r.rep.fail(election.TypeName(typeOf(entry)), i, "", err.Error()+"; the entries after it were not checked")
		r.stopped = true
	}
}

func typeOf(e []byte) byte {
	if len(e) == 0 {
		return 0
	}
	return e[0]
}

func (r *replay) finish() {
	r.flush()
	close(r.jobs)
	r.wg.Wait()
	close(r.results)
	<-r.done
}

// tracker finds a ballot by its tracker and proves its inclusion from the
// published tiles.
func (r *replay) tracker(ctx context.Context, src board.FileReader, c board.Checkpoint, t string) *TrackerReport {
	tr := &TrackerReport{Tracker: t}
	if r.want == nil || !r.want.ok {
		return tr
	}
	idx := r.want.index
	last, _ := r.state.LastIndex(r.want.key)
	tr.Found, tr.Index, tr.Counted = true, idx, last == idx
	tr.Revoked = r.state.KeyRevoked(r.want.key)
	hr := board.PublishedHashes(ctx, src, c.Tree())
	proof, err := tlog.ProveRecord(c.Size, idx, hr)
	if err != nil {
		r.rep.fail("tracker", idx, t, fmt.Sprintf("cannot prove the ballot's inclusion: %v", err))
		return tr
	}
	leaf, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, idx)})
	if err != nil || tlog.CheckRecord(proof, c.Size, c.Hash, idx, leaf[0]) != nil {
		r.rep.fail("tracker", idx, t, "the ballot's inclusion proof does not verify")
		return tr
	}
	tr.Proof = true
	return tr
}

// noteBytes encodes a verified note again: its text, a blank line, and
// its verified signatures (sumdb/note's format).
// checkpointCopy keeps a copy of the checkpoint file read through it.
type checkpointCopy struct {
	board.FileReader
	signed []byte
}

func (c *checkpointCopy) ReadFile(ctx context.Context, path string, max int) ([]byte, error) {
	b, err := c.FileReader.ReadFile(ctx, path, max)
	if path == board.CheckpointFile && err == nil {
		c.signed = bytes.Clone(b)
	}
	return b, err
}

func noteBytes(n *note.Note) []byte {
	if n == nil {
		return nil
	}
	b := []byte(n.Text + "\n")
	for _, s := range n.Sigs {
		b = append(b, "— "+s.Name+" "+s.Base64+"\n"...)
	}
	return b
}
