package web

// The console's form for an election's manifest: the officer types the
// titles, the contests, the voting window (in their own time zone) and the
// threshold; the server builds the manifest, checks it with the code that
// checks an uploaded manifest file (election.ParseManifest, then the
// console's roster check), explains it in plain words in both languages for
// review, and records it as an upload is recorded (recordManifest). Nothing
// is kept on the server between the steps: the form's fields travel with
// the page, so nothing the officer typed is lost on an error.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the officer's time zone, on a server without the zone database
	"unicode/utf8"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/store"
)

// Kinds of contest the form offers.
const (
	kindYesNo    = "yesno"    // yes or no
	kindOne      = "one"      // choose one
	kindUpTo     = "upto"     // choose up to k
	kindApproval = "approval" // choose any number
)

var contestKinds = []string{kindYesNo, kindOne, kindUpTo, kindApproval}

// contestForm is one contest as the officer typed it.
type contestForm struct {
	Kind                 string
	TitleEN, TitleFR     string
	OptionsEN, OptionsFR string // one option a line
	K                    string // for "choose up to k"
	Blank                bool   // a blank answer is allowed
	Group                string // only members of this group answer it
}

// manifestForm is the whole form as the officer typed it.
type manifestForm struct {
	TitleEN, TitleFR string
	DescEN, DescFR   string
	Contests         []contestForm
	Opens, Closes    string // datetime-local values, in Zone
	Zone             string // an IANA time zone name, the browser's
	Threshold        string
	Label            string // the roster's label
	Ceremony         string // the roster's ceremony id, hex
	Identities       string // identitiesDigest of the trustees shown
}

// formError is a field's error: a catalog key and its arguments.
type formError struct {
	Key  string
	Args []any
}

// fieldErrors are the form's errors by field name.
type fieldErrors map[string]formError

func (fe fieldErrors) add(field, key string, args ...any) {
	if _, ok := fe[field]; !ok {
		fe[field] = formError{key, args}
	}
}

// Bounds of the form (a manifest's own bounds are checked by Validate).
const (
	maxFormContests = 20
	maxFormField    = 8000
)

// parseManifestForm reads the form's fields; it never fails (what is
// missing or wrong is found by build, and shown next to the field).
func parseManifestForm(v url.Values) *manifestForm {
	get := func(k string) string {
		s := strings.TrimSpace(strings.ReplaceAll(v.Get(k), "\r\n", "\n"))
		if len(s) > maxFormField {
			s = s[:maxFormField]
		}
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	f := &manifestForm{TitleEN: get("title.en"), TitleFR: get("title.fr"), DescEN: get("desc.en"), DescFR: get("desc.fr"),
		Opens: get("opens"), Closes: get("closes"), Zone: get("zone"), Threshold: get("threshold"), Label: get("label"),
		Ceremony: get("ceremony"), Identities: get("identities")}
	n, _ := strconv.Atoi(v.Get("contests"))
	n = max(1, min(n, maxFormContests))
	for i := range n {
		p := fmt.Sprintf("c%d.", i)
		f.Contests = append(f.Contests, contestForm{Kind: get(p + "kind"), TitleEN: get(p + "title.en"), TitleFR: get(p + "title.fr"),
			OptionsEN: get(p + "options.en"), OptionsFR: get(p + "options.fr"), K: get(p + "k"), Blank: v.Get(p+"blank") != "", Group: get(p + "group")})
	}
	return f
}

// lines splits a text area into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// slug makes an id (a-z, 0-9 and -, at most 40 characters) from a title,
// or returns "".
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		default:
			dash = true
		}
	}
	out := b.String()
	if len(out) > 40 {
		out = out[:40]
	}
	return strings.Trim(out, "-")
}

// uniqueID returns id, or id-2, id-3…, whichever is not taken yet.
func uniqueID(id, fallback string, taken map[string]bool) string {
	if id == "" {
		id = fallback
	}
	out := id
	for i := 2; taken[out]; i++ {
		out = fmt.Sprintf("%s-%d", id, i)
	}
	taken[out] = true
	return out
}

// localTimeLayouts are the values of a datetime-local input.
var localTimeLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04"}

func parseLocal(s string, loc *time.Location) (time.Time, bool) {
	for _, l := range localTimeLayouts {
		if t, err := time.ParseInLocation(l, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// build makes the manifest the form describes, with these trustees (in
// the order the console lists them) and the election's log key; or says,
// field by field, what is wrong. now is for a window already over.
func (f *manifestForm) build(trustees []crypto.Trustee, logKey []byte, now time.Time) (*election.Manifest, fieldErrors) {
	fe := fieldErrors{}
	text := func(field, en, fr string, maxLen int) election.Text {
		switch {
		case en == "":
			fe.add(field+".en", "form.err.required")
		case utf8.RuneCountInString(en) > maxLen:
			fe.add(field+".en", "form.err.tooLong", maxLen)
		}
		switch {
		case fr == "":
			fe.add(field+".fr", "form.err.required")
		case utf8.RuneCountInString(fr) > maxLen:
			fe.add(field+".fr", "form.err.tooLong", maxLen)
		}
		return election.Text{"en": en, "fr": fr}
	}
	m := &election.Manifest{Title: text("title", f.TitleEN, f.TitleFR, election.MaxTitleLen),
		Description: text("desc", f.DescEN, f.DescFR, election.MaxDescLen), LogKey: election.Bytes(logKey)}
	cids := map[string]bool{}
	for i, cf := range f.Contests {
		p := fmt.Sprintf("c%d.", i)
		c := election.Contest{Title: text(p+"title", cf.TitleEN, cf.TitleFR, election.MaxTitleLen)}
		c.ID = uniqueID(slug(cf.TitleEN), fmt.Sprintf("contest-%d", i+1), cids)
		if cf.Group != "" {
			g := strings.ToLower(cf.Group)
			if !validGroup(g) {
				fe.add(p+"group", "form.err.group")
			}
			c.Eligible = g
		}
		var en, fr []string
		switch cf.Kind {
		case kindYesNo:
			en, fr = []string{"Yes", "No"}, []string{"Oui", "Non"}
		case kindOne, kindUpTo, kindApproval:
			en, fr = lines(cf.OptionsEN), lines(cf.OptionsFR)
			switch {
			case len(en) < 2:
				fe.add(p+"options.en", "form.err.options")
			case len(en) > election.MaxOptionsLen:
				fe.add(p+"options.en", "form.err.optionsMany", election.MaxOptionsLen)
			case len(fr) != len(en):
				fe.add(p+"options.fr", "form.err.optionsFR", len(en), len(fr))
			}
		default:
			fe.add(p+"kind", "form.err.kind")
		}
		oids := map[string]bool{}
		for j := range en {
			o := election.Option{Title: election.Text{"en": en[j]}}
			if j < len(fr) {
				o.Title["fr"] = fr[j]
			}
			if cf.Kind == kindYesNo {
				o.ID = uniqueID(strings.ToLower(en[j]), "", oids)
			} else {
				o.ID = uniqueID(slug(en[j]), fmt.Sprintf("option-%d", j+1), oids)
			}
			if utf8.RuneCountInString(en[j]) > election.MaxTitleLen || j < len(fr) && utf8.RuneCountInString(fr[j]) > election.MaxTitleLen {
				fe.add(p+"options.en", "form.err.tooLong", election.MaxTitleLen)
			}
			c.Options = append(c.Options, o)
		}
		n := len(c.Options)
		c.Max = 1
		switch cf.Kind {
		case kindUpTo:
			k, err := strconv.Atoi(cf.K)
			switch {
			case err != nil || k < 1:
				fe.add(p+"k", "form.err.k", max(n, 1))
			case n >= 2 && k > n:
				fe.add(p+"k", "form.err.kMany", k, n)
			default:
				c.Max = k
			}
		case kindApproval:
			c.Max = max(n, 1)
		}
		if !cf.Blank {
			c.Min = 1
		}
		m.Contests = append(m.Contests, c)
	}
	loc, err := time.LoadLocation(f.Zone)
	if f.Zone == "" || err != nil || strings.EqualFold(f.Zone, "local") {
		fe.add("zone", "form.err.zone")
		loc = time.UTC
	}
	opens, okO := parseLocal(f.Opens, loc)
	closes, okC := parseLocal(f.Closes, loc)
	if !okO {
		fe.add("opens", "form.err.time")
	}
	switch {
	case !okC:
		fe.add("closes", "form.err.time")
	case okO && !closes.After(opens):
		fe.add("closes", "form.err.closesBefore")
	case !closes.After(now):
		fe.add("closes", "form.err.closesPast")
	}
	m.Window = election.Window{Opens: opens.UTC().Format(election.TimeFormat), Closes: closes.UTC().Format(election.TimeFormat)}
	m.Roster.Label = f.Label
	if f.Label == "" {
		fe.add("label", "form.err.required")
	} else if len(f.Label) > crypto.MaxRosterLabelLen {
		fe.add("label", "form.err.tooLong", crypto.MaxRosterLabelLen)
	}
	id, err := hex.DecodeString(f.Ceremony)
	if err != nil || len(id) != crypto.CeremonyIDSize {
		fe.add("threshold", "form.err.ceremony")
	}
	copy(m.Roster.ID[:], id)
	m.Roster.Trustees = trustees
	t, err := strconv.Atoi(f.Threshold)
	switch {
	case len(trustees) == 0:
		fe.add("threshold", "form.err.noTrustees")
	case err != nil || t < 1 || t > len(trustees):
		fe.add("threshold", "form.err.threshold", len(trustees))
	}
	m.Roster.Threshold = t
	if len(fe) > 0 {
		return nil, fe
	}
	return m, nil
}

func validGroup(g string) bool {
	if len(g) == 0 || len(g) > 64 {
		return false
	}
	for _, r := range g {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// checkedManifest builds the manifest of the form and checks it as an
// uploaded manifest file is checked: its JSON goes through
// election.ParseManifest. It returns the manifest's JSON, as a file would
// hold it, and the manifest.
func (f *manifestForm) checkedManifest(trustees []crypto.Trustee, logKey []byte, now time.Time) ([]byte, *election.Manifest, fieldErrors, error) {
	m, fe := f.build(trustees, logKey, now)
	if fe != nil {
		return nil, nil, fe, nil
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, nil, nil, err
	}
	pm, err := election.ParseManifest(b)
	if err != nil {
		return nil, nil, nil, err
	}
	return b, pm, nil, nil
}

// contestView is a contest of the form, for the page.
type contestView struct {
	contestForm
	I int
}

// manifestFormView is what the form's pages show.
type manifestFormView struct {
	Form     *manifestForm
	Contests []contestView
	Kinds    []string
	Errors   map[string]string // by field, in the page's language
	Trustees []crypto.Trustee
	// Review, when set, is the manifest built, for the officer to check
	// before it is recorded.
	Review *manifestReview
}

// manifestReview explains a manifest in plain words, in both languages.
type manifestReview struct {
	Langs       []reviewLang
	Opens       string // in the officer's zone
	Closes      string
	OpensUTC    string
	ClosesUTC   string
	Zone        string
	Threshold   int
	N           int
	Fingerprint string
}

type reviewLang struct {
	Lang, Name         string
	Title, Description string
	Contests           []reviewContest
}

type reviewContest struct {
	Title   string
	Rule    string // what the voter does, in plain words
	Blank   string // whether a blank answer is allowed
	Group   string
	Options []string
}

// explainRule says in words what a contest asks of members, in lang.
func (s *Site) explainRule(lang string, c *election.Contest) (rule, blank string) {
	n := len(c.Options)
	yesNo := n == 2 && c.Options[0].ID == "yes" && c.Options[1].ID == "no"
	switch {
	case c.Max == 1 && yesNo:
		rule = s.msg(lang, "form.rule.yesno")
	case c.Max == 1:
		rule = fmt.Sprintf(s.msg(lang, "form.rule.one"), n)
	case c.Max == n && c.Min <= 1:
		rule = fmt.Sprintf(s.msg(lang, "form.rule.approval"), n)
	case c.Min > 1 && c.Min == c.Max:
		rule = fmt.Sprintf(s.msg(lang, "form.rule.exactly"), c.Max, n)
	case c.Min > 1:
		rule = fmt.Sprintf(s.msg(lang, "form.rule.between"), c.Min, c.Max, n)
	default:
		rule = fmt.Sprintf(s.msg(lang, "form.rule.upTo"), c.Max, n)
	}
	if c.Min == 0 {
		blank = s.msg(lang, "form.rule.blank")
	} else {
		blank = s.msg(lang, "form.rule.noBlank")
	}
	return rule, blank
}

// review explains the manifest for the officer, the window in their zone.
func (s *Site) review(lang string, m *election.Manifest, zone string) *manifestReview {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		loc = time.UTC
	}
	rv := &manifestReview{Zone: loc.String(), Threshold: m.Roster.Threshold, N: m.Roster.N()}
	f, _ := m.Fingerprint()
	rv.Fingerprint = groupHex(hex.EncodeToString(f[:]))
	opens, _ := time.Parse(election.TimeFormat, m.Window.Opens)
	closes, _ := time.Parse(election.TimeFormat, m.Window.Closes)
	for _, l := range election.Languages {
		rl := reviewLang{Lang: l, Name: s.msg(l, "form.langName"), Title: m.Title.In(l), Description: m.Description.In(l)}
		for i := range m.Contests {
			c := &m.Contests[i]
			rc := reviewContest{Title: c.Title.In(l)}
			if c.Eligible != "" {
				rc.Group = fmt.Sprintf(s.msg(l, "form.rule.group"), c.Eligible)
			}
			rc.Rule, rc.Blank = s.explainRule(l, c)
			for _, o := range c.Options {
				rc.Options = append(rc.Options, o.Title.In(l))
			}
			rl.Contests = append(rl.Contests, rc)
		}
		rv.Langs = append(rv.Langs, rl)
	}
	rv.Opens, rv.Closes = whenIn(lang, opens, loc), whenIn(lang, closes, loc)
	rv.OpensUTC, rv.ClosesUTC = when(lang, opens), when(lang, closes)
	return rv
}

// formTrustees returns the trustees of the console's list (each must have
// sent their identity), and the roster made in the console, if any.
func (s *Site) formTrustees(ctx context.Context, id string) ([]crypto.Trustee, *crypto.Roster, error) {
	if s.o.Trustees == nil {
		return nil, nil, nil
	}
	invs, err := s.o.Trustees.TrusteeInvitations(ctx, id)
	if err != nil {
		return nil, nil, fmt.Errorf("the trustees' invitations cannot be read now: %w", err)
	}
	var ids []crypto.Trustee
	for _, inv := range invs {
		t, err := trustee.ParsePublicIdentity(inv.Identity)
		if err != nil {
			return nil, nil, nil // not every identity is in
		}
		ids = append(ids, *t)
	}
	var made *crypto.Roster
	if b, _, err := s.o.Trustees.TrusteeRoster(ctx, id); err == nil {
		made, _ = trustee.ParseRoster(b)
	} else if !errors.Is(err, store.ErrNoRoster) {
		return nil, nil, err
	}
	return ids, made, nil
}

// newManifestForm is the form as first shown: one contest, the roster's
// threshold and label if one is made, a new ceremony id otherwise.
func newManifestForm(id string, ids []crypto.Trustee, made *crypto.Roster) *manifestForm {
	f := &manifestForm{Contests: []contestForm{{Kind: kindYesNo}}, Zone: "UTC", Label: id, Identities: identitiesDigest(ids)}
	if len(ids) > 0 {
		f.Threshold = strconv.Itoa(len(ids)/2 + 1)
	}
	cid, _ := crypto.NewCeremonyID(nil)
	if made != nil && sameIdentities(made.Trustees, ids) {
		cid, f.Label, f.Threshold = made.ID, made.Label, strconv.Itoa(made.Threshold)
	}
	f.Ceremony = hex.EncodeToString(cid[:])
	return f
}

// manifestFormPage shows the form (GET /e/{id}/console/form).
func (s *Site) manifestFormPage(w http.ResponseWriter, r *http.Request, p *pageData) {
	if !p.Staff.CanManage || p.el.public() {
		http.Redirect(w, r, p.Base+"/console", http.StatusSeeOther)
		return
	}
	ids, made, err := s.formTrustees(r.Context(), p.ID)
	if err != nil {
		p.Error = err.Error()
	}
	f := newManifestForm(p.ID, ids, made)
	s.renderManifestForm(w, http.StatusOK, p, f, ids, nil, nil)
}

func (s *Site) renderManifestForm(w http.ResponseWriter, status int, p *pageData, f *manifestForm, ids []crypto.Trustee, fe fieldErrors, rv *manifestReview) {
	v := &manifestFormView{Form: f, Kinds: contestKinds, Errors: map[string]string{}, Trustees: ids, Review: rv}
	for i, c := range f.Contests {
		v.Contests = append(v.Contests, contestView{c, i})
	}
	for k, e := range fe {
		v.Errors[k] = fmt.Sprintf(s.msg(p.Lang, e.Key), e.Args...)
	}
	if len(fe) > 0 && p.Error == "" {
		p.Error = s.msg(p.Lang, "form.err.summary")
	}
	p.Data = v
	page := "console-form.html"
	if rv != nil {
		page = "console-review.html"
	}
	s.render(w, status, page, p)
}

// manifestFormAction is a step of the form (POST /e/{id}/console/form):
// add or remove a contest, review, go back to edit, or record.
func (s *Site) manifestFormAction(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, _ := s.session(r) // consolePage has checked it
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload)
	key, err := s.roleKey(se, accounts.ManageElection, p.el)
	if err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, s.msg(p.Lang, "form.err.tooBig"), http.StatusRequestEntityTooLarge)
		return
	}
	f := parseManifestForm(r.PostForm)
	ids, made, err := s.formTrustees(r.Context(), p.ID)
	if err != nil {
		p.Error = err.Error()
		s.renderManifestForm(w, http.StatusServiceUnavailable, p, f, ids, nil, nil)
		return
	}
	step := r.PostFormValue("step")
	switch {
	case step == "add":
		if len(f.Contests) < maxFormContests {
			f.Contests = append(f.Contests, contestForm{Kind: kindOne})
		}
		s.renderManifestForm(w, http.StatusOK, p, f, ids, nil, nil)
		return
	case strings.HasPrefix(step, "remove-"):
		i, err := strconv.Atoi(strings.TrimPrefix(step, "remove-"))
		if err == nil && i >= 0 && i < len(f.Contests) && len(f.Contests) > 1 {
			f.Contests = append(f.Contests[:i], f.Contests[i+1:]...)
		}
		s.renderManifestForm(w, http.StatusOK, p, f, ids, nil, nil)
		return
	case step == "edit":
		s.renderManifestForm(w, http.StatusOK, p, f, ids, nil, nil)
		return
	case step != "review" && step != "record":
		http.Error(w, "no such step", http.StatusBadRequest)
		return
	}
	if p.el.public() {
		p.Error = errManifestRecorded.Error()
		s.renderManifestForm(w, http.StatusConflict, p, f, ids, nil, nil)
		return
	}
	if f.Identities != identitiesDigest(ids) {
		fe := fieldErrors{}
		fe.add("threshold", "form.err.identities")
		f.Identities = identitiesDigest(ids)
		s.renderManifestForm(w, http.StatusBadRequest, p, f, ids, fe, nil)
		return
	}
	b, m, fe, err := f.checkedManifest(ids, p.el.e.LogPublicKey(), s.now())
	if fe != nil || err != nil {
		if err != nil {
			p.Error = fmt.Sprintf(s.msg(p.Lang, "form.err.manifest"), err)
		}
		s.renderManifestForm(w, http.StatusBadRequest, p, f, ids, fe, nil)
		return
	}
	if step == "review" {
		s.renderManifestForm(w, http.StatusOK, p, f, ids, nil, s.review(p.Lang, m, f.Zone))
		return
	}
	// Record: the roster of the form becomes the console's, then the
	// manifest is recorded as an uploaded file is.
	fp, _ := m.Fingerprint()
	detail := map[string]string{"method": "form", "manifest": hex.EncodeToString(fp[:]), "result": "done"}
	err = nil
	if made == nil || made.Fingerprint() != m.Roster.Fingerprint() {
		detail["roster"] = fmt.Sprintf("%x", m.Roster.Fingerprint())
		err = s.o.Trustees.SaveTrusteeRoster(r.Context(), p.ID, trustee.RosterJSON(&m.Roster), s.now().UTC())
	}
	if err == nil {
		err = s.recordManifest(r.Context(), p.el, b)
	}
	if err != nil {
		detail["result"] = "refused: " + err.Error()
	}
	if rerr := s.o.Accounts.Record(se, accounts.ManageElection, key, "manifest", detail, s.staffClient(r)); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		s.log.Info("console action refused", "election", p.ID, "action", "manifest-form", "err", err)
		p.Error = fmt.Sprintf(s.msg(p.Lang, "form.err.manifest"), err)
		s.renderManifestForm(w, http.StatusBadRequest, p, f, ids, nil, nil)
		return
	}
	s.log.Info("console action", "election", p.ID, "action", "manifest-form")
	http.Redirect(w, r, p.Base+"/console?done=manifest", http.StatusSeeOther)
}

// recordManifest records a manifest file's content: the one path of the
// upload and the form.
func (s *Site) recordManifest(ctx context.Context, es *electionSite, b []byte) error {
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
	_, err = es.e.Append(ctx, entry)
	return err
}
