package web

// The staff console: an officer records the manifest, the roll and the
// credentials (prepared on the officer's own machine, so that members'
// personal data never reach the server), follows the trustees' ceremony,
// opens and closes voting, records the tally and publishes the result.
//
// It is behind the staff accounts (package accounts): reading it needs a
// role in the election and a second factor, acting needs the officer's or
// the administrator's role, and every action is also written to the audit
// trail.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/roll"
	"github.com/scrutin/scrutin/server"
)

const maxUpload = 8 << 20

// consoleView is what the console shows.
type consoleView struct {
	Done       string
	Report     *roll.Report
	Faults     []string
	Confirmed  int
	Qualified  int
	Threshold  int
	Decrypted  int
	CanOpen    bool
	CanClose   bool
	CanTally   bool
	CanResult  bool
	NeedsSetup bool
	Trustees   *trusteesView
	// Invitations are the trustees invited, before the manifest.
	Invitations *invitationsView
}

// console is an election's console; consolePage has checked the session's
// role in it.
func (s *Site) console(w http.ResponseWriter, r *http.Request, p *pageData) {
	v := &consoleView{}
	s.fillConsole(v, p)
	if err := s.fillInvitations(r.Context(), v, p); err != nil {
		p.Error = err.Error()
	}
	if done := r.URL.Query().Get("done"); slices.Contains(consoleActions, done) {
		v.Done = done
	}
	p.Data = v
	s.render(w, http.StatusOK, "console.html", p)
}

// fillInvitations adds the trustees' invitations, before the manifest.
func (s *Site) fillInvitations(ctx context.Context, v *consoleView, p *pageData) error {
	if !v.NeedsSetup || s.o.Trustees == nil {
		return nil
	}
	iv, err := s.invitations(ctx, p)
	if err != nil {
		return fmt.Errorf("the trustees' invitations cannot be read now: %w", err)
	}
	v.Invitations = iv
	return nil
}

func (s *Site) fillConsole(v *consoleView, p *pageData) {
	p.el.e.State(func(st *election.State) {
		v.NeedsSetup = st.Manifest == nil
		v.Trustees = trusteeProgress(st)
		if st.Manifest != nil {
			v.Threshold = st.Manifest.Roster.Threshold
		}
		if out := st.Ceremony; out != nil {
			v.Confirmed, v.Qualified = len(out.Confirmed), len(out.Qualified)
			for _, f := range out.Faults {
				v.Faults = append(v.Faults, s.faultText(p.Lang, &st.Manifest.Roster, f))
			}
		}
		v.CanOpen = st.Phase == election.PhaseSetup && st.Roll != nil && len(st.Credentials) > 0 && st.Ceremony != nil && st.Ceremony.Complete
		v.CanClose = st.Phase == election.PhaseVoting
		_, err := st.ExpectedTally()
		v.CanTally = st.Phase > election.PhaseVoting && st.Tally == nil && err == nil
		_, err = st.ExpectedResult()
		v.CanResult = st.Tally != nil && st.Result == nil && err == nil
	})
	v.Report = p.el.report()
}

// faultText says a fault of the ceremony in the page's language, by its
// kind (crypto's Reason is English, for logs and the command line).
func (s *Site) faultText(lang string, r *crypto.Roster, f crypto.Fault) string {
	name := func(i int) string {
		if i >= 1 && i <= r.N() {
			return r.Trustees[i-1].Name
		}
		return "?"
	}
	key := "fault." + f.Kind.String()
	switch f.Kind {
	case crypto.FaultEmptyMessage, crypto.FaultNotCeremony, crypto.FaultMissingTranscript:
		return s.msg(lang, key)
	case crypto.FaultBadShare:
		return fmt.Sprintf(s.msg(lang, key), f.Trustee, name(f.Trustee), f.Other, name(f.Other), f.Other)
	case crypto.FaultInvalidComplaint, crypto.FaultUnfoundedComplaint:
		return fmt.Sprintf(s.msg(lang, key), f.Trustee, name(f.Trustee), f.Other, name(f.Other))
	case crypto.FaultInvalidMessage, crypto.FaultEquivocation, crypto.FaultNoDealing, crypto.FaultLateMessage,
		crypto.FaultBadConfirmation, crypto.FaultDecryptionEquivocation:
		if f.Trustee == 0 {
			if f.Kind == crypto.FaultInvalidMessage {
				return s.msg(lang, "fault.invalidMessage.anon")
			}
			break
		}
		return fmt.Sprintf(s.msg(lang, key), f.Trustee, name(f.Trustee))
	}
	return fmt.Sprintf(s.msg(lang, "fault.other"), f.Reason)
}

// consoleActions are the actions of POST /console/{action}.
var consoleActions = []string{"manifest", "entry", "open", "close", "tally", "result"}

func (es *electionSite) report() *roll.Report {
	es.reportMu.Lock()
	defer es.reportMu.Unlock()
	return es.rollReport
}

// consoleAction does one officer action and goes back to the console,
// saying what was done or why it was refused.
func (s *Site) consoleAction(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, _ := s.session(r) // consolePage has checked it
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	action := r.PathValue("action")
	if !slices.Contains(consoleActions, action) {
		http.NotFound(w, r)
		return
	}
	key, err := s.roleKey(se, accounts.ManageElection, p.el)
	if err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	detail := map[string]string{"result": "done"}
	err = s.do(r, p.el, action, detail)
	if err != nil {
		detail["result"] = "refused: " + err.Error()
	}
	// The trail keeps refused attempts too.
	if rerr := s.o.Accounts.Record(se, accounts.ManageElection, key, action, detail, s.staffClient(r)); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		s.log.Info("console action refused", "election", p.ID, "action", action, "err", err)
		v := &consoleView{}
		s.fillConsole(v, p)
		s.fillInvitations(r.Context(), v, p)
		p.Data, p.Error = v, err.Error()
		s.render(w, http.StatusBadRequest, "console.html", p)
		return
	}
	s.log.Info("console action", "election", p.ID, "action", action)
	http.Redirect(w, r, p.Base+"/console?done="+action, http.StatusSeeOther)
}

// do does an action; it adds to detail what the trail should say of it
// (an entry's kind and number in the log).
func (s *Site) do(r *http.Request, es *electionSite, action string, detail map[string]string) error {
	ctx := r.Context()
	e := es.e
	switch action {
	case "manifest":
		b, err := upload(r, "file")
		if err != nil {
			return err
		}
		m, err := election.ParseManifest(b)
		if err != nil {
			return err
		}
		if err := s.checkManifestRoster(ctx, es.id, m); err != nil {
			return err
		}
		entry, err := m.Entry()
		if err != nil {
			return err
		}
		_, err = e.Append(ctx, entry)
		return err
	case "entry":
		b, err := upload(r, "file")
		if err != nil {
			return err
		}
		if len(b) == 0 || (b[0] != election.TypeRoll && b[0] != election.TypeCredentials) {
			return errors.New("this file is not a roll or credentials entry (roll.entry, credentials-N.entry)")
		}
		idx, err := e.Append(ctx, b)
		if err != nil {
			return err
		}
		detail["kind"], detail["index"] = "roll", strconv.FormatInt(idx, 10)
		if b[0] == election.TypeCredentials {
			detail["kind"] = "credentials"
		}
		if rep, err := upload(r, "report"); err == nil && len(rep) > 0 {
			var report roll.Report
			if err := json.Unmarshal(rep, &report); err != nil {
				return fmt.Errorf("the entry was recorded, but the roll report is not one: %v", err)
			}
			es.reportMu.Lock()
			es.rollReport = &report
			es.reportMu.Unlock()
		}
		return nil
	case "open":
		_, err := e.Append(ctx, (&election.Open{At: election.Now(time.Now())}).Entry())
		return err
	case "close":
		reason := r.PostFormValue("reason")
		if reason == "" {
			return errors.New("say why voting closes: the reason is published")
		}
		_, err := e.Append(ctx, (&election.Close{At: election.Now(time.Now()), Reason: reason}).Entry())
		return err
	case "tally":
		return appendDerived(r, e, (*election.State).ExpectedTally)
	case "result":
		return appendDerived(r, e, (*election.State).ExpectedResult)
	}
	return fmt.Errorf("no such action %q", action)
}

func appendDerived(r *http.Request, e *server.Election, compute func(*election.State) ([]byte, error)) error {
	var entry []byte
	var err error
	e.State(func(st *election.State) { entry, err = compute(st) })
	if err != nil {
		return err
	}
	_, err = e.Append(r.Context(), entry)
	return err
}

func upload(r *http.Request, field string) ([]byte, error) {
	f, _, err := r.FormFile(field)
	if err != nil {
		return nil, fmt.Errorf("choose a file to upload (%s)", field)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxUpload))
	if err != nil {
		return nil, err
	}
	return b, nil
}
