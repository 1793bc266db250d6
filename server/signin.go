package server

// spec: §20 voter sign-in

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"mime"
	"net/http"
	"net/mail"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/clientip"
	"github.com/scrutin/scrutin/store"
)

// Voter is one row of the sign-in list (spec §20.2).
type Voter struct {
	Email      string
	Credential *crypto.PublicKey
}

// NormalizeEmail is how addresses are compared (spec §20.2).
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// MaxSignInList bounds the rows of a sign-in list.
const MaxSignInList = 10_000_000

// ReadSignInList parses a sign-in list (CSV: email,credential), refusing
// bad addresses, bad or repeated credentials, with the row's number.
func ReadSignInList(r io.Reader) ([]Voter, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 2
	head, err := cr.Read()
	if err != nil || NormalizeEmail(head[0]) != "email" || strings.TrimSpace(head[1]) != "credential" {
		return nil, errors.New("a sign-in list is CSV with the header email,credential (written by scrutin credentials generate)")
	}
	var out []Voter
	seen := make(map[[32]byte]bool)
	for row := 2; ; row++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("sign-in list: %w", err)
		}
		if len(out) == MaxSignInList {
			return nil, fmt.Errorf("sign-in list: more than %d rows", MaxSignInList)
		}
		email := NormalizeEmail(rec[0])
		if !plausibleEmail(email) {
			return nil, fmt.Errorf("sign-in list, row %d: %q is not an e-mail address", row, rec[0])
		}
		var k crypto.PublicKey
		if err := k.UnmarshalText([]byte(strings.TrimSpace(rec[1]))); err != nil {
			return nil, fmt.Errorf("sign-in list, row %d: %v", row, err)
		}
		key := [32]byte(k.Bytes())
		if seen[key] {
			return nil, fmt.Errorf("sign-in list, row %d: this credential is on an earlier row", row)
		}
		seen[key] = true
		out = append(out, Voter{Email: email, Credential: &k})
	}
	if len(out) == 0 {
		return nil, errors.New("the sign-in list is empty")
	}
	return out, nil
}

// plausibleEmail accepts addresses a mail server can be given as they are.
func plausibleEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || len(s) > 254 || strings.ContainsAny(s, " \t\r\n,;<>\"()") || !strings.Contains(s[at:], ".") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

// Mailer sends one plain-text message; mailer.Config is the real one.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// SignInLimits are the sign-in's limits (spec §20.3); zero fields take the
// spec's values, except PerClient.
type SignInLimits struct {
	CodeTTL  time.Duration // how long a code is valid (10 minutes)
	TokenTTL time.Duration // how long a voter token is valid (1 hour)
	// Letters to one address: a burst of CodeBurst (2), then one every
	// CodeInterval (6 minutes), which must be shorter than CodeTTL so that
	// a refused request always leaves a valid, unused code in the mailbox;
	// each code used gives its letter back.
	CodeBurst    int
	CodeInterval time.Duration
	Attempts     int // wrong attempts of the short code for a challenge (5)
	// PerClient is the rate of sign-in requests per client (an IPv4
	// address or an IPv6 /64), with a burst of PerClientBurst; 0 means no
	// limit (tests and the demo on loopback).
	PerClient      rate.Limit
	PerClientBurst int
	// Clients, if set, are the per-client budgets shared by every election
	// of a server (made with PerClient and PerClientBurst), so that a
	// client's requests are counted once whichever election they are for;
	// nil: the sign-in keeps its own.
	Clients *clientip.Limiters
	// TrustedProxies are the reverse proxies whose X-Forwarded-For header
	// names the client; requests from elsewhere are keyed by their own
	// address.
	TrustedProxies []netip.Prefix
	// State is where the codes, their attempts, the letter limits and the
	// ballot limits are kept: the database's shared state, so that every
	// node on it enforces them together (issue 18); nil: a private
	// in-memory database, for one process alone. The per-client limits
	// above stay in each node's memory: they only shed load.
	State *store.Shared
}

// DefaultSignInLimits are the limits of a production server.
var DefaultSignInLimits = SignInLimits{PerClient: 1, PerClientBurst: 20}

// SignIn checks voters' second factor: one-time codes sent by e-mail, and
// the voter tokens they give (spec §20). Safe for concurrent use.
type SignIn struct {
	key    []byte            // k of spec §20.3
	emails map[string]bool   // addresses on the list
	owner  map[string]string // credential (text form) → address
	mail   Mailer
	title  string
	// about, once the sign-in serves an election, reads its title and
	// whether voting is closed, when a code is asked for and when its
	// letter goes (the manifest may come after the sign-in was made).
	about atomic.Pointer[func() (title election.Text, closed bool)]
	// original, once the sign-in serves an election, gives the credential
	// a chain of replacements started from (spec §18.8), whose owner owns
	// the replacement too.
	original atomic.Pointer[func(credential string) string]
	lim      SignInLimits
	log      *slog.Logger
	now      func() time.Time
	queue    chan letter
	workers  sync.WaitGroup

	state    *store.Shared
	ownState bool   // state was made by NewSignIn, and is closed with it
	scope    string // names this sign-in in state

	mu      sync.Mutex
	closed  bool
	clients *clientip.Limiters
	// Wrong 16-digit codes since the last log of them (spec §20.3).
	wrongLong       int64
	wrongLongLogged time.Time
}

// Ballots per voter: a burst of BallotsBurst, then one every
// BallotInterval. Re-voting (spec §18.5) needs a few; a stolen token should
// not flood the log.
const (
	BallotsBurst   = 10
	BallotInterval = 6 * time.Minute
)

// AllowBallot applies the limits on casting: the client's (shared with its
// sign-in requests, in this node's memory) and the voter's (shared by
// every node on the database).
func (s *SignIn) AllowBallot(r *http.Request, voter string) (bool, time.Duration) {
	now := s.now()
	key := s.budget("ballots", voter)
	b := store.Bucket{Every: BallotInterval, Burst: BallotsBurst}
	wait, _, err := s.state.Take(r.Context(), key, b, now)
	if err != nil {
		s.log.Error("sign-in: the ballot limits cannot be read", "err", err)
		return false, time.Second
	}
	if wait > 0 {
		return false, wait
	}
	// A refusal spends neither limit.
	if ok, d := s.allowClient(s.client(r)); !ok {
		if err := s.state.Give(context.WithoutCancel(r.Context()), key, b, now); err != nil {
			s.log.Error("sign-in: a ballot limit could not be given back", "err", err)
		}
		return false, d
	}
	return true, 0
}

// addr names an address in the shared state: a MAC of it, so that the
// database holds no address in clear.
func (s *SignIn) addr(email string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("address\x00" + email))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// budget names an address's budget of a kind in the shared state.
func (s *SignIn) budget(kind, email string) string {
	return "signin/" + s.scope + "/" + kind + "/" + s.addr(email)
}

// letters is the letter limit of spec §20.3: a bucket that holds at most
// CodeBurst letters, refilled one every CodeInterval, and given one back by
// each code used.
func (s *SignIn) letters() store.Bucket {
	return store.Bucket{Every: s.lim.CodeInterval, Burst: s.lim.CodeBurst}
}

type letter struct{ to, id, code string } // code: 16 digits, mailed under challenge id

// follow makes the sign-in read e's title and phase when a code is asked
// for and when its letter goes: no code once voting is closed.
func (s *SignIn) follow(e *Election) {
	about := func() (t election.Text, closed bool) {
		e.State(func(st *election.State) {
			if st.Manifest != nil {
				t = st.Manifest.Title
			}
			closed = st.Phase >= election.PhaseClosed
		})
		return t, closed
	}
	s.about.Store(&about)
	original := func(cred string) string {
		var k crypto.PublicKey
		if err := k.UnmarshalText([]byte(cred)); err != nil {
			return cred
		}
		var root *crypto.PublicKey
		e.State(func(st *election.State) { root = st.Original(&k) })
		t, _ := root.MarshalText()
		return string(t)
	}
	s.original.Store(&original)
}

// NewSignIn makes the sign-in of the election F titled title, for the
// voters of the list, with the list's key (spec §20.3), sending codes with
// m. Close stops its mail workers.
func NewSignIn(listKey []byte, f crypto.Fingerprint, voters []Voter, m Mailer, title string, lim SignInLimits, logger *slog.Logger) (*SignIn, error) {
	if len(listKey) != atrest.KeySize {
		return nil, errors.New("the sign-in list's key must be 32 bytes")
	}
	if m == nil {
		return nil, errors.New("voter sign-in needs a way to send e-mail")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := SignInLimits{CodeTTL: 10 * time.Minute, TokenTTL: time.Hour, CodeBurst: 2, CodeInterval: 6 * time.Minute, Attempts: 5}
	for _, x := range []struct{ v, def *time.Duration }{{&lim.CodeTTL, &d.CodeTTL}, {&lim.TokenTTL, &d.TokenTTL}, {&lim.CodeInterval, &d.CodeInterval}} {
		if *x.v == 0 {
			*x.v = *x.def
		}
	}
	for _, x := range []struct{ v, def *int }{{&lim.CodeBurst, &d.CodeBurst}, {&lim.Attempts, &d.Attempts}} {
		if *x.v == 0 {
			*x.v = *x.def
		}
	}
	if lim.CodeInterval >= lim.CodeTTL {
		return nil, errors.New("sign-in limits: codes must live longer than the interval between letters")
	}
	s := &SignIn{
		key: SignInKey(listKey, f), emails: make(map[string]bool), owner: make(map[string]string, len(voters)),
		mail: m, title: title, lim: lim, log: logger, now: time.Now,
		queue: make(chan letter, 4096), clients: lim.Clients, state: lim.State,
	}
	sc := hmac.New(sha256.New, s.key)
	sc.Write([]byte("scope"))
	s.scope = base64.RawURLEncoding.EncodeToString(sc.Sum(nil)[:12])
	if s.clients == nil {
		s.clients = clientip.NewLimiters(lim.PerClient, lim.PerClientBurst)
	}
	for i, v := range voters {
		email := NormalizeEmail(v.Email)
		if !plausibleEmail(email) || v.Credential == nil {
			return nil, fmt.Errorf("sign-in list, voter %d: no address or no credential", i+1)
		}
		t, _ := v.Credential.MarshalText()
		if _, dup := s.owner[string(t)]; dup {
			return nil, fmt.Errorf("sign-in list, voter %d: credential repeated", i+1)
		}
		s.owner[string(t)] = email
		s.emails[email] = true
	}
	if s.state == nil {
		st, err := store.MemoryShared(context.Background())
		if err != nil {
			return nil, err
		}
		s.state, s.ownState = st, true
	}
	for range 4 {
		s.workers.Go(s.sendLetters)
	}
	return s, nil
}

// Close stops sending codes, after the ones queued are sent; code requests
// after it send nothing.
func (s *SignIn) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	close(s.queue)
	s.mu.Unlock()
	s.workers.Wait()
	if s.ownState {
		s.state.Close()
	}
}

// SignInKey derives k of spec §20.3 from the sign-in list's key, for the
// election F: tokens of one election are worthless in another.
func SignInKey(listKey []byte, f crypto.Fingerprint) []byte {
	return atrest.Derive(listKey, "scrutin/v0/voter-sign-in\x00"+string(f[:]))
}

// CodeMAC is what the server keeps of a code (spec §20.3).
func CodeMAC(k []byte, email, code string) [32]byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte("code\x00" + email + "\x00" + code))
	return [32]byte(m.Sum(nil))
}

// Token makes a voter token for an address, valid until expiry (spec §20.3).
func Token(k []byte, email string, expiry time.Time) string {
	payload := binary.BigEndian.AppendUint64(nil, uint64(expiry.Unix()))
	payload = append(payload, email...)
	return base64.RawURLEncoding.EncodeToString(append(payload, tokenMAC(k, payload)...))
}

func tokenMAC(k, payload []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte("token\x00"))
	m.Write(payload)
	return m.Sum(nil)
}

// errToken is the one answer to every bad voter token.
var errToken = errors.New("sign in first: this request needs a valid voter token (Authorization: Bearer …), and tokens last an hour")

// Voter returns the address of the request's voter token, if the token is
// authentic and unexpired.
func (s *SignIn) Voter(r *http.Request) (string, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || len(tok) > 512 {
		return "", errToken
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 8+1+sha256.Size {
		return "", errToken
	}
	payload, mac := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if !hmac.Equal(mac, tokenMAC(s.key, payload)) {
		return "", errToken
	}
	if s.now().Unix() >= int64(binary.BigEndian.Uint64(payload[:8])) {
		return "", errToken
	}
	return string(payload[8:]), nil
}

// Owns checks that the credential (its text form) is on the list with the
// address.
func (s *SignIn) Owns(email, credential string) error {
	if f := s.original.Load(); f != nil {
		// spec: §18.8 a replacement's credential belongs to the member
		// whose credential it replaced.
		credential = (*f)(credential)
	}
	if owner, ok := s.owner[credential]; !ok || subtle.ConstantTimeCompare([]byte(owner), []byte(email)) != 1 {
		return errors.New("this credential is not the one sent to the address you signed in with")
	}
	return nil
}

// ballotCredential reads a ballot's credential member without checking the
// rest, which the election's full check does afterwards (and which refuses
// duplicate members, so this is the credential that is checked).
func ballotCredential(body []byte) (string, error) {
	var b struct {
		Credential string `json:"credential"`
	}
	if err := json.Unmarshal(body, &b); err != nil || b.Credential == "" {
		return "", fmt.Errorf("%w: the ballot is not a JSON object with a credential", election.ErrEntry)
	}
	return b.Credential, nil
}

// client names the request's client for rate limits: its address, or the
// one a trusted proxy gives, with IPv6 addresses cut to their /64.
func (s *SignIn) client(r *http.Request) string {
	a, ok := clientip.FromRequest(r, s.lim.TrustedProxies)
	if !ok {
		return r.RemoteAddr
	}
	return clientip.Key(a)
}

// allowClient applies the per-client limit.
func (s *SignIn) allowClient(client string) (bool, time.Duration) {
	if s.lim.PerClient == 0 {
		return true, 0
	}
	return s.clients.Reserve(client, s.now(), 1)
}

func tooMany(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())+1))
	writeJSON(w, http.StatusTooManyRequests, apiError{"too many sign-in requests from your network; wait a little and try again"})
}

// readSmallJSON reads a small JSON request (application/json only, so that
// other sites cannot send it from their visitors' browsers without a CORS
// preflight, which this server never grants).
func readSmallJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, apiError{"send application/json"})
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4<<10))
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		err = dec.Decode(v)
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"send a small JSON object, as documented"})
		return false
	}
	return true
}

// signInMessage is the answer when a letter is sent, or would be if the
// address were on the list.
const signInMessage = "if this address is on the roll, a sign-in code is on its way; it is valid for 10 minutes"

// errNoLetters is the answer when no letter can be queued at all.
var errNoLetters = errors.New("no sign-in code can be sent right now (the server's mail queue is full, or it is stopping); try again in a minute")

func newChallengeID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *SignIn) requestCode(w http.ResponseWriter, r *http.Request) {
	client := s.client(r)
	if ok, d := s.allowClient(client); !ok {
		tooMany(w, d)
		return
	}
	var req struct {
		Email string `json:"email"`
	}
	if !readSmallJSON(w, r, &req) {
		return
	}
	email := NormalizeEmail(req.Email)
	if !plausibleEmail(email) {
		writeJSON(w, http.StatusBadRequest, apiError{"this is not an e-mail address"})
		return
	}
	if about := s.about.Load(); about != nil {
		if _, closed := (*about)(); closed {
			writeJSON(w, http.StatusConflict, apiError{"voting is closed: no sign-in code is sent"})
			return
		}
	}
	id := newChallengeID()
	wait, last, err := s.issue(r.Context(), email, id)
	switch {
	case err != nil:
		w.Header().Set("Retry-After", "60")
		writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
	case wait > 0:
		// The truth, the same whether or not the address is on the list:
		// no letter now, the last one still valid (CodeInterval < CodeTTL),
		// and when to ask again.
		secs := int((wait + time.Second - 1) / time.Second)
		until := last.Add(s.lim.CodeTTL)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{
			"error": fmt.Sprintf("no new code was sent: this address was sent one at %s UTC. If it is on the roll, that code works until %s UTC in any window when you type all 16 digits of it. Or ask again in %d seconds.",
				last.UTC().Format("15:04:05"), until.UTC().Format("15:04:05"), secs),
			"retry_after": secs,
			"last_sent":   last.UTC().Format(time.RFC3339),
			"valid_until": until.UTC().Format(time.RFC3339),
		})
	default:
		writeJSON(w, http.StatusAccepted, map[string]string{"message": signInMessage, "challenge": id})
	}
}

// issue mails a fresh code to an address on the list, under the challenge
// id, if the address's letter limit allows; it returns how long to wait
// otherwise, and when the last letter went. An address not on the list
// goes through the same limit, with no letter. Earlier codes stay valid: a
// stranger asking for codes voids none of the voter's (spec §20.3). The
// limit and the codes are the shared state's: every node counts them
// together.
func (s *SignIn) issue(ctx context.Context, email, id string) (wait time.Duration, last time.Time, err error) {
	now := s.now()
	n, _ := rand.Int(rand.Reader, big.NewInt(10_000_000_000_000_000))
	code := fmt.Sprintf("%016d", n.Int64())
	// The same work whether or not the address is on the list.
	c := store.Code{Scope: s.scope, Addr: s.addr(email), ID: id, Short: CodeMAC(s.key, email, code[:8]), Long: CodeMAC(s.key, email, code)}
	listed := s.emails[email]
	c.Stranger = !listed
	letters, b := s.budget("letters", email), s.letters()
	if s.isClosed() {
		return 0, time.Time{}, errNoLetters
	}
	// The same work whether or not the address is on the list (see
	// IssueCode): only a listed address's code is ever mailed.
	wait, last, err = s.state.IssueCode(ctx, letters, b, c, s.lim.CodeTTL, now)
	if err != nil {
		s.log.Error("sign-in: the shared sign-in state cannot be written", "err", err)
		return 0, time.Time{}, errNoLetters
	}
	if wait > 0 {
		return wait, last, nil
	}
	// A letter that cannot be queued spends nothing.
	s.mu.Lock()
	queued := false
	if !s.closed {
		if !listed {
			queued = len(s.queue) < cap(s.queue)
		} else {
			select {
			case s.queue <- letter{email, id, code}:
				queued = true
			default:
				s.log.Error("sign-in codes: the mail queue is full; a code was not sent")
			}
		}
	}
	s.mu.Unlock()
	if !queued {
		if err := s.state.CodeSent(context.WithoutCancel(ctx), letters, b, c.Scope, c.Addr, id, false, s.lim.CodeTTL, now); err != nil {
			s.log.Error("sign-in: a letter could not be given back", "err", err)
		}
		return 0, time.Time{}, errNoLetters
	}
	return 0, now, nil
}

func (s *SignIn) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *SignIn) sendLetters() {
	for l := range s.queue {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		title, titleFR, short, long, ttl := s.title, s.title, l.code[:8], l.code[:8]+" "+l.code[8:], int(s.lim.CodeTTL.Minutes())
		if about := s.about.Load(); about != nil {
			t, _ := (*about)()
			title, titleFR = cmp.Or(t.In("en"), title), cmp.Or(t.In("fr"), title)
		}
		body := fmt.Sprintf("Your sign-in code for \"%s\" is:\r\n\r\n    %s\r\n\r\nIt is valid for %d minutes, in the window where you asked for it. With the voting code from your letter, it lets you vote.\r\n"+
			"Anywhere else (on another device, or if you did not ask for this code but want to vote now), type this longer form instead, valid for the same %d minutes:\r\n\r\n    %s\r\n\r\n"+
			"If you did not ask for it, ignore this message: the code alone cannot vote.\r\n\r\n"+
			"Votre code de connexion pour « %s » est :\r\n\r\n    %s\r\n\r\nIl est valable %d minutes, dans la fenêtre où vous l'avez demandé. Avec votre code de vote, il vous permet de voter.\r\n"+
			"Ailleurs (sur un autre appareil, ou si vous ne l'avez pas demandé mais voulez voter maintenant), tapez plutôt cette forme longue, valable les mêmes %d minutes :\r\n\r\n    %s\r\n\r\n"+
			"Si vous ne l'avez pas demandé, ignorez ce message : ce code seul ne permet pas de voter.\r\n",
			title, short, ttl, ttl, long, titleFR, short, ttl, ttl, long)
		s.sending(l, true)
		err := s.mail.Send(ctx, l.to, "Your sign-in code / Votre code de connexion", body)
		cancel()
		if err != nil {
			// The error may quote the address, which stays out of logs.
			s.log.Error("sign-in codes: sending a code failed")
			s.sending(l, false)
		}
	}
}

// sending records a letter's fate (spec §20.3). Handed to the mail server,
// its code lives for CodeTTL from now, so that a backlog of letters does
// not deliver dead codes; not sent, its code is void and it gives its
// letter back.
func (s *SignIn) sending(l letter, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.state.CodeSent(ctx, s.budget("letters", l.to), s.letters(), s.scope, s.addr(l.to), l.id, ok, s.lim.CodeTTL, s.now()); err != nil {
		s.log.Error("sign-in: a letter's fate could not be recorded", "err", err)
	}
}

// errCode is the one answer to every failed code.
var errCode = errors.New("this code is wrong, expired or already used; type all 16 digits of the latest letter, or ask for a new code")

// errState is the answer when the shared state cannot be reached.
var errState = errors.New("the server cannot check codes right now; try again in a minute")

// useCode checks a code and consumes it: its 8-digit form for the challenge
// it was mailed under, whose wrong attempts void that form only; or its
// 16-digit form, under any challenge or none, which is too long to guess
// and so is never voided by wrong attempts (spec §20.3). Attempts are
// counted, and codes consumed, in the shared state: on every node at once.
func (s *SignIn) useCode(ctx context.Context, email, id, code string) error {
	if (len(code) != 8 && len(code) != 16) || strings.Trim(code, "0123456789") != "" {
		return errCode
	}
	want := CodeMAC(s.key, email, code)
	match := func(mac []byte) bool { return subtle.ConstantTimeCompare(want[:], mac) == 1 }
	letters, b, addr := s.budget("letters", email), s.letters(), s.addr(email)
	var ok bool
	var err error
	if len(code) == 8 {
		ok, err = s.state.UseShortCode(ctx, letters, b, s.scope, addr, id, s.lim.Attempts, match, s.now())
	} else {
		ok, err = s.state.UseLongCode(ctx, letters, b, s.scope, addr, match, s.now())
	}
	switch {
	case err != nil:
		s.log.Error("sign-in: the shared sign-in state cannot be read", "err", err)
		return errState
	case !ok:
		return errCode
	}
	return nil
}

func (s *SignIn) verifyCode(w http.ResponseWriter, r *http.Request) {
	if ok, d := s.allowClient(s.client(r)); !ok {
		tooMany(w, d)
		return
	}
	var req struct {
		Challenge string `json:"challenge"`
		Code      string `json:"code"`
		Email     string `json:"email"`
	}
	if !readSmallJSON(w, r, &req) {
		return
	}
	email := NormalizeEmail(req.Email)
	code := strings.ReplaceAll(strings.TrimSpace(req.Code), " ", "")
	if err := s.useCode(r.Context(), email, req.Challenge, code); err != nil {
		if errors.Is(err, errState) {
			w.Header().Set("Retry-After", "60")
			writeJSON(w, http.StatusServiceUnavailable, apiError{err.Error()})
			return
		}
		if len(code) == 16 {
			s.wrongLongCode(s.client(r))
		}
		writeJSON(w, http.StatusUnauthorized, apiError{err.Error()})
		return
	}
	exp := s.now().Add(s.lim.TokenTTL)
	writeJSON(w, http.StatusOK, map[string]string{"token": Token(s.key, email, exp), "expires": exp.UTC().Format(time.RFC3339)})
}

// wrongLongCode counts a wrong 16-digit code, which a voter copying a
// letter rarely types, and logs their count at most once a minute, with the
// latest client but no address (spec §20.3: a server SHOULD log them).
func (s *SignIn) wrongLongCode(client string) {
	now := s.now()
	s.mu.Lock()
	s.wrongLong++
	n := s.wrongLong
	due := now.Sub(s.wrongLongLogged) >= time.Minute
	if due {
		s.wrongLong, s.wrongLongLogged = 0, now
	}
	s.mu.Unlock()
	if due {
		s.log.Warn("sign-in: wrong 16-digit codes (guesses of the long form?)", "count", n, "latest_client", client)
	}
}

// The sign-in list at rest in the data folder (spec §20.2): sealed under a
// key of its own, so that erasing the key erases the list, copies included.
const (
	SignInListFile = "voters.sealed"
	SignInKeyFile  = "voters.key"
	signInPurpose  = "scrutin/v0/sign-in-list"
)

// ImportSignInList checks a sign-in list and keeps it, sealed under a fresh
// key, in dir, replacing any earlier one (whose voter tokens stop working);
// it returns the number of voters.
func ImportSignInList(dir string, r io.Reader) (int, error) {
	voters, err := ReadSignInList(r)
	if err != nil {
		return 0, err
	}
	key := make([]byte, atrest.KeySize)
	rand.Read(key)
	if err := atrest.WriteFile(filepath.Join(dir, SignInKeyFile), key, 0o600); err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write([]string{"email", "credential"})
	for _, v := range voters {
		t, _ := v.Credential.MarshalText()
		cw.Write([]string{v.Email, string(t)})
	}
	cw.Flush()
	return len(voters), atrest.WriteFile(filepath.Join(dir, SignInListFile), atrest.Seal(key, signInPurpose, buf.Bytes()), 0o600)
}

// LoadSignInList opens the sealed sign-in list of dir; the error wraps
// fs.ErrNotExist if there is none.
func LoadSignInList(dir string) (key []byte, voters []Voter, err error) {
	sealed, err := os.ReadFile(filepath.Join(dir, SignInListFile))
	if err != nil {
		return nil, nil, err
	}
	if key, err = atrest.LoadKey(filepath.Join(dir, SignInKeyFile)); err != nil {
		return nil, nil, err
	}
	plain, err := atrest.Open(key, signInPurpose, sealed)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", SignInListFile, err)
	}
	voters, err = ReadSignInList(bytes.NewReader(plain))
	return key, voters, err
}

// SignInLists reads the sign-in list of election id from its folder under
// dir (as the console reads its members).
func SignInLists(dir string) func(id string) ([]byte, []Voter, error) {
	return func(id string) ([]byte, []Voter, error) { return LoadSignInList(ElectionDir(dir, id)) }
}

// EraseSignInList deletes the sign-in list of dir and its key.
func EraseSignInList(dir string) error {
	var errs []error
	for _, f := range []string{SignInListFile, SignInKeyFile} {
		if err := atrest.Erase(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// CheckSignInList refuses a sign-in list whose credentials are not exactly
// those published in the election's log, once the credentials are complete
// (a row missing would shut a voter out; an extra row belongs elsewhere).
func (e *Election) CheckSignInList(voters []Voter) error {
	var err error
	e.State(func(s *election.State) {
		if s.Roll == nil || len(s.Credentials) < s.Roll.Voters {
			return
		}
		published := make(map[[32]byte]bool, len(s.Credentials))
		for _, k := range s.Credentials {
			published[[32]byte(k.Bytes())] = true
		}
		missing := 0
		for _, v := range voters {
			if !published[[32]byte(v.Credential.Bytes())] {
				missing++
			}
		}
		if missing > 0 {
			err = fmt.Errorf("%d of the %d credentials of the sign-in list are not published in this election's log: is it the list of another election?", missing, len(voters))
		} else if len(voters) != len(s.Credentials) {
			err = fmt.Errorf("the sign-in list has %d voters, the election %d credentials: voters missing from the list could not sign in", len(voters), len(s.Credentials))
		}
	})
	return err
}
