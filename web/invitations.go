package web

// The trustees' invitations, before the manifest (issue 16): the officer
// adds each trustee (a name and an address) in the console; the server
// makes a random invitation token, keeps only its SHA-256, and e-mails the
// trustee the link to the trustee page, with the token in the fragment (so
// that it reaches no log). The trustee's page (or any client) posts the
// identity with the token to POST /api/e/{id}/trustee-identities (spec
// §22.3). Once every identity is in, the officer chooses the threshold and
// the label and makes the roster, as "scrutin trustee roster" does (the
// same code, internal/trustee.NewRoster), to download and give to
// "scrutin manifest new --roster". Identities of trustees not invited by
// e-mail can be uploaded by hand, checked alike.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/clientip"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// TrusteeStore keeps the trustees' invitations and the roster made from
// them, shared by every node of a server; a *store.DB is one.
type TrusteeStore interface {
	AddTrustee(ctx context.Context, election string, inv store.TrusteeInvitation) (int64, error)
	TrusteeInvitations(ctx context.Context, election string) ([]store.TrusteeInvitation, error)
	ReinviteTrustee(ctx context.Context, election string, id int64, tokenHash []byte, expires time.Time) error
	RemoveTrustee(ctx context.Context, election string, id int64) error
	SetTrusteeIdentity(ctx context.Context, election string, id int64, tokenHash, identity []byte, at time.Time) error
	SaveTrusteeRoster(ctx context.Context, election string, roster []byte, at time.Time) error
	TrusteeRoster(ctx context.Context, election string) ([]byte, time.Time, error)
}

var _ TrusteeStore = (*store.DB)(nil)

// InvitationTTL is how long a trustee's invitation may be used.
const InvitationTTL = 14 * 24 * time.Hour

// invitationTokenSize is the invitation token's length, in random bytes.
const invitationTokenSize = 32

// maxIdentityBody bounds the body of POST trustee-identities.
const maxIdentityBody = 16 << 10

// newInvitationToken returns a fresh token (unpadded base64url) and its
// SHA-256.
func newInvitationToken() (string, []byte) {
	b := make([]byte, invitationTokenSize)
	rand.Read(b)
	tok := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(tok))
	return tok, h[:]
}

// trusteeLink is the trustee page's address with the invitation in its
// fragment.
func trusteeLink(base, token string) string {
	return base + "/trustee#invite=" + token
}

// invitationRow is one trustee on the console, before the manifest.
type invitationRow struct {
	ID int64
	// Created is when the invitation was made, in microseconds: its forms
	// carry it, since a number is used again once the last invitation is
	// removed.
	Created      int64
	Name, Email  string
	Status       string // invited, expired, received
	Expires      time.Time
	Fingerprint  string // of the identity received, in groups of four
	IdentityName string // the name in the identity received
}

// invitationsView is the console's part for the trustees' invitations.
type invitationsView struct {
	Rows     []invitationRow
	Mail     bool // invitations are e-mailed; else the link is shown to copy
	Received int
	AllIn    bool // every trustee listed sent an identity, and there is one at least
	// Thresholds are the thresholds the officer may choose, 1 … n;
	// Threshold is the one proposed (a majority).
	Thresholds []int
	Threshold  int
	Label      string
	// Identities names the identities listed, in order (identitiesDigest):
	// the roster form carries it, so that the roster is made of the
	// identities the officer was shown and confirmed, not of others
	// stored since.
	Identities string
	Preview    *invitationLetter
	// Link is the invitation link just made, shown once when mail is off
	// (the server keeps only the token's hash).
	Link, LinkName string
	Roster         *rosterView
}

// rosterView is the roster made, as the console shows it.
type rosterView struct {
	Label       string
	Threshold   int
	N           int
	Fingerprint string
	Made        time.Time
	Stale       bool   // the identities changed since it was made
	Command     string // the officer's next command
}

// invitationLetter is an invitation e-mail, for its preview and to send.
type invitationLetter struct {
	Name, Email, Election string
	Reinvite              int64 // the invitation invited again; 0 for a new one
	// ReinviteCreated is when that invitation was made (microseconds),
	// which tells it from a later one under its number.
	ReinviteCreated int64
	Subject, Body   string
}

func (s *Site) mailOn() bool { return s.o.Mail != nil }

// invitationLetterFor writes the invitation e-mail, in English and French.
func invitationLetterFor(name, email, electionName, link string, expires time.Time) *invitationLetter {
	subject := fmt.Sprintf("Invitation: trustee of %q / garant de « %s »", electionName, electionName)
	var b strings.Builder
	fmt.Fprintf(&b, `(Version française plus bas.)

Hello %s,

The returning officer of the election %q invites you to be one of its
trustees.

What a trustee does: the votes are encrypted under a key that nobody holds
alone. With the other trustees, you make that key before voting opens;
each of you keeps a part of it, on your own computer, protected by a
passphrase you choose. When voting is closed, trustees use their parts to
decrypt the total of the votes: enough of the trustees together can do it
(the officer tells you how many), fewer cannot. Nobody, not the officer,
not the server, not one trustee, can read how anyone voted.

To start, open this link and follow the steps. It is for you alone: do not
pass it on. It works once, until %s.

  %s

The page makes your trustee identity and sends its public part to the
election. It shows your identity's fingerprint: when the officer calls you,
read it to them, so that they can check that what they received is yours.
Keep the file and the passphrase the page gives you: without them you
cannot take part.

If you did not expect this message, ignore it and tell the officer.

--

Bonjour %s,

Le responsable de l'élection « %s » vous invite à en être l'un des garants.

Ce que fait un garant : les votes sont chiffrés sous une clé que personne
ne détient seul. Avec les autres garants, vous faites cette clé avant
l'ouverture du vote ; chacun en garde une part, sur son propre ordinateur,
protégée par une phrase de passe de son choix. Après la clôture du vote,
les garants se servent de leurs parts pour déchiffrer le total des votes :
assez de garants ensemble le peuvent (le responsable vous dit combien),
moins ne le peuvent pas. Personne, ni le responsable, ni le serveur, ni un
garant seul, ne peut lire comment quelqu'un a voté.

Pour commencer, ouvrez ce lien et suivez les étapes. Il est pour vous seul :
ne le transmettez pas. Il sert une fois, jusqu'au %s.

  %s

La page fait votre identité de garant et en envoie la partie publique à
l'élection. Elle affiche l'empreinte de votre identité : quand le
responsable vous appelle, lisez-la-lui, pour qu'il vérifie que ce qu'il a
reçu est bien à vous. Gardez le fichier et la phrase de passe que la page
vous donne : sans eux, vous ne pouvez pas prendre part.

Si vous n'attendiez pas ce message, ignorez-le et prévenez le responsable.
`, name, electionName, when("en", expires), link, name, electionName, when("fr", expires), link)
	return &invitationLetter{Name: name, Email: email, Election: electionName, Subject: subject, Body: b.String()}
}

// invitationsView reads the election's invitations for the console.
func (s *Site) invitations(ctx context.Context, p *pageData) (*invitationsView, error) {
	v := &invitationsView{Mail: s.mailOn(), Label: p.ID}
	invs, err := s.o.Trustees.TrusteeInvitations(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var ids []crypto.Trustee
	for _, inv := range invs {
		row := invitationRow{ID: inv.ID, Created: inv.Created.UnixMicro(), Name: inv.Name, Email: inv.Email, Expires: inv.Expires, Status: "invited"}
		if inv.Identity != nil {
			if t, err := trustee.ParsePublicIdentity(inv.Identity); err == nil {
				fp := t.Fingerprint()
				row.Status, row.Fingerprint, row.IdentityName = "received", trustee.GroupHex(fp[:]), t.Name
				ids = append(ids, *t)
				v.Received++
			}
		} else if !now.Before(inv.Expires) {
			row.Status = "expired"
		}
		v.Rows = append(v.Rows, row)
	}
	v.AllIn = len(v.Rows) > 0 && v.Received == len(v.Rows)
	v.Identities = identitiesDigest(ids)
	for t := 1; t <= v.Received; t++ {
		v.Thresholds = append(v.Thresholds, t)
	}
	v.Threshold = v.Received/2 + 1
	if b, made, err := s.o.Trustees.TrusteeRoster(ctx, p.ID); err == nil {
		if r, err := trustee.ParseRoster(b); err == nil {
			f := r.Fingerprint()
			rv := &rosterView{Label: r.Label, Threshold: r.Threshold, N: r.N(), Fingerprint: trustee.GroupHex(f[:]), Made: made,
				Stale: !v.AllIn || !sameIdentities(r.Trustees, ids)}
			rv.Command = fmt.Sprintf("scrutin manifest new --dir DIR --election %s --roster roster.json --out manifest.json", p.ID)
			v.Roster, v.Label, v.Threshold = rv, r.Label, r.Threshold
		}
	} else if !errors.Is(err, store.ErrNoRoster) {
		return nil, err
	}
	return v, nil
}

// identitiesDigest names a list of identities, in order: the SHA-256 of
// their fingerprints (hex).
func identitiesDigest(ids []crypto.Trustee) string {
	h := sha256.New()
	for _, t := range ids {
		f := t.Fingerprint()
		h.Write(f[:])
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// sameIdentities reports whether two lists hold the same identities, in
// the same order.
func sameIdentities(a, b []crypto.Trustee) bool {
	return slices.EqualFunc(a, b, func(x, y crypto.Trustee) bool { return x.Fingerprint() == y.Fingerprint() })
}

func (s *Site) now() time.Time {
	if s.o.Now != nil {
		return s.o.Now()
	}
	return time.Now()
}

// trusteeActions are the actions of POST /e/{id}/console/trustees/{action}.
var trusteeActions = []string{"preview", "invite", "remove", "upload", "roster"}

// trusteesAction does one of the officer's actions on the trustees'
// invitations, and shows the console again.
func (s *Site) trusteesAction(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, _ := s.session(r) // consolePage has checked it
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	action := r.PathValue("action")
	if !slices.Contains(trusteeActions, action) || s.o.Trustees == nil {
		http.NotFound(w, r)
		return
	}
	key, err := s.roleKey(se, accounts.ManageElection, p.el)
	if err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	out := &trusteesOutcome{}
	detail := map[string]string{}
	err = s.doTrustees(r, p, action, out, detail)
	if action != "preview" {
		detail["result"] = "done"
		if err != nil {
			detail["result"] = "refused: " + err.Error()
		}
		// The trail keeps refused attempts too; never a token.
		if rerr := s.o.Accounts.Record(se, accounts.ManageElection, key, "trustees-"+action, detail, s.staffClient(r)); rerr != nil && err == nil {
			err = rerr
		}
	}
	v := &consoleView{}
	s.fillConsole(v, p)
	if ierr := s.fillInvitations(r.Context(), v, p); ierr != nil && err == nil {
		err = ierr
	}
	if v.Invitations == nil && err == nil {
		err = errors.New("the manifest is recorded: the roster is fixed")
	}
	status := http.StatusOK
	if err != nil {
		s.log.Info("console action refused", "election", p.ID, "action", "trustees-"+action, "err", err)
		p.Error = err.Error()
		status = http.StatusBadRequest
	} else {
		s.log.Info("console action", "election", p.ID, "action", "trustees-"+action)
		if action != "preview" {
			v.Done = "trustees-" + action
		}
	}
	if v.Invitations != nil {
		v.Invitations.Preview = out.preview
		v.Invitations.Link, v.Invitations.LinkName = out.link, out.linkName
	}
	p.Data = v
	s.render(w, status, "console.html", p)
}

// trusteesOutcome is what an action shows once.
type trusteesOutcome struct {
	preview        *invitationLetter
	link, linkName string
}

// errManifestRecorded refuses changes to the trustees once the manifest
// (and its roster) is recorded.
var errManifestRecorded = errors.New("the manifest is recorded: its roster of trustees is fixed")

func (s *Site) doTrustees(r *http.Request, p *pageData, action string, out *trusteesOutcome, detail map[string]string) error {
	ctx := r.Context()
	if p.el.public() {
		return errManifestRecorded
	}
	id := p.ID
	switch action {
	case "preview", "invite":
		letter, reinvite, created, err := s.letterFromForm(r, p)
		if err != nil {
			return err
		}
		detail["trustee"], detail["email"] = letter.Name, letter.Email
		if reinvite != 0 {
			detail["invitation"] = strconv.FormatInt(reinvite, 10)
		}
		if action == "preview" {
			letter.Reinvite, letter.ReinviteCreated = reinvite, created
			out.preview = letter
			return nil
		}
		tok, hash := newInvitationToken()
		now := s.now().UTC()
		exp := now.Add(InvitationTTL)
		if reinvite != 0 {
			if err := s.o.Trustees.ReinviteTrustee(ctx, id, reinvite, hash, exp); err != nil {
				return fmt.Errorf("failed to invite again: %w", err)
			}
		} else if _, err := s.o.Trustees.AddTrustee(ctx, id, store.TrusteeInvitation{Name: letter.Name, Email: letter.Email, TokenHash: hash, Expires: exp, Created: now}); err != nil {
			return fmt.Errorf("failed to record the invitation: %w", err)
		}
		link := trusteeLink(p.URL, tok)
		if !s.mailOn() {
			detail["sent"] = "no: link shown to copy"
			out.link, out.linkName = link, letter.Name
			return nil
		}
		final := invitationLetterFor(letter.Name, letter.Email, letter.Election, link, exp)
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := s.o.Mail(mctx, letter.Email, final.Subject, final.Body); err != nil {
			detail["sent"] = "failed"
			// The token is unusable: nobody has it. Show it, rather than
			// invite again, so that the officer can pass it on.
			out.link, out.linkName = link, letter.Name
			return fmt.Errorf("the invitation is recorded but the e-mail could not be sent (%v): copy the link below to the trustee by another way, or invite again", err)
		}
		detail["sent"] = "e-mail"
		return nil
	case "remove":
		n, err := strconv.ParseInt(r.PostFormValue("invitation"), 10, 64)
		if err != nil {
			return errors.New("which trustee? (no invitation number)")
		}
		detail["invitation"] = strconv.FormatInt(n, 10)
		invs, err := s.o.Trustees.TrusteeInvitations(ctx, id)
		if err != nil {
			return err
		}
		if _, err := shownInvitation(r, invs, n); err != nil {
			return err
		}
		if err := s.o.Trustees.RemoveTrustee(ctx, id, n); err != nil {
			return fmt.Errorf("failed to remove the trustee: %w", err)
		}
		return nil
	case "upload":
		b, err := upload(r, "identity")
		if err != nil {
			return err
		}
		t, err := trustee.ParsePublicIdentity(b)
		if err != nil {
			return err
		}
		detail["trustee"] = t.Name
		invs, err := s.o.Trustees.TrusteeInvitations(ctx, id)
		if err != nil {
			return err
		}
		if err := checkNewIdentity(invs, 0, t); err != nil {
			return err
		}
		now := s.now().UTC()
		_, err = s.o.Trustees.AddTrustee(ctx, id, store.TrusteeInvitation{Name: t.Name, Created: now, Identity: b, IdentityAt: now})
		return err
	case "roster":
		v, err := s.invitations(ctx, p)
		if err != nil {
			return err
		}
		if !v.AllIn {
			return fmt.Errorf("only %d of %d trustees have sent their identity: wait for the others, or remove them", v.Received, len(v.Rows))
		}
		t, err := strconv.Atoi(r.PostFormValue("threshold"))
		if err != nil {
			return errors.New("choose how many trustees are needed to decrypt")
		}
		label := strings.TrimSpace(r.PostFormValue("label"))
		if label == "" {
			return errors.New("give the ceremony a label (the election's name and date, for instance)")
		}
		invs, err := s.o.Trustees.TrusteeInvitations(ctx, id)
		if err != nil {
			return err
		}
		var ids []crypto.Trustee
		for _, inv := range invs {
			ti, err := trustee.ParsePublicIdentity(inv.Identity)
			if err != nil {
				return fmt.Errorf("the identity of %s: %w", inv.Name, err)
			}
			ids = append(ids, *ti)
		}
		// The roster is made of the identities the officer was shown (and
		// confirmed by phone), or not at all: a trustee removed, added or
		// invited again since the page was shown refuses it.
		if r.PostFormValue("identities") != identitiesDigest(ids) {
			return errors.New("the trustees' identities changed since this page was shown: check the fingerprints in the list again with the trustees, then make the roster")
		}
		roster, err := trustee.NewRoster(nil, label, t, ids)
		if err != nil {
			return err
		}
		f := roster.Fingerprint()
		detail["roster"] = fmt.Sprintf("%x", f[:])
		detail["threshold"] = fmt.Sprintf("%d of %d", t, roster.N())
		return s.o.Trustees.SaveTrusteeRoster(ctx, id, trustee.RosterJSON(roster), s.now().UTC())
	}
	return fmt.Errorf("no such action %q", action)
}

// checkManifestRoster refuses a manifest whose roster is not the one made
// in the console from the identities listed there (which the officer
// confirmed by phone), or whose trustees changed since it was made: a
// manifest file swapped on its way to the officer, or made from an old
// roster.json, would otherwise fix for good a roster nobody confirmed. A
// console with no roster made, or no trustee listed (every one removed),
// leaves the officer free to use a roster made elsewhere ("scrutin
// trustee roster").
func (s *Site) checkManifestRoster(ctx context.Context, id string, m *election.Manifest) error {
	if s.o.Trustees == nil {
		return nil
	}
	b, _, err := s.o.Trustees.TrusteeRoster(ctx, id)
	if errors.Is(err, store.ErrNoRoster) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("the roster made in the console cannot be read now: %w", err)
	}
	invs, err := s.o.Trustees.TrusteeInvitations(ctx, id)
	if err != nil {
		return fmt.Errorf("the trustees' invitations cannot be read now: %w", err)
	}
	if len(invs) == 0 {
		return nil
	}
	made, err := trustee.ParseRoster(b)
	if err != nil {
		return fmt.Errorf("the roster made in the console is not valid (make it again): %w", err)
	}
	if m.Roster.Fingerprint() != made.Fingerprint() {
		mf, cf := m.Roster.Fingerprint(), made.Fingerprint()
		return fmt.Errorf("this manifest's roster (fingerprint %s) is not the one made in this console (%s): make the manifest with the roster.json downloaded from this console, or remove every trustee from the console's list to use a roster made elsewhere",
			trustee.GroupHex(mf[:]), trustee.GroupHex(cf[:]))
	}
	var ids []crypto.Trustee
	for _, inv := range invs {
		t, err := trustee.ParsePublicIdentity(inv.Identity)
		if err != nil {
			return fmt.Errorf("the trustees changed since the roster was made (%s has sent no identity): make the roster again in the console, and the manifest with it", inv.Name)
		}
		ids = append(ids, *t)
	}
	if !sameIdentities(made.Trustees, ids) {
		return errors.New("the trustees changed since the roster was made: make the roster again in the console, and the manifest with it")
	}
	return nil
}

// manifestRosterGuard checks, for an officer of the election, that a
// manifest entry posted to the officers' API holds the console's roster
// (checkManifestRoster); anything else, and anyone else, goes on to the
// API, which checks the session and the entry.
func (s *Site) manifestRosterGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		se, _ := s.session(r)
		es, _ := s.election(r.Context(), r.PathValue("id"))
		if s.o.Trustees == nil || se == nil || es == nil || !s.allowed(se, accounts.ManageElection, es) {
			next.ServeHTTP(w, r)
			return
		}
		// The API bounds the body; the whole of it goes on.
		head, err := io.ReadAll(io.LimitReader(r.Body, server.MaxEntryRequest+1))
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
		if err != nil || len(head) == 0 || head[0] != election.TypeManifest || len(head) > server.MaxEntryRequest {
			next.ServeHTTP(w, r)
			return
		}
		m, err := election.ParseManifest(head[1:])
		if err != nil {
			next.ServeHTTP(w, r) // refused there, in its words
			return
		}
		if err := s.checkManifestRoster(r.Context(), es.id, m); err != nil {
			// The trail keeps the refusal, as the API's own.
			if key, kerr := s.roleKey(se, accounts.ManageElection, es); kerr == nil {
				if rerr := s.o.Accounts.Record(se, accounts.ManageElection, key, "api-entry", map[string]string{"result": "refused (409): " + err.Error()}, s.staffClient(r)); rerr != nil {
					s.log.Error("the audit trail refused an API action", "election", es.id, "action", "entry", "err", rerr)
				}
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusConflict)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// letterFromForm reads an invitation's form: a new trustee (name, email)
// or one invited again (invitation), and the election's name for the
// letter.
func (s *Site) letterFromForm(r *http.Request, p *pageData) (*invitationLetter, int64, int64, error) {
	electionName := strings.TrimSpace(r.PostFormValue("election"))
	if electionName == "" {
		electionName = p.Title
	}
	if electionName == "" {
		electionName = p.ID
	}
	if len(electionName) > 300 {
		return nil, 0, 0, errors.New("the election's name is too long (300 bytes at most)")
	}
	if hasControl(electionName) {
		return nil, 0, 0, errors.New("the election's name must be one line of text, without control characters")
	}
	var name, email string
	var reinvite, created int64
	if v := r.PostFormValue("invitation"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, 0, 0, errors.New("which trustee? (a bad invitation number)")
		}
		invs, err := s.o.Trustees.TrusteeInvitations(r.Context(), p.ID)
		if err != nil {
			return nil, 0, 0, err
		}
		inv, err := shownInvitation(r, invs, n)
		if err != nil {
			return nil, 0, 0, err
		}
		if inv.Email == "" {
			return nil, 0, 0, errors.New("this trustee was not invited by e-mail")
		}
		name, email, reinvite, created = inv.Name, inv.Email, n, inv.Created.UnixMicro()
	} else {
		name = strings.TrimSpace(r.PostFormValue("name"))
		if name == "" || len(name) > crypto.MaxTrusteeNameLen {
			return nil, 0, 0, fmt.Errorf("give the trustee's name (1 to %d bytes)", crypto.MaxTrusteeNameLen)
		}
		if hasControl(name) {
			return nil, 0, 0, errors.New("the trustee's name must be one line of text, without control characters")
		}
		var err error
		if email, err = accounts.NormalizeEmail(strings.TrimSpace(r.PostFormValue("email"))); err != nil {
			return nil, 0, 0, fmt.Errorf("give the trustee's e-mail address: %w", err)
		}
	}
	placeholder := trusteeLink(p.URL, "…")
	return invitationLetterFor(name, email, electionName, placeholder, s.now().Add(InvitationTTL)), reinvite, created, nil
}

// shownInvitation returns invitation n, if it is still the one the form
// was shown for: its "created" value, when given, must be the
// invitation's, since numbers are used again once the last invitation is
// removed (another officer may have removed it and invited someone else).
func shownInvitation(r *http.Request, invs []store.TrusteeInvitation, n int64) (*store.TrusteeInvitation, error) {
	i := slices.IndexFunc(invs, func(inv store.TrusteeInvitation) bool { return inv.ID == n })
	if i < 0 {
		return nil, errors.New("this trustee was removed meanwhile: look at the list again")
	}
	if c := r.PostFormValue("created"); c != "" && c != strconv.FormatInt(invs[i].Created.UnixMicro(), 10) {
		return nil, errors.New("this trustee was removed meanwhile, and someone else invited under the same number: look at the list again")
	}
	return &invs[i], nil
}

// hasControl reports a control character (a line break among them) in
// text that goes into a letter's header or a line of its text.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, unicode.IsControl)
}

// checkNewIdentity refuses an identity whose key another trustee of the
// election already sent (except the invitation self, which it replaces).
func checkNewIdentity(invs []store.TrusteeInvitation, self int64, t *crypto.Trustee) error {
	for _, inv := range invs {
		if inv.ID == self || inv.Identity == nil {
			continue
		}
		o, err := trustee.ParsePublicIdentity(inv.Identity)
		if err != nil {
			continue
		}
		for _, k := range []*crypto.PublicKey{o.Signing, o.Encryption} {
			if k.Equal(t.Signing) || k.Equal(t.Encryption) {
				return fmt.Errorf("%w: this identity uses a key of another trustee (%s)", errIdentityConflict, inv.Name)
			}
		}
		if o.Name == t.Name {
			return fmt.Errorf("%w: another trustee's identity has the same name (%s): each trustee's name must differ", errIdentityConflict, t.Name)
		}
	}
	return nil
}

var errIdentityConflict = errors.New("identity refused")

// rosterDownload serves the roster made, as roster.json.
func (s *Site) rosterDownload(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.o.Trustees == nil {
		http.NotFound(w, r)
		return
	}
	b, _, err := s.o.Trustees.TrusteeRoster(r.Context(), p.ID)
	if errors.Is(err, store.ErrNoRoster) {
		http.Error(w, "no roster made yet: make it in the console", http.StatusNotFound)
		return
	}
	if err != nil {
		http.Error(w, "the roster cannot be read now", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="roster.json"`)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}

// identityAPI serves POST /api/e/{id}/trustee-identities (spec §22.3).
func (s *Site) identityAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	answer := func(status int, v any) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(status int, msg string) { answer(status, map[string]string{"error": msg}) }
	if s.o.Trustees == nil {
		fail(http.StatusNotFound, "not found")
		return
	}
	client := r.RemoteAddr
	if a, ok := clientip.FromRequest(r, s.o.TrustedProxies); ok {
		client = clientip.Key(a)
	}
	if ok, wait := s.identityLimits.Reserve(client, s.now(), 1); !ok {
		h.Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
		fail(http.StatusTooManyRequests, "too many requests from your address: wait a little and try again")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxIdentityBody))
	if err != nil {
		fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("the request is larger than %d bytes", maxIdentityBody))
		return
	}
	var req struct {
		Invitation string          `json:"invitation"`
		Identity   json.RawMessage `json:"identity"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.More() || req.Invitation == "" || len(req.Identity) == 0 {
		fail(http.StatusBadRequest, `the body must be {"invitation":"…","identity":{…}}: the invitation from the link the officer sent, and the identity made by the trustee page or "scrutin trustee init" (identity.json)`)
		return
	}
	const badInvitation = "this invitation is not valid: use the whole link from the officer's e-mail, or ask the officer to invite you again"
	id := r.PathValue("id")
	if store.CheckID(id) != nil || len(req.Invitation) > 100 {
		fail(http.StatusForbidden, badInvitation)
		return
	}
	sum := sha256.Sum256([]byte(req.Invitation))
	ctx := r.Context()
	invs, err := s.o.Trustees.TrusteeInvitations(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNoElection) {
		fail(http.StatusServiceUnavailable, "the server cannot check invitations now: try again in a minute")
		return
	}
	// Every invitation's hash is compared, in constant time.
	match := -1
	for i, inv := range invs {
		if len(inv.TokenHash) == len(sum) && subtle.ConstantTimeCompare(inv.TokenHash, sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		fail(http.StatusForbidden, badInvitation)
		return
	}
	inv := invs[match]
	if !s.now().Before(inv.Expires) {
		fail(http.StatusGone, "this invitation has expired: ask the officer to invite you again")
		return
	}
	if inv.Identity != nil {
		fail(http.StatusConflict, "this invitation has already brought an identity: if you need to replace it, ask the officer to invite you again")
		return
	}
	if e, err := s.o.Elections.Election(ctx, id); err != nil {
		fail(http.StatusServiceUnavailable, "the election cannot be reached now: try again in a minute")
		return
	} else if e.Fingerprint() != (crypto.Fingerprint{}) {
		fail(http.StatusConflict, "the election's manifest is recorded: its trustees are fixed, and no identity can be added; ask the officer")
		return
	}
	t, err := trustee.ParsePublicIdentity(req.Identity)
	if err != nil {
		fail(http.StatusBadRequest, "the identity is not valid: "+err.Error())
		return
	}
	if err := checkNewIdentity(invs, inv.ID, t); err != nil {
		fail(http.StatusConflict, err.Error())
		return
	}
	// Stored compact; the roster is made from what it parses to.
	var compact bytes.Buffer
	json.Compact(&compact, req.Identity)
	switch err := s.o.Trustees.SetTrusteeIdentity(ctx, id, inv.ID, inv.TokenHash, compact.Bytes(), s.now().UTC()); {
	case errors.Is(err, store.ErrIdentityTaken):
		fail(http.StatusConflict, "this invitation has already brought an identity: if you need to replace it, ask the officer to invite you again")
		return
	case errors.Is(err, store.ErrNoInvitation):
		fail(http.StatusForbidden, badInvitation)
		return
	case err != nil:
		fail(http.StatusServiceUnavailable, "the identity could not be stored: try again in a minute")
		return
	}
	s.log.Info("trustee identity received", "election", id, "invitation", inv.ID)
	fp := t.Fingerprint()
	answer(http.StatusCreated, map[string]string{"fingerprint": fmt.Sprintf("%x", fp[:])})
}

// identityLimitsFor are the per-client limits of the identity API: as the
// voters' sign-in's.
func identityLimitsFor() *clientip.Limiters {
	l := server.DefaultSignInLimits
	return clientip.NewLimiters(l.PerClient, l.PerClientBurst)
}
