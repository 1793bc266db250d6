// Package roll imports the membership roll from a CSV file, applies explicit
// eligibility rules, and reports every rejected or suspicious row with its
// reason: duplicate member ids, duplicate e-mails or phone numbers,
// implausible data, ineligible members, and rows changed since the last
// import. The roll stays with the officer; the election's log receives only
// its salted commitment (docs/spec.md §18.4).
package roll

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Mapping names the CSV columns (header names) holding each field; ID is
// required, the others are optional.
type Mapping struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Email   string `json:"email"`
	Phone   string `json:"phone"`
	Status  string `json:"status"`
	Joined  string `json:"joined"`
	Country string `json:"country"`
	// Groups names a column of group ids (separated by ";" or spaces), for
	// contests restricted to a group (docs/spec.md §18.3), e.g. a region.
	Groups string `json:"groups"`
}

// Rules are the eligibility rules; a zero field imposes nothing.
type Rules struct {
	// Statuses lists the membership statuses that may vote (e.g. "active").
	Statuses []string `json:"statuses"`
	// JoinedBefore (YYYY-MM-DD): members who joined on or after it may not.
	JoinedBefore string `json:"joined_before"`
	// Countries lists the allowed countries (ISO codes).
	Countries []string `json:"countries"`
}

// Member is one eligible voter.
type Member struct {
	Row     int    `json:"row"`
	ID      string `json:"id"`
	Name    string `json:"name,omitempty"`
	Email   string `json:"email,omitempty"`
	Phone   string `json:"phone,omitempty"`
	Status  string `json:"status,omitempty"`
	Joined  string `json:"joined,omitempty"`
	Country string `json:"country,omitempty"`
	// Groups are the member's groups, sorted (docs/spec.md §18.4).
	Groups []string `json:"groups,omitempty"`
}

// Problem is a rejected or suspicious row.
type Problem struct {
	Row      int    `json:"row"`
	MemberID string `json:"member_id"`
	Rejected bool   `json:"rejected"` // false: kept, but to be looked at
	Reason   string `json:"reason"`
}

// Report is what an import found.
type Report struct {
	Rows     int       `json:"rows"`
	Eligible int       `json:"eligible"`
	Problems []Problem `json:"problems"`
}

// Roll is the frozen list of eligible members.
type Roll struct {
	Members []Member `json:"members"`
}

// Snapshot records each member's data fingerprint, to find rows changed
// at the next import.
type Snapshot map[string]string

// Limits of an import.
const (
	MaxRows     = 10_000_000
	MaxFieldLen = 200
)

var ErrCSV = errors.New("the roll file cannot be read")

// ErrEncoding is a roll file that is not UTF-8 text (a spreadsheet saved
// as "CSV" in a legacy encoding, such as Windows-1252).
var ErrEncoding = errors.New("the file is not UTF-8 text: save it as \"CSV UTF-8\"")

// Fields are the fields a Mapping names, by the names the command line's
// --map and the console's form give them.
var Fields = []string{"id", "name", "email", "phone", "status", "joined", "country", "groups"}

// field returns the mapping's column of field f, or nil for no such field.
func (m *Mapping) field(f string) *string {
	switch f {
	case "id":
		return &m.ID
	case "name":
		return &m.Name
	case "email":
		return &m.Email
	case "phone":
		return &m.Phone
	case "status":
		return &m.Status
	case "joined":
		return &m.Joined
	case "country":
		return &m.Country
	case "groups":
		return &m.Groups
	}
	return nil
}

// Set maps field f (one of Fields) to the column named column.
func (m *Mapping) Set(f, column string) error {
	p := m.field(f)
	if p == nil {
		return fmt.Errorf("%q is not a field (%s)", f, strings.Join(Fields, ", "))
	}
	*p = strings.TrimSpace(column)
	return nil
}

// Column returns the column field f is mapped to, or "".
func (m *Mapping) Column(f string) string {
	if p := m.field(f); p != nil {
		return *p
	}
	return ""
}

// NewRules makes the rules from lists separated by commas (statuses are
// folded to lower case, countries to upper case) and a cut-off date.
func NewRules(statuses, joinedBefore, countries string) Rules {
	split := func(s string, norm func(string) string) []string {
		var out []string
		for _, x := range strings.Split(s, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, norm(x))
			}
		}
		return out
	}
	return Rules{Statuses: split(statuses, strings.ToLower), JoinedBefore: strings.TrimSpace(joinedBefore), Countries: split(countries, strings.ToUpper)}
}

// Header returns the column names of a roll file's header row.
func Header(r io.Reader) ([]string, error) {
	_, h, err := readHeader(r)
	return h, err
}

func readHeader(r io.Reader) (*csv.Reader, []string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: no header row: %v", ErrCSV, err)
	}
	for i, h := range header {
		if !utf8.ValidString(h) {
			return nil, nil, fmt.Errorf("%w: %w (the header row)", ErrCSV, ErrEncoding)
		}
		header[i] = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
	}
	return cr, header, nil
}

// Import reads a roll from CSV (with a header row), applies the rules, and
// reports. now is the import's date, for implausible join dates; previous,
// if not nil, is the snapshot of the last import.
func Import(r io.Reader, m Mapping, rules Rules, now time.Time, previous Snapshot) (*Roll, *Report, Snapshot, error) {
	cr, header, err := readHeader(r)
	if err != nil {
		return nil, nil, nil, err
	}
	col := make(map[string]int)
	for i, h := range header {
		col[h] = i
	}
	index := func(field, name string, required bool) (int, error) {
		if name == "" {
			if required {
				return -1, fmt.Errorf("%w: the mapping names no column for %s", ErrCSV, field)
			}
			return -1, nil
		}
		i, ok := col[name]
		if !ok {
			return -1, fmt.Errorf("%w: the mapping's column %q for %s is not in the header (%s)", ErrCSV, name, field, strings.Join(header, ", "))
		}
		return i, nil
	}
	var idx [8]int
	for k, f := range []struct {
		field, name string
		required    bool
	}{{"the member id", m.ID, true}, {"the name", m.Name, false}, {"the e-mail", m.Email, false}, {"the phone", m.Phone, false}, {"the status", m.Status, false}, {"the join date", m.Joined, false}, {"the country", m.Country, false}, {"the groups", m.Groups, false}} {
		if idx[k], err = index(f.field, f.name, f.required); err != nil {
			return nil, nil, nil, err
		}
	}
	var cutoff time.Time
	if rules.JoinedBefore != "" {
		if cutoff, err = time.Parse(time.DateOnly, rules.JoinedBefore); err != nil {
			return nil, nil, nil, fmt.Errorf("the rule joined_before must be a date like 2027-01-31: %v", err)
		}
	}
	for _, r := range []struct {
		on           bool
		rule, column string
		field        string
	}{
		{len(rules.Statuses) > 0, "the eligible statuses need", m.Status, "status"},
		{rules.JoinedBefore != "", "the join date cut-off needs", m.Joined, "joined"},
		{len(rules.Countries) > 0, "the allowed countries need", m.Country, "country"},
	} {
		if r.on && r.column == "" {
			return nil, nil, nil, fmt.Errorf("%s the %s column: map it (%s=COLUMN)", r.rule, r.field, r.field)
		}
	}

	rep := &Report{Problems: []Problem{}}
	var members []Member
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("%w: %v", ErrCSV, err)
		}
		line, _ := cr.FieldPos(0)
		for _, f := range rec {
			if !utf8.ValidString(f) {
				return nil, nil, nil, fmt.Errorf("%w: %w (row %d)", ErrCSV, ErrEncoding, line)
			}
		}
		rep.Rows++
		if rep.Rows > MaxRows {
			return nil, nil, nil, fmt.Errorf("%w: more than %d rows", ErrCSV, MaxRows)
		}
		get := func(k int) string {
			if idx[k] < 0 || idx[k] >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[idx[k]])
		}
		mb := Member{Row: line, ID: get(0), Name: get(1), Email: strings.ToLower(get(2)), Phone: normalizePhone(get(3)), Status: strings.ToLower(get(4)), Joined: get(5), Country: strings.ToUpper(get(6))}
		groups, badGroup := parseGroups(get(7))
		mb.Groups = groups
		if badGroup != "" {
			rep.Problems = append(rep.Problems, Problem{Row: line, MemberID: mb.ID, Rejected: true, Reason: fmt.Sprintf("implausible group %q: groups are 1 to 64 characters from a-z, 0-9 and -", badGroup)})
			continue
		}
		if reason := check(&mb, rules, cutoff, now, m); reason != "" {
			rep.Problems = append(rep.Problems, Problem{Row: line, MemberID: mb.ID, Rejected: true, Reason: reason})
			continue
		}
		members = append(members, mb)
	}

	// Duplicate member ids: every copy is rejected (nobody can tell which
	// row is the real member).
	byID := make(map[string][]int)
	for i, mb := range members {
		byID[mb.ID] = append(byID[mb.ID], i)
	}
	dropped := make(map[int]bool)
	for id, rows := range byID {
		if len(rows) > 1 {
			var lines []string
			for _, i := range rows {
				lines = append(lines, fmt.Sprint(members[i].Row))
			}
			for _, i := range rows {
				dropped[i] = true
				rep.Problems = append(rep.Problems, Problem{Row: members[i].Row, MemberID: id, Rejected: true, Reason: "duplicate member id (rows " + strings.Join(lines, ", ") + ")"})
			}
		}
	}
	var kept []Member
	for i, mb := range members {
		if !dropped[i] {
			kept = append(kept, mb)
		}
	}
	// Shared e-mails and phones are suspicious: the credential of both
	// members would reach the same person.
	for _, f := range []struct {
		what string
		get  func(Member) string
	}{{"e-mail", func(m Member) string { return m.Email }}, {"phone number", func(m Member) string { return m.Phone }}} {
		seen := make(map[string][]Member)
		for _, mb := range kept {
			if v := f.get(mb); v != "" {
				seen[v] = append(seen[v], mb)
			}
		}
		for v, ms := range seen {
			if len(ms) < 2 {
				continue
			}
			var ids []string
			for _, mb := range ms {
				ids = append(ids, mb.ID)
			}
			for _, mb := range ms {
				rep.Problems = append(rep.Problems, Problem{Row: mb.Row, MemberID: mb.ID, Reason: fmt.Sprintf("%s %s is shared by members %s", f.what, v, strings.Join(ids, ", "))})
			}
		}
	}
	snap := make(Snapshot, len(kept))
	for _, mb := range kept {
		b, _ := json.Marshal(mb.withoutRow())
		h := sha256.Sum256(b)
		snap[mb.ID] = hex.EncodeToString(h[:])
		if previous != nil {
			if old, ok := previous[mb.ID]; !ok {
				rep.Problems = append(rep.Problems, Problem{Row: mb.Row, MemberID: mb.ID, Reason: "new since the last import"})
			} else if old != snap[mb.ID] {
				rep.Problems = append(rep.Problems, Problem{Row: mb.Row, MemberID: mb.ID, Reason: "changed since the last import"})
			}
		}
	}
	slices.SortFunc(rep.Problems, func(a, b Problem) int { return a.Row - b.Row })
	rep.Eligible = len(kept)
	return &Roll{Members: kept}, rep, snap, nil
}

func (m Member) withoutRow() Member { m.Row = 0; return m }

var groupID = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)

// parseGroups reads a groups cell: ids separated by ";" or spaces, folded
// to lower case, sorted and without repeats; or the first bad id.
func parseGroups(cell string) ([]string, string) {
	var out []string
	for _, g := range strings.FieldsFunc(strings.ToLower(cell), func(r rune) bool { return r == ';' || r == ' ' || r == '\t' }) {
		if !groupID.MatchString(g) {
			return nil, g
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out, ""
}

func normalizePhone(p string) string {
	return strings.Map(func(r rune) rune {
		if (r >= '0' && r <= '9') || r == '+' {
			return r
		}
		return -1
	}, p)
}

// check returns why a member is rejected, or "".
func check(mb *Member, rules Rules, cutoff, now time.Time, m Mapping) string {
	switch {
	case mb.ID == "":
		return "no member id"
	case len(mb.ID) > MaxFieldLen || len(mb.Name) > MaxFieldLen || len(mb.Email) > MaxFieldLen:
		return "implausible data: a field is longer than 200 characters"
	}
	if m.Email != "" {
		if mb.Email == "" {
			return "no e-mail address, so no credential can be sent"
		}
		if a, err := mail.ParseAddress(mb.Email); err != nil || a.Address != mb.Email {
			return fmt.Sprintf("implausible e-mail address %q", mb.Email)
		}
	}
	if m.Phone != "" && mb.Phone != "" && (len(mb.Phone) < 6 || len(mb.Phone) > 16) {
		return fmt.Sprintf("implausible phone number %q", mb.Phone)
	}
	if m.Joined != "" {
		j, err := time.Parse(time.DateOnly, mb.Joined)
		switch {
		case err != nil:
			return fmt.Sprintf("implausible join date %q (expected YYYY-MM-DD)", mb.Joined)
		case j.After(now):
			return fmt.Sprintf("implausible join date %s, in the future", mb.Joined)
		case j.Year() < 1850:
			return fmt.Sprintf("implausible join date %s", mb.Joined)
		case !cutoff.IsZero() && !j.Before(cutoff):
			return fmt.Sprintf("not eligible: joined on %s, on or after the cut-off %s", mb.Joined, rules.JoinedBefore)
		}
	}
	if len(rules.Statuses) > 0 && !slices.Contains(rules.Statuses, mb.Status) {
		return fmt.Sprintf("not eligible: membership status %q", mb.Status)
	}
	if len(rules.Countries) > 0 && !slices.Contains(rules.Countries, mb.Country) {
		return fmt.Sprintf("not eligible: country %q", mb.Country)
	}
	return ""
}

// Commitment returns the roll's salted commitment (spec §18.4): SHA-256 of
// the sorted HMAC-SHA-256(salt, line) of every member, where a member's line
// is its id, then, if it has groups, 0x00 and the groups joined with ";".
// The salt stays with the officer, so nobody can test whether someone is on
// the roll.
func (r *Roll) Commitment(salt []byte) []byte {
	lines := make([][]byte, len(r.Members))
	for i, mb := range r.Members {
		h := hmac.New(sha256.New, salt)
		h.Write([]byte(mb.ID))
		if len(mb.Groups) > 0 {
			h.Write([]byte("\x00" + strings.Join(mb.Groups, ";")))
		}
		lines[i] = h.Sum(nil)
	}
	slices.SortFunc(lines, func(a, b []byte) int { return strings.Compare(string(a), string(b)) })
	h := sha256.New()
	for _, l := range lines {
		h.Write(l)
	}
	return h.Sum(nil)
}
