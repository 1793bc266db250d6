package accounts

// What staff do: the first start's setup link, invitations, signing in with
// a password and then a second factor, enrolling TOTP and recovery codes,
// sessions, roles.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/time/rate"

	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/clientip"
	"github.com/scrutin/scrutin/store"
)

// Lifetimes.
const (
	SetupTTL   = 24 * time.Hour
	InviteTTL  = 72 * time.Hour
	SessionTTL = 12 * time.Hour
	IdleTTL    = 1 * time.Hour
	// A session that has passed only the password must finish its second
	// step (or enrolment) within this.
	HalfTTL = 15 * time.Minute
)

// RecoveryCodes is the number of recovery codes an account gets.
const RecoveryCodes = 10

// Session is a signed-in staff member on one device.
type Session struct {
	ID           string // secret: the cookie's value
	Account      string
	SecondFactor bool      // the second step is done (or, just enrolled)
	StepAt       time.Time // when it was
	Created      time.Time
	LastSeen     time.Time
	Client       string
	Device       string // hash of the device cookie
	UserAgent    string

	pendingTOTP *otp.Key   // an enrolment waiting for its first code
	pendingWA   *waSession // a passkey ceremony in progress
}

// SessionInfo is a session as its owner sees it in the list.
type SessionInfo struct {
	Ref       string // a reference to revoke it by (not the secret)
	Created   time.Time
	LastSeen  time.Time
	Client    string
	UserAgent string
	Current   bool
}

// --- first start ---

// SetupLink returns the one-time setup link while no account exists, and
// writes it with its expiry to path (mode 0600) if path is set. The link
// kept in path is used again while it is valid, so that a restart (or a
// start that failed) does not void the link the operator was given;
// otherwise a fresh token replaces any earlier one. Whoever uses it
// creates the first administrator.
func (s *Service) SetupLink(path, baseURL string) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.accounts) > 0 {
		return "", time.Time{}, errors.New("accounts exist: there is no setup link")
	}
	token, exp, reused := keptSetupToken(path, s.now())
	if !reused {
		token = randomToken(32)
		exp = s.now().Add(SetupTTL)
	}
	s.setup = &oneTime{hash: sha256.Sum256([]byte(token)), expires: exp}
	link := strings.TrimSuffix(baseURL, "/") + "/setup?token=" + token
	if path != "" {
		body := fmt.Sprintf("%s\nexpires %s\n", link, exp.UTC().Format(time.RFC3339))
		if err := atrest.WriteFile(path, []byte(body), 0o600); err != nil {
			return "", time.Time{}, err
		}
	}
	if reused {
		return link, exp, nil
	}
	if err := s.record("setup.link", "", "", map[string]string{"expires": exp.UTC().Format(time.RFC3339)}); err != nil {
		return "", time.Time{}, err
	}
	return link, exp, nil
}

// keptSetupToken reads the setup token kept in path by SetupLink, if it
// is valid at now.
func keptSetupToken(path string, now time.Time) (token string, exp time.Time, ok bool) {
	if path == "" {
		return "", time.Time{}, false
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 4096 {
		return "", time.Time{}, false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		return "", time.Time{}, false
	}
	_, token, found := strings.Cut(lines[0], "/setup?token=")
	at, isExp := strings.CutPrefix(lines[1], "expires ")
	exp, err = time.Parse(time.RFC3339, at)
	if !found || !isExp || err != nil || len(token) < 40 || strings.Trim(token, "abcdefghijklmnopqrstuvwxyz234567") != "" || !now.Before(exp) || exp.Sub(now) > SetupTTL {
		return "", time.Time{}, false
	}
	return token, exp, true
}

// SetupValid reports whether token is the live setup token.
func (s *Service) SetupValid(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setupValid(token)
}

func (s *Service) setupValid(token string) bool {
	if s.setup == nil || len(s.accounts) > 0 || s.now().After(s.setup.expires) {
		return false
	}
	h := sha256.Sum256([]byte(token))
	return subtleEq(h[:], s.setup.hash[:])
}

// CreateFirstAdmin uses the setup token to create the first administrator,
// who is signed in but must enrol a second factor before anything else.
func (s *Service) CreateFirstAdmin(token, email, name, password string, c Client) (*Session, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, errors.New("give a name (at most 200 characters)")
	}
	if err := CheckPassword(password, email, name); err != nil {
		return nil, err
	}
	// The token first: nobody makes the server hash without it.
	if !s.SetupValid(token) {
		return nil, ErrToken
	}
	hash := HashPassword(password)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.setupValid(token) {
		return nil, ErrToken
	}
	id := newID()
	if err := s.record("account.create", id, c.Addr, accountData{ID: id, Email: email, Name: name, Role: RoleAdmin, Election: AllElections, Password: hash}); err != nil {
		return nil, err
	}
	s.setup = nil
	return s.newSession(s.accounts[id], c, false)
}

// --- invitations ---

// Invite creates an account for email with a role in an election, and
// returns the one-time token of its invitation link (valid InviteTTL): the
// person sets a password and enrols a second factor with it.
func (s *Service) Invite(by *Session, email, name string, role Role, election string, c Client) (string, error) {
	email, err := NormalizeEmail(email)
	if err != nil {
		return "", err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return "", errors.New("give a name (at most 200 characters)")
	}
	if !ValidRole(role) {
		return "", fmt.Errorf("no role %q", role)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.allowed(by, ManageAccounts, election); err != nil {
		return "", err
	}
	if _, ok := s.byEmail[email]; ok {
		return "", fmt.Errorf("%s already has an account", email)
	}
	token := randomToken(32)
	id := newID()
	err = s.recordWith("account.invite", by.Account, c.Addr, accountData{ID: id, Email: email, Name: name, Role: role, Election: election,
		Invite: hashHex(token), Expires: s.now().Add(InviteTTL).UTC().Format(time.RFC3339)}, s.still(by, ManageAccounts, election))
	return token, err
}

// Invited returns the account an invitation token is for.
func (s *Service) Invited(token string) (*Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freshen()
	return s.invited(token)
}

func (s *Service) invited(token string) (*Account, error) {
	h := hashHex(token)
	for _, a := range s.accounts {
		if a.inviteHash != "" && !a.activated && sameHash(a.inviteHash, h) && s.now().Before(a.inviteExp) && !a.Disabled {
			return a, nil
		}
	}
	return nil, ErrToken
}

// Activate sets the password of an invited account; the session it returns
// must enrol a second factor.
func (s *Service) Activate(token, password string, c Client) (*Session, error) {
	s.mu.Lock()
	s.freshen()
	a, err := s.invited(token)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if err := CheckPassword(password, a.Email, a.Name); err != nil {
		return nil, err
	}
	hash := HashPassword(password)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.invited(token); err != nil {
		return nil, err
	}
	if err := s.record("account.activate", a.ID, c.Addr, accountData{ID: a.ID, Password: hash}); err != nil {
		return nil, err
	}
	return s.newSession(a, c, false)
}

// SetRole gives (or, with role "", takes away) an account's role in an
// election.
func (s *Service) SetRole(by *Session, id string, role Role, election string, c Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.allowed(by, ManageAccounts, election); err != nil {
		return err
	}
	if id == by.Account {
		return errors.New("nobody changes their own role")
	}
	return s.recordWith("account.role", by.Account, c.Addr, accountData{ID: id, Role: role, Election: election}, s.still(by, ManageAccounts, election))
}

// Disable disables an account and ends its sessions.
func (s *Service) Disable(by *Session, id string, c Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.allowed(by, ManageAccounts, AllElections); err != nil {
		return err
	}
	if id == by.Account {
		return errors.New("nobody disables their own account")
	}
	// The account's sessions end in the event's transaction: on every
	// server at once.
	return s.recordWith("account.disable", by.Account, c.Addr, factorData{ID: id}, func(tt *store.TrailTx) error {
		if _, err := s.allowed(by, ManageAccounts, AllElections); err != nil {
			return err
		}
		return tt.DeleteSessions(id)
	})
}

// --- signing in ---

// Client is where a request comes from.
type Client struct {
	Addr      string // IP address
	Device    string // the device cookie's value ("" if none)
	UserAgent string
}

// clientLimits limits failed sign-ins per client address (IPv6 per /64).
type clientLimits struct {
	m map[string]*rate.Limiter
}

func newClientLimits() *clientLimits { return &clientLimits{m: map[string]*rate.Limiter{}} }

func clientKey(addr string) string { return clientip.KeyOf(addr) }

// allow reports whether the client may try again (10 failures, then one
// every 30 seconds).
func (l *clientLimits) allow(addr string) bool {
	k := clientKey(addr)
	lim, ok := l.m[k]
	if !ok {
		return true
	}
	return lim.Tokens() >= 1
}

func (l *clientLimits) failed(addr string) {
	k := clientKey(addr)
	lim, ok := l.m[k]
	if !ok {
		if len(l.m) >= 100000 {
			clear(l.m)
		}
		lim = rate.NewLimiter(rate.Every(30*time.Second), 10)
		l.m[k] = lim
	}
	lim.Allow()
}

// SignIn checks an address and password. The session it returns has not
// passed its second step yet (or, for an account without a second factor,
// may only enrol one). Failures count toward the account's lockout and the
// client's limit.
func (s *Service) SignIn(email, password string, c Client) (*Session, error) {
	email, _ = NormalizeEmail(email)
	// One password at a time per address and client on this node: a
	// burst of guesses is not all checked against a lockout that counts
	// failures only once their hash is done.
	trying := email + "\x00" + clientKey(c.Addr)
	s.mu.Lock()
	s.freshen()
	if !s.clients.allow(c.Addr) || s.trying[trying] {
		s.clients.failed(c.Addr)
		s.mu.Unlock()
		return nil, ErrLocked
	}
	a := s.accounts[s.byEmail[email]]
	hash := dummyHash
	// Read for every address, so that the answer's time does not tell
	// who is staff; it counts only for an address without an account.
	ghostLocked := s.now().Before(s.ghostLockedUntil(email, c.Addr))
	if a == nil || !a.activated || a.Disabled {
		if ghostLocked {
			s.clients.failed(c.Addr)
			s.mu.Unlock()
			return nil, ErrLocked
		}
	}
	if a != nil && a.activated && !a.Disabled {
		if s.now().Before(a.lockedUntil(c.Addr)) {
			s.clients.failed(c.Addr)
			s.mu.Unlock()
			return nil, ErrLocked
		}
		hash = a.password
	}
	s.trying[trying] = true
	s.mu.Unlock()
	ok := VerifyPassword(hash, password) && a != nil && a.activated && !a.Disabled
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.trying, trying)
	// Failures recorded meanwhile (on other nodes too) may have locked the
	// client out: then every password, right or wrong, gets the same
	// answer.
	s.freshen()
	locked := s.now().Before(s.ghostLockedUntil(email, c.Addr)) // read for every address, as above
	if a != nil && a.activated {
		a = s.accounts[a.ID]
		ok = ok && !a.Disabled
		locked = s.now().Before(a.lockedUntil(c.Addr))
	}
	if !ok {
		s.clients.failed(c.Addr)
		if a != nil && a.activated {
			s.record("signin.failed", a.ID, c.Addr, factorData{ID: a.ID, Reason: "password"})
		} else {
			// An address without an account locks out the same way, so
			// that the answers do not tell who is staff.
			s.ghostFailed(email, c.Addr)
		}
	}
	switch {
	case locked:
		return nil, ErrLocked
	case !ok:
		return nil, ErrSignIn
	}
	return s.newSession(a, c, false)
}

func (s *Service) newSession(a *Account, c Client, second bool) (*Session, error) {
	now := s.now()
	se := &Session{ID: randomToken(32), Account: a.ID, SecondFactor: second, Created: now, LastSeen: now,
		Client: c.Addr, UserAgent: truncate(c.UserAgent, 200)}
	if c.Device != "" {
		se.Device = hashHex(c.Device)
	}
	if err := s.keepSession(se); err != nil {
		return nil, err
	}
	return se, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Session returns the live session with this id, refreshing its last use.
// Sessions are kept in the database: one opened on another server, or
// before a restart, is found; one ended anywhere is gone at once.
func (s *Service) Session(id string) (*Session, *Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.loadSession(id)
	if !ok {
		return nil, nil, false
	}
	now := s.now()
	a := s.accounts[se.Account]
	if a == nil {
		// An account made on another server a moment ago.
		s.freshen()
		a = s.accounts[se.Account]
	}
	if a == nil || a.Disabled || now.After(se.Created.Add(sessionTTL(se))) || now.After(se.LastSeen.Add(IdleTTL)) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.shared.DeleteSession(ctx, sha256.Sum256([]byte(id)))
		cancel()
		return nil, nil, false
	}
	// The last use is written at most once a minute: the idle limit is an
	// hour.
	if now.Sub(se.LastSeen) >= time.Minute {
		se.LastSeen = now
		if errors.Is(s.saveSession(se), ErrDenied) {
			return nil, nil, false // ended on another server meanwhile
		}
	}
	cp := *a
	return se, &cp, true
}

// completeSignIn marks the session's second step done and records the
// sign-in; the session gets a new id (the one given before the second step
// no longer works), and a device the account never signed in from is
// announced by e-mail.
func (s *Service) completeSignIn(se *Session, a *Account, method string) error {
	newDevice := se.Device == "" || !a.devices[se.Device]
	if err := s.record("signin.ok", a.ID, se.Client, factorData{ID: a.ID, Device: se.Device, Method: method, Session: hashHex(se.ID)[:16]}); err != nil {
		return err
	}
	next := *se
	next.ID = randomToken(32)
	next.SecondFactor, next.StepAt = true, s.now()
	next.pendingTOTP, next.pendingWA = nil, nil
	oldHash, newHash := sha256.Sum256([]byte(se.ID)), sha256.Sum256([]byte(next.ID))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ok, err := s.shared.ReplaceSession(ctx, oldHash, newHash, next.Account, next.Created.Add(SessionTTL), s.sealSession(newHash, &next))
	if err != nil {
		return err
	}
	if !ok {
		return ErrDenied // signed out or revoked meanwhile
	}
	*se = next
	if newDevice && len(a.devices) > 1 {
		s.notify(a, "a sign-in from a new device", fmt.Sprintf("Someone signed in to your %s staff account (%s) from a device it had not been used from:\n\n  time: %s\n  address: %s\n\nIf it was not you, sign in, sign that session out in \"Your account\", change your password, and tell an administrator.\n",
			s.o.SiteName, a.Email, s.now().UTC().Format(time.RFC1123), se.Client))
	}
	return nil
}

// notify e-mails a staff member, in the background.
func (s *Service) notify(a *Account, subject, body string) {
	if s.o.Notify != nil {
		go s.o.Notify(a.Email, s.o.SiteName+": "+subject, body)
	}
}

// StepUpTTL is how recent the second step must be to change one's second
// factors or recovery codes.
const StepUpTTL = 10 * time.Minute

// mayChangeFactors reports whether the session may enrol or replace second
// factors: an account without one may (it must enrol); otherwise only a
// session whose second step is recent.
func (s *Service) mayChangeFactors(se *Session, a *Account) error {
	if !a.HasSecondFactor() {
		return nil
	}
	if !se.SecondFactor || s.now().Sub(se.StepAt) > StepUpTTL {
		return ErrStepUp
	}
	return nil
}

// mayStillChangeFactors is mayChangeFactors decided again in an
// enrolment's transaction, on the account as the database has it: two half
// sessions of an account without a factor (its owner's, and a stolen
// password's) finishing an enrolment at once on two servers must not both
// enrol, the later replacing the other's factor.
func (s *Service) mayStillChangeFactors(se *Session) func(*store.TrailTx) error {
	return func(*store.TrailTx) error {
		a := s.accounts[se.Account]
		if a == nil {
			return ErrDenied
		}
		return s.mayChangeFactors(se, a)
	}
}

// VerifyTOTP is the second step with an authenticator app's code. A code
// is accepted once: a replayed one (or an older one) is refused.
func (s *Service) VerifyTOTP(se *Session, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freshen()
	a := s.accounts[se.Account]
	if a == nil || a.totpSealed == nil {
		return ErrSecondStep
	}
	if s.now().Before(a.lockedUntil(se.Client)) || a.secondStepLocked(s.now()) {
		return ErrLocked
	}
	secret, err := atrest.Open(s.key, "scrutin/v0/staff-totp", a.totpSealed)
	if err != nil {
		return err
	}
	step, ok := matchTOTP(string(secret), code, s.now(), a.totpLast)
	if !ok {
		s.clients.failed(se.Client)
		s.record("signin.failed", a.ID, se.Client, factorData{ID: a.ID, Reason: "totp"})
		return ErrSecondStep
	}
	if err := s.record("totp.used", a.ID, se.Client, factorData{ID: a.ID, Step: step}); err != nil {
		return secondStepError(err)
	}
	return s.completeSignIn(se, a, "totp")
}

const totpPeriod = 30

// matchTOTP checks a 6-digit code against the time steps around now (one
// either side, for clocks that drift) that are later than last.
func matchTOTP(secret, code string, now time.Time, last int64) (int64, bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	for _, k := range []int64{0, -1, 1} {
		st := step + k
		if st <= last {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(st*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtleEq([]byte(want), []byte(code)) {
			return st, true
		}
	}
	return 0, false
}

// UseRecoveryCode is the second step with a recovery code (each works
// once).
func (s *Service) UseRecoveryCode(se *Session, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freshen()
	a := s.accounts[se.Account]
	if a == nil {
		return ErrSecondStep
	}
	if s.now().Before(a.lockedUntil(se.Client)) || a.secondStepLocked(s.now()) {
		return ErrLocked
	}
	h := hashHex(normalizeRecovery(code))
	if !a.recovery[h] {
		s.clients.failed(se.Client)
		s.record("signin.failed", a.ID, se.Client, factorData{ID: a.ID, Reason: "recovery code"})
		return ErrSecondStep
	}
	if err := s.record("recovery.used", a.ID, se.Client, factorData{ID: a.ID, Code: h}); err != nil {
		return secondStepError(err)
	}
	return s.completeSignIn(se, a, "recovery code")
}

// secondStepError is the answer to a second step whose event the database
// refused: spent on another server meanwhile.
func secondStepError(err error) error {
	if errors.Is(err, errConflict) {
		return ErrSecondStep
	}
	return err
}

func normalizeRecovery(c string) string {
	return strings.ToLower(strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(c)))
}

// --- enrolment ---

// BeginTOTP starts enrolling an authenticator app: the key (its otpauth
// URL and secret) to show, kept in the session until confirmed by a code.
func (s *Service) BeginTOTP(se *Session) (*otp.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[se.Account]
	if a == nil {
		return nil, ErrDenied
	}
	if err := s.mayChangeFactors(se, a); err != nil {
		return nil, err
	}
	k, err := totp.Generate(totp.GenerateOpts{Issuer: s.o.SiteName, AccountName: a.Email, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, err
	}
	se.pendingTOTP = k
	if err := s.saveSession(se); err != nil {
		return nil, err
	}
	return k, nil
}

// TOTPImage is the enrolment's QR code, as PNG.
func (s *Service) TOTPImage(se *Session) ([]byte, error) {
	s.mu.Lock()
	var k *otp.Key
	if cur, ok := s.loadSession(se.ID); ok {
		k = cur.pendingTOTP
	}
	s.mu.Unlock()
	if k == nil {
		return nil, errors.New("no enrolment in progress")
	}
	img, err := k.Image(240, 240)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err = png.Encode(&b, img)
	return b.Bytes(), err
}

// FinishTOTP confirms the enrolment with a first code. It returns fresh
// recovery codes (to show once) if the account had none.
func (s *Service) FinishTOTP(se *Session, code string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freshen()
	a := s.accounts[se.Account]
	// The enrolment as kept with the session: it may have begun on another
	// server.
	cur, ok := s.loadSession(se.ID)
	if a == nil || !ok || cur.pendingTOTP == nil {
		return nil, errors.New("no enrolment in progress")
	}
	k := cur.pendingTOTP
	se.pendingTOTP = k
	// Again: the account may have enrolled a factor since (from another
	// session), or this session's step may have grown old.
	if err := s.mayChangeFactors(se, a); err != nil {
		se.pendingTOTP = nil
		s.saveSession(se)
		return nil, err
	}
	had := a.HasSecondFactor()
	step, ok := matchTOTP(k.Secret(), code, s.now(), 0)
	if !ok {
		return nil, errors.New("this code does not match: check the time of your device, and type the current code")
	}
	sealed := atrest.Seal(s.key, "scrutin/v0/staff-totp", []byte(k.Secret()))
	if err := s.recordWith("totp.enrol", a.ID, se.Client, factorData{ID: a.ID, TOTP: sealed, Step: step}, s.mayStillChangeFactors(se)); err != nil {
		return nil, err
	}
	se.pendingTOTP = nil
	if err := s.saveSession(se); err != nil {
		return nil, err
	}
	return s.enrolled(se, a, "totp", had)
}

// enrolled finishes an enrolment: the session may act, an account without
// recovery codes gets them, and a change to an account that had a factor
// is announced to its owner.
func (s *Service) enrolled(se *Session, a *Account, method string, had bool) ([]string, error) {
	var codes []string
	if len(a.recovery) == 0 {
		var err error
		if codes, err = s.newRecovery(se, a); err != nil {
			return nil, err
		}
	}
	if !se.SecondFactor {
		if err := s.completeSignIn(se, a, "enrolled "+method); err != nil {
			return nil, err
		}
	}
	if had {
		s.notify(a, "a second factor was changed", fmt.Sprintf("A second factor (%s) was enrolled on your %s staff account (%s), from %s at %s.\n\nIf it was not you, tell an administrator at once.\n",
			method, s.o.SiteName, a.Email, se.Client, s.now().UTC().Format(time.RFC1123)))
	}
	return codes, nil
}

func (s *Service) newRecovery(se *Session, a *Account) ([]string, error) {
	codes := make([]string, RecoveryCodes)
	hashes := make([]string, RecoveryCodes)
	for i := range codes {
		c := randomToken(10) // 80 bits
		codes[i] = c[:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:]
		hashes[i] = hashHex(normalizeRecovery(codes[i]))
	}
	if err := s.record("recovery.set", a.ID, se.Client, factorData{ID: a.ID, Recovery: hashes}); err != nil {
		return nil, err
	}
	return codes, nil
}

// NewRecoveryCodes replaces an account's recovery codes.
func (s *Service) NewRecoveryCodes(se *Session) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[se.Account]
	if a == nil || !se.SecondFactor {
		return nil, ErrNeedsFactor
	}
	if err := s.mayChangeFactors(se, a); err != nil {
		return nil, err
	}
	codes, err := s.newRecovery(se, a)
	if err == nil {
		s.notify(a, "new recovery codes", fmt.Sprintf("New recovery codes were made for your %s staff account (%s), from %s at %s; the old ones no longer work.\n\nIf it was not you, tell an administrator at once.\n",
			s.o.SiteName, a.Email, se.Client, s.now().UTC().Format(time.RFC1123)))
	}
	return codes, err
}

// --- sessions and permissions ---

// allowed checks that a session has passed its second step and holds the
// permission in the election; it returns the account.
func (s *Service) allowed(se *Session, p Permission, election string) (*Account, error) {
	a, err := s.allowedNow(se, p, election)
	if err != nil && se != nil {
		// The account may have changed on another server a moment ago
		// (a factor enrolled, a role given): a refusal is made on the
		// database's state.
		s.freshen()
		a, err = s.allowedNow(se, p, election)
	}
	return a, err
}

func (s *Service) allowedNow(se *Session, p Permission, election string) (*Account, error) {
	if se == nil {
		return nil, ErrDenied
	}
	a := s.accounts[se.Account]
	if a == nil || a.Disabled {
		return nil, ErrDenied
	}
	if !se.SecondFactor || !a.HasSecondFactor() {
		return nil, ErrNeedsFactor
	}
	if !s.live(se) {
		return nil, ErrDenied
	}
	if !a.can(p, election) {
		return nil, ErrDenied
	}
	return a, nil
}

// still is the decision of allowed again, made in an event's transaction
// against the accounts as the database has them.
func (s *Service) still(se *Session, p Permission, election string) func(*store.TrailTx) error {
	return func(*store.TrailTx) error {
		_, err := s.allowed(se, p, election)
		return err
	}
}

// Allowed reports whether the session may do p in the election (an
// account without a second factor may do nothing).
func (s *Service) Allowed(se *Session, p Permission, election string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.allowed(se, p, election)
	return err
}

// Record writes a staff action on the election to the trail, after
// checking the permission.
func (s *Service) Record(se *Session, p Permission, election, action string, detail map[string]string, c Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.allowed(se, p, election)
	if err != nil {
		return err
	}
	if !actionName.MatchString(action) {
		return fmt.Errorf("%q is not an action name", action)
	}
	d := map[string]string{"election": election, "action": action}
	for k, v := range detail {
		if actionName.MatchString(k) {
			d[k] = truncate(strings.ToValidUTF8(v, "?"), MaxDetail)
		}
	}
	return s.recordWith("election.action", a.ID, c.Addr, d, s.still(se, p, election))
}

// actionName is what action names and detail keys look like.
var actionName = regexp.MustCompile(`^[a-z][a-z-]{0,31}$`)

// MaxDetail bounds each detail value of a recorded action.
const MaxDetail = 300

// sessionsOf returns the account's kept sessions, by hash.
func (s *Service) sessionsOf(account string) (map[[32]byte]*Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := s.shared.Sessions(ctx, account, s.now())
	if err != nil {
		return nil, err
	}
	out := map[[32]byte]*Session{}
	for _, r := range rows {
		if o, err := s.openSession("", r.Hash, r.Sealed); err == nil && o.Account == account {
			out[r.Hash] = o
		}
	}
	return out, nil
}

// Sessions lists the account's live sessions.
func (s *Service) Sessions(se *Session) []SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, _ := s.sessionsOf(se.Account)
	cur := sha256.Sum256([]byte(se.ID))
	var out []SessionInfo
	for k, o := range all {
		out = append(out, SessionInfo{Ref: hashHex(string(k[:]))[:16], Created: o.Created, LastSeen: o.LastSeen, Client: o.Client, UserAgent: o.UserAgent, Current: k == cur})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// Revoke ends one of the account's sessions, by its reference, on every
// server at once.
func (s *Service) Revoke(se *Session, ref string, c Client) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := s.sessionsOf(se.Account)
	if err != nil {
		return err
	}
	for k := range all {
		if hashHex(string(k[:]))[:16] == ref {
			return s.recordWith("session.revoke", se.Account, c.Addr, factorData{ID: se.Account, Session: ref}, func(tt *store.TrailTx) error {
				if ok, err := tt.DeleteSession(k); err != nil || !ok {
					return errors.Join(err, errors.New("no such session"))
				}
				return nil
			})
		}
	}
	return errors.New("no such session")
}

// SignOut ends the session, on every server at once.
func (s *Service) SignOut(se *Session, c Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ok, _ := s.shared.DeleteSession(ctx, sha256.Sum256([]byte(se.ID))); ok {
		s.record("signout", se.Account, c.Addr, factorData{ID: se.Account})
	}
}

// Accounts lists the accounts (for administrators and auditors).
func (s *Service) Accounts(se *Session) ([]Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.allowed(se, ReadTrail, AllElections); err != nil {
		if _, err2 := s.allowed(se, ManageAccounts, AllElections); err2 != nil {
			return nil, err
		}
	}
	var out []Account
	for _, a := range s.accounts {
		cp := *a
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out, nil
}

// AccountsIn lists, for an administrator of some elections, the accounts
// holding a role in those of the given elections the session administers,
// each with only its roles there (roles elsewhere are not shown).
func (s *Service) AccountsIn(se *Session, elections ...string) ([]Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var mine []string
	for _, el := range elections {
		if el == AllElections {
			continue
		}
		if _, err := s.allowed(se, ManageAccounts, el); err == nil {
			mine = append(mine, el)
		}
	}
	if len(mine) == 0 {
		return nil, ErrDenied
	}
	var out []Account
	for _, a := range s.accounts {
		roles := map[string]Role{}
		for el, r := range a.Roles {
			if slices.Contains(mine, el) {
				roles[el] = r
			}
		}
		if len(roles) == 0 {
			continue
		}
		cp := *a
		cp.Roles = roles
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out, nil
}

// TrailEvent is an event as staff read it: no secret, no hash.
type TrailEvent struct {
	// Seq is the event's number in the server's trail (Trail), or among
	// the election's own events (ElectionTrail).
	Seq    int64
	At     time.Time
	Action string
	Actor  string
	Client string
	Detail string // the details as key="value" pairs, for logs and tools
	// Fields are the same details, in Detail's order, for pages to
	// write in words.
	Fields []Field
}

// Field is one detail of a trail event: its key and value.
type Field struct{ Key, Value string }

// Trail returns the last n events of the audit trail, newest first.
func (s *Service) Trail(se *Session, n int) ([]TrailEvent, error) {
	s.mu.Lock()
	if _, err := s.allowed(se, ReadTrail, AllElections); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	names := map[string]string{}
	for id, a := range s.accounts {
		names[id] = a.Email
	}
	s.freshen() // what other nodes appended, checked
	seq, last := s.seq, s.last
	s.mu.Unlock()
	events, err := s.events(context.Background(), max(0, seq-int64(n)), seq, last)
	if err != nil {
		return nil, err
	}
	out := make([]TrailEvent, 0, len(events))
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		out = append(out, TrailEvent{Seq: e.Seq, At: e.At, Action: e.Action, Actor: names[e.Actor], Client: e.Client, Detail: detail(e, names), Fields: fields(e, names)})
	}
	return out, nil
}

// ElectionTrail returns the last n events of the audit trail about one
// election, newest first: its actions, and the invitations and roles given
// in it. The election is named by its keys (its id and, for an election
// made before elections had ids, its fingerprint); the session must hold
// ReadTrail under one of them. Nothing about another election is
// returned.
func (s *Service) ElectionTrail(se *Session, n int, keys ...string) ([]TrailEvent, error) {
	s.mu.Lock()
	err := ErrDenied
	for _, k := range keys {
		if k == AllElections {
			continue
		}
		if _, err = s.allowed(se, ReadTrail, k); err == nil {
			break
		}
	}
	if err != nil {
		s.mu.Unlock()
		return nil, err
	}
	names := map[string]string{}
	for id, a := range s.accounts {
		names[id] = a.Email
	}
	s.mu.Unlock()
	events, kept, err := s.tailWhere(n, func(e *Event) bool {
		switch e.Action {
		case "election.action", "account.invite", "account.role":
		default:
			return false
		}
		var d struct {
			Election string `json:"election"`
		}
		if json.Unmarshal(e.Data, &d) != nil {
			return false
		}
		return d.Election != "" && d.Election != AllElections && slices.Contains(keys, d.Election)
	})
	if err != nil {
		return nil, err
	}
	// Numbered among the election's own events: their numbers in the
	// server's trail would count, by their gaps, what staff did elsewhere.
	first := kept - int64(len(events)) + 1
	out := make([]TrailEvent, 0, len(events))
	for i := len(events) - 1; i >= 0; i-- {
		e := events[i]
		out = append(out, TrailEvent{Seq: first + int64(i), At: e.At, Action: e.Action, Actor: names[e.Actor], Client: e.Client, Detail: detail(e, names), Fields: fields(e, names)})
	}
	return out, nil
}

// detail says what an event did, leaving out secrets and hashes.
func detail(e *Event, names map[string]string) string {
	var parts []string
	for _, f := range fields(e, names) {
		parts = append(parts, f.Key+"="+strconv.Quote(f.Value))
	}
	return strings.Join(parts, " ")
}

// detailKeys are the details a trail event shows, in this order.
var detailKeys = []string{"id", "email", "role", "election", "action", "kind", "index", "trustee", "invitation", "threshold", "roster",
	"send", "recipients", "sent", "failed", "skipped", "result", "method", "reason", "step"}

// fields are an event's details as staff read them (an account named by
// its address).
func fields(e *Event, names map[string]string) []Field {
	var d map[string]any
	if json.Unmarshal(e.Data, &d) != nil {
		return nil
	}
	var out []Field
	for _, k := range detailKeys {
		v, ok := d[k]
		if !ok {
			continue
		}
		s := fmt.Sprint(v)
		if k == "id" {
			k, s = "account", names[s]
		}
		if f, ok := v.(float64); ok {
			s = strconv.FormatInt(int64(f), 10)
		}
		out = append(out, Field{k, s})
	}
	return out
}

func subtleEq(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
