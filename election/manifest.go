package election

// spec: §18.3 the manifest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
)

// Text is a text in several languages, keyed by ISO 639-1 code; English
// and French are required.
type Text map[string]string

// Languages every text must have.
var Languages = []string{"en", "fr"}

var langCode = regexp.MustCompile(`^[a-z]{2}$`)

func (t Text) check(what string, maxLen int) error {
	for _, l := range Languages {
		if _, ok := t[l]; !ok {
			return fmt.Errorf("%s has no %q text; English and French are required", what, l)
		}
	}
	for l, s := range t {
		if !langCode.MatchString(l) {
			return fmt.Errorf("%s: %q is not a two-letter language code", what, l)
		}
		if err := checkText(fmt.Sprintf("%s (%s)", what, l), s, maxLen); err != nil {
			return err
		}
	}
	return nil
}

// In returns the text in the language lang, or in English if it has none.
func (t Text) In(lang string) string {
	if s, ok := t[lang]; ok {
		return s
	}
	return t["en"]
}

// Option is one choice of a contest.
type Option struct {
	ID    string `json:"id"`
	Title Text   `json:"title"`
}

// Contest is one question of the election (spec §18.3). Fields are in name
// order, as canonical JSON requires.
type Contest struct {
	// Eligible, if set, restricts the contest to the voters of this group
	// (spec §18.3); others cannot answer it.
	Eligible string   `json:"eligible,omitempty"`
	ID       string   `json:"id"`
	Max      int      `json:"max"`
	Min      int      `json:"min"`
	Options  []Option `json:"options"`
	Title    Text     `json:"title"`
}

// Window is the planned voting time.
type Window struct {
	Closes string `json:"closes"`
	Opens  string `json:"opens"`
}

// Manifest defines an election (spec §18.3).
type Manifest struct {
	Contests    []Contest     `json:"contests"`
	Description Text          `json:"description"`
	LogKey      Bytes         `json:"log_key"`
	Roster      crypto.Roster `json:"roster"`
	Title       Text          `json:"title"`
	Version     int           `json:"version"`
	Window      Window        `json:"window"`
	// WitnessQuorum and Witnesses (optional, spec §18.3): the witnesses
	// the officer names, of which at least WitnessQuorum must have
	// cosigned the checkpoint a verifier reads (spec §19).
	WitnessQuorum int       `json:"witness_quorum,omitempty"`
	Witnesses     []Witness `json:"witnesses,omitempty"`
}

// Witness is a witness the officer names in the manifest (spec §18.3): its
// verifier key (a plain Ed25519 note key or a C2SP cosignature/v1 key) and,
// optionally, the address of its tlog-witness endpoint.
type Witness struct {
	Key string `json:"key"`
	URL string `json:"url,omitempty"`
}

// Limits of the manifest's witnesses.
const (
	MaxWitnesses     = 16
	MaxWitnessKeyLen = 300
	MaxWitnessURLLen = 300
)

// WitnessVerifiers returns the verifiers of the manifest's witnesses.
func (m *Manifest) WitnessVerifiers() ([]note.Verifier, error) {
	var vs []note.Verifier
	for i, w := range m.Witnesses {
		v, err := board.NewWitnessVerifier(w.Key)
		if err != nil {
			return nil, fmt.Errorf("witness %d: %v", i+1, err)
		}
		vs = append(vs, v)
	}
	return vs, nil
}

// validateWitnesses checks the manifest's witnesses (spec §18.3).
func (m *Manifest) validateWitnesses() error {
	if len(m.Witnesses) == 0 {
		if m.WitnessQuorum != 0 {
			return fmt.Errorf("witness_quorum is %d but the manifest names no witness", m.WitnessQuorum)
		}
		return nil
	}
	if len(m.Witnesses) > MaxWitnesses {
		return fmt.Errorf("the manifest names %d witnesses; at most %d", len(m.Witnesses), MaxWitnesses)
	}
	if m.WitnessQuorum < 1 || m.WitnessQuorum > len(m.Witnesses) {
		return fmt.Errorf("witness_quorum must be 1 to %d (the witnesses named), not %d", len(m.Witnesses), m.WitnessQuorum)
	}
	keys := map[string]int{string(m.LogKey): 0}
	for i, w := range m.Witnesses {
		where := fmt.Sprintf("witness %d", i+1)
		if err := checkText(where+"'s key", w.Key, MaxWitnessKeyLen); err != nil {
			return err
		}
		v, err := board.NewWitnessVerifier(w.Key)
		if err != nil {
			return fmt.Errorf("%s: key %q: %v", where, w.Key, err)
		}
		pub := string(board.WitnessPublicKey(v))
		if j, ok := keys[pub]; ok {
			if j == 0 {
				return fmt.Errorf("%s: its key is the log key: a log cannot witness itself", where)
			}
			return fmt.Errorf("%s: its Ed25519 key is that of witness %d: a witness is named once", where, j)
		}
		keys[pub] = i + 1
		if w.URL != "" {
			if err := checkText(where+"'s url", w.URL, MaxWitnessURLLen); err != nil {
				return err
			}
			u, err := url.Parse(w.URL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				return fmt.Errorf("%s: url %q is not an http or https address without user, query or fragment", where, w.URL)
			}
		}
	}
	return nil
}

// Limits of a manifest.
const (
	MaxContests   = 64
	MaxTitleLen   = 300
	MaxDescLen    = 4000
	MaxOptionsLen = crypto.MaxRangeBranches
)

// TimeFormat is the format of times in the record: RFC 3339, UTC, seconds.
const TimeFormat = "2006-01-02T15:04:05Z"

func parseTime(what, s string) (time.Time, error) {
	t, err := time.Parse(TimeFormat, s)
	if err != nil || t.Format(TimeFormat) != s {
		return time.Time{}, fmt.Errorf("%s %q is not a UTC time like 2027-03-01T09:00:00Z", what, s)
	}
	return t, nil
}

// Validate checks the manifest against spec §18.3 and says what is wrong.
func (m *Manifest) Validate() error {
	if m.Version != 0 {
		return fmt.Errorf("manifest version %d is not supported (this is version 0)", m.Version)
	}
	if err := m.Title.check("the election's title", MaxTitleLen); err != nil {
		return err
	}
	if err := m.Description.check("the election's description", MaxDescLen); err != nil {
		return err
	}
	if len(m.LogKey) != ed25519.PublicKeySize {
		return fmt.Errorf("log_key must be a 32-byte Ed25519 public key")
	}
	if err := m.Roster.Validate(); err != nil {
		return fmt.Errorf("roster: %w", err)
	}
	// spec §18.2: no string of an entry holds a control character, U+2028
	// or U+2029, the roster's included.
	if err := checkText("the roster's label", m.Roster.Label, crypto.MaxRosterLabelLen); err != nil {
		return err
	}
	for i, t := range m.Roster.Trustees {
		if err := checkText(fmt.Sprintf("the name of trustee %d", i+1), t.Name, crypto.MaxTrusteeNameLen); err != nil {
			return err
		}
	}
	if len(m.Contests) == 0 || len(m.Contests) > MaxContests {
		return fmt.Errorf("an election has 1 to %d contests, this one has %d", MaxContests, len(m.Contests))
	}
	ids := make(map[string]bool)
	for ci, c := range m.Contests {
		where := fmt.Sprintf("contest %d (%q)", ci+1, c.ID)
		if !validID(c.ID) || ids[c.ID] {
			return fmt.Errorf("%s: ids are 1 to 64 characters from a-z, 0-9 and -, and unique", where)
		}
		ids[c.ID] = true
		if c.Eligible != "" && !validID(c.Eligible) {
			return fmt.Errorf("%s: eligible names a group: 1 to 64 characters from a-z, 0-9 and -", where)
		}
		if err := c.Title.check(where+" title", MaxTitleLen); err != nil {
			return err
		}
		n := len(c.Options)
		if n == 0 || n > MaxOptionsLen {
			return fmt.Errorf("%s has %d options; a contest has 1 to %d", where, n, MaxOptionsLen)
		}
		if c.Min < 0 || c.Max < 1 || c.Min > c.Max || c.Max > n {
			return fmt.Errorf("%s: min %d and max %d must satisfy 0 ≤ min ≤ max ≤ %d options and max ≥ 1", where, c.Min, c.Max, n)
		}
		oids := make(map[string]bool)
		for oi, o := range c.Options {
			if !validID(o.ID) || oids[o.ID] {
				return fmt.Errorf("%s, option %d (%q): ids are 1 to 64 characters from a-z, 0-9 and -, and unique", where, oi+1, o.ID)
			}
			oids[o.ID] = true
			if err := o.Title.check(fmt.Sprintf("%s, option %q title", where, o.ID), MaxTitleLen); err != nil {
				return err
			}
		}
	}
	if err := m.validateWitnesses(); err != nil {
		return err
	}
	opens, err := parseTime("window.opens", m.Window.Opens)
	if err != nil {
		return err
	}
	closes, err := parseTime("window.closes", m.Window.Closes)
	if err != nil {
		return err
	}
	if !closes.After(opens) {
		return fmt.Errorf("the voting window must close after it opens; it opens %s and closes %s", m.Window.Opens, m.Window.Closes)
	}
	// spec §18.3: every entry the election needs must fit in an entry.
	if n := 1 + len(marshal(m)); n > board.MaxEntrySize {
		return fmt.Errorf("the manifest's entry would be %d bytes; an entry is at most %d (shorten the texts)", n, board.MaxEntrySize)
	}
	if n := m.MaxBallotSize(); n > board.MaxEntrySize {
		return fmt.Errorf("a ballot answering every contest would be %d bytes; an entry is at most %d (use fewer options, or a smaller max − min)", n, board.MaxEntrySize)
	}
	return nil
}

// MaxBallotSize returns the size in bytes of the largest ballot entry the
// manifest allows, one that answers every contest (spec §18.3):
//
//	176 + (C − 1) + Σ_c (44 + 434·k_c + b64(128·(max_c − min_c + 1)))
//
// for C contests, contest c having k_c options, where b64(x) = ⌈4x/3⌉ is
// the length of x bytes in unpadded base64url.
func (m *Manifest) MaxBallotSize() int {
	b64 := func(x int) int { return (4*x + 2) / 3 }
	n := 176 + len(m.Contests) - 1
	for _, c := range m.Contests {
		n += 44 + 434*len(c.Options) + b64(128*(c.Max-c.Min+1))
	}
	return n
}

// Groups returns the groups that contests are restricted to, sorted.
func (m *Manifest) Groups() []string {
	var g []string
	for _, c := range m.Contests {
		if c.Eligible != "" && !slices.Contains(g, c.Eligible) {
			g = append(g, c.Eligible)
		}
	}
	slices.Sort(g)
	return g
}

// Eligibility returns the contests a voter of these groups may answer, as
// a bit mask (bit c for contest c).
func (m *Manifest) Eligibility(groups []string) uint64 {
	var mask uint64
	for c, ct := range m.Contests {
		if ct.Eligible == "" || slices.Contains(groups, ct.Eligible) {
			mask |= 1 << c
		}
	}
	return mask
}

// Entry returns the manifest's entry (type 1), after validating it.
func (m *Manifest) Entry() ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return append([]byte{TypeManifest}, marshal(m)...), nil
}

// Fingerprint returns F = SHA-256(entry 0) (spec §15.1).
func (m *Manifest) Fingerprint() (crypto.Fingerprint, error) {
	e, err := m.Entry()
	if err != nil {
		return crypto.Fingerprint{}, err
	}
	return board.Fingerprint(e), nil
}

// LogVerifierKey returns the note verifier key of the election's log: the
// manifest's key, named by the origin (spec §16.1).
func LogVerifierKey(f crypto.Fingerprint, key []byte) (string, error) {
	if len(key) != ed25519.PublicKeySize {
		return "", fmt.Errorf("a log key is 32 bytes")
	}
	return note.NewEd25519VerifierKey(board.Origin(f), ed25519.PublicKey(key))
}

// ParseManifest reads a manifest as an officer writes it (any layout and
// member order), refusing unknown members and trailing data, and validates
// it. Its canonical form is what Entry returns.
func ParseManifest(data []byte) (*Manifest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("the manifest is not valid JSON for a manifest: %w", err)
	}
	if dec.More() {
		return nil, errors.New("the manifest has data after its JSON object")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Rule says in words what a contest asks of a voter.
func (c *Contest) Rule() string {
	n := len(c.Options)
	var s string
	switch {
	case c.Min == c.Max:
		s = fmt.Sprintf("choose exactly %d of %d", c.Min, n)
	case c.Min == 0:
		s = fmt.Sprintf("choose up to %d of %d (a blank answer is allowed)", c.Max, n)
	default:
		s = fmt.Sprintf("choose %d to %d of %d", c.Min, c.Max, n)
	}
	if c.Eligible != "" {
		s += fmt.Sprintf("; only voters of group %q", c.Eligible)
	}
	return s
}
