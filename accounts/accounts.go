// Package accounts is scrutin's staff accounts: administrators, election
// officers and auditors. Nothing ships with a default: a fresh server has no
// account and no password, only a one-time setup link that expires; every
// account needs a password of at least 12 characters that is not a common
// one (stored with argon2id) and a second factor (a passkey, or TOTP, with
// recovery codes shown once) before it can do anything else. Every staff
// action is an event of an append-only, hash-chained audit trail, from which
// the accounts are derived; sessions can be listed and revoked. Trail and
// sessions are kept in the database (see Options.Shared), so that every
// server on one database has the same accounts and sessions, and a
// restart signs nobody out.
package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/store"
)

// Role is what a staff member may do in an election.
type Role string

// The roles. An administrator manages accounts and may do what an officer
// does; an officer runs the election (never decrypts, never votes: scrutin
// has no such power to give); an auditor reads everything staff can see,
// and changes nothing.
const (
	RoleAdmin   Role = "admin"
	RoleOfficer Role = "officer"
	RoleAuditor Role = "auditor"
)

// AllElections is the election id of a role held in every election.
const AllElections = "*"

// Permission is one kind of staff action.
type Permission int

const (
	ReadElection   Permission = iota // see the console
	ManageElection                   // record entries, open, close, tally, publish
	ManageAccounts                   // invite, change roles, disable
	ReadTrail                        // read the audit trail
)

var grants = map[Role][]Permission{
	RoleAdmin:   {ReadElection, ManageElection, ManageAccounts, ReadTrail},
	RoleOfficer: {ReadElection, ManageElection},
	RoleAuditor: {ReadElection, ReadTrail},
}

// ValidRole reports whether r is a role.
func ValidRole(r Role) bool { _, ok := grants[r]; return ok }

// Errors.
var (
	ErrDenied      = errors.New("not allowed")
	ErrSignIn      = errors.New("wrong address or password")
	ErrLocked      = errors.New("too many failed sign-ins: the account is locked for a while")
	ErrSecondStep  = errors.New("the second factor is wrong or was already used")
	ErrNeedsFactor = errors.New("enrol a second factor first")
	ErrToken       = errors.New("this link is wrong, used or expired")
	ErrStepUp      = errors.New("confirm your second factor again first (changing second factors needs a recent second step)")
)

// Account is a staff member, as the trail makes it.
type Account struct {
	ID       string
	Email    string
	Name     string
	Roles    map[string]Role // election id (or AllElections) → role
	Created  time.Time
	Disabled bool

	password   string
	totpSealed []byte
	totpLast   int64           // last time step accepted (replays refused)
	recovery   map[string]bool // SHA-256 (hex) of each unused recovery code
	passkeys   []passkey
	devices    map[string]bool // SHA-256 (hex) of each device it signed in from
	fails      failureTable    // by client (address, IPv6 /64)
	// secondFails are the times of the latest failed second steps, from
	// any client: someone who has the password cannot guess the code from
	// many addresses.
	secondFails []time.Time
	activated   bool // a password is set
	inviteHash  string
	inviteExp   time.Time
}

// failures are a client's consecutive failed sign-ins to an account.
// Counting them per client locks a guesser out without letting anyone lock
// the account's owner out from elsewhere (say, in the last hours of voting);
// a second factor still stands behind every password.
type failures struct {
	n    int
	last time.Time
}

// HasSecondFactor reports whether the account has enrolled one.
func (a *Account) HasSecondFactor() bool { return a.totpSealed != nil || len(a.passkeys) > 0 }

// Factors names the second factors enrolled.
func (a *Account) Factors() []string {
	var f []string
	if len(a.passkeys) > 0 {
		f = append(f, fmt.Sprintf("passkey×%d", len(a.passkeys)))
	}
	if a.totpSealed != nil {
		f = append(f, "totp")
	}
	return f
}

// RecoveryLeft is the number of unused recovery codes.
func (a *Account) RecoveryLeft() int { return len(a.recovery) }

// can reports whether the account holds a role granting p in election.
func (a *Account) can(p Permission, election string) bool {
	if a.Disabled {
		return false
	}
	for el, r := range a.Roles {
		if (el == AllElections || el == election) && slices.Contains(grants[r], p) {
			return true
		}
	}
	return false
}

// Options configure the service.
type Options struct {
	// Dir holds the sealing key (staff.key, made on first start with mode
	// 0600), and the trail file (staff-trail.jsonl) of a server older than
	// issue 18, which is moved into the database on first start.
	Dir string
	// Shared is the database that keeps the trail and the sessions, shared
	// by every server on it; nil: the SQLite database in Dir.
	Shared *store.Shared
	// KeyFile, if set, is the sealing key's file instead of Dir/staff.key
	// (made there on first start if missing).
	KeyFile string
	// Notify sends an e-mail to a staff member (new-device alerts); nil
	// sends none.
	Notify func(to, subject, body string) error
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// WebAuthn: the relying party's id (the site's host name) and the
	// origins pages are served from (e.g. https://vote.example.org).
	RPID      string
	RPOrigins []string
	// SiteName names the site in e-mails, authenticator apps and passkeys.
	SiteName string
}

// File names in Options.Dir.
const (
	TrailFile = "staff-trail.jsonl"
	KeyFile   = "staff.key"
)

// Service is the staff accounts of one server.
type Service struct {
	o         Options
	key       []byte
	headKey   []byte
	shared    *store.Shared
	ownShared bool
	now       func() time.Time
	wa        *webauthnRP
	stop      chan struct{}
	followed  sync.WaitGroup

	mu       sync.Mutex
	accounts map[string]*Account // by id
	byEmail  map[string]string   // normalized e-mail → id
	// seq and last are the number and hash of the last event applied.
	seq    int64
	last   string
	broken error    // the trail in the database does not replay: nothing more is recorded
	seen   int64    // the last event named in SeenFile
	setup  *oneTime // the setup token while there is no account
	// clients limits failed sign-ins per client, in this node's memory
	// (it only sheds load: the lockouts that protect accounts are in the
	// trail, and those of addresses without an account in the database).
	clients *clientLimits
	// trying names the passwords being checked, by address and client.
	trying map[string]bool
}

type oneTime struct {
	hash    [32]byte
	expires time.Time
}

// Open opens the service: it moves a trail file into the database if
// there is one (see migrateFile), replays the trail from the database, and
// follows what other servers append.
func Open(o Options) (*Service, error) {
	keyFile := o.KeyFile
	if keyFile == "" {
		keyFile = filepath.Join(o.Dir, KeyFile)
	}
	key, _, err := atrest.LoadOrCreateKey(keyFile)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, key: key, headKey: atrest.Derive(key, "scrutin/v0/staff-trail-head"), now: o.Now, shared: o.Shared,
		accounts: map[string]*Account{}, byEmail: map[string]string{}, clients: newClientLimits(), trying: map[string]bool{}, last: genesisHash}
	if s.now == nil {
		s.now = time.Now
	}
	if o.SiteName == "" {
		s.o.SiteName = "scrutin"
	}
	if s.wa, err = newWebAuthn(s.o); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if s.shared == nil {
		if s.shared, err = store.OpenShared(ctx, o.Dir); err != nil {
			return nil, err
		}
		s.ownShared = true
	}
	fail := func(err error) (*Service, error) {
		if s.ownShared {
			s.shared.Close()
		}
		return nil, err
	}
	if o.Dir != "" {
		if err := s.migrateFile(ctx, filepath.Join(o.Dir, TrailFile)); err != nil {
			return fail(err)
		}
	}
	s.mu.Lock()
	err = s.follow(ctx)
	if err == nil {
		err = s.checkSeen(ctx)
	}
	s.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	stop := make(chan struct{})
	s.stop = stop
	s.followed.Go(func() { s.followLoop(stop) })
	return s, nil
}

// Close stops following the trail (and closes the database if Open opened
// it).
func (s *Service) Close() error {
	s.mu.Lock()
	stop := s.stop
	s.stop = nil
	s.mu.Unlock()
	if stop == nil {
		return nil
	}
	close(stop)
	s.followed.Wait()
	s.writeSeen()
	if s.ownShared {
		return s.shared.Close()
	}
	return nil
}

// Empty reports whether no account exists yet.
func (s *Service) Empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freshen()
	return len(s.accounts) == 0
}

// The events' data.
type (
	accountData struct {
		ID       string `json:"id"`
		Email    string `json:"email,omitempty"`
		Name     string `json:"name,omitempty"`
		Role     Role   `json:"role,omitempty"`
		Election string `json:"election,omitempty"`
		Password string `json:"password,omitempty"` // argon2id hash
		Invite   string `json:"invite,omitempty"`   // SHA-256 of the invitation token
		Expires  string `json:"expires,omitempty"`
	}
	factorData struct {
		ID       string   `json:"id"`
		TOTP     []byte   `json:"totp,omitempty"` // the secret, sealed
		Step     int64    `json:"step,omitempty"`
		Recovery []string `json:"recovery,omitempty"` // SHA-256 of the codes
		Code     string   `json:"code,omitempty"`     // SHA-256 of the code used
		Passkey  *passkey `json:"passkey,omitempty"`
		Device   string   `json:"device,omitempty"` // SHA-256 of the device id
		Session  string   `json:"session,omitempty"`
		Reason   string   `json:"reason,omitempty"`
		Method   string   `json:"method,omitempty"`
	}
)

// check decides whether an event is valid in the current state; apply
// then changes the state. They are the only code that changes accounts.
func (s *Service) check(e *Event) error {
	switch e.Action {
	case "account.create", "account.invite":
		var d accountData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		if _, ok := s.accounts[d.ID]; ok || d.ID == "" {
			return fmt.Errorf("account %q exists", d.ID)
		}
		if _, ok := s.byEmail[d.Email]; ok {
			return fmt.Errorf("an account has the address %s", d.Email)
		}
		if !ValidRole(d.Role) {
			return fmt.Errorf("no role %q", d.Role)
		}
		if e.Action == "account.create" && len(s.accounts) > 0 {
			return errors.New("the first administrator is created only once")
		}
		return nil
	case "account.activate", "account.role", "account.disable", "account.password",
		"totp.enrol", "totp.used", "recovery.set", "recovery.used", "passkey.add", "passkey.used",
		"signin.ok", "signin.failed", "session.revoke", "signout":
		var d factorData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return err
		}
		a, ok := s.accounts[d.ID]
		if !ok {
			return fmt.Errorf("no account %q", d.ID)
		}
		// What a second step or an activation spends is spent once, on
		// every server: the flows check it on their copy, and this check,
		// made in the event's transaction against the database's trail,
		// refuses what another server spent meanwhile.
		switch e.Action {
		case "account.activate":
			if a.activated {
				return errors.New("the account is active already")
			}
		case "totp.used":
			if d.Step <= a.totpLast {
				return errors.New("this time step's code was used already")
			}
		case "recovery.used":
			if !a.recovery[d.Code] {
				return errors.New("this recovery code was used already")
			}
		case "passkey.used":
			if d.Passkey == nil {
				return errors.New("no passkey")
			}
			for _, p := range a.passkeys {
				if string(p.ID) == string(d.Passkey.ID) && p.Authenticator.SignCount > 0 && d.Passkey.Authenticator.SignCount <= p.Authenticator.SignCount {
					return errors.New("the passkey's signature counter did not grow")
				}
			}
		case "signin.ok":
			if a.Disabled {
				return errors.New("the account is disabled")
			}
		}
		if e.Action == "account.role" {
			var r accountData
			if err := json.Unmarshal(e.Data, &r); err != nil {
				return err
			}
			if r.Role != "" && !ValidRole(r.Role) {
				return fmt.Errorf("no role %q", r.Role)
			}
		}
		return nil
	case "election.action", "setup.link":
		return nil
	}
	return fmt.Errorf("unknown action %q", e.Action)
}

func (s *Service) apply(e *Event) {
	switch e.Action {
	case "account.create", "account.invite":
		var d accountData
		json.Unmarshal(e.Data, &d)
		a := &Account{ID: d.ID, Email: d.Email, Name: d.Name, Roles: map[string]Role{d.Election: d.Role}, Created: e.At,
			password: d.Password, activated: d.Password != "", recovery: map[string]bool{}, devices: map[string]bool{}, fails: failureTable{}}
		if d.Invite != "" {
			a.inviteHash = d.Invite
			a.inviteExp, _ = time.Parse(time.RFC3339, d.Expires)
		}
		s.accounts[a.ID] = a
		s.byEmail[a.Email] = a.ID
		return
	case "election.action", "setup.link":
		return
	}
	var d factorData
	json.Unmarshal(e.Data, &d)
	a := s.accounts[d.ID]
	switch e.Action {
	case "account.activate":
		var r accountData
		json.Unmarshal(e.Data, &r)
		a.password, a.activated, a.inviteHash = r.Password, true, ""
	case "account.password":
		var r accountData
		json.Unmarshal(e.Data, &r)
		a.password = r.Password
	case "account.role":
		var r accountData
		json.Unmarshal(e.Data, &r)
		if r.Role == "" {
			delete(a.Roles, r.Election)
		} else {
			a.Roles[r.Election] = r.Role
		}
	case "account.disable":
		a.Disabled = true
	case "totp.enrol":
		a.totpSealed, a.totpLast = d.TOTP, d.Step
	case "totp.used":
		a.totpLast = max(a.totpLast, d.Step)
	case "recovery.set":
		a.recovery = map[string]bool{}
		for _, h := range d.Recovery {
			a.recovery[h] = true
		}
	case "recovery.used":
		delete(a.recovery, d.Code)
	case "passkey.add":
		a.passkeys = append(a.passkeys, *d.Passkey)
	case "passkey.used":
		for i := range a.passkeys {
			if string(a.passkeys[i].ID) == string(d.Passkey.ID) {
				a.passkeys[i].Authenticator = d.Passkey.Authenticator
			}
		}
	case "signin.ok":
		delete(a.fails, clientKey(e.Client))
		if d.Device != "" {
			a.devices[d.Device] = true
		}
	case "signin.failed":
		a.fails.add(clientKey(e.Client), e.At)
		if d.Reason != "password" {
			a.secondFails = append(a.secondFails, e.At)
			if len(a.secondFails) > MaxSecondStepFailures {
				a.secondFails = a.secondFails[1:]
			}
		}
	}
}

// MaxSecondStepFailures is how many failed second steps an account takes
// in an hour, from all clients together, before its second step is refused
// until the hour has passed.
const MaxSecondStepFailures = 20

// secondStepLocked reports whether the account's second step is refused.
func (a *Account) secondStepLocked(now time.Time) bool {
	return len(a.secondFails) >= MaxSecondStepFailures && now.Sub(a.secondFails[0]) < time.Hour
}

// lockedUntil is when a client locked out of the account may try again:
// after 5 failures in a row, 1 minute, doubling with each further failure,
// up to an hour.
func (a *Account) lockedUntil(client string) time.Time {
	return lockedUntil(a.fails[clientKey(client)])
}

// failureTable counts consecutive failures by key. Past maxFailureKeys,
// the entries whose last failure is oldest are evicted, never the recent
// ones: many new keys cannot lift a lockout.
type failureTable map[string]failures

const maxFailureKeys = 10000

func (t failureTable) add(k string, at time.Time) {
	if _, ok := t[k]; !ok && len(t) >= maxFailureKeys {
		// Evict what has been idle for an hour (its lock is over), else
		// the key whose last failure is oldest.
		var oldestKey string
		var oldest time.Time
		for key, f := range t {
			if at.Sub(f.last) > time.Hour {
				delete(t, key)
			} else if oldestKey == "" || f.last.Before(oldest) {
				oldestKey, oldest = key, f.last
			}
		}
		if len(t) >= maxFailureKeys {
			delete(t, oldestKey)
		}
	}
	t[k] = failures{t[k].n + 1, at}
}

// lockedUntil is when a client with these consecutive failures may try
// again.
func lockedUntil(f failures) time.Time {
	if f.n < 5 {
		return time.Time{}
	}
	d := time.Minute << min(f.n-5, 6)
	return f.last.Add(min(d, time.Hour))
}

// NormalizeEmail lower-cases and checks an address.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || len(s) > 254 {
		return "", fmt.Errorf("%q is not an e-mail address", s)
	}
	return s, nil
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// randomToken returns n random bytes in unpadded base32 (case-insensitive,
// easy to read aloud and to type).
func randomToken(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func newID() string { return randomToken(10) }

func sameHash(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
