package roll

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const csvData = `member_id,full_name,email,phone,status,joined,country
M1,Ada,ada@example.org,+33 6 12 34 56 78,active,2019-05-01,FR
M2,Bob,bob@example.org,,active,2020-01-01,FR
M3,Cyd,cyd@example.org,,lapsed,2020-01-01,FR
M4,Dee,dee@example.org,,active,2027-01-10,FR
M5,Eve,not-an-email,,active,2020-01-01,FR
M2,Bob again,bob2@example.org,,active,2020-01-01,FR
M6,Fay,ada@example.org,,active,2020-01-01,FR
M7,Gus,gus@example.org,,active,2030-01-01,FR
,Nobody,no@example.org,,active,2020-01-01,FR
M8,Hal,hal@example.org,,active,2020-01-01,DE
M9,Ivy,ivy@example.org,,ACTIVE,2021-03-04,FR
`

var mapping = Mapping{ID: "member_id", Name: "full_name", Email: "email", Phone: "phone", Status: "status", Joined: "joined", Country: "country"}
var rules = Rules{Statuses: []string{"active"}, JoinedBefore: "2027-01-01", Countries: []string{"FR"}}
var now = time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)

func TestImportReportsEveryProblem(t *testing.T) {
	r, rep, snap, err := Import(strings.NewReader(csvData), mapping, rules, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range r.Members {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "M1,M6,M9" || rep.Rows != 11 || rep.Eligible != 3 {
		t.Fatalf("eligible %v, report %+v", ids, rep)
	}
	want := map[string]string{
		"M3": "status", "M4": "cut-off", "M5": "e-mail", "M2": "duplicate member id",
		"M7": "future", "": "no member id", "M8": "country", "M1": "shared", "M6": "shared",
	}
	got := map[string]string{}
	for _, p := range rep.Problems {
		got[p.MemberID] += p.Reason + ";"
	}
	for id, reason := range want {
		if !strings.Contains(got[id], reason) {
			t.Errorf("member %q: report says %q, expected %q", id, got[id], reason)
		}
	}
	for _, p := range rep.Problems {
		if p.MemberID == "M2" && !strings.Contains(p.Reason, "rows 3, 7") {
			t.Errorf("duplicate rows not named: %q", p.Reason)
		}
	}
	// A second import finds the changed and the new rows.
	changed := strings.Replace(csvData, "ivy@example.org", "ivy@example.net", 1) + "M10,Jo,jo@example.org,,active,2020-02-02,FR\n"
	_, rep2, _, _ := Import(strings.NewReader(changed), mapping, rules, now, snap)
	var notes []string
	for _, p := range rep2.Problems {
		if !p.Rejected && (p.MemberID == "M9" || p.MemberID == "M10") {
			notes = append(notes, p.MemberID+": "+p.Reason)
		}
	}
	if strings.Join(notes, "|") != "M9: changed since the last import|M10: new since the last import" {
		t.Fatalf("changes: %v", notes)
	}
}

func TestImportErrors(t *testing.T) {
	for name, c := range map[string]struct {
		data string
		m    Mapping
		r    Rules
	}{
		"empty file":          {"", mapping, rules},
		"missing column":      {"id,email\n1,a@b.c\n", mapping, rules},
		"no id column":        {"member_id\n1\n", Mapping{}, Rules{}},
		"rule without column": {"member_id\n1\n", Mapping{ID: "member_id"}, Rules{Statuses: []string{"active"}}},
		"bad cut-off date":    {"member_id,joined\n1,2020-01-01\n", Mapping{ID: "member_id", Joined: "joined"}, Rules{JoinedBefore: "31/01/2027"}},
		"unterminated quote":  {"member_id\n\"1\n", Mapping{ID: "member_id"}, Rules{}},
	} {
		if _, _, _, err := Import(strings.NewReader(c.data), c.m, c.r, now, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCommitment(t *testing.T) {
	r, _, _, _ := Import(strings.NewReader(csvData), mapping, rules, now, nil)
	a := r.Commitment([]byte("salt"))
	reversed := &Roll{Members: []Member{r.Members[2], r.Members[1], r.Members[0]}}
	if string(reversed.Commitment([]byte("salt"))) != string(a) {
		t.Fatal("the commitment depends on the order of rows")
	}
	if string(r.Commitment([]byte("pepper"))) == string(a) {
		t.Fatal("the commitment does not depend on the salt")
	}
	shorter := &Roll{Members: r.Members[:2]}
	if string(shorter.Commitment([]byte("salt"))) == string(a) {
		t.Fatal("the commitment does not depend on the members")
	}
}

func TestGroups(t *testing.T) {
	data := "id,email,region\nM1,a@example.org,North;youth\nM2,b@example.org, north  NORTH \nM3,c@example.org,\nM4,d@example.org,Île-de-France\n"
	r, rep, _, err := Import(strings.NewReader(data), Mapping{ID: "id", Email: "email", Groups: "region"}, Rules{}, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Members) != 3 || strings.Join(r.Members[0].Groups, ",") != "north,youth" || strings.Join(r.Members[1].Groups, ",") != "north" || r.Members[2].Groups != nil {
		t.Fatalf("members: %+v", r.Members)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].MemberID != "M4" || !rep.Problems[0].Rejected || !strings.Contains(rep.Problems[0].Reason, "group") {
		t.Fatalf("problems: %+v", rep.Problems)
	}
	// Groups are committed to: moving a member to another group changes
	// the commitment.
	salt := []byte("salt")
	c1 := r.Commitment(salt)
	r.Members[1].Groups = []string{"youth"}
	if string(r.Commitment(salt)) == string(c1) {
		t.Fatal("the commitment ignores the groups")
	}
}

// TestRuleWithoutColumnNamesIt: a rule whose column is not mapped says which
// rule and which field to map (the README's first roll import had --status
// without status= in --map).
func TestRuleWithoutColumnNamesIt(t *testing.T) {
	for _, c := range []struct {
		r    Rules
		want string
	}{
		{Rules{Statuses: []string{"active"}}, "status=COLUMN"},
		{Rules{JoinedBefore: "2027-01-01"}, "joined=COLUMN"},
		{Rules{Countries: []string{"FR"}}, "country=COLUMN"},
	} {
		_, _, _, err := Import(strings.NewReader("member_id\n1\n"), Mapping{ID: "member_id"}, c.r, now, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want it to say %s", c.r, err, c.want)
		}
	}
}

// TestImportRefusesOtherEncodings: a spreadsheet saved in Windows-1252
// (é is byte 0xE9) is refused, saying how to save it, not imported with
// broken names.
func TestImportRefusesOtherEncodings(t *testing.T) {
	for _, data := range []string{"member_id,full_name\nM1,Ren\xe9\n", "member_id,nom_\xe9lu\nM1,Ren\n"} {
		_, _, _, err := Import(strings.NewReader(data), Mapping{ID: "member_id", Name: "full_name"}, Rules{}, now, nil)
		if !errors.Is(err, ErrEncoding) || !errors.Is(err, ErrCSV) {
			t.Errorf("%q: %v", data, err)
		}
	}
	if _, err := Header(strings.NewReader("\ufeffmember_id, E-mail ,x\nM1,a@b.c,1\n")); err != nil {
		t.Fatal(err)
	} else if h, _ := Header(strings.NewReader("\ufeffmember_id, E-mail ,x\n")); strings.Join(h, "|") != "member_id|E-mail|x" {
		t.Errorf("header %q", h)
	}
}

func TestMappingAndRules(t *testing.T) {
	var m Mapping
	for _, f := range Fields {
		if err := m.Set(f, " col-"+f+" "); err != nil {
			t.Fatal(err)
		}
		if m.Column(f) != "col-"+f {
			t.Errorf("%s: %q", f, m.Column(f))
		}
	}
	if m.Set("birthday", "x") == nil {
		t.Error("an unknown field is accepted")
	}
	r := NewRules(" Active, retired ,", "2027-01-01", "fr, be")
	if strings.Join(r.Statuses, "|") != "active|retired" || strings.Join(r.Countries, "|") != "FR|BE" || r.JoinedBefore != "2027-01-01" {
		t.Errorf("rules %+v", r)
	}
	if r := NewRules("", "", ""); r.Statuses != nil || r.Countries != nil {
		t.Errorf("empty rules %+v", r)
	}
}
