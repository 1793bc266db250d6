package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/browse"
)

// MaxBallotSize bounds a ballot request's body.
const MaxBallotSize = 256 << 10

// Options configure the HTTP API.
type Options struct {
	Logger *slog.Logger
	// Officer decides whether a request may do officers' actions (the
	// staff accounts' check: a session with a second factor and an
	// officer's or administrator's role); nil disables them.
	// It returns a function recording the action's outcome (an audit
	// trail), called once the action is done or refused. An error
	// wrapping ErrNoElection (someone with no role in this election) is
	// answered 404 with no detail, as for an election that does not exist.
	Officer func(r *http.Request, action string) (record func(result string), err error)
	// SignIn is the voters' second factor (spec §20): with it, every ballot
	// needs a voter token for the address that owns its credential.
	SignIn *SignIn
	// NoSignIn accepts ballots on the credential alone; without SignIn or
	// NoSignIn, ballots are refused (spec §20.5).
	NoSignIn bool
}

// Handler returns the election's HTTP API, alone (a server serves every
// election under its prefix with a Registry):
//
//	GET  /api/election          the manifest, fingerprint, keys, phase and sign-in policy
//	POST /api/sign-in           ask for a one-time code by e-mail: {"email": "…"}
//	POST /api/sign-in/verify    {"email": "…", "code": "…"}: a voter token
//	POST /api/ballots           cast a ballot (its canonical JSON); 201 with a receipt
//	GET  /api/ballots/{tracker} find a ballot: its index, whether it counts, a fresh proof
//	GET  /api/credentials/{credential} the contests a credential may answer (public)
//	GET  /api/checkpoint        the latest signed checkpoint
//	GET  /log/…                 the published log (spec §17): checkpoint, tiles, entry bundles
//	GET  /healthz               200 while the server takes entries; else 503 and
//	                            {"status": "recovering" or "stopped", "error": why}
//	GET  /metrics               Prometheus metrics
//	POST /api/ceremony          a trustee's signed ceremony message (raw bytes)
//	POST /api/decryptions       a trustee's signed decryption shares (raw bytes)
//	POST /api/cosignatures      a checkpoint cosigned by a witness (see Election.SetWitnesses)
//	POST /api/admin/entries     (officer) the manifest, roll, credentials or open entry
//	POST /api/admin/close       (officer) close voting: {"reason": "…"}
//	POST /api/admin/extend      (officer) extend voting (spec §18.7): {"closes": "<time>", "reason": "…"}
//	POST /api/admin/tally       (officer) record the tally
//	POST /api/admin/result      (officer) record the result from the decryption shares
func (e *Election) Handler(o Options) http.Handler {
	h := e.newHandler(o)
	mux := http.NewServeMux()
	mux.Handle("/", h.routes())
	mux.HandleFunc("GET /healthz", h.health)
	mux.HandleFunc("GET /metrics", h.metrics)
	return securityHeaders(mux)
}

func (e *Election) newHandler(o Options) *handler {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if o.SignIn != nil {
		o.SignIn.follow(e)
	}
	return &handler{e: e, log: logger, signIn: o.SignIn, noSignIn: o.NoSignIn, officerCheck: o.Officer}
}

// routes is the election's API under /api/ and its log under /log/, as a
// Registry serves them under /api/e/{id}/ and /e/{id}/log/.
func (h *handler) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/election", h.election)
	if h.signIn != nil {
		mux.HandleFunc("POST /api/sign-in", h.signIn.requestCode)
		mux.HandleFunc("POST /api/sign-in/verify", h.signIn.verifyCode)
	}
	mux.HandleFunc("POST /api/ballots", h.cast)
	mux.HandleFunc("GET /api/ballots/{tracker}", h.find)
	mux.HandleFunc("GET /api/credentials/{credential}", h.eligibility)
	mux.HandleFunc("GET /api/checkpoint", h.checkpoint)
	mux.HandleFunc("GET /log/checkpoint", h.checkpoint)
	mux.HandleFunc("GET /log/tile/", h.tile)
	mux.HandleFunc("POST /api/ceremony", h.trusteeMessage(election.TypeCeremony))
	mux.HandleFunc("POST /api/decryptions", h.trusteeMessage(election.TypeDecryption))
	mux.HandleFunc("POST /api/cosignatures", h.cosign)
	mux.HandleFunc("POST /api/admin/entries", h.officer("entry", h.adminEntry))
	mux.HandleFunc("POST /api/admin/close", h.officer("close", h.adminClose))
	mux.HandleFunc("POST /api/admin/extend", h.officer("extend", h.adminExtend))
	mux.HandleFunc("POST /api/admin/tally", h.officer("tally", h.adminDerived((*election.State).ExpectedTally)))
	mux.HandleFunc("POST /api/admin/result", h.officer("result", h.adminDerived((*election.State).ExpectedResult)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusNotFound, apiError{"not found"}) })
	return securityHeaders(mux)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

type handler struct {
	e            *Election
	log          *slog.Logger
	officerCheck func(r *http.Request, action string) (func(result string), error)

	signIn   *SignIn
	noSignIn bool

	accepted, refused atomic.Int64
	castNanos         atomic.Int64

	tiles tileCache
}

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

func (h *handler) election(w http.ResponseWriter, r *http.Request) {
	var resp struct {
		Ballots     int                `json:"ballots"`
		ElectionKey string             `json:"election_key,omitempty"`
		Fingerprint string             `json:"fingerprint"`
		LogKey      string             `json:"log_key"`
		Manifest    *election.Manifest `json:"manifest"`
		Phase       string             `json:"phase"`
		SignIn      string             `json:"sign_in"`
		Voters      int                `json:"voters"`
		// Ends is the end of voting in force (spec §18.7), and
		// Extensions the recorded extensions.
		Ends       string               `json:"ends"`
		Extensions []election.Extension `json:"extensions"`
	}
	switch {
	case h.signIn != nil:
		resp.SignIn = "email"
	case h.noSignIn:
		resp.SignIn = "off"
	default:
		resp.SignIn = "unavailable" // no ballots are taken
	}
	h.e.State(func(s *election.State) {
		resp.Phase, resp.Ballots, resp.Manifest, resp.LogKey = s.Phase.String(), s.Ballots, s.Manifest, s.LogKey
		resp.Fingerprint = fmt.Sprintf("%x", s.Fingerprint[:])
		if s.ElectionKey != nil {
			k, _ := s.ElectionKey.MarshalText()
			resp.ElectionKey = string(k)
		}
		if s.Roll != nil {
			resp.Voters = s.Roll.Voters
		}
		if s.Manifest != nil {
			resp.Ends = election.Now(s.Ends())
		}
		resp.Extensions = append([]election.Extension{}, s.Extensions...)
	})
	if resp.Manifest == nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{"the election is not set up yet"})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *handler) cast(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	// Sign-in comes first (spec §20.3): nothing else is read for a request
	// without a valid voter token.
	var voter string
	switch {
	case h.signIn != nil:
		var err error
		if voter, err = h.signIn.Voter(r); err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="scrutin voter"`)
			h.refuse(w, http.StatusUnauthorized, err.Error())
			return
		}
		if ok, wait := h.signIn.AllowBallot(r, voter); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			h.refuse(w, http.StatusTooManyRequests, "too many ballots from this voter or network; wait a little and try again")
			return
		}
	case !h.noSignIn:
		h.refuse(w, http.StatusServiceUnavailable, "this server has no voters' sign-in list, so it takes no ballots (spec §20.5)")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		h.refuse(w, http.StatusUnsupportedMediaType, "send the ballot as application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBallotSize))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		h.refuse(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a ballot is at most %d bytes", MaxBallotSize))
		return
	}
	if err != nil {
		h.refuse(w, http.StatusBadRequest, "could not read the request body")
		return
	}
	if h.signIn != nil {
		cred, err := ballotCredential(body)
		if err != nil {
			h.refuse(w, http.StatusBadRequest, err.Error())
			return
		}
		if err := h.signIn.Owns(voter, cred); err != nil {
			h.refuse(w, http.StatusForbidden, err.Error())
			return
		}
	}
	receipt, err := h.e.Cast(r.Context(), append([]byte{election.TypeBallot}, body...))
	switch {
	case err == nil && receipt.Again:
		// spec: §21.2 the same ballot again: its original receipt, nothing
		// appended.
		writeJSON(w, http.StatusOK, receipt)
	case err == nil:
		h.accepted.Add(1)
		h.castNanos.Add(int64(time.Since(start)))
		writeJSON(w, http.StatusCreated, receipt)
	case errors.Is(err, election.ErrNotOpen), errors.Is(err, election.ErrReplay), errors.Is(err, ErrEnded):
		h.refuse(w, http.StatusConflict, err.Error())
	case errors.Is(err, election.ErrUnknownCredential), errors.Is(err, election.ErrRevoked):
		h.refuse(w, http.StatusForbidden, err.Error())
	case errors.Is(err, ErrRefused):
		h.refuse(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrNoReceipt):
		if r.Context().Err() == nil { // else the client left
			h.log.Warn("a stored ballot got no receipt", "err", err)
		}
		h.refuse(w, http.StatusServiceUnavailable, strings.TrimPrefix(err.Error(), ErrNoReceipt.Error()+": "))
	case errors.Is(err, ErrBusy):
		// Nothing was stored (the client may have left already).
		w.Header().Set("Retry-After", "1")
		h.refuse(w, http.StatusServiceUnavailable, "the server is busy and did not store the ballot; try again in a moment")
	default:
		// The store failed while appending: the ballot may be stored.
		h.log.Error("casting failed", "err", err)
		h.refuse(w, http.StatusServiceUnavailable, "the server's database failed while storing the ballot, which may or may not be stored: look its tracker up in a minute before casting again")
	}
}

func (h *handler) refuse(w http.ResponseWriter, status int, msg string) {
	h.refused.Add(1)
	writeJSON(w, status, apiError{msg})
}

func (h *handler) find(w http.ResponseWriter, r *http.Request) {
	tracker := strings.ToLower(r.PathValue("tracker"))
	var idx int64
	var counted, found bool
	h.e.State(func(s *election.State) { idx, counted, found = s.FindTracker(tracker) })
	if !found {
		writeJSON(w, http.StatusNotFound, apiError{"no ballot with this tracker is in the log"})
		return
	}
	release, ok := browse.Turn(w, r) // a turn of the site's browsing Gate
	if !ok {
		return
	}
	rc, err := h.e.Receipt(r.Context(), idx, tracker)
	release()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		*Receipt
		Counted bool `json:"counted"`
	}{rc, counted})
}

// eligibility tells a voter's device which contests to show: public
// information, since the credentials entries carry their groups.
func (h *handler) eligibility(w http.ResponseWriter, r *http.Request) {
	var k crypto.PublicKey
	if err := k.UnmarshalText([]byte(r.PathValue("credential"))); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"not a credential: " + err.Error()})
		return
	}
	contests := []string{}
	var ok bool
	h.e.State(func(s *election.State) {
		var mask uint64
		if mask, ok = s.Eligibility(&k); ok {
			for c, ct := range s.Manifest.Contests {
				if mask&(1<<c) != 0 {
					contests = append(contests, ct.ID)
				}
			}
		}
	})
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{"this credential is not published in this election"})
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"contests": contests})
}

func (h *handler) checkpoint(w http.ResponseWriter, r *http.Request) {
	_, signed, err := h.e.PublicCheckpoint(r.Context())
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(signed)
}

func (h *handler) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := h.e.st.Size(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, apiError{"the store does not answer"})
		return
	}
	if recovering, err := h.e.Health(); err != nil {
		status := "stopped"
		if recovering {
			status = "recovering"
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": status, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (h *handler) metrics(w http.ResponseWriter, r *http.Request) {
	var phase string
	var entries int64
	var ballots int
	h.e.State(func(s *election.State) { phase, entries, ballots = s.Phase.String(), s.Size, s.Ballots })
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintf(w, "# HELP scrutin_ballots_accepted_total Ballots accepted by this server process.\n# TYPE scrutin_ballots_accepted_total counter\nscrutin_ballots_accepted_total %d\n", h.accepted.Load())
	fmt.Fprintf(w, "# HELP scrutin_ballots_refused_total Ballot requests refused by this server process.\n# TYPE scrutin_ballots_refused_total counter\nscrutin_ballots_refused_total %d\n", h.refused.Load())
	fmt.Fprintf(w, "# HELP scrutin_cast_seconds_total Time spent accepting ballots.\n# TYPE scrutin_cast_seconds_total counter\nscrutin_cast_seconds_total %g\n", float64(h.castNanos.Load())/1e9)
	fmt.Fprintf(w, "# HELP scrutin_log_entries Entries in the election's log.\n# TYPE scrutin_log_entries gauge\nscrutin_log_entries %d\n", entries)
	fmt.Fprintf(w, "# HELP scrutin_ballots_in_log Ballot entries in the log, re-votes included.\n# TYPE scrutin_ballots_in_log gauge\nscrutin_ballots_in_log %d\n", ballots)
	fmt.Fprintf(w, "# HELP scrutin_log_tiles_read_total Log tiles read from the store (full ones are read once, then kept).\n# TYPE scrutin_log_tiles_read_total counter\nscrutin_log_tiles_read_total %d\n", h.tiles.reads.Load())
	recovering, err := h.e.Health()
	healthy := 0
	if err == nil {
		healthy = 1
	}
	h.e.mu.Lock()
	recoveries := h.e.recoveries
	h.e.mu.Unlock()
	fmt.Fprintf(w, "# HELP scrutin_taking_entries 1 while the node takes entries, 0 while it recovers from a store failure or has stopped.\n# TYPE scrutin_taking_entries gauge\nscrutin_taking_entries %d\n", healthy)
	fmt.Fprintf(w, "# HELP scrutin_recovering 1 while the node reloads the log after a store failure.\n# TYPE scrutin_recovering gauge\nscrutin_recovering %d\n", map[bool]int{false: 0, true: 1}[recovering])
	fmt.Fprintf(w, "# HELP scrutin_store_recoveries_total Times the node reloaded the log after a store failure.\n# TYPE scrutin_store_recoveries_total counter\nscrutin_store_recoveries_total %d\n", recoveries)
	fmt.Fprintf(w, "# HELP scrutin_phase The election's phase.\n# TYPE scrutin_phase gauge\nscrutin_phase{phase=%q} 1\n", phase)
}

// NewHTTPServer returns an http.Server with timeouts and limits set.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// VerifyReceipt checks a receipt (spec §18.5): the signed checkpoint with
// the log key, and the ballot's inclusion at its index.
func VerifyReceipt(rc *Receipt, entry []byte, origin, logKey string) error {
	v, err := note.NewVerifier(logKey)
	if err != nil {
		return err
	}
	if election.Tracker(entry) != rc.Tracker {
		return fmt.Errorf("the receipt's tracker is not this ballot's")
	}
	_, err = board.CheckReceipt([]byte(rc.Checkpoint), origin, v, rc.Index, rc.InclusionProof, entry)
	return err
}
