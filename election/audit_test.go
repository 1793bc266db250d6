package election

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
)

var update = flag.Bool("update", false, "rewrite testdata/v0/audit.json")

// auditVector is testdata/v0/audit.json (spec §21.4): byte strings in hex,
// the audit record as its exact (canonical) text.
type auditVector struct {
	Spec          string         `json:"spec"`
	ManifestEntry string         `json:"manifest_entry"`
	Election      string         `json:"election"`
	ElectionKey   string         `json:"election_key"`
	Credential    string         `json:"credential"`
	Eligible      []string       `json:"eligible"`
	Audit         string         `json:"audit"`
	Code          string         `json:"code"`
	Entry         string         `json:"entry"`
	Tracker       string         `json:"tracker"`
	Invalid       []invalidAudit `json:"invalid"`
}

// invalidAudit is a record a checker must reject, given the contests its
// credential may answer.
type invalidAudit struct {
	Comment  string   `json:"comment"`
	Audit    string   `json:"audit"`
	Eligible []string `json:"eligible"`
}

// withEligible returns the election view with a credential's contests given
// by their ids, as a booth or the vector gives them.
func withEligible(v *Election, ids []string) *Election {
	w := *v
	var mask uint64
	for c, ct := range v.Manifest.Contests {
		if slices.Contains(ids, ct.ID) {
			mask |= 1 << c
		}
	}
	w.Eligibility = func(*crypto.PublicKey) (uint64, bool) { return mask, true }
	return &w
}

// auditFixture encrypts the same choices twice from the same seed: one
// encryption audited, the other signed; they are the same encryption.
func auditFixture(t *testing.T) (*Election, *crypto.SecretKey, *Audit, []byte) {
	e := newTestElectionWith(t, 4, true)
	v, err := e.s.Voter()
	if err != nil {
		t.Fatal(err)
	}
	k, _ := CredentialKey(e.s.Fingerprint, e.codes[0]) // voter 0 is in "north": both contests
	choices := [][]int{{2}, {}}
	audited, err := v.Encrypt(testRand(21), k.PublicKey(), choices)
	if err != nil {
		t.Fatal(err)
	}
	a, err := audited.Audit()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := audited.Sign(testRand(1), k); err == nil {
		t.Fatal("an audited encryption was signed")
	}
	cast, err := v.Encrypt(testRand(21), k.PublicKey(), choices)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := cast.Sign(testRand(22), k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cast.Audit(); err == nil {
		t.Fatal("a signed encryption was audited")
	}
	// The signed ballot is one the state accepts.
	p, err := e.s.PrepareBallot(entry)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.s.CheckBallot(p); err != nil {
		t.Fatal(err)
	}
	return v, k, a, entry
}

func TestAuditVector(t *testing.T) {
	v, k, a, entry := auditFixture(t)
	m, _ := v.Manifest.Entry()
	code, err := BallotCode(entry)
	if err != nil {
		t.Fatal(err)
	}
	if code != a.Code {
		t.Fatalf("the cast ballot's code %s is not the audited encryption's %s", code, a.Code)
	}
	both, onlyLeader := []string{"leader", "motion"}, []string{"leader"}
	edited := func(edit func(*Audit)) string {
		b, _ := ParseAudit(a.JSON())
		edit(b)
		return string(b.JSON())
	}
	skips, err := v.Encrypt(testRand(23), k.PublicKey(), [][]int{{1}, nil})
	if err != nil {
		t.Fatal(err)
	}
	skipped, _ := skips.Audit()
	got := auditVector{
		Spec: "docs/spec.md §21, version 0", ManifestEntry: hex.EncodeToString(m), Election: hex.EncodeToString(v.Fingerprint[:]),
		ElectionKey: hex.EncodeToString(v.Key.Bytes()), Credential: hex.EncodeToString(k.PublicKey().Bytes()), Eligible: both,
		Audit: string(a.JSON()), Code: code, Entry: hex.EncodeToString(entry), Tracker: Tracker(entry),
		Invalid: []invalidAudit{
			{"another choice claimed (option 0 of contest 0)", edited(func(b *Audit) { b.Choices[0] = []int{0} }), both},
			{"a changed scalar (contest 0, option 0 has option 1's)", edited(func(b *Audit) { b.Randomness[0][0] = b.Randomness[0][1] }), both},
			{"a changed code", edited(func(b *Audit) { b.Code = strings.Repeat("0", 64) }), both},
			{"the credential may answer only contest 0, and the record answers contest 1 too", string(a.JSON()), onlyLeader},
			{"the credential may answer both contests, and the record leaves out contest 1 (an honest encryption otherwise)", string(skipped.JSON()), both},
		},
	}
	path := filepath.Join("..", "testdata", "v0", "audit.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file auditVector
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&file); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(got)
	have, _ := json.Marshal(file)
	if !bytes.Equal(want, have) {
		t.Fatal("testdata/v0/audit.json differs from the recomputed vector (regenerate with go test ./election -run AuditVector -update if the change is intended)")
	}
	// The file's records check, or fail, through ParseAudit.
	mf, _ := hex.DecodeString(file.ManifestEntry)
	if sha256.Sum256(mf) != v.Fingerprint || file.Election != hex.EncodeToString(v.Fingerprint[:]) {
		t.Fatal("the vector's manifest entry does not hash to its fingerprint")
	}
	parsed, err := ParseAudit([]byte(file.Audit))
	if err != nil {
		t.Fatal(err)
	}
	if err := withEligible(v, file.Eligible).CheckAudit(parsed); err != nil {
		t.Fatal(err)
	}
	for _, c := range file.Invalid {
		p, err := ParseAudit([]byte(c.Audit))
		if err == nil {
			err = withEligible(v, c.Eligible).CheckAudit(p)
		}
		if !errors.Is(err, ErrAudit) {
			t.Errorf("%s: not rejected (%v)", c.Comment, err)
		}
	}
}

// TestAuditRefusesTampering: every change a lying booth could make to an
// audit record is caught (spec §21.3).
func TestAuditRefusesTampering(t *testing.T) {
	v, _, a, _ := auditFixture(t)
	record := string(a.JSON())
	other, _ := v.Encrypt(testRand(5), a.Credential, [][]int{{0}, {}})
	otherAudit, _ := other.Audit()
	r0 := a.Randomness[0][0]
	cases := []struct {
		name string
		edit func(a *Audit)
	}{
		{"another choice claimed", func(a *Audit) { a.Choices[0] = []int{1} }},
		{"a blank answer claimed", func(a *Audit) { a.Choices[0] = []int{} }},
		{"a changed scalar", func(a *Audit) { a.Randomness[0][0] = a.Randomness[0][1] }},
		{"scalars swapped", func(a *Audit) { a.Randomness[0][0], a.Randomness[0][2] = a.Randomness[0][2], r0 }},
		{"a changed code", func(a *Audit) { a.Code = otherAudit.Code }},
		{"another encryption with this record's code", func(a *Audit) { code := a.Code; *a = *otherAudit; a.Code = code }},
		{"another election", func(a *Audit) { a.Election = strings.Repeat("00", 32) }},
		{"a contest left out", func(a *Audit) { a.Contests = a.Contests[:1] }},
		{"an answered contest without choices", func(a *Audit) { a.Choices[0] = nil }},
		{"an unanswered contest with choices", func(a *Audit) { a.Choices[1] = []int{0}; a.Contests[1] = BallotContest{}; a.Randomness[1] = nil }},
		{"an option chosen twice", func(a *Audit) { a.Choices[0] = []int{2, 2} }},
		{"an option out of range", func(a *Audit) { a.Choices[0] = []int{7} }},
		{"a missing scalar", func(a *Audit) { a.Randomness[0] = a.Randomness[0][:2] }},
		{"a proof from another encryption", func(a *Audit) { a.Contests[0].TotalProof = otherAudit.Contests[0].TotalProof }},
		{"no credential", func(a *Audit) { a.Credential = nil }},
		{"another version", func(a *Audit) { a.Audit = "scrutin/v1" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := ParseAudit([]byte(record))
			if err != nil {
				t.Fatal(err)
			}
			c.edit(b)
			if err := v.CheckAudit(b); !errors.Is(err, ErrAudit) {
				t.Fatalf("CheckAudit accepted a record with %s (err %v)", c.name, err)
			}
		})
	}
	if _, err := ParseAudit([]byte(strings.Replace(record, `{"audit"`, `{"extra":1,"audit"`, 1))); err == nil {
		t.Error("ParseAudit accepted an unknown member")
	}
	if err := v.CheckAudit(otherAudit); err != nil {
		t.Errorf("an honest record failed: %v", err)
	}
}

// TestAuditEligibility (spec §21.3 step 6): like a ballot (§18.5), an audit
// record answers exactly the contests its credential may answer, and its
// credential is published.
func TestAuditEligibility(t *testing.T) {
	v, k, a, _ := auditFixture(t) // voter 0, in "north": both contests
	skips, err := v.Encrypt(testRand(6), k.PublicKey(), [][]int{{1}, nil})
	if err != nil {
		t.Fatal(err)
	}
	skipped, _ := skips.Audit()
	if err := v.CheckAudit(skipped); !errors.Is(err, ErrAudit) || !strings.Contains(err.Error(), "left out") {
		t.Errorf("a record leaving out a contest its credential may answer: %v", err)
	}
	onlyLeader := *v
	onlyLeader.Eligibility = func(*crypto.PublicKey) (uint64, bool) { return 1, true }
	if err := onlyLeader.CheckAudit(a); !errors.Is(err, ErrAudit) || !strings.Contains(err.Error(), "may not answer") {
		t.Errorf("a record answering a contest its credential may not answer: %v", err)
	}
	if err := onlyLeader.CheckAudit(skipped); err != nil {
		t.Errorf("a record answering exactly its credential's contest: %v", err)
	}
	stranger, _ := crypto.GenerateKey(nil)
	enc, _ := v.Encrypt(testRand(7), stranger.PublicKey(), [][]int{{1}, {}})
	unknown, _ := enc.Audit()
	if err := v.CheckAudit(unknown); !errors.Is(err, ErrAudit) || !strings.Contains(err.Error(), "not published") {
		t.Errorf("a record of an unpublished credential: %v", err)
	}
	blind := *v
	blind.Eligibility = nil
	if err := blind.CheckAudit(a); !errors.Is(err, ErrAudit) {
		t.Errorf("a check without the credentials: %v", err)
	}
}

// TestAuditCanonical: an audit record has one text (canonical JSON, spec
// §21.3) and lists each contest's chosen options in increasing order.
func TestAuditCanonical(t *testing.T) {
	e := newTestElectionEdit(t, 2, false, func(m *Manifest) { m.Contests[0].Min, m.Contests[0].Max = 0, 3 })
	v, _ := e.s.Voter()
	k, _ := CredentialKey(e.s.Fingerprint, e.codes[0])
	enc, err := v.Encrypt(testRand(3), k.PublicKey(), [][]int{{2, 0}, {1}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := enc.Audit()
	if !slices.Equal(a.Choices[0], []int{0, 2}) {
		t.Fatalf("choices %v are not in increasing order", a.Choices[0])
	}
	record := string(a.JSON())
	p, err := ParseAudit([]byte(record))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.CheckAudit(p); err != nil {
		t.Fatal(err)
	}
	p.Choices[0] = []int{2, 0}
	if err := v.CheckAudit(p); err == nil || !strings.Contains(err.Error(), "increasing order") {
		t.Fatalf("choices out of order: %v", err)
	}
	// The only null of a record is the choices of a contest not answered.
	e2 := newTestElectionEdit(t, 2, true, nil)
	v2, _ := e2.s.Voter()
	k2, _ := CredentialKey(e2.s.Fingerprint, e2.codes[1]) // odd: not in "north"
	enc2, _ := v2.Encrypt(testRand(4), k2.PublicKey(), [][]int{{0}, nil})
	a2, _ := enc2.Audit()
	r2 := string(a2.JSON())
	if p2, err := ParseAudit([]byte(r2)); err != nil || v2.CheckAudit(p2) != nil {
		t.Fatalf("an honest record with an unanswered contest: %v", err)
	}
	if !strings.Contains(r2, `],[]]}`) {
		t.Fatalf("the unanswered contest's randomness is not []: %s", r2[len(r2)-40:])
	}
	p2, err := ParseAudit([]byte(strings.Replace(r2, `],[]]}`, `],null]}`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := v2.CheckAudit(p2); err == nil || !strings.Contains(err.Error(), "null") {
		t.Fatalf("randomness null: %v", err)
	}
	for name, text := range map[string]string{
		"whitespace":        strings.Replace(record, `"audit":`, `"audit": `, 1),
		"members reordered": strings.Replace(record, `{"audit":"scrutin/v0",`, `{`, 1)[:len(record)-len(`"audit":"scrutin/v0",`)-1] + `,"audit":"scrutin/v0"}`,
		"an escaped slash":  strings.Replace(record, `scrutin/v0`, `scrutin\/v0`, 1),
		"padded base64":     strings.Replace(record, `"]`, `="]`, 1),
	} {
		if _, err := ParseAudit([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
