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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/roll"
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
}

func (s *Site) console(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.noAccounts(w) {
		return
	}
	se, _, ok := s.actingSession(w, r)
	if !ok {
		return
	}
	if err := s.o.Accounts.Allowed(se, accounts.ReadElection, s.electionID()); err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	v := &consoleView{}
	s.fillConsole(v, p)
	if done := r.URL.Query().Get("done"); slices.Contains(consoleActions, done) {
		v.Done = done
	}
	p.Data = v
	s.render(w, http.StatusOK, "console.html", p)
}

func (s *Site) fillConsole(v *consoleView, p *pageData) {
	s.o.Election.State(func(st *election.State) {
		v.NeedsSetup = st.Manifest == nil
		if st.Manifest != nil {
			v.Threshold = st.Manifest.Roster.Threshold
		}
		if out := st.Ceremony; out != nil {
			v.Confirmed, v.Qualified = len(out.Confirmed), len(out.Qualified)
			for _, f := range out.Faults {
				v.Faults = append(v.Faults, fmt.Sprint(f))
			}
		}
		v.CanOpen = st.Phase == election.PhaseSetup && st.Roll != nil && len(st.Credentials) > 0 && st.Ceremony != nil && st.Ceremony.Complete
		v.CanClose = st.Phase == election.PhaseVoting
		_, err := st.ExpectedTally()
		v.CanTally = st.Phase > election.PhaseVoting && st.Tally == nil && err == nil
		_, err = st.ExpectedResult()
		v.CanResult = st.Tally != nil && st.Result == nil && err == nil
	})
	v.Report = s.report()
}

// consoleActions are the actions of POST /console/{action}.
var consoleActions = []string{"manifest", "entry", "open", "close", "tally", "result"}

func (s *Site) report() *roll.Report {
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	return s.rollReport
}

// consoleAction does one officer action and goes back to the console,
// saying what was done or why it was refused.
func (s *Site) consoleAction(w http.ResponseWriter, r *http.Request, p *pageData) {
	if s.noAccounts(w) {
		return
	}
	se, _, ok := s.actingSession(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	action := r.PathValue("action")
	if !slices.Contains(consoleActions, action) {
		http.NotFound(w, r)
		return
	}
	el := s.electionID()
	if err := s.o.Accounts.Allowed(se, accounts.ManageElection, el); err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	err := s.do(r, action)
	detail := map[string]string{"result": "done"}
	if err != nil {
		detail["result"] = "refused: " + err.Error()
	}
	// The trail keeps refused attempts too; the election then is the one
	// the manifest created, if it did.
	if rerr := s.o.Accounts.Record(se, accounts.ManageElection, s.electionID(), action, detail, s.staffClient(r)); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		s.log.Info("console action refused", "action", action, "err", err)
		v := &consoleView{}
		s.fillConsole(v, p)
		p.Data, p.Error = v, err.Error()
		s.render(w, http.StatusBadRequest, "console.html", p)
		return
	}
	s.log.Info("console action", "action", action)
	http.Redirect(w, r, "/console?done="+action, http.StatusSeeOther)
}

func (s *Site) do(r *http.Request, action string) error {
	ctx := r.Context()
	e := s.o.Election
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
		if _, err := e.Append(ctx, b); err != nil {
			return err
		}
		if rep, err := upload(r, "report"); err == nil && len(rep) > 0 {
			var report roll.Report
			if err := json.Unmarshal(rep, &report); err != nil {
				return fmt.Errorf("the entry was recorded, but the roll report is not one: %v", err)
			}
			s.reportMu.Lock()
			s.rollReport = &report
			s.reportMu.Unlock()
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
		return s.appendDerived(r, (*election.State).ExpectedTally)
	case "result":
		return s.appendDerived(r, (*election.State).ExpectedResult)
	}
	return fmt.Errorf("no such action %q", action)
}

func (s *Site) appendDerived(r *http.Request, compute func(*election.State) ([]byte, error)) error {
	var entry []byte
	var err error
	s.o.Election.State(func(st *election.State) { entry, err = compute(st) })
	if err != nil {
		return err
	}
	_, err = s.o.Election.Append(r.Context(), entry)
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
