package server

// spec: §20 voter sign-in

import (
	"bytes"
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
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/atrest"
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

func plausibleEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	return at > 0 && at < len(s)-1 && len(s) <= 254 && !strings.ContainsAny(s, " \t\r\n,;<>\"") && strings.Contains(s[at:], ".")
}

// Mailer sends one plain-text message; mailer.Config is the real one.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// SignInLimits are the sign-in's limits (spec §20.3); zero fields take the
// spec's values, except PerIP.
type SignInLimits struct {
	CodeTTL      time.Duration // how long a code is valid (10 minutes)
	TokenTTL     time.Duration // how long a voter token is valid (1 hour)
	CodesPerHour int           // codes per address per hour (5)
	Attempts     int           // wrong attempts before a code is void (5)
	// PerIP is the rate of sign-in requests per client address, with a
	// burst of PerIPBurst; 0 means no limit (tests and the demo on
	// loopback).
	PerIP      rate.Limit
	PerIPBurst int
}

// DefaultSignInLimits are the limits of a production server.
var DefaultSignInLimits = SignInLimits{PerIP: 1, PerIPBurst: 20}

// SignIn checks voters' second factor: one-time codes sent by e-mail, and
// the voter tokens they give (spec §20). Safe for concurrent use.
type SignIn struct {
	key     []byte            // k of spec §20.3
	emails  map[string]bool   // addresses on the list
	owner   map[string]string // credential (text form) → address
	mail    Mailer
	title   string
	lim     SignInLimits
	log     *slog.Logger
	now     func() time.Time
	queue   chan letter
	workers sync.WaitGroup

	mu    sync.Mutex
	codes map[string]*challenge // address → its current code
	ips   map[string]*ipLimit
}

type challenge struct {
	mac      [32]byte
	expires  time.Time
	attempts int
	issued   []time.Time // within the last hour
}

type ipLimit struct {
	l    *rate.Limiter
	seen time.Time
}

type letter struct{ to, code string }

// NewSignIn makes the sign-in of an election titled title, for the voters
// of the list, with the server's data key (spec §20.3), sending codes with
// m. Close stops its mail workers.
func NewSignIn(dataKey []byte, voters []Voter, m Mailer, title string, lim SignInLimits, logger *slog.Logger) (*SignIn, error) {
	if len(dataKey) != atrest.KeySize {
		return nil, errors.New("the data key must be 32 bytes")
	}
	if m == nil {
		return nil, errors.New("voter sign-in needs a way to send e-mail")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := SignInLimits{CodeTTL: 10 * time.Minute, TokenTTL: time.Hour, CodesPerHour: 5, Attempts: 5}
	if lim.CodeTTL == 0 {
		lim.CodeTTL = d.CodeTTL
	}
	if lim.TokenTTL == 0 {
		lim.TokenTTL = d.TokenTTL
	}
	if lim.CodesPerHour == 0 {
		lim.CodesPerHour = d.CodesPerHour
	}
	if lim.Attempts == 0 {
		lim.Attempts = d.Attempts
	}
	s := &SignIn{
		key: SignInKey(dataKey), emails: make(map[string]bool), owner: make(map[string]string, len(voters)),
		mail: m, title: title, lim: lim, log: logger, now: time.Now,
		queue: make(chan letter, 4096), codes: make(map[string]*challenge), ips: make(map[string]*ipLimit),
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
	for range 4 {
		s.workers.Go(s.sendLetters)
	}
	return s, nil
}

// Close stops sending codes, after the ones queued are sent.
func (s *SignIn) Close() {
	close(s.queue)
	s.workers.Wait()
}

// SignInKey derives k of spec §20.3 from the data key.
func SignInKey(dataKey []byte) []byte { return atrest.Derive(dataKey, "scrutin/v0/voter-sign-in") }

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

// checkToken returns the token's address if it is authentic and unexpired.
func (s *SignIn) checkToken(tok string) (string, error) {
	if len(tok) > 512 {
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

// Authorize checks that the request carries a voter token whose address
// owns credential (its text form). It returns the status to refuse with.
func (s *SignIn) Authorize(r *http.Request, credential string) (int, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return http.StatusUnauthorized, errToken
	}
	email, err := s.checkToken(tok)
	if err != nil {
		return http.StatusUnauthorized, err
	}
	if owner, ok := s.owner[credential]; !ok || subtle.ConstantTimeCompare([]byte(owner), []byte(email)) != 1 {
		return http.StatusForbidden, errors.New("this credential is not the one sent to the address you signed in with")
	}
	return 0, nil
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

// allowIP applies the per-client-address limit.
func (s *SignIn) allowIP(r *http.Request) (bool, time.Duration) {
	if s.lim.PerIP == 0 {
		return true, 0
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ips) > 100_000 {
		for k, v := range s.ips {
			if now.Sub(v.seen) > 10*time.Minute {
				delete(s.ips, k)
			}
		}
	}
	l := s.ips[host]
	if l == nil {
		l = &ipLimit{l: rate.NewLimiter(s.lim.PerIP, s.lim.PerIPBurst)}
		s.ips[host] = l
	}
	l.seen = now
	res := l.l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (s *SignIn) tooMany(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(d.Seconds())+1))
	writeJSON(w, http.StatusTooManyRequests, apiError{"too many sign-in requests from your address; wait a little and try again"})
}

func readSmallJSON(w http.ResponseWriter, r *http.Request, v any) bool {
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

// signInMessage is the answer to every well-formed code request.
const signInMessage = "if this address is on the roll, a sign-in code is on its way; it is valid for 10 minutes"

func (s *SignIn) requestCode(w http.ResponseWriter, r *http.Request) {
	if ok, d := s.allowIP(r); !ok {
		s.tooMany(w, d)
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
	if s.emails[email] {
		s.issue(email)
	} else {
		CodeMAC(s.key, email, "00000000") // about the same work either way
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"message": signInMessage})
}

// issue makes a fresh code for an address on the list and queues its
// letter, unless the address had its share of codes this hour.
func (s *SignIn) issue(email string) {
	now := s.now()
	s.mu.Lock()
	c := s.codes[email]
	if c == nil {
		c = &challenge{}
		s.codes[email] = c
	}
	recent := c.issued[:0]
	for _, t := range c.issued {
		if now.Sub(t) < time.Hour {
			recent = append(recent, t)
		}
	}
	c.issued = recent
	if len(c.issued) >= s.lim.CodesPerHour {
		s.mu.Unlock()
		s.log.Warn("sign-in codes: hourly limit reached for an address")
		return
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(100_000_000))
	code := fmt.Sprintf("%08d", n.Int64())
	c.mac, c.expires, c.attempts = CodeMAC(s.key, email, code), now.Add(s.lim.CodeTTL), 0
	c.issued = append(c.issued, now)
	s.mu.Unlock()
	select {
	case s.queue <- letter{email, code}:
	default:
		s.log.Error("sign-in codes: the mail queue is full; a code was not sent")
	}
}

func (s *SignIn) sendLetters() {
	for l := range s.queue {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		title := s.title
		body := fmt.Sprintf("Your sign-in code for \"%s\" is:\r\n\r\n    %s\r\n\r\nIt is valid for %d minutes. With your voting credential, it lets you vote.\r\nIf you did not ask for it, ignore this message: the code alone cannot vote.\r\n\r\n"+
			"Votre code de connexion pour « %s » est :\r\n\r\n    %s\r\n\r\nIl est valable %d minutes. Avec votre code de vote, il vous permet de voter.\r\nSi vous ne l'avez pas demandé, ignorez ce message : ce code seul ne permet pas de voter.\r\n",
			title, l.code, int(s.lim.CodeTTL.Minutes()), title, l.code, int(s.lim.CodeTTL.Minutes()))
		if err := s.mail.Send(ctx, l.to, "Your sign-in code / Votre code de connexion", body); err != nil {
			s.log.Error("sign-in codes: sending failed", "err", err)
		}
		cancel()
	}
}

// errCode is the one answer to every failed code.
var errCode = errors.New("this code is wrong, expired or already used; ask for a new one if needed")

// useCode checks a code and consumes it.
func (s *SignIn) useCode(email, code string) error {
	if len(code) != 8 || strings.Trim(code, "0123456789") != "" {
		return errCode
	}
	want := CodeMAC(s.key, email, code)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.codes[email]
	if c == nil || c.expires.IsZero() || !now.Before(c.expires) {
		return errCode
	}
	if subtle.ConstantTimeCompare(want[:], c.mac[:]) != 1 {
		c.attempts++
		if c.attempts >= s.lim.Attempts {
			c.expires = time.Time{}
		}
		return errCode
	}
	c.expires = time.Time{}
	return nil
}

func (s *SignIn) verifyCode(w http.ResponseWriter, r *http.Request) {
	if ok, d := s.allowIP(r); !ok {
		s.tooMany(w, d)
		return
	}
	var req struct {
		Code  string `json:"code"`
		Email string `json:"email"`
	}
	if !readSmallJSON(w, r, &req) {
		return
	}
	email := NormalizeEmail(req.Email)
	if err := s.useCode(email, strings.ReplaceAll(strings.TrimSpace(req.Code), " ", "")); err != nil {
		writeJSON(w, http.StatusUnauthorized, apiError{err.Error()})
		return
	}
	exp := s.now().Add(s.lim.TokenTTL)
	writeJSON(w, http.StatusOK, map[string]string{"token": Token(s.key, email, exp), "expires": exp.UTC().Format(time.RFC3339)})
}

// The sign-in list at rest in the data folder (spec §20.2): sealed under a
// key of its own, so that erasing the key erases the list, copies included.
const (
	SignInListFile = "voters.sealed"
	SignInKeyFile  = "voters.key"
	signInPurpose  = "scrutin/v0/sign-in-list"
)

// ImportSignInList checks a sign-in list and keeps it, sealed, in dir,
// replacing any earlier one; it returns the number of voters.
func ImportSignInList(dir string, r io.Reader) (int, error) {
	voters, err := ReadSignInList(r)
	if err != nil {
		return 0, err
	}
	key, _, err := atrest.LoadOrCreateKey(filepath.Join(dir, SignInKeyFile))
	if err != nil {
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

// CheckSignInList refuses a sign-in list whose credentials are not all
// published in the election's log, once the credentials are complete.
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
		}
	})
	return err
}
