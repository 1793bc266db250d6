package accounts

// Passkeys (WebAuthn), the preferred second factor: a passkey signs a
// challenge for this site's origin only, so a look-alike site cannot relay
// it (phishing-resistant, where a TOTP code can be phished).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// passkey is a registered WebAuthn credential (its public key, id and
// signature counter), as the trail keeps it.
type passkey = webauthn.Credential

type webauthnRP struct{ wa *webauthn.WebAuthn }

// newWebAuthn configures the relying party; without an RP id, passkeys
// are unavailable (TOTP remains).
func newWebAuthn(o Options) (*webauthnRP, error) {
	if o.RPID == "" {
		return nil, nil
	}
	wa, err := webauthn.New(&webauthn.Config{RPID: o.RPID, RPDisplayName: o.SiteName, RPOrigins: o.RPOrigins})
	if err != nil {
		return nil, err
	}
	return &webauthnRP{wa}, nil
}

// waSession is a ceremony in progress, kept in the staff session.
type waSession struct {
	data     webauthn.SessionData
	register bool
}

// waUser adapts an account to the library.
type waUser struct{ a *Account }

func (u waUser) WebAuthnID() []byte                         { return []byte(u.a.ID) }
func (u waUser) WebAuthnName() string                       { return u.a.Email }
func (u waUser) WebAuthnDisplayName() string                { return u.a.Name }
func (u waUser) WebAuthnCredentials() []webauthn.Credential { return u.a.passkeys }

// ErrNoPasskeys is returned when the server has no WebAuthn configuration.
var ErrNoPasskeys = errors.New("passkeys are not configured on this server (its address is unknown): use an authenticator app")

// PasskeysAvailable reports whether passkeys can be used.
func (s *Service) PasskeysAvailable() bool { return s.wa != nil }

// BeginPasskey starts registering a passkey: the options (JSON) to give to
// navigator.credentials.create.
func (s *Service) BeginPasskey(se *Session) ([]byte, error) {
	if s.wa == nil {
		return nil, ErrNoPasskeys
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[se.Account]
	if a == nil {
		return nil, ErrDenied
	}
	if err := s.mayChangeFactors(se, a); err != nil {
		return nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, p := range a.passkeys {
		exclude = append(exclude, p.Descriptor())
	}
	opts, data, err := s.wa.wa.BeginRegistration(waUser{a},
		webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{UserVerification: protocol.VerificationPreferred, ResidentKey: protocol.ResidentKeyRequirementPreferred}))
	if err != nil {
		return nil, err
	}
	se.pendingWA = &waSession{data: *data, register: true}
	if err := s.saveSession(se); err != nil {
		return nil, err
	}
	return json.Marshal(opts)
}

// FinishPasskey checks the authenticator's answer and registers the
// passkey; it returns recovery codes to show once if the account had none.
func (s *Service) FinishPasskey(se *Session, body io.Reader) ([]string, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBody(io.LimitReader(body, 64<<10))
	if err != nil {
		return nil, errors.New("the authenticator's answer is not valid")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freshen()
	a := s.accounts[se.Account]
	p := s.takeCeremony(se)
	if a == nil || p == nil || !p.register {
		return nil, errors.New("no passkey registration in progress")
	}
	if err := s.mayChangeFactors(se, a); err != nil {
		return nil, err
	}
	had := a.HasSecondFactor()
	cred, err := s.wa.wa.CreateCredential(waUser{a}, p.data, parsed)
	if err != nil {
		return nil, errors.New("the passkey could not be registered: " + err.Error())
	}
	if err := s.recordWith("passkey.add", a.ID, se.Client, factorData{ID: a.ID, Passkey: cred}, s.mayStillChangeFactors(se)); err != nil {
		return nil, err
	}
	return s.enrolled(se, a, "passkey", had)
}

// BeginPasskeyLogin starts the second step with a passkey: the options
// (JSON) for navigator.credentials.get.
func (s *Service) BeginPasskeyLogin(se *Session) ([]byte, error) {
	if s.wa == nil {
		return nil, ErrNoPasskeys
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[se.Account]
	if a == nil || len(a.passkeys) == 0 {
		return nil, errors.New("this account has no passkey")
	}
	opts, data, err := s.wa.wa.BeginLogin(waUser{a})
	if err != nil {
		return nil, err
	}
	se.pendingWA = &waSession{data: *data}
	if err := s.saveSession(se); err != nil {
		return nil, err
	}
	return json.Marshal(opts)
}

// FinishPasskeyLogin checks the passkey's signature: the second step.
func (s *Service) FinishPasskeyLogin(se *Session, body io.Reader) error {
	parsed, err := protocol.ParseCredentialRequestResponseBody(io.LimitReader(body, 64<<10))
	if err != nil {
		return ErrSecondStep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freshen()
	a := s.accounts[se.Account]
	p := s.takeCeremony(se)
	if a == nil || p == nil || p.register {
		return errors.New("no passkey sign-in in progress")
	}
	if s.now().Before(a.lockedUntil(se.Client)) || a.secondStepLocked(s.now()) {
		return ErrLocked
	}
	cred, err := s.wa.wa.ValidateLogin(waUser{a}, p.data, parsed)
	if err == nil && cred.Authenticator.CloneWarning {
		// A valid signature with a counter that went back: a copy of the
		// passkey is in use (issue 17). Refused, named, and its owner told.
		s.clients.failed(se.Client)
		s.record("signin.failed", a.ID, se.Client, factorData{ID: a.ID, Reason: "passkey-cloned"})
		s.notify(a, "a copy of your passkey was used", fmt.Sprintf("Someone signed in to your %s staff account (%s) with the right password and a passkey whose signature counter went back: a copy of your passkey (a cloned authenticator). The server refused it.\n\n  time: %s\n  address: %s\n\nChange your password now, remove that passkey in \"Your account\" and add a new one, and tell an administrator.\n",
			s.o.SiteName, a.Email, s.now().UTC().Format(time.RFC1123), se.Client))
		return ErrSecondStep
	}
	if err != nil {
		s.clients.failed(se.Client)
		s.record("signin.failed", a.ID, se.Client, factorData{ID: a.ID, Reason: "passkey"})
		return ErrSecondStep
	}
	used := *cred
	if err := s.record("passkey.used", a.ID, se.Client, factorData{ID: a.ID, Passkey: &used}); err != nil {
		return secondStepError(err)
	}
	return s.completeSignIn(se, a, "passkey")
}

// takeCeremony returns the passkey ceremony in progress, as kept with the
// session (it may have begun on another server), and ends it: a challenge
// is answered once.
func (s *Service) takeCeremony(se *Session) *waSession {
	cur, ok := s.loadSession(se.ID)
	if !ok || cur.pendingWA == nil {
		return nil
	}
	p := cur.pendingWA
	se.pendingWA = nil
	cur.pendingWA = nil
	if s.saveSession(cur) != nil {
		return nil
	}
	return p
}
