package web

// Telling members from the console (issue 17): a "voting is open" e-mail to
// every member on the election's sign-in list, and reminders to those with
// no ballot yet. The server knows who cast a ballot (the log holds each
// credential's ballots, and the sign-in list each credential's address),
// never how. Each send is previewed (the exact message, in both languages,
// and its number of recipients), paced, counted, written to the staff
// trail, and idempotent: every recipient of a send is claimed in the
// database before its letter goes (store.ClaimMail), so a second click, a
// second node or a restart in the middle never mails anyone twice the same
// send; a resumed send mails only those not yet claimed, and those whose
// letter failed.

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// MailingStore keeps who was mailed which send (a *store.Shared).
type MailingStore interface {
	ClaimMail(ctx context.Context, election, send, addr string, now time.Time) (bool, error)
	MailDone(ctx context.Context, election, send, addr string, sent bool, now time.Time) error
	MailSends(ctx context.Context, election string) ([]store.MailCounts, error)
	MailRecipients(ctx context.Context, election, send string) (map[string]int, error)
}

var _ MailingStore = (*store.Shared)(nil)

// DefaultMailRate is how many letters a second the console's sends hand to
// the mail server at most (Options.MailRate).
const DefaultMailRate = 5

// Send kinds.
const (
	sendOpen     = "open"     // one per election: its id is "open"
	sendReminder = "reminder" // each has an id of its own, "r-…"
)

var reminderID = regexp.MustCompile(`^r-[A-Za-z0-9_-]{16}$`)

// sendKind is the kind of the send id, or "" if it is not one.
func sendKind(id string) string {
	switch {
	case id == sendOpen:
		return sendOpen
	case reminderID.MatchString(id):
		return sendReminder
	}
	return ""
}

// membersView is what the members page shows.
type membersView struct {
	// Unavailable is the catalog key saying why members cannot be
	// told from here ("" if they can).
	Unavailable string
	Members     int // on the sign-in list, with a published credential
	NotVoted    int
	Voting      bool
	OpenSent    bool // the "voting is open" send has begun
	Sends       []sendRow
	Preview     *mailPreview
}

type sendRow struct {
	ID, Kind              string
	Sent, Failed, Claimed int
	Remaining             int // recipients not yet claimed (an unfinished send)
	Running               bool
	Started               time.Time
}

type mailPreview struct {
	Kind, ID   string
	Subject    string
	Body       string
	Recipients int
}

// recipient is an address a send may mail, and the credentials of the
// members at it (a household may share one).
type recipient struct {
	email, addr string
	credentials []*crypto.PublicKey
}

// memberList reads the election's members: its sign-in list, keeping the
// rows whose credential is published. all are their addresses, notVoted
// those of members without a counted ballot; members and waiting count
// the members themselves.
func (s *Site) memberList(es *electionSite) (all, notVoted []recipient, members, waiting int, unavailable string) {
	if s.o.Members == nil {
		return nil, nil, 0, 0, "mail.noList"
	}
	if s.o.Mail == nil || s.o.Mailings == nil {
		return nil, nil, 0, 0, "mail.noMail"
	}
	key, voters, err := s.o.Members(es.id)
	if err != nil || len(voters) == 0 {
		return nil, nil, 0, 0, "mail.noList"
	}
	at := map[string]int{}        // address → index in all
	waitingAt := map[string]int{} // address → index in notVoted
	es.e.State(func(st *election.State) {
		for _, v := range voters {
			if _, ok := st.Eligibility(v.Credential); !ok {
				continue
			}
			members++
			email := server.NormalizeEmail(v.Email)
			i, ok := at[email]
			if !ok {
				i = len(all)
				at[email] = i
				all = append(all, recipient{email: email, addr: mailAddr(key, email)})
			}
			all[i].credentials = append(all[i].credentials, v.Credential)
			if st.Counted(v.Credential) != nil {
				continue
			}
			waiting++
			j, ok := waitingAt[email]
			if !ok {
				j = len(notVoted)
				waitingAt[email] = j
				notVoted = append(notVoted, recipient{email: email, addr: all[i].addr})
			}
			notVoted[j].credentials = append(notVoted[j].credentials, v.Credential)
		}
	})
	if len(all) == 0 {
		return nil, nil, 0, 0, "mail.noList"
	}
	return all, notVoted, members, waiting, ""
}

// mailAddr names an address in the mailings table: a MAC under the
// sign-in list's key, so that the database holds no address in clear.
func mailAddr(key []byte, email string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("mailing\x00" + server.NormalizeEmail(email)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// memberLetter is the message of a send, in English then French.
func (s *Site) memberLetter(kind string, es *electionSite, link string) (subject, body string) {
	var title election.Text
	var opens, closes time.Time
	var fp string
	es.e.State(func(st *election.State) {
		if m := st.Manifest; m != nil {
			title = m.Title
			opens, _ = time.Parse(time.RFC3339, m.Window.Opens)
			closes = st.Ends() // the end in force, after any extension (spec §18.7)
			// Two lines of eight groups: a phone does not break them.
			g := groupHex(fmt.Sprintf("%x", st.Fingerprint[:]))
			fp = g[:39] + "\n    " + g[40:]
		}
	})
	var subj, parts []string
	for _, lang := range Languages {
		t := title.In(lang)
		subj = append(subj, fmt.Sprintf(s.msg(lang, "mail."+kind+".subject"), t))
		parts = append(parts, fmt.Sprintf(s.msg(lang, "mail."+kind+".body"), t, when(lang, opens), when(lang, closes), link, fp))
	}
	body = strings.Join(parts, "\n\n-----\n\n")
	return strings.Join(subj, " / "), strings.ReplaceAll(body, "\n", "\r\n")
}

func (s *Site) membersPage(w http.ResponseWriter, r *http.Request, p *pageData) {
	v, err := s.membersView(r.Context(), p)
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = v
	s.render(w, http.StatusOK, "members.html", p)
}

func (s *Site) membersView(ctx context.Context, p *pageData) (*membersView, error) {
	v := &membersView{Voting: p.Phase == election.PhaseVoting.String()}
	all, notVoted, members, waiting, why := s.memberList(p.el)
	v.Unavailable = why
	v.Members, v.NotVoted = members, waiting
	if s.o.Mailings == nil {
		return v, nil
	}
	sends, err := s.o.Mailings.MailSends(ctx, p.el.id)
	if err != nil {
		return v, fmt.Errorf("the sends cannot be read now: %w", err)
	}
	for _, c := range sends {
		kind := sendKind(c.Send)
		if kind == "" {
			continue
		}
		row := sendRow{ID: c.Send, Kind: kind, Sent: c.Sent, Failed: c.Failed, Claimed: c.Claimed, Started: c.First}
		_, row.Running = s.sending.Load(p.el.id + "/" + c.Send)
		if !row.Running && why == "" && v.Voting {
			targets := all
			if kind == sendReminder {
				targets = notVoted
			}
			got, err := s.o.Mailings.MailRecipients(ctx, p.el.id, c.Send)
			if err == nil {
				for _, t := range targets {
					if st, ok := got[t.addr]; !ok || st == store.MailFailed {
						row.Remaining++
					}
				}
			}
		}
		if kind == sendOpen {
			v.OpenSent = true
		}
		v.Sends = append(v.Sends, row)
	}
	return v, nil
}

// membersAction previews or starts (or resumes) a send.
func (s *Site) membersAction(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, _ := s.session(r) // consolePage has checked it
	key, err := s.roleKey(se, accounts.ManageElection, p.el)
	if err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	action := r.PathValue("action")
	id := r.PostFormValue("send")
	kind := sendKind(id)
	fail := func(msgKey string) {
		v, _ := s.membersView(r.Context(), p)
		p.Data, p.Error = v, s.msg(p.Lang, msgKey)
		s.render(w, http.StatusBadRequest, "members.html", p)
	}
	if action != "preview" && action != "send" || kind == "" && (action == "send" || id != "new-"+sendOpen && id != "new-"+sendReminder) {
		http.NotFound(w, r)
		return
	}
	if p.Phase != election.PhaseVoting.String() {
		fail("mail.notVoting")
		return
	}
	all, notVoted, _, _, why := s.memberList(p.el)
	if why != "" {
		fail(why)
		return
	}
	link := s.baseURL(r) + p.Base + "/vote"
	if action == "preview" {
		if id == "new-"+sendOpen {
			id = sendOpen
		} else if id == "new-"+sendReminder {
			var b [12]byte
			rand.Read(b[:])
			id = "r-" + base64.RawURLEncoding.EncodeToString(b[:])
		}
		kind = sendKind(id)
		targets := all
		if kind == sendReminder {
			targets = notVoted
		}
		// Those mailed this send already are not mailed again.
		got, err := s.o.Mailings.MailRecipients(r.Context(), p.el.id, id)
		if err != nil {
			fail("mail.refused")
			return
		}
		n := 0
		for _, t := range targets {
			if st, ok := got[t.addr]; !ok || st == store.MailFailed {
				n++
			}
		}
		subject, body := s.memberLetter(kind, p.el, link)
		v, _ := s.membersView(r.Context(), p)
		v.Preview = &mailPreview{Kind: kind, ID: id, Subject: subject, Body: strings.ReplaceAll(body, "\r\n", "\n"), Recipients: n}
		p.Data = v
		s.render(w, http.StatusOK, "members.html", p)
		return
	}
	targets := all
	if kind == sendReminder {
		targets = notVoted
	}
	client := s.staffClient(r)
	started := s.startSend(p.el, id, kind, targets, link, func(action string, detail map[string]string) error {
		return s.o.Accounts.Record(se, accounts.ManageElection, key, action, detail, client)
	})
	if started != nil {
		// Small sends end at once: the page then says how it went.
		select {
		case <-started:
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}
	http.Redirect(w, r, p.Base+"/console/members#sends", http.StatusSeeOther)
}

// startSend sends (or resumes) the send id to its recipients, in the
// background, unless this node sends it already (nil then); the channel
// is closed when it ends.
func (s *Site) startSend(es *electionSite, id, kind string, targets []recipient, link string, record func(action string, detail map[string]string) error) chan struct{} {
	done := make(chan struct{})
	if _, busy := s.sending.LoadOrStore(es.id+"/"+id, done); busy {
		return nil
	}
	if err := record("mail-"+kind, map[string]string{"send": id, "recipients": strconv.Itoa(len(targets)), "result": "started"}); err != nil {
		s.log.Error("a send to members was not started: the staff trail cannot be written", "election", es.id, "send", id, "err", err)
		s.sending.Delete(es.id + "/" + id)
		close(done)
		return done
	}
	subject, body := s.memberLetter(kind, es, link)
	every := s.o.MailRate
	if every == 0 {
		every = DefaultMailRate
	}
	go func() {
		defer close(done)
		defer s.sending.Delete(es.id + "/" + id)
		ctx := context.Background()
		lim := rate.NewLimiter(rate.Limit(every), 1)
		sent, failed, skipped := 0, 0, 0
		for _, t := range targets {
			// A reminder skips whoever voted since it was previewed.
			if kind == sendReminder && voted(es, t) {
				skipped++
				continue
			}
			ok, err := s.o.Mailings.ClaimMail(ctx, es.id, id, t.addr, s.now())
			if err != nil {
				s.log.Error("a send to members stopped: the mailings cannot be written", "election", es.id, "send", id, "err", err)
				break
			}
			if !ok {
				skipped++
				continue
			}
			lim.Wait(ctx)
			mctx, cancel := context.WithTimeout(ctx, time.Minute)
			err = s.o.Mail(mctx, t.email, subject, body)
			cancel()
			if err != nil {
				failed++
			} else {
				sent++
			}
			if err := s.o.Mailings.MailDone(ctx, es.id, id, t.addr, err == nil, s.now()); err != nil {
				s.log.Error("a letter's fate could not be recorded", "election", es.id, "send", id, "err", err)
			}
		}
		if err := record("mail-done", map[string]string{"send": id, "sent": strconv.Itoa(sent), "failed": strconv.Itoa(failed), "skipped": strconv.Itoa(skipped)}); err != nil {
			s.log.Error("the end of a send could not be written to the staff trail", "election", es.id, "send", id, "err", err)
		}
		s.log.Info("send to members", "election", es.id, "send", id, "sent", sent, "failed", failed, "skipped", skipped)
	}()
	return done
}

// voted reports whether every member at the address has a counted ballot
// now.
func voted(es *electionSite, t recipient) bool {
	v := true
	es.e.State(func(st *election.State) {
		for _, c := range t.credentials {
			v = v && st.Counted(c) != nil
		}
	})
	return v
}
