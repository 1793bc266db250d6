package web

// Staff pages: the first start's setup, signing in (password, then a second
// factor), enrolling a passkey or an authenticator app, the account page
// (sessions, recovery codes), people (invitations, roles) and the audit
// trail. The rules are in package accounts; these pages only carry them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/internal/clientip"
)

// StaffCookie is the staff session's cookie. The __Host- prefix makes
// browsers refuse it unless it is Secure, for this host only and for the
// whole site: no other host can set it.
const StaffCookie = "__Host-scrutin-staff"

const (
	staffCookie  = StaffCookie
	deviceCookie = "__Host-scrutin-device"
)

// staffView is the signed-in staff member, for every page.
type staffView struct {
	Name, Email  string
	SecondFactor bool
	CanManage    bool // run the election
	CanAdmin     bool // manage accounts
	CanTrail     bool // read the audit trail
	// CanTrailHere reads the trail of this election (on its pages).
	CanTrailHere bool
	// CanPeople sees the people page: for every election, or as an
	// administrator of some.
	CanPeople bool
}

func (s *Site) staffRoutes(page func(pattern, name string, h func(w http.ResponseWriter, r *http.Request, p *pageData)), mux *http.ServeMux) {
	page("GET /setup", "setup", s.setupPage)
	page("POST /setup", "setup", s.setupPost)
	page("GET /staff/sign-in", "signin", s.signInPage)
	page("POST /staff/sign-in", "signin", s.signInPost)
	page("GET /staff/verify", "verify2", s.verifyPage)
	page("POST /staff/verify", "verify2", s.verifyPost)
	page("GET /staff/enrol", "enrol", s.enrolPage)
	page("POST /staff/enrol/totp", "enrol", s.enrolTOTP)
	page("GET /staff/account", "account", s.accountPage)
	page("POST /staff/sessions/revoke", "account", s.revokePost)
	page("POST /staff/recovery", "account", s.recoveryPost)
	page("POST /staff/sign-out", "account", s.signOutPost)
	page("GET /staff/invite", "invite", s.invitePage)
	page("POST /staff/invite", "invite", s.invitePost)
	page("GET /staff/people", "people", s.peoplePage)
	page("POST /staff/people/{action}", "people", s.peoplePost)
	page("GET /staff/trail", "trail", s.trailPage)
	mux.HandleFunc("GET /staff/totp.png", s.totpImage)
	mux.HandleFunc("POST /staff/passkey/{step}", s.passkeyJSON)
}

// staffClient is where a request comes from (through a trusted proxy,
// the address it names), and its device cookie.
func (s *Site) staffClient(r *http.Request) accounts.Client {
	c := accounts.Client{Addr: r.RemoteAddr, UserAgent: r.UserAgent()}
	if a, ok := clientip.FromRequest(r, s.o.TrustedProxies); ok {
		c.Addr = a.String()
	}
	if ck, err := r.Cookie(deviceCookie); err == nil {
		c.Device = ck.Value
	}
	return c
}

// session returns the request's staff session, if any.
func (s *Site) session(r *http.Request) (*accounts.Session, *accounts.Account) {
	if s.o.Accounts == nil {
		return nil, nil
	}
	ck, err := r.Cookie(staffCookie)
	if err != nil {
		return nil, nil
	}
	se, a, ok := s.o.Accounts.Session(ck.Value)
	if !ok {
		return nil, nil
	}
	return se, a
}

// staffView is the signed-in staff member as a page shows them: on an
// election's pages, with their permissions in it; elsewhere, with those
// they hold on every election (the people and the trail are server-wide).
func (s *Site) staffView(r *http.Request, es *electionSite) *staffView {
	se, a := s.session(r)
	if se == nil {
		return nil
	}
	v := &staffView{Name: a.Name, Email: a.Email, SecondFactor: se.SecondFactor}
	if es != nil {
		v.CanManage = s.allowed(se, accounts.ManageElection, es)
		v.CanTrailHere = s.allowed(se, accounts.ReadTrail, es)
	}
	v.CanAdmin = s.o.Accounts.Allowed(se, accounts.ManageAccounts, accounts.AllElections) == nil
	v.CanTrail = s.o.Accounts.Allowed(se, accounts.ReadTrail, accounts.AllElections) == nil
	v.CanPeople = v.CanAdmin || v.CanTrail || es != nil && s.allowed(se, accounts.ManageAccounts, es)
	return v
}

// setSessionCookie gives the browser the session's (current) id: it
// changes when the second step is done.
func setSessionCookie(w http.ResponseWriter, se *accounts.Session) {
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: se.ID, Path: "/", MaxAge: int(accounts.SessionTTL / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// startSession sets the session cookie, and a device cookie if there is
// none, and goes to the next step.
func (s *Site) startSession(w http.ResponseWriter, r *http.Request, se *accounts.Session, a *accounts.Account) {
	setSessionCookie(w, se)
	next := "/staff/enrol"
	if a != nil && a.HasSecondFactor() {
		next = "/staff/verify"
		if after := nextPath(r.PostFormValue("next")); after != "/console" {
			next += "?next=" + url.QueryEscape(after)
		}
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// ensureDevice gives the browser a device cookie, by which a sign-in from
// a new device is recognised.
func ensureDevice(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(deviceCookie); err == nil {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Value: randomID(), Path: "/", MaxAge: 400 * 24 * 3600,
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
}

func (s *Site) noAccounts(w http.ResponseWriter) bool {
	if s.o.Accounts == nil {
		http.Error(w, "staff accounts are not enabled on this server", http.StatusNotFound)
		return true
	}
	return false
}

// --- setup and invitations ---

type formView struct {
	Token string
	Email string
	Name  string
	Next  string // where to go once signed in
}

func (s *Site) setupPage(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.noAccounts(w) {
		return
	}
	ensureDevice(w, r)
	token := r.URL.Query().Get("token")
	if !s.o.Accounts.SetupValid(token) {
		p.Error = s.msg(p.Lang, "staff.badLink")
		s.render(w, http.StatusNotFound, "signin.html", p)
		return
	}
	p.Data = &formView{Token: token}
	s.render(w, http.StatusOK, "setup.html", p)
}

func (s *Site) setupPost(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.noAccounts(w) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8192)
	f := &formView{Token: r.PostFormValue("token"), Email: r.PostFormValue("email"), Name: r.PostFormValue("name")}
	se, err := s.o.Accounts.CreateFirstAdmin(f.Token, f.Email, f.Name, r.PostFormValue("password"), s.staffClient(r))
	if err != nil {
		p.Data, p.Error = f, s.staffError(p.Lang, err)
		s.render(w, http.StatusBadRequest, "setup.html", p)
		return
	}
	s.log.Info("first administrator created", "client", s.staffClient(r).Addr)
	s.startSession(w, r, se, nil)
}

func (s *Site) invitePage(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.noAccounts(w) {
		return
	}
	ensureDevice(w, r)
	token := r.URL.Query().Get("token")
	a, err := s.o.Accounts.Invited(token)
	if err != nil {
		p.Error = s.msg(p.Lang, "staff.badLink")
		s.render(w, http.StatusNotFound, "signin.html", p)
		return
	}
	p.Data = &formView{Token: token, Email: a.Email, Name: a.Name}
	s.render(w, http.StatusOK, "invite.html", p)
}

func (s *Site) invitePost(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.noAccounts(w) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8192)
	token := r.PostFormValue("token")
	se, err := s.o.Accounts.Activate(token, r.PostFormValue("password"), s.staffClient(r))
	if err != nil {
		f := &formView{Token: token}
		if a, err := s.o.Accounts.Invited(token); err == nil {
			f.Email, f.Name = a.Email, a.Name
		}
		p.Data, p.Error = f, s.staffError(p.Lang, err)
		s.render(w, http.StatusBadRequest, "invite.html", p)
		return
	}
	s.startSession(w, r, se, nil)
}

// staffError is an error as staff read it.
func (s *Site) staffError(lang string, err error) string {
	switch {
	case errors.Is(err, accounts.ErrSignIn):
		return s.msg(lang, "staff.errSignIn")
	case errors.Is(err, accounts.ErrLocked):
		return s.msg(lang, "staff.errLocked")
	case errors.Is(err, accounts.ErrSecondStep):
		return s.msg(lang, "staff.errSecond")
	case errors.Is(err, accounts.ErrToken):
		return s.msg(lang, "staff.badLink")
	case errors.Is(err, accounts.ErrDenied):
		return s.msg(lang, "staff.errDenied")
	case errors.Is(err, accounts.ErrNeedsFactor):
		return s.msg(lang, "staff.errNeedsFactor")
	}
	return err.Error()
}

// --- signing in ---

func (s *Site) signInPage(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.noAccounts(w) {
		return
	}
	ensureDevice(w, r)
	p.Data = &formView{Next: nextPath(r.URL.Query().Get("next"))}
	s.render(w, http.StatusOK, "signin.html", p)
}

func (s *Site) signInPost(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.noAccounts(w) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8192)
	email := r.PostFormValue("email")
	se, err := s.o.Accounts.SignIn(email, r.PostFormValue("password"), s.staffClient(r))
	if err != nil {
		s.log.Warn("staff sign-in refused", "client", s.staffClient(r).Addr)
		status := http.StatusUnauthorized
		if errors.Is(err, accounts.ErrLocked) {
			status = http.StatusTooManyRequests
			w.Header().Set("Retry-After", "60")
		}
		p.Data, p.Error = &formView{Email: email, Next: nextPath(r.PostFormValue("next"))}, s.staffError(p.Lang, err)
		s.render(w, status, "signin.html", p)
		return
	}
	_, a, _ := s.o.Accounts.Session(se.ID)
	s.startSession(w, r, se, a)
}

type verifyView struct {
	Next     string // where to go after it
	TOTP     bool
	Passkeys bool
}

// nextPath is a local path to go to after a step (a staff page or an
// election's console), or the console's list of elections.
func nextPath(p string) string {
	if localPath(p) && (strings.HasPrefix(p, "/staff/") || consolePath.MatchString(p)) {
		return p
	}
	return "/console"
}

// consolePath is an election's console page.
var consolePath = regexp.MustCompile(`^/e/[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?/console(/trail|/form|/roll)?$`)

// afterSignIn is the query that brings someone sent to sign in from an
// election's console back to it.
func afterSignIn(r *http.Request) string {
	if r.Method == http.MethodGet && consolePath.MatchString(r.URL.Path) {
		return "?next=" + url.QueryEscape(r.URL.Path)
	}
	return ""
}

func (s *Site) verifyPage(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, a := s.session(r)
	if se == nil {
		http.Redirect(w, r, "/staff/sign-in", http.StatusSeeOther)
		return
	}
	if se.SecondFactor && r.URL.Query().Get("again") == "" {
		http.Redirect(w, r, nextPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	if !a.HasSecondFactor() {
		http.Redirect(w, r, "/staff/enrol", http.StatusSeeOther)
		return
	}
	p.Data = s.verifyView(a, r.URL.Query().Get("next"))
	s.render(w, http.StatusOK, "verify2.html", p)
}

// verifyView is the second step's page for the account: the factors it
// has, and only those (one code path for the page and its retries).
func (s *Site) verifyView(a *accounts.Account, next string) *verifyView {
	passkey := slices.ContainsFunc(a.Factors(), func(f string) bool { return strings.HasPrefix(f, "passkey") })
	return &verifyView{Next: nextPath(next), TOTP: slices.Contains(a.Factors(), "totp"), Passkeys: passkey && s.o.Accounts.PasskeysAvailable()}
}

func (s *Site) verifyPost(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, a := s.session(r)
	if se == nil {
		http.Redirect(w, r, "/staff/sign-in", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	var err error
	if code := r.PostFormValue("recovery"); code != "" {
		err = s.o.Accounts.UseRecoveryCode(se, code)
	} else {
		err = s.o.Accounts.VerifyTOTP(se, r.PostFormValue("code"))
	}
	if err != nil {
		p.Data, p.Error = s.verifyView(a, r.PostFormValue("next")), s.staffError(p.Lang, err)
		s.render(w, http.StatusUnauthorized, "verify2.html", p)
		return
	}
	setSessionCookie(w, se)
	http.Redirect(w, r, nextPath(r.PostFormValue("next")), http.StatusSeeOther)
}

// --- enrolment ---

type enrolView struct {
	Passkeys bool
	Secret   string
	URL      string
	Recovery []string
	Has      []string
	Email    string // the account's, on its recovery codes
}

func (s *Site) enrolPage(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, a := s.session(r)
	if se == nil {
		http.Redirect(w, r, "/staff/sign-in", http.StatusSeeOther)
		return
	}
	if a.HasSecondFactor() && !se.SecondFactor {
		http.Redirect(w, r, "/staff/verify", http.StatusSeeOther)
		return
	}
	k, err := s.o.Accounts.BeginTOTP(se)
	if errors.Is(err, accounts.ErrStepUp) {
		http.Redirect(w, r, "/staff/verify?again=1&next=/staff/enrol", http.StatusSeeOther)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.Data = &enrolView{Passkeys: s.o.Accounts.PasskeysAvailable(), Secret: k.Secret(), URL: k.URL(), Has: a.Factors(), Email: a.Email}
	s.render(w, http.StatusOK, "enrol.html", p)
}

func (s *Site) enrolTOTP(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, a := s.session(r)
	if se == nil {
		http.Redirect(w, r, "/staff/sign-in", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	codes, err := s.o.Accounts.FinishTOTP(se, r.PostFormValue("code"))
	if err != nil {
		k, _ := s.o.Accounts.BeginTOTP(se)
		v := &enrolView{Passkeys: s.o.Accounts.PasskeysAvailable(), Has: a.Factors(), Email: a.Email}
		if k != nil {
			v.Secret, v.URL = k.Secret(), k.URL()
		}
		p.Data, p.Error = v, s.staffError(p.Lang, err)
		s.render(w, http.StatusBadRequest, "enrol.html", p)
		return
	}
	setSessionCookie(w, se)
	p.Data = &enrolView{Recovery: codes, Email: a.Email}
	s.render(w, http.StatusOK, "recovery.html", p)
}

func (s *Site) totpImage(w http.ResponseWriter, r *http.Request) {
	se, _ := s.session(r)
	if se == nil {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return
	}
	png, err := s.o.Accounts.TOTPImage(se)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(png)
}

// passkeyJSON runs the passkey ceremonies' server halves, as JSON:
// register (begin), register-finish, login (begin), login-finish.
func (s *Site) passkeyJSON(w http.ResponseWriter, r *http.Request) {
	se, _ := s.session(r)
	if se == nil {
		writeJSONError(w, http.StatusUnauthorized, "sign in first")
		return
	}
	body := http.MaxBytesReader(w, r.Body, 64<<10)
	var out any
	var err error
	switch r.PathValue("step") {
	case "register":
		var b []byte
		if b, err = s.o.Accounts.BeginPasskey(se); err == nil {
			out = json.RawMessage(b)
		}
	case "register-finish":
		var codes []string
		if codes, err = s.o.Accounts.FinishPasskey(se, body); err == nil {
			out = map[string]any{"ok": true, "recovery": codes}
		}
	case "login":
		var b []byte
		if b, err = s.o.Accounts.BeginPasskeyLogin(se); err == nil {
			out = json.RawMessage(b)
		}
	case "login-finish":
		if err = s.o.Accounts.FinishPasskeyLogin(se, body); err == nil {
			out = map[string]bool{"ok": true}
		}
	default:
		writeJSONError(w, http.StatusNotFound, "no such step")
		return
	}
	io.Copy(io.Discard, body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	setSessionCookie(w, se) // its id changes with the second step
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(out)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// --- the account ---

type accountView struct {
	Sessions []accounts.SessionInfo
	Factors  []string
	Recovery int
	Roles    map[string]accounts.Role
}

// actingSession is a session that passed its second step, or a redirect to
// where it must go first.
func (s *Site) actingSession(w http.ResponseWriter, r *http.Request) (*accounts.Session, *accounts.Account, bool) {
	se, a := s.session(r)
	switch {
	case se == nil:
		http.Redirect(w, r, "/staff/sign-in"+afterSignIn(r), http.StatusSeeOther)
		return nil, nil, false
	case !a.HasSecondFactor():
		http.Redirect(w, r, "/staff/enrol", http.StatusSeeOther)
		return nil, nil, false
	case !se.SecondFactor:
		http.Redirect(w, r, "/staff/verify"+afterSignIn(r), http.StatusSeeOther)
		return nil, nil, false
	}
	return se, a, true
}

func (s *Site) accountPage(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, a, ok := s.actingSession(w, r)
	if !ok {
		return
	}
	p.Data = &accountView{Sessions: s.o.Accounts.Sessions(se), Factors: a.Factors(), Recovery: a.RecoveryLeft(), Roles: a.Roles}
	s.render(w, http.StatusOK, "account.html", p)
}

func (s *Site) revokePost(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, _, ok := s.actingSession(w, r)
	if !ok {
		return
	}
	s.o.Accounts.Revoke(se, r.PostFormValue("ref"), s.staffClient(r))
	http.Redirect(w, r, "/staff/account", http.StatusSeeOther)
}

func (s *Site) recoveryPost(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, a, ok := s.actingSession(w, r)
	if !ok {
		return
	}
	codes, err := s.o.Accounts.NewRecoveryCodes(se)
	if errors.Is(err, accounts.ErrStepUp) {
		http.Redirect(w, r, "/staff/verify?again=1&next=/staff/account", http.StatusSeeOther)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.Data = &enrolView{Recovery: codes, Email: a.Email}
	s.render(w, http.StatusOK, "recovery.html", p)
}

func (s *Site) signOutPost(w http.ResponseWriter, r *http.Request, p *pageData) {
	if se, _ := s.session(r); se != nil {
		s.o.Accounts.SignOut(se, s.staffClient(r))
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/staff/sign-in", http.StatusSeeOther)
}

// --- people and the trail ---

type peopleView struct {
	Accounts []accounts.Account
	Link     string
	// Mailed is the address the invitation was e-mailed to ("" if it
	// was not: the page then shows its link to give).
	Mailed string
	Scopes []string // where the staff member may give roles: "*" and election ids
	Roles  []accounts.Role
}

var staffRoles = []accounts.Role{accounts.RoleOfficer, accounts.RoleAuditor, accounts.RoleAdmin}

// scopes are where the session may give roles: every election ("*") for
// an administrator of all, and each election it administers.
func (s *Site) scopes(r *http.Request, se *accounts.Session) []string {
	var out []string
	if s.o.Accounts.Allowed(se, accounts.ManageAccounts, accounts.AllElections) == nil {
		out = append(out, accounts.AllElections)
	}
	if s.o.Elections != nil {
		for _, sm := range s.o.Elections.List() {
			if _, ok := s.accountsKey(r, se, sm.ID); ok {
				out = append(out, sm.ID)
			}
		}
	}
	return out
}

// accountsKey is the key under which the session manages the staff of
// election id: its id, or for the legacy election the fingerprint its
// roles may be recorded under.
func (s *Site) accountsKey(r *http.Request, se *accounts.Session, id string) (string, bool) {
	if s.o.Accounts.Allowed(se, accounts.ManageAccounts, id) == nil {
		return id, true
	}
	if id != legacyID {
		return "", false
	}
	es, _ := s.election(r.Context(), id)
	if es == nil {
		return "", false
	}
	key, err := s.roleKey(se, accounts.ManageAccounts, es)
	return key, err == nil
}

// roleKeys are the keys of the roles in the elections named (ids): their
// ids, and the legacy election's fingerprint.
func (s *Site) roleKeys(r *http.Request, ids []string) []string {
	var keys []string
	for _, id := range ids {
		keys = append(keys, id)
		if id == legacyID {
			if es, _ := s.election(r.Context(), id); es != nil {
				if fp := es.fingerprint(); fp != "" {
					keys = append(keys, fp)
				}
			}
		}
	}
	return keys
}

func (s *Site) peoplePage(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, _, ok := s.actingSession(w, r)
	if !ok {
		return
	}
	scopes := s.scopes(r, se)
	list, err := s.accountsFor(se, s.roleKeys(r, scopes))
	if err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	p.Data = &peopleView{Accounts: list, Scopes: scopes, Roles: staffRoles}
	s.render(w, http.StatusOK, "people.html", p)
}

func (s *Site) peoplePost(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, _, ok := s.actingSession(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8192)
	// The scope is every election, or one the session administers (a role
	// given in an election it does not know is refused as any other).
	el := r.PostFormValue("scope")
	if el == "all" || el == "" {
		el = accounts.AllElections
	}
	c := s.staffClient(r)
	var err error
	v := &peopleView{Scopes: s.scopes(r, se), Roles: staffRoles}
	if el != accounts.AllElections && !slices.Contains(v.Scopes, el) {
		err = accounts.ErrDenied
	} else {
		if el != accounts.AllElections {
			el, _ = s.accountsKey(r, se, el) // its fingerprint, for a legacy role
		}
		switch r.PathValue("action") {
		case "invite":
			var token string
			role := accounts.Role(r.PostFormValue("role"))
			token, err = s.o.Accounts.Invite(se, r.PostFormValue("email"), r.PostFormValue("name"), role, el, c)
			if err == nil {
				v.Link = s.baseURL(r) + "/staff/invite?token=" + token
				// Mailed when the server sends mail (issue 17); else, or
				// if it fails, the link is shown to give by hand.
				if to, ok := s.mailInvitation(r, se, role, r.PostFormValue("scope"), r.PostFormValue("email"), r.PostFormValue("name"), v.Link); ok {
					v.Mailed = to
				} else if s.o.Mail != nil {
					p.Error = s.msg(p.Lang, "staff.inviteNotMailed")
				}
			}
		case "role":
			err = s.o.Accounts.SetRole(se, r.PostFormValue("id"), accounts.Role(r.PostFormValue("role")), el, c)
		case "disable":
			err = s.o.Accounts.Disable(se, r.PostFormValue("id"), c)
		default:
			err = errors.New("no such action")
		}
	}
	if err != nil {
		p.Error = s.staffError(p.Lang, err)
	}
	v.Accounts, _ = s.accountsFor(se, s.roleKeys(r, v.Scopes))
	p.Data = v
	status := http.StatusOK
	if err != nil {
		status = http.StatusBadRequest
	}
	s.render(w, status, "people.html", p)
}

// mailInvitation e-mails a staff invitation's link, in both languages,
// if the server sends mail; it returns the address and whether it went.
func (s *Site) mailInvitation(r *http.Request, se *accounts.Session, role accounts.Role, scope, email, name, link string) (string, bool) {
	if s.o.Mail == nil {
		return "", false
	}
	to, err := accounts.NormalizeEmail(email)
	if err != nil {
		return "", false
	}
	_, by := s.session(r)
	inviter := ""
	if by != nil {
		inviter = by.Name
	}
	site := s.baseURL(r)
	var subj, parts []string
	for _, lang := range Languages {
		where := s.msg(lang, "trail.allElections")
		if scope != "" && scope != "all" && scope != accounts.AllElections {
			where = scope
		}
		subj = append(subj, s.msg(lang, "mail.invite.subject"))
		parts = append(parts, fmt.Sprintf(s.msg(lang, "mail.invite.body"), strings.TrimSpace(name), inviter, site,
			s.catalogOr(lang, "trail.role."+string(role), string(role)), where, when(lang, s.now().Add(accounts.InviteTTL)), link))
	}
	body := strings.ReplaceAll(strings.Join(parts, "\n\n-----\n\n"), "\n", "\r\n")
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	if err := s.o.Mail(ctx, to, strings.Join(subj, " / "), body); err != nil {
		s.log.Error("a staff invitation could not be e-mailed", "err", err)
		return "", false
	}
	return to, true
}

// accountsFor lists the accounts the session may see: all of them for a
// role on every election, else those with a role in the elections it
// administers (keys: roleKeys of its scopes), with their roles there only.
func (s *Site) accountsFor(se *accounts.Session, keys []string) ([]accounts.Account, error) {
	list, err := s.o.Accounts.Accounts(se)
	if err != nil && len(keys) > 0 {
		return s.o.Accounts.AccountsIn(se, keys...)
	}
	return list, err
}

// baseURL is the site's address as the request names it: --public-url if
// given, else https with the request's host (behind a reverse proxy, which
// speaks plain HTTP to the server, voters reach it over HTTPS), except for a
// plain-HTTP request to a loopback host, which is a server tried out on this
// machine and has no HTTPS.
func (s *Site) baseURL(r *http.Request) string {
	if s.o.PublicURL != "" {
		return strings.TrimSuffix(s.o.PublicURL, "/")
	}
	if r.TLS == nil && loopbackHost(r.Host) {
		return "http://" + r.Host
	}
	return "https://" + r.Host
}

// loopbackHost reports whether host (with or without a port) names this
// machine: localhost or a loopback address.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *Site) trailPage(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, _, ok := s.actingSession(w, r)
	if !ok {
		return
	}
	events, err := s.o.Accounts.Trail(se, 500)
	if err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	p.Data = s.trailLines(p.Lang, events)
	s.render(w, http.StatusOK, "trail.html", p)
}

// electionTrail is the audit trail of one election (consolePage has
// checked the session's role in it): its actions and the roles given in
// it, for whoever reads the trail there.
func (s *Site) electionTrail(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, _ := s.session(r)
	if _, err := s.roleKey(se, accounts.ReadTrail, p.el); err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	keys := []string{p.el.id}
	if p.el.id == legacyID {
		if fp := p.el.fingerprint(); fp != "" {
			keys = append(keys, fp)
		}
	}
	events, err := s.o.Accounts.ElectionTrail(se, 500, keys...)
	if err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	p.Data = s.trailLines(p.Lang, events)
	s.render(w, http.StatusOK, "trail.html", p)
}
