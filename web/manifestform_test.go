package web

import (
	"crypto/ed25519"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
)

func formTestTrustees(t *testing.T, n int) []crypto.Trustee {
	t.Helper()
	var out []crypto.Trustee
	for i := range n {
		s, err := crypto.NewTrusteeSecrets(nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, crypto.Trustee{Name: string(rune('A' + i)), Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	}
	return out
}

// goodForm is the union's ballot: a strike (yes/no) and the executive
// committee (choose up to 2 of 4).
func goodForm() url.Values {
	return url.Values{
		"title.en": {"Local 42 ballot"}, "title.fr": {"Scrutin de la section 42"},
		"desc.en": {"Strike and executive."}, "desc.fr": {"Grève et bureau."},
		"contests": {"2"},
		"c0.kind":  {"yesno"}, "c0.title.en": {"Strike in 2027?"}, "c0.title.fr": {"Grève en 2027 ?"},
		"c1.kind": {"upto"}, "c1.title.en": {"Executive committee"}, "c1.title.fr": {"Bureau"}, "c1.k": {"2"}, "c1.blank": {"1"},
		"c1.options.en": {"Ann\r\nBen\n\nCleo\nDan"}, "c1.options.fr": {"Ann\nBen\nCléo\nDan"},
		"zone": {"Europe/Paris"}, "opens": {"2027-03-01T09:00"}, "closes": {"2027-03-08T21:00"},
		"threshold": {"2"}, "label": {"Local 42, March 2027"}, "ceremony": {strings.Repeat("ab", crypto.CeremonyIDSize)},
	}
}

var formNow = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)

func TestManifestFormBuilds(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	ids := formTestTrustees(t, 3)
	b, m, fe, err := parseManifestForm(goodForm()).checkedManifest(ids, key, formNow)
	if fe != nil || err != nil {
		t.Fatalf("errors %v %v", fe, err)
	}
	// The form's manifest is the one an uploaded file with its JSON is.
	pm, err := election.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	e1, _ := pm.Entry()
	e2, _ := m.Entry()
	if string(e1) != string(e2) {
		t.Fatal("the recorded manifest is not the one reviewed")
	}
	if m.Window.Opens != "2027-03-01T08:00:00Z" || m.Window.Closes != "2027-03-08T20:00:00Z" {
		t.Errorf("window in UTC: %+v (typed in Europe/Paris)", m.Window)
	}
	c0, c1 := m.Contests[0], m.Contests[1]
	if c0.ID != "strike-in-2027" || c0.Min != 1 || c0.Max != 1 || len(c0.Options) != 2 || c0.Options[0].ID != "yes" || c0.Options[1].Title["fr"] != "Non" {
		t.Errorf("yes/no contest: %+v", c0)
	}
	if c1.Min != 0 || c1.Max != 2 || len(c1.Options) != 4 || c1.Options[2].ID != "cleo" || c1.Options[2].Title["fr"] != "Cléo" {
		t.Errorf("2 of 4 contest: %+v", c1)
	}
	if m.Roster.Threshold != 2 || m.Roster.N() != 3 || hex.EncodeToString(m.Roster.ID[:]) != strings.Repeat("ab", crypto.CeremonyIDSize) {
		t.Errorf("roster: %d of %d", m.Roster.Threshold, m.Roster.N())
	}
	s := &Site{cat: map[string]map[string]string{}}
	cat, err := loadCatalogs()
	if err != nil {
		t.Fatal(err)
	}
	s.cat = cat
	rv := s.review("en", m, "Europe/Paris")
	if got := rv.Langs[0].Contests[1].Rule; got != "Members choose up to 2 of 4." {
		t.Errorf("explained: %q", got)
	}
	if got := rv.Langs[1].Contests[1].Rule; got != "Les membres choisissent jusqu'à 2 options sur 4." {
		t.Errorf("explained in French: %q", got)
	}
	if got := rv.Langs[0].Contests[0].Rule + " " + rv.Langs[0].Contests[0].Blank; got != "Members answer yes or no. An answer is required." {
		t.Errorf("yes/no explained: %q", got)
	}
	if rv.Opens != "1 March 2027, 09:00 (Europe/Paris)" || rv.OpensUTC != "1 March 2027, 08:00 UTC" {
		t.Errorf("window shown: %q / %q", rv.Opens, rv.OpensUTC)
	}
}

// TestManifestFormErrors: each wrong input is named at its field, and
// the form keeps what was typed.
func TestManifestFormErrors(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	ids := formTestTrustees(t, 3)
	for _, c := range []struct {
		name  string
		edit  func(v url.Values)
		field string
		key   string
	}{
		{"k above the options", func(v url.Values) { v.Set("c1.k", "5") }, "c1.k", "form.err.kMany"},
		{"k zero", func(v url.Values) { v.Set("c1.k", "0") }, "c1.k", "form.err.k"},
		{"k not a number", func(v url.Values) { v.Set("c1.k", "two") }, "c1.k", "form.err.k"},
		{"no options", func(v url.Values) { v.Set("c1.options.en", " \n "); v.Set("c1.options.fr", "") }, "c1.options.en", "form.err.options"},
		{"options not in French", func(v url.Values) { v.Set("c1.options.fr", "Ann\nBen") }, "c1.options.fr", "form.err.optionsFR"},
		{"window ends before it starts", func(v url.Values) { v.Set("closes", "2027-02-28T09:00") }, "closes", "form.err.closesBefore"},
		{"window ends in the past", func(v url.Values) { v.Set("opens", "2026-01-01T09:00"); v.Set("closes", "2026-02-01T09:00") }, "closes", "form.err.closesPast"},
		{"no time", func(v url.Values) { v.Set("opens", "") }, "opens", "form.err.time"},
		{"threshold above the trustees", func(v url.Values) { v.Set("threshold", "4") }, "threshold", "form.err.threshold"},
		{"threshold zero", func(v url.Values) { v.Set("threshold", "0") }, "threshold", "form.err.threshold"},
		{"no French title", func(v url.Values) { v.Del("title.fr") }, "title.fr", "form.err.required"},
		{"bad zone", func(v url.Values) { v.Set("zone", "Mars/Olympus") }, "zone", "form.err.zone"},
		{"bad group", func(v url.Values) { v.Set("c0.group", "North Side!") }, "c0.group", "form.err.group"},
		{"no kind", func(v url.Values) { v.Set("c0.kind", "ranked") }, "c0.kind", "form.err.kind"},
	} {
		v := goodForm()
		c.edit(v)
		f := parseManifestForm(v)
		_, _, fe, err := f.checkedManifest(ids, key, formNow)
		if err != nil {
			t.Errorf("%s: %v, not a field's error", c.name, err)
			continue
		}
		if fe[c.field].Key != c.key {
			t.Errorf("%s: errors %v, want %s at %s", c.name, fe, c.key, c.field)
		}
		if f.TitleEN != "Local 42 ballot" || f.Contests[1].TitleFR != "Bureau" || !f.Contests[1].Blank || f.Opens != v.Get("opens") {
			t.Errorf("%s: the form lost what was typed: %+v", c.name, f)
		}
	}
	// No trustees at all: said at the threshold.
	_, _, fe, _ := parseManifestForm(goodForm()).checkedManifest(nil, key, formNow)
	if fe["threshold"].Key != "form.err.noTrustees" {
		t.Errorf("no trustees: %v", fe)
	}
	// What the field checks let through, the manifest's own checks refuse
	// (the same as for a file): a text with a control character.
	v := goodForm()
	v.Set("title.en", "Ballot\x07")
	if _, _, fe, err := parseManifestForm(v).checkedManifest(ids, key, formNow); fe != nil || err == nil || !strings.Contains(err.Error(), "title") {
		t.Errorf("a control character: %v %v", fe, err)
	}
}
