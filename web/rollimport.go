package web

// The console's roll import: the officer uploads the members' CSV file,
// says which column holds what and who may vote, reads the report (every
// row refused or to be looked at, and why) made by roll.Import, the code
// of "scrutin roll import", and confirms; the roll's commitment is then
// recorded, and the roll (personal data) and its salt are handed back to
// the officer for the credential authority. The server keeps neither: the
// file travels with the page between the steps.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/roll"
)

// rollView is what the roll pages show.
type rollView struct {
	Step    string // "upload", "map", "done"
	Data    string // the CSV file, as uploaded
	Name    string // its file name
	Header  []string
	Fields  []rollField
	Rules   rollRules
	Report  *roll.Report
	Groups  []string // the groups the manifest's contests use
	Errors  map[string]string
	Members int
	// Downloads, once recorded: the roll and its salt, for the credential
	// authority, as data: URLs.
	RollURL, SaltURL, ManifestURL template.URL
}

type rollField struct {
	Field, Column string
	Required      bool
}

type rollRules struct {
	Statuses, JoinedBefore, Countries string
}

// rollGuesses are header names (folded) that probably hold each field.
var rollGuesses = map[string][]string{
	"id":      {"member id", "member_id", "member no", "member_no", "member number", "membership number", "id", "number", "no", "numéro", "numero"},
	"name":    {"name", "full name", "full_name", "nom", "member name"},
	"email":   {"email", "e-mail", "mail", "courriel", "email address"},
	"phone":   {"phone", "mobile", "telephone", "téléphone", "tel"},
	"status":  {"status", "membership status", "statut"},
	"joined":  {"joined", "join date", "joined on", "date joined", "adhésion"},
	"country": {"country", "pays"},
	"groups":  {"groups", "group", "region", "branch", "groupe", "section"},
}

func guessColumn(field string, header []string) string {
	for _, g := range rollGuesses[field] {
		for _, h := range header {
			if strings.EqualFold(strings.TrimSpace(h), g) {
				return h
			}
		}
	}
	return ""
}

// rollAllowed says whether the roll can be imported now: the manifest is
// recorded, and no roll yet.
func rollAllowed(p *pageData) bool {
	return p.State != nil && p.State.Manifest != nil && p.Phase == "setup" && p.State.Voters == 0
}

// rollPage shows the upload step (GET /e/{id}/console/roll).
func (s *Site) rollPage(w http.ResponseWriter, r *http.Request, p *pageData) {
	if !p.Staff.CanManage || !rollAllowed(p) {
		http.Redirect(w, r, p.Base+"/console", http.StatusSeeOther)
		return
	}
	p.Data = &rollView{Step: "upload", Errors: map[string]string{}}
	s.render(w, http.StatusOK, "console-roll.html", p)
}

// rollAction is a step of the import (POST /e/{id}/console/roll).
func (s *Site) rollAction(w http.ResponseWriter, r *http.Request, p *pageData) {
	se, _ := s.session(r) // consolePage has checked it
	key, err := s.roleKey(se, accounts.ManageElection, p.el)
	if err != nil {
		http.Error(w, s.staffError(p.Lang, err), http.StatusForbidden)
		return
	}
	v := &rollView{Step: "upload", Errors: map[string]string{}}
	p.Data = v
	fail := func(status int, field, msgKey string, args ...any) {
		m := fmt.Sprintf(s.msg(p.Lang, msgKey), args...)
		if field == "" {
			p.Error = m
		} else {
			v.Errors[field] = m
			p.Error = s.msg(p.Lang, "form.err.summary")
		}
		s.render(w, status, "console-roll.html", p)
	}
	if !rollAllowed(p) {
		fail(http.StatusConflict, "", "rollimp.err.notNow")
		return
	}
	// The file travels as a multipart part, whole: the limit is the
	// upload's, and a bigger one is said so, not cut.
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload+64<<10)
	if err := r.ParseMultipartForm(maxUpload + 64<<10); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || strings.Contains(err.Error(), "too large") {
			fail(http.StatusRequestEntityTooLarge, "csv", "rollimp.err.tooBig", maxUpload>>20)
			return
		}
		fail(http.StatusBadRequest, "csv", "rollimp.err.noFile")
		return
	}
	step := r.PostFormValue("step")
	if step == "upload" {
		f, h, err := r.FormFile("csv")
		if err != nil {
			fail(http.StatusBadRequest, "csv", "rollimp.err.noFile")
			return
		}
		defer f.Close()
		var b bytes.Buffer
		if n, _ := b.ReadFrom(http.MaxBytesReader(w, f, maxUpload)); n >= maxUpload {
			fail(http.StatusRequestEntityTooLarge, "csv", "rollimp.err.tooBig", maxUpload>>20)
			return
		}
		if !utf8.Valid(b.Bytes()) {
			fail(http.StatusBadRequest, "csv", "rollimp.err.encoding")
			return
		}
		v.Data, v.Name = b.String(), h.Filename
	} else {
		v.Data, v.Name = r.PostFormValue("data"), r.PostFormValue("name")
	}
	header, err := roll.Header(strings.NewReader(v.Data))
	if err != nil {
		v.Data = ""
		if errors.Is(err, roll.ErrEncoding) {
			fail(http.StatusBadRequest, "csv", "rollimp.err.encoding")
		} else {
			fail(http.StatusBadRequest, "csv", "rollimp.err.csv", err)
		}
		return
	}
	v.Step, v.Header = "map", header
	v.Groups = p.State.Manifest.Groups()
	var m roll.Mapping
	for _, f := range roll.Fields {
		col := r.PostFormValue("map." + f)
		if step == "upload" {
			col = guessColumn(f, header)
		}
		m.Set(f, col)
		v.Fields = append(v.Fields, rollField{Field: f, Column: col, Required: f == "id"})
	}
	v.Rules = rollRules{Statuses: r.PostFormValue("rule.statuses"), JoinedBefore: r.PostFormValue("rule.joined"), Countries: r.PostFormValue("rule.countries")}
	if step == "upload" {
		s.render(w, http.StatusOK, "console-roll.html", p)
		return
	}
	if step != "check" && step != "record" {
		http.Error(w, "no such step", http.StatusBadRequest)
		return
	}
	if m.ID == "" {
		fail(http.StatusBadRequest, "map.id", "rollimp.err.noID")
		return
	}
	rules := roll.NewRules(v.Rules.Statuses, v.Rules.JoinedBefore, v.Rules.Countries)
	rl, rep, _, err := roll.Import(strings.NewReader(v.Data), m, rules, s.now(), nil)
	if err != nil {
		fail(http.StatusBadRequest, "", "rollimp.err.import", err)
		return
	}
	v.Report, v.Members = rep, len(rl.Members)
	if step == "check" || len(rl.Members) == 0 {
		if len(rl.Members) == 0 {
			p.Error = s.msg(p.Lang, "rollimp.err.none")
		}
		s.render(w, http.StatusOK, "console-roll.html", p)
		return
	}
	// Record, as "scrutin roll import" and the entry's upload would: the
	// salted commitment of the eligible members.
	for _, g := range v.Groups {
		n := 0
		for _, mb := range rl.Members {
			for _, mg := range mb.Groups {
				if mg == g {
					n++
				}
			}
		}
		if n == 0 {
			fail(http.StatusBadRequest, "map.groups", "rollimp.err.group", g)
			return
		}
	}
	salt := make([]byte, 32)
	rand.Read(salt)
	entry := (&election.Roll{Commitment: rl.Commitment(salt), Voters: len(rl.Members)}).Entry()
	_, err = p.el.e.Append(r.Context(), entry)
	detail := map[string]string{"method": "form", "result": "done"}
	if err != nil {
		detail["result"] = "refused: " + err.Error()
	}
	if rerr := s.o.Accounts.Record(se, accounts.ManageElection, key, "roll", detail, s.staffClient(r)); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		s.log.Info("console action refused", "election", p.ID, "action", "roll", "err", err)
		fail(http.StatusBadRequest, "", "rollimp.err.record", err)
		return
	}
	s.log.Info("console action", "election", p.ID, "action", "roll", "voters", len(rl.Members))
	p.el.reportMu.Lock()
	p.el.rollReport = rep
	p.el.reportMu.Unlock()
	rb, _ := json.MarshalIndent(rl, "", "  ")
	v.Step, v.Data = "done", ""
	mb, _ := json.MarshalIndent(p.State.Manifest, "", "  ")
	// Made here, of base64 only: safe as URLs.
	v.RollURL = template.URL("data:application/json;base64," + base64.StdEncoding.EncodeToString(append(rb, '\n')))
	v.SaltURL = template.URL("data:application/octet-stream;base64," + base64.StdEncoding.EncodeToString(salt))
	v.ManifestURL = template.URL("data:application/json;base64," + base64.StdEncoding.EncodeToString(append(mb, '\n')))
	p.State.Voters = len(rl.Members)
	s.render(w, http.StatusOK, "console-roll.html", p)
}
