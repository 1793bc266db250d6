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
	"strings"
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
	// Window is the planned voting window (RFC 3339), and Left how long
	// until it opens (LeftKey "opensIn") or closes ("closesIn"), in words.
	Opens, Closes string
	Left, LeftKey string
	// Window is the voting window while voting is open (spec §18.7).
	Window *windowView
}

// windowView is the voting window in the console: the end in force, the
// time left, and what an extension may do (spec §18.7).
type windowView struct {
	Planned, Ends time.Time
	Left          string    // "2 days, 3 hours", in the page's language
	Ended         bool      // the end in force has passed: ballots are refused
	Latest        time.Time // the latest end an extension may set
	Extensions    int       // recorded so far
	CanExtend     bool
	Max           int
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
			v.Opens, v.Closes = st.Manifest.Window.Opens, st.Manifest.Window.Closes
			now := s.now()
			opens, err1 := time.Parse(election.TimeFormat, v.Opens)
			closes, err2 := st.Ends(), error(nil) // the end in force (spec §18.7)
			switch {
			case err1 != nil || err2 != nil || st.Phase > election.PhaseVoting:
			case st.Phase == election.PhaseVoting && closes.After(now):
				v.Left, v.LeftKey = s.duration(p.Lang, closes.Sub(now)), "closesIn"
			case st.Phase == election.PhaseVoting:
				v.LeftKey = "closesPast"
			case opens.After(now):
				v.Left, v.LeftKey = s.duration(p.Lang, opens.Sub(now)), "opensIn"
			default:
				v.LeftKey = "opensPast"
			}
		}
		if out := st.Ceremony; out != nil {
			v.Confirmed, v.Qualified = len(out.Confirmed), len(out.Qualified)
			for _, f := range out.Faults {
				v.Faults = append(v.Faults, s.faultText(p.Lang, &st.Manifest.Roster, f))
			}
		}
		v.CanOpen = st.Phase == election.PhaseSetup && st.Roll != nil && len(st.Credentials) > 0 && st.Ceremony != nil && st.Ceremony.Complete
		v.CanClose = st.Phase == election.PhaseVoting
		if v.CanClose {
			planned, _ := time.Parse(election.TimeFormat, st.Manifest.Window.Closes)
			now := p.el.e.Now()
			w := &windowView{Planned: planned, Ends: st.Ends(), Latest: planned.Add(election.MaxExtension), Extensions: len(st.Extensions), Max: election.MaxExtensions}
			w.Ended = !now.Before(w.Ends)
			if !w.Ended {
				w.Left = s.duration(p.Lang, w.Ends.Sub(now))
			}
			w.CanExtend = !w.Ended && w.Extensions < election.MaxExtensions && w.Ends.Before(w.Latest)
			v.Window = w
		}
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
var consoleActions = []string{"manifest", "entry", "open", "close", "extend", "tally", "result"}

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
	// Open, close, tally and publish cannot be undone: the officer is
	// first shown, on a page of its own, what will happen, and confirms
	// there (a form, so that it works without scripts).
	if slices.Contains(confirmedActions, action) && r.PostFormValue("confirm") != "yes" {
		cv := &consoleView{}
		s.fillConsole(cv, p)
		possible := map[string]bool{"open": cv.CanOpen, "close": cv.CanClose, "tally": cv.CanTally, "result": cv.CanResult}[action]
		if !possible {
			// Refused here as the action itself would be, and recorded.
			err = fmt.Errorf("this cannot be done now (the election is in phase %s)", p.Phase)
		} else if action == "close" && strings.TrimSpace(r.PostFormValue("reason")) == "" {
			err = errors.New("say why voting closes: the reason is published")
		} else {
			s.confirmAction(w, p, action, r.PostFormValue("reason"))
			return
		}
	} else {
		err = s.do(r, p.el, action, detail)
	}
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

// confirmedActions ask for a confirmation first.
var confirmedActions = []string{"open", "close", "tally", "result"}

// confirmView is the confirmation page of an action.
type confirmView struct {
	Action string
	Reason string // of a close, published
	Voters int
	Voted  int
	Closes string // the end of voting in force, after any extension (RFC 3339, spec §18.7)
	Left   string // the time until then, in words
}

// confirmAction shows what the action will do, and asks to confirm it.
func (s *Site) confirmAction(w http.ResponseWriter, p *pageData, action, reason string) {
	v := &confirmView{Action: action, Reason: strings.TrimSpace(reason)}
	if st := p.State; st != nil {
		v.Voters, v.Voted = st.Voters, st.Voted
		if st.Manifest != nil {
			// The end in force (spec §18.7), on the clock that decides
			// whether voting is over, as the console's window does.
			c, now := st.Ends, p.el.e.Now()
			v.Closes = c.UTC().Format(election.TimeFormat)
			if c.After(now) {
				v.Left = s.duration(p.Lang, c.Sub(now))
			}
		}
	}
	p.Page = "page.confirm"
	p.Data = v
	s.render(w, http.StatusOK, "console-confirm.html", p)
}

// entryKinds name, in the trail, the entries an officer records from files.
var entryKinds = map[byte]string{election.TypeRoll: "roll", election.TypeCredentials: "credentials",
	election.TypeAuthority: "authority", election.TypeReplacement: "replacement"}

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
		return s.recordManifest(ctx, es, b)
	case "entry":
		b, err := upload(r, "file")
		if err != nil {
			return err
		}
		if len(b) == 0 || (b[0] != election.TypeRoll && b[0] != election.TypeCredentials && b[0] != election.TypeAuthority && b[0] != election.TypeReplacement) {
			return errors.New("this file is not a roll, credentials, authority or replacement entry (roll.entry, credentials-N.entry, authority.entry, replacement-N.entry)")
		}
		if b[0] == election.TypeReplacement && r.PostFormValue("confirm") != "yes" {
			return errors.New(s.msg(language(r), "repl.errConfirm"))
		}
		idx, err := e.Append(ctx, b)
		if err != nil {
			return err
		}
		detail["kind"], detail["index"] = entryKinds[b[0]], strconv.FormatInt(idx, 10)
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
	case "extend":
		return s.extend(r, es)
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

// duration says a length of time in words, in lang: "2 days and 3
// hours", "45 minutes" (rounded down to the minute, at least 1).
func (s *Site) duration(lang string, d time.Duration) string {
	unit := func(key string, n int) string {
		if n == 1 || lang == "fr" && n == 0 {
			key += ".one"
		} else {
			key += ".other"
		}
		return fmt.Sprintf(s.msg(lang, key), number(lang, n))
	}
	mins := int(d / time.Minute)
	days, hours, mins := mins/(24*60), mins/60%24, mins%60
	and := s.msg(lang, "time.and")
	switch {
	case days > 0 && hours > 0:
		return unit("time.days", days) + and + unit("time.hours", hours)
	case days > 0:
		return unit("time.days", days)
	case hours > 0 && mins > 0:
		return unit("time.hours", hours) + and + unit("time.minutes", mins)
	case hours > 0:
		return unit("time.hours", hours)
	}
	return unit("time.minutes", max(mins, 1))
}

// extend records an extension of the voting window (spec §18.7) from the
// console's form: the new end, given in the officer's time zone (offset:
// minutes east of UTC, set by local.js; 0 without scripts, and the page
// then asks for UTC), the officer's own reason, and a confirmation.
func (s *Site) extend(r *http.Request, es *electionSite) error {
	lang := language(r)
	fail := func(key string, args ...any) error { return fmt.Errorf(s.msg(lang, key), args...) }
	local, err := time.Parse("2006-01-02T15:04", r.PostFormValue("closes"))
	if err != nil {
		return fail("ext.errWhen")
	}
	offset, err := strconv.Atoi(r.PostFormValue("offset"))
	if err != nil || offset < -16*60 || offset > 16*60 {
		offset = 0
	}
	closes := local.Add(-time.Duration(offset) * time.Minute).UTC()
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" {
		return fail("ext.errReason")
	}
	if r.PostFormValue("confirm") != "yes" {
		return fail("ext.errConfirm")
	}
	var ends, planned time.Time
	var n int
	es.e.State(func(st *election.State) {
		if st.Manifest != nil {
			ends, n = st.Ends(), len(st.Extensions)
			planned, _ = time.Parse(election.TimeFormat, st.Manifest.Window.Closes)
		}
	})
	switch now := es.e.Now(); {
	case !now.Before(ends):
		return fail("ext.errEnded")
	case n >= election.MaxExtensions:
		return fail("ext.errMany", election.MaxExtensions)
	case !closes.After(ends):
		return fail("ext.errNotLater", when(lang, ends))
	case closes.Sub(planned) > election.MaxExtension:
		return fail("ext.errTooLate", when(lang, planned.Add(election.MaxExtension)))
	}
	_, err = es.e.Extend(r.Context(), closes, reason)
	return err
}
