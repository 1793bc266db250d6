// Package demo runs a complete election on one machine, as `scrutin demo`
// does: a generated roll with deliberately ineligible rows, credentials, a
// 3-of-5 trustee ceremony, voters casting over HTTP on loopback (some
// re-voting), closing, tally, decryption by three trustees, the result, and
// the published record. Its phases are also the fixtures of the server's
// end-to-end tests.
package demo

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/browse"
	"github.com/scrutin/scrutin/internal/credauth"
	"github.com/scrutin/scrutin/roll"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
	"github.com/scrutin/scrutin/web"
)

// Options configure a demo election.
type Options struct {
	Dir     string  // data folder (the SQLite store, credentials, roll report)
	DB      string  // a PostgreSQL URL, instead of SQLite in Dir
	Voters  int     // members on the roll who may vote
	Revote  float64 // the share of voters who vote twice
	Workers int     // concurrent voters
	Seed    uint64  // chooses the votes
	// Outbox receives every sign-in code the server sends (the demo has no
	// real mail server); nil keeps them in memory only.
	Outbox io.Writer
	// NoSignIn serves ballots on the credential alone (spec §20.5).
	NoSignIn bool
	// ID is the election's id (default "demo").
	ID string
	// MasterSeed is the server's master log key seed, from which each
	// election's log key is derived (default: DIR/log.key, made if missing).
	MasterSeed []byte
	// Host, if set, is the fixture whose data folder, store, registry and
	// staff this election shares (a demo of several elections).
	Host *Fixture
	// Roster, if set, is the trustees' roster, made from their own
	// identities: they run the ceremony and decrypt themselves (through
	// the server, as "scrutin trustee … --election URL" does), and Setup,
	// Ceremony, Finish and Decrypt cannot be used; the caller records the
	// manifest (RecordManifest), opens voting (OpenVoting) once the
	// ceremony is complete, closes it (CloseAndTally) and publishes the
	// result (Publish) once the trustees have decrypted.
	Roster *crypto.Roster
	// NoConsoleMail serves a console that sends no e-mail (a server
	// without mail set up): it shows the trustees' invitation links.
	NoConsoleMail bool
	// Authority has the credential authority make its key (spec §18.8),
	// recorded after the credentials, so that lost credentials can be
	// replaced (Fixture.Replace).
	Authority bool
	// WrapLog, if set, wraps the election's log as the server opens it
	// (for fault tests).
	WrapLog  func(store.Store) store.Store
	Progress func(format string, args ...any)
	// Witnesses and WitnessQuorum, if set, are the witnesses the
	// manifest names (spec §18.3).
	Witnesses     []election.Witness
	WitnessQuorum int
}

// LogKeyFile is the file of the log's signing key seed in the data folder.
const LogKeyFile = "log.key"

// Fixture is an election set up by Setup, open for voting.
type Fixture struct {
	Opts Options
	ID   string // the election's id
	// DB is the store of the data folder's elections, and Registry the
	// server's (shared with the Host's).
	DB       *store.DB
	Registry *server.Registry
	// Store is the election's log; closing it closes the fixture (its
	// registry and store, unless they are its Host's).
	Store    store.Store
	Election *server.Election
	Manifest *election.Manifest
	F        crypto.Fingerprint
	LogKey   string
	Roll     *roll.Roll
	Report   *roll.Report
	Codes    []string // one per member, in roll order
	Emails   []string // one per member, in roll order
	Mail     *Outbox  // the sign-in codes sent
	// Staff is the staff accounts, with one administrator (StaffEmail,
	// StaffPassword, and an authenticator app whose secret is StaffTOTP).
	Staff                     *accounts.Service
	StaffEmail, StaffPassword string
	StaffTOTP                 string
	staffCookie               *http.Cookie
	// RollEntry and CredentialEntries are the entries an officer records
	// (made by "scrutin roll import" and "scrutin credentials generate").
	RollEntry         []byte
	CredentialEntries [][]byte
	// Authority is the credential authority's key, with Options.Authority.
	Authority *crypto.SecretKey
	trustees  []*crypto.TrusteeSecrets
	logSeed   []byte
	mailboxes sync.Map // address → *sync.Mutex
	master    []byte
	site      *web.Site
	closeOnce sync.Once
}

// LogSeed is the seed of the election's log key (derived from the master
// seed and the id).
func (f *Fixture) LogSeed() []byte { return f.logSeed }

// CheckpointFile is the election's checkpoint file.
func (f *Fixture) CheckpointFile() string {
	return filepath.Join(f.Opts.Dir, server.CheckpointDir, f.ID)
}

// Dir is the folder of the election's own files (sign-in list, roll
// report, credentials).
func (f *Fixture) Dir() string { return server.ElectionDir(f.Opts.Dir, f.ID) }

// Close closes the fixture's registry and store (unless they are its
// Host's: then only its log).
func (f *Fixture) Close() error {
	var err error
	f.closeOnce.Do(func() {
		if f.Opts.Host != nil {
			return
		}
		if f.Registry != nil {
			f.Registry.Close()
		}
		if f.Staff != nil {
			f.Staff.Close() // before the database it follows
		}
		if f.DB != nil {
			err = f.DB.Close()
		}
	})
	return err
}

// fixtureLog is the election's log as the fixture gives it: its Close
// closes the fixture.
type fixtureLog struct {
	store.Store
	f *Fixture
}

func (l *fixtureLog) Close() error {
	err := l.Store.Close()
	if err2 := l.f.Close(); err == nil {
		err = err2
	}
	return err
}

// catalogue wraps the logs of a store.DB as the server opens them.
type catalogue struct {
	*store.DB
	wrap func(store.Store) store.Store
}

func (c catalogue) Log(ctx context.Context, id string) (store.Store, error) {
	st, err := c.DB.Log(ctx, id)
	if err != nil || c.wrap == nil {
		return st, err
	}
	return c.wrap(st), nil
}

// apiOptions are the API options of the election id: the voters' sign-in
// (from its list, once its manifest is recorded), the staff's check.
func (f *Fixture) apiOptions(id string, e *server.Election) server.Options {
	o := server.Options{NoSignIn: f.Opts.NoSignIn, Officer: func(r *http.Request, action string) (func(string), error) {
		if f.site == nil {
			return nil, errors.New("the site is not served yet")
		}
		return f.site.Officer(id)(r, action)
	}}
	if f.Opts.NoSignIn || e.Fingerprint() == (crypto.Fingerprint{}) {
		return o
	}
	key, voters, err := server.LoadSignInList(server.ElectionDir(f.Opts.Dir, id))
	if err != nil {
		return o
	}
	// No per-address limit: every demo voter comes from loopback.
	lim := server.DefaultSignInLimits
	lim.PerClient = 0
	if o.SignIn, err = server.NewSignIn(key, e.Fingerprint(), voters, f.Mail, e.Title(), lim, nil); err != nil {
		return o
	}
	return o
}

func (o *Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(format, args...)
	}
}

// Prepare does, off the log, what an officer, the trustees and the credential
// authority prepare before an election exists: the roll, the trustees' keys,
// the manifest, the roll's commitment and the voters' credentials (their
// entries, the codes and the sealed sign-in list). The store is empty and
// the election not created: Setup records it all.
func Prepare(ctx context.Context, o Options) (*Fixture, error) {
	if o.Voters < 1 {
		return nil, errors.New("a demo needs at least one voter")
	}
	if o.Workers == 0 {
		o.Workers = 16
	}
	if o.ID == "" {
		o.ID = "demo"
	}
	f := &Fixture{Opts: o, ID: o.ID, Mail: newOutbox(o.Outbox)}
	var err error
	if h := o.Host; h != nil {
		f.Opts.Dir, f.Opts.DB, f.DB, f.Registry, f.master, f.Mail = h.Opts.Dir, h.Opts.DB, h.DB, h.Registry, h.master, h.Mail
		f.Staff, f.StaffEmail, f.StaffPassword, f.StaffTOTP = h.Staff, h.StaffEmail, h.StaffPassword, h.StaffTOTP
		o = f.Opts
	} else {
		loc := o.Dir
		if o.DB != "" {
			loc = o.DB
		}
		if f.master = o.MasterSeed; f.master == nil {
			if f.master, _, err = atrest.LoadOrCreateKey(filepath.Join(o.Dir, LogKeyFile)); err != nil {
				return nil, err
			}
		}
		if f.DB, err = store.Open(ctx, loc); err != nil {
			return nil, err
		}
		f.Registry, err = server.OpenRegistry(ctx, server.RegistryOptions{DB: catalogue{f.DB, o.WrapLog}, MasterSeed: f.master,
			CheckpointDir: filepath.Join(o.Dir, server.CheckpointDir), Handler: f.apiOptions})
		if err != nil {
			f.DB.Close()
			return nil, err
		}
	}
	fail := func(err error) (*Fixture, error) {
		f.Close()
		return nil, err
	}
	if _, err := f.Registry.Election(ctx, o.ID); !errors.Is(err, server.ErrNoElection) {
		return fail(fmt.Errorf("the store at %s already holds an election %q; give an empty one", o.Dir+o.DB, o.ID))
	}
	if f.Election, err = f.Registry.Create(ctx, o.ID, nil); err != nil {
		return fail(err)
	}
	st, err := f.DB.Log(ctx, o.ID)
	if err != nil {
		return fail(err)
	}
	f.Store = &fixtureLog{st, f}
	if err := os.MkdirAll(f.Dir(), 0o700); err != nil {
		return fail(err)
	}

	// The roll: generated members, some of them deliberately ineligible.
	csvData := generateRoll(o.Voters, o.Seed)
	if err := os.WriteFile(filepath.Join(f.Dir(), "members.csv"), csvData, 0o600); err != nil {
		return fail(err)
	}
	m := roll.Mapping{ID: "member_id", Name: "name", Email: "email", Status: "status", Joined: "joined", Country: "country", Groups: "region"}
	rules := roll.Rules{Statuses: []string{"active"}, JoinedBefore: "2027-01-01", Countries: []string{"FR", "BE", "CH"}}
	f.Roll, f.Report, _, err = roll.Import(bytes.NewReader(csvData), m, rules, time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC), nil)
	if err != nil {
		return fail(err)
	}
	rep, _ := json.MarshalIndent(f.Report, "", "  ")
	os.WriteFile(filepath.Join(f.Dir(), "roll-report.json"), rep, 0o600)
	o.progress("roll: %d rows, %d eligible members, %d problems reported (roll-report.json)", f.Report.Rows, f.Report.Eligible, len(f.Report.Problems))

	// Trustees and the manifest.
	id, err := crypto.NewCeremonyID(nil)
	if err != nil {
		return fail(err)
	}
	roster := crypto.Roster{Label: "scrutin demo", ID: id, Threshold: 3}
	if o.Roster != nil {
		roster = *o.Roster
	}
	for j := 1; o.Roster == nil && j <= 5; j++ {
		s, err := crypto.NewTrusteeSecrets(nil)
		if err != nil {
			return fail(err)
		}
		f.trustees = append(f.trustees, s)
		roster.Trustees = append(roster.Trustees, crypto.Trustee{Name: fmt.Sprintf("Trustee %d", j), Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	}
	f.logSeed = server.LogSeed(f.master, o.ID, false)
	logKey := ed25519.NewKeyFromSeed(f.logSeed).Public().(ed25519.PublicKey)
	f.Manifest = demoManifest(f.ID, roster, logKey)
	f.Manifest.Witnesses, f.Manifest.WitnessQuorum = o.Witnesses, o.WitnessQuorum
	if f.F, err = f.Manifest.Fingerprint(); err != nil {
		return fail(err)
	}
	if f.LogKey, err = election.LogVerifierKey(f.F, logKey); err != nil {
		return fail(err)
	}
	if err := f.credentials(); err != nil {
		return fail(err)
	}
	if o.Host == nil {
		if err := f.staff(); err != nil {
			return fail(err)
		}
	}
	return f, nil
}

// staff creates the demo's administrator, as the setup link would, with a
// fresh random password and an authenticator app.
func (f *Fixture) staff() error {
	var err error
	// In the database of the elections (PostgreSQL with DB), where
	// scrutin serve looks for them.
	if f.Staff, err = accounts.Open(accounts.Options{Dir: f.Opts.Dir, Shared: f.DB.Shared(), SiteName: "scrutin demo"}); err != nil {
		return err
	}
	link, _, err := f.Staff.SetupLink("", "http://localhost")
	if err != nil {
		return err
	}
	u, err := neturl.Parse(link)
	if err != nil {
		return err
	}
	token := u.Query().Get("token")
	var pw [12]byte
	rand.Read(pw[:])
	f.StaffEmail, f.StaffPassword = "officer@demo.example", fmt.Sprintf("staff-%x", pw)
	se, err := f.Staff.CreateFirstAdmin(token, f.StaffEmail, "Demo officer", f.StaffPassword, accounts.Client{Addr: "127.0.0.1"})
	if err != nil {
		return err
	}
	k, err := f.Staff.BeginTOTP(se)
	if err != nil {
		return err
	}
	// The previous period's code (accepted for clock drift), so that the
	// first sign-in need not wait for a fresh one.
	code, err := totp.GenerateCode(k.Secret(), time.Now().Add(-30*time.Second))
	if err != nil {
		return err
	}
	if _, err := f.Staff.FinishTOTP(se, code); err != nil {
		return err
	}
	f.StaffTOTP = k.Secret()
	f.Staff.SignOut(se, accounts.Client{Addr: "127.0.0.1"})
	return nil
}

// StaffSession signs the administrator in on the server at url (password,
// then a TOTP code) and returns the session cookie; it is kept, since a
// TOTP code works once.
func (f *Fixture) StaffSession(ctx context.Context, url string) (*http.Cookie, error) {
	if f.staffCookie != nil {
		return f.staffCookie, nil
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(url+"/staff/sign-in", map[string][]string{"email": {f.StaffEmail}, "password": {f.StaffPassword}})
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == web.StaffCookie {
			ck = c
		}
	}
	if ck == nil {
		return nil, fmt.Errorf("staff sign-in: %s", resp.Status)
	}
	// Wait for a fresh TOTP period if the enrolment used this one.
	for {
		code, _ := totp.GenerateCode(f.StaffTOTP, time.Now())
		req, _ := http.NewRequestWithContext(ctx, "POST", url+"/staff/verify", strings.NewReader("code="+code))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(ck)
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusSeeOther {
			// The session's id changes with the second step.
			for _, c := range resp.Cookies() {
				if c.Name == web.StaffCookie {
					ck = c
				}
			}
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	f.staffCookie = ck
	return ck, nil
}

// Setup creates the election up to the opening of voting.
func Setup(ctx context.Context, o Options) (*Fixture, error) {
	f, err := Prepare(ctx, o)
	if err != nil {
		return nil, err
	}
	if err := f.setup(ctx); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *Fixture) setup(ctx context.Context) error {
	if err := f.RecordManifest(ctx); err != nil {
		return err
	}
	if err := f.Ceremony(ctx); err != nil {
		return err
	}
	return f.OpenVoting(ctx)
}

// RecordManifest records the manifest, as the officer does in the console.
func (f *Fixture) RecordManifest(ctx context.Context) error {
	me, err := f.Manifest.Entry()
	if err != nil {
		return err
	}
	if _, err := f.Election.Append(ctx, me); err != nil {
		return err
	}
	f.Opts.progress("manifest recorded: election fingerprint %x", f.F[:])
	return nil
}

// OpenVoting records the roll's commitment and the public credentials, and
// opens voting, once the trustees' ceremony is complete.
func (f *Fixture) OpenVoting(ctx context.Context) error {
	for _, e := range append([][]byte{f.RollEntry}, f.CredentialEntries...) {
		if _, err := f.Election.Append(ctx, e); err != nil {
			return err
		}
	}
	f.Opts.progress("roll commitment and public credentials recorded")
	if _, err := f.Election.Append(ctx, (&election.Open{At: election.Now(time.Now())}).Entry()); err != nil {
		return err
	}
	f.Opts.progress("voting is open")
	return nil
}

// Ceremony runs the trustees' three rounds, each message an entry (as
// "scrutin trustee deal", "check" and "finish" post them).
func (f *Fixture) Ceremony(ctx context.Context) error {
	r := &f.Manifest.Roster
	var dealings [][]byte
	appendMsg := func(m []byte) error {
		_, err := f.Election.Append(ctx, append([]byte{election.TypeCeremony}, m...))
		return err
	}
	for j := 1; j <= r.N(); j++ {
		d, err := crypto.Deal(nil, r, j, f.trustees[j-1])
		if err != nil {
			return err
		}
		dealings = append(dealings, d)
		if err := appendMsg(d); err != nil {
			return err
		}
	}
	for j := 1; j <= r.N(); j++ {
		c, err := crypto.Complain(nil, r, j, f.trustees[j-1], dealings)
		if err != nil {
			return err
		}
		if err := appendMsg(c); err != nil {
			return err
		}
	}
	var out *crypto.Outcome
	f.Election.State(func(s *election.State) { out = s.Ceremony })
	for j := 1; j <= r.N(); j++ {
		share, err := out.Share(r, j, f.trustees[j-1])
		if err != nil {
			return err
		}
		c, err := out.Confirm(nil, r, j, f.trustees[j-1], share)
		if err != nil {
			return err
		}
		if err := appendMsg(c); err != nil {
			return err
		}
	}
	key, _ := out.PublicKey.MarshalText()
	f.Opts.progress("trustees' ceremony complete (3 of 5): election key %s", key)
	return nil
}

// credentials makes a code per member (the credential authority's job),
// writes the mail-merge file, seals the sign-in list, and makes the entries
// of the roll's commitment and of the public credentials.
func (f *Fixture) credentials() error {
	salt := make([]byte, 32)
	rand.Read(salt)
	os.WriteFile(filepath.Join(f.Dir(), "roll-salt"), salt, 0o600)
	f.RollEntry = (&election.Roll{Commitment: f.Roll.Commitment(salt), Voters: len(f.Roll.Members)}).Entry()
	issued, err := credauth.Generate(f.Roll, f.F, nil)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := credauth.MailMerge(&buf, issued); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(f.Dir(), "credentials.csv"), buf.Bytes(), 0o600); err != nil {
		return err
	}
	for _, is := range issued {
		f.Codes = append(f.Codes, is.Code)
		f.Emails = append(f.Emails, server.NormalizeEmail(is.Member.Email))
	}
	buf.Reset()
	if err := credauth.SignInList(&buf, issued); err != nil {
		return err
	}
	if _, err := server.ImportSignInList(f.Dir(), &buf); err != nil {
		return err
	}
	f.CredentialEntries = credauth.Entries(issued, f.Manifest.Groups())
	if f.Opts.Authority {
		secret, entry, err := credauth.NewAuthority(nil)
		if err != nil {
			return err
		}
		if f.Authority, err = credauth.ParseAuthority(secret); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(f.Dir(), "authority.key"), secret, 0o600); err != nil {
			return err
		}
		f.CredentialEntries = append(f.CredentialEntries, entry)
	}
	f.Opts.progress("credentials: %d codes in %s (mail merge), the sign-in list sealed in %s", len(issued), filepath.Join(f.Dir(), "credentials.csv"), filepath.Join(f.Dir(), server.SignInListFile))
	return nil
}

func demoManifest(id string, r crypto.Roster, logKey ed25519.PublicKey) *election.Manifest {
	t := func(en, fr string) election.Text { return election.Text{"en": en, "fr": fr} }
	title := t("scrutin demo election", "Élection de démonstration scrutin")
	if n, ok := strings.CutPrefix(id, "demo-"); ok {
		// demo-2, demo-3…: told apart on the server's home page.
		title = t("scrutin demo election "+n, "Élection de démonstration scrutin "+n)
	}
	return &election.Manifest{
		Contests: []election.Contest{
			{ID: "leader", Min: 1, Max: 1, Title: t("Party leader", "Direction du parti"), Options: []election.Option{
				{ID: "ada", Title: t("Ada Lovelace", "Ada Lovelace")},
				{ID: "grace", Title: t("Grace Hopper", "Grace Hopper")},
				{ID: "alan", Title: t("Alan Turing", "Alan Turing")},
			}},
			{ID: "motion-1", Min: 0, Max: 1, Title: t("Adopt the new statutes?", "Adopter les nouveaux statuts ?"), Options: []election.Option{
				{ID: "yes", Title: t("Yes", "Oui")}, {ID: "no", Title: t("No", "Non")},
			}},
			// Only members in Belgium (the roll's group "be") vote here.
			{ID: "delegate-be", Eligible: "be", Min: 0, Max: 1, Title: t("Delegate for Belgium", "Délégué·e pour la Belgique"), Options: []election.Option{
				{ID: "emmy", Title: t("Emmy Noether", "Emmy Noether")}, {ID: "kurt", Title: t("Kurt Gödel", "Kurt Gödel")},
			}},
		},
		Description: t("A demonstration election run by scrutin demo.", "Une élection de démonstration lancée par scrutin demo."),
		LogKey:      election.Bytes(logKey),
		Roster:      r,
		Title:       title,
		Window:      demoWindow(time.Now()),
	}
}

// demoWindow is the demo's voting window: from the 1st of the current
// month, 09:00 UTC, to the 8th of the same month a year later, 18:00 UTC.
// A server refuses ballots after the end (spec §18.7), so the end is in
// the future; it changes once a month, so that two demos set up together
// have the same manifest.
func demoWindow(now time.Time) election.Window {
	now = now.UTC()
	opens := time.Date(now.Year(), now.Month(), 1, 9, 0, 0, 0, time.UTC)
	closes := time.Date(now.Year()+1, now.Month(), 8, 18, 0, 0, 0, time.UTC)
	return election.Window{Opens: opens.Format(election.TimeFormat), Closes: closes.Format(election.TimeFormat)}
}

// generateRoll makes a members CSV: voters eligible members (two of them
// sharing an e-mail, which the report flags) and some ineligible rows.
func generateRoll(voters int, seed uint64) []byte {
	r := mrand.New(mrand.NewPCG(seed, 7))
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"member_id", "name", "email", "status", "joined", "country", "region"})
	countries := []string{"FR", "BE", "CH"}
	for i := 1; i <= voters; i++ {
		email := fmt.Sprintf("member%d@example.org", i)
		if i == 2 && voters > 2 {
			email = "member1@example.org"
		}
		country := countries[r.IntN(3)]
		w.Write([]string{fmt.Sprintf("M%06d", i), fmt.Sprintf("Member %d", i), email, "active",
			fmt.Sprintf("%d-%02d-%02d", 2000+r.IntN(26), 1+r.IntN(12), 1+r.IntN(28)), country, strings.ToLower(country)})
	}
	extra := max(3, voters/50)
	for k := range extra {
		i := voters + 1 + k
		row := []string{fmt.Sprintf("M%06d", i), fmt.Sprintf("Member %d", i), fmt.Sprintf("member%d@example.org", i), "active", "2015-06-01", "FR", "fr"}
		switch k % 4 {
		case 0:
			row[3] = "lapsed"
		case 1:
			row[4] = "2027-01-05" // after the cut-off
		case 2:
			row[5] = "US"
		case 3:
			row[2] = "not an address"
		}
		w.Write(row)
	}
	w.Flush()
	return b.Bytes()
}

// Tally is the expected count per contest and option.
type Tally [][]uint64

// Vote has every member vote through the HTTP API at url (Revote of them
// twice, the second ballot counting), verifies every receipt, and returns
// the counts the result must show.
func (f *Fixture) Vote(ctx context.Context, url string) (Tally, error) {
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: f.Opts.Workers}}
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	origin := board.Origin(f.F)
	n := len(f.Codes)
	r := mrand.New(mrand.NewPCG(f.Opts.Seed, 11))
	type job struct {
		voter   int
		choices [][]int
	}
	var jobs []job
	final := make([][][]int, n)
	for v := range n {
		times := 1
		if r.Float64() < f.Opts.Revote {
			times = 2
		}
		for range times {
			ch := [][]int{{r.IntN(3)}, {}, nil}
			if r.IntN(4) > 0 {
				ch[1] = []int{r.IntN(2)}
			}
			if slices.Contains(f.Roll.Members[v].Groups, "be") {
				ch[2] = []int{}
				if r.IntN(5) > 0 {
					ch[2] = []int{r.IntN(2)}
				}
			}
			final[v] = ch
			jobs = append(jobs, job{v, ch})
		}
	}
	// Re-votes are cast after every first ballot, so that they come later
	// in the log.
	firsts, seconds := make([]job, 0, n), []job{}
	seen := make([]bool, n)
	for _, j := range jobs {
		if seen[j.voter] {
			seconds = append(seconds, j)
		} else {
			seen[j.voter] = true
			firsts = append(firsts, j)
		}
	}
	var done atomic.Int64
	start := time.Now()
	for _, batch := range [][]job{firsts, seconds} {
		ch := make(chan job)
		errs := make(chan error, f.Opts.Workers)
		var wg sync.WaitGroup
		for range f.Opts.Workers {
			wg.Go(func() {
				for j := range ch {
					if err := f.castOne(ctx, client, url, view, origin, j.voter, j.choices); err != nil {
						errs <- fmt.Errorf("voter %d: %w", j.voter, err)
						return
					}
					if d := done.Add(1); d%1000 == 0 {
						f.Opts.progress("%d ballots cast (%.0f/s)", d, float64(d)/time.Since(start).Seconds())
					}
				}
			})
		}
	feed:
		for _, j := range batch {
			select {
			case ch <- j:
			case err := <-errs:
				close(ch)
				wg.Wait()
				return nil, err
			case <-ctx.Done():
				break feed
			}
		}
		close(ch)
		wg.Wait()
		select {
		case err := <-errs:
			return nil, err
		default:
		}
	}
	f.Opts.progress("%d voters cast %d ballots over HTTP in %v (%d re-votes); every receipt verified", n, len(jobs), time.Since(start).Round(time.Millisecond), len(seconds))
	want := make(Tally, len(f.Manifest.Contests))
	for c, ct := range f.Manifest.Contests {
		want[c] = make([]uint64, len(ct.Options))
	}
	for _, ch := range final {
		for c, opts := range ch {
			for _, o := range opts {
				want[c][o]++
			}
		}
	}
	return want, nil
}

func (f *Fixture) castOne(ctx context.Context, client *http.Client, url string, view *election.Election, origin string, voter int, choices [][]int) error {
	k, err := election.CredentialKey(f.F, f.Codes[voter])
	if err != nil {
		return err
	}
	entry, err := view.NewBallot(nil, k, choices)
	if err != nil {
		return err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, f.API(url)+"/ballots", bytes.NewReader(entry[1:]))
	req.Header.Set("Content-Type", "application/json")
	if !f.Opts.NoSignIn {
		token, err := f.SignIn(ctx, client, url, f.Emails[voter])
		if err != nil {
			return fmt.Errorf("signing in: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("the server answered %s: %s", resp.Status, body)
	}
	var rc server.Receipt
	if err := json.Unmarshal(body, &rc); err != nil {
		return err
	}
	return server.VerifyReceipt(&rc, entry, origin, f.LogKey)
}

// CastAs has member voter (in roll order) cast a ballot over HTTP, with
// the first option of the first two contests, signing in first if the election needs it.
func (f *Fixture) CastAs(ctx context.Context, url string, voter int) error {
	client := &http.Client{Timeout: time.Minute}
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	return f.castOne(ctx, client, url, view, board.Origin(f.F), voter, f.Choices(voter, []int{0}, []int{0}))
}

// Choices completes a voter's answers to the first two contests with a
// blank answer to the delegate contest if the voter is in Belgium (and nil,
// not eligible, otherwise).
func (f *Fixture) Choices(voter int, leader, motion []int) [][]int {
	ch := [][]int{leader, motion, nil}
	if slices.Contains(f.Roll.Members[voter].Groups, "be") {
		ch[2] = []int{}
	}
	return ch
}

// SignIn does what a voter does (spec §20.3): ask for a code, read it in
// the mailbox, and exchange it for a voter token. Members sharing an
// address take turns, as a household would.
func (f *Fixture) SignIn(ctx context.Context, client *http.Client, url, email string) (string, error) {
	mu, _ := f.mailboxes.LoadOrStore(email, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	n := f.Mail.Count(email)
	var ch struct {
		Challenge string `json:"challenge"`
	}
	if err := postJSON(ctx, client, f.API(url)+"/sign-in", map[string]string{"email": email}, http.StatusAccepted, &ch); err != nil {
		return "", err
	}
	code, err := f.Mail.WaitCode(ctx, email, n)
	if err != nil {
		return "", err
	}
	var tok struct {
		Token string `json:"token"`
	}
	if err := postJSON(ctx, client, f.API(url)+"/sign-in/verify", map[string]string{"email": email, "challenge": ch.Challenge, "code": code}, http.StatusOK, &tok); err != nil {
		return "", err
	}
	return tok.Token, nil
}

func postJSON(ctx context.Context, client *http.Client, url string, body any, want int, out any) error {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("the server answered %s: %s", resp.Status, rb)
	}
	if out != nil {
		return json.Unmarshal(rb, out)
	}
	return nil
}

// Finish closes voting, records the tally, has trustees 1, 3 and 5 decrypt,
// and records the result.
func (f *Fixture) Finish(ctx context.Context) (*election.Result, error) {
	if err := f.CloseAndTally(ctx); err != nil {
		return nil, err
	}
	if err := f.Decrypt(ctx); err != nil {
		return nil, err
	}
	result, err := f.Publish(ctx)
	if err != nil {
		return nil, err
	}
	f.Opts.progress("trustees 1, 3 and 5 decrypted; result recorded")
	return result, nil
}

// CloseAndTally closes voting and records the tally.
func (f *Fixture) CloseAndTally(ctx context.Context) error {
	e := f.Election
	if _, err := e.Append(ctx, (&election.Close{At: election.Now(time.Now()), Reason: "closed by the demo"}).Entry()); err != nil {
		return err
	}
	var tally []byte
	var err error
	e.State(func(s *election.State) { tally, err = s.ExpectedTally() })
	if err != nil {
		return err
	}
	if _, err := e.Append(ctx, tally); err != nil {
		return err
	}
	f.Opts.progress("voting closed; tally of the counted ballots recorded")
	return nil
}

// Publish records the result from the recorded decryption shares.
func (f *Fixture) Publish(ctx context.Context) (*election.Result, error) {
	e := f.Election
	var res []byte
	var err error
	e.State(func(s *election.State) { res, err = s.ExpectedResult() })
	if err != nil {
		return nil, err
	}
	if _, err := e.Append(ctx, res); err != nil {
		return nil, err
	}
	var result *election.Result
	e.State(func(s *election.State) { result = s.Result })
	return result, nil
}

// Decrypt has trustees 1, 3 and 5 record their decryption shares of the
// tally (as "scrutin trustee decrypt" posts them).
func (f *Fixture) Decrypt(ctx context.Context) error {
	e := f.Election
	var out *crypto.Outcome
	var cts []*crypto.Ciphertext
	e.State(func(s *election.State) { out, cts = s.Ceremony, s.TallyCiphertexts() })
	r := &f.Manifest.Roster
	for _, j := range []int{1, 3, 5} {
		share, err := out.Share(r, j, f.trustees[j-1])
		if err != nil {
			return err
		}
		msg, err := out.DecryptShare(nil, r, j, f.trustees[j-1], share, cts)
		if err != nil {
			return err
		}
		if _, err := e.Append(ctx, append([]byte{election.TypeDecryption}, msg...)); err != nil {
			return err
		}
	}
	return nil
}

// Serve starts the web site and the HTTP API on a loopback port and returns its URL and a
// function that stops it.
func (f *Fixture) Serve(addr string) (string, func(), error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	// No per-client limit on browsing; turns as in production.
	// The trustees' invitations are kept in the store and mailed to the
	// outbox.
	// Members are told from the console through the outbox, as fast as
	// it takes them.
	wo := web.Options{Elections: f.Registry, Accounts: f.Staff, Browse: browse.New(browse.Limits{}), Trustees: f.DB, Mail: f.Mail.Send,
		Members: server.SignInLists(f.Opts.Dir), Mailings: f.DB.Shared(), MailRate: 1000}
	if f.Opts.NoConsoleMail {
		wo.Mail = nil
	}
	site, err := web.New(wo)
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	f.site = site
	if h := f.Opts.Host; h != nil && h.site == nil {
		h.site = site
	}
	srv := server.NewHTTPServer(addr, site)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}

// API is the address of the election's API on the server at url.
func (f *Fixture) API(url string) string { return url + "/api/e/" + f.ID }

// Log is the address of the election's published log on the server at url.
func (f *Fixture) Log(url string) string { return url + "/e/" + f.ID + "/log" }

// ElectionID is the default election's id: its pages are under /e/demo/.
const ElectionID = "demo"

// Check compares a result with the expected counts.
func Check(result *election.Result, want Tally) error {
	for c := range want {
		if !slices.Equal(result.Contests[c].Counts, want[c]) {
			return fmt.Errorf("contest %d: the result counts %v, the voters cast %v", c+1, result.Contests[c].Counts, want[c])
		}
	}
	return nil
}

// Run sets up an election, has every member vote over HTTP on loopback,
// and closes it with the result; it returns the fixture (whose store the
// caller closes), the votes cast and the result.
func Run(ctx context.Context, o Options) (*Fixture, Tally, *election.Result, error) {
	f, err := Setup(ctx, o)
	if err != nil {
		return nil, nil, nil, err
	}
	url, stop, err := f.Serve("")
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	want, err := f.Vote(ctx, url)
	stop()
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	res, err := f.Finish(ctx)
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return f, want, res, nil
}

// Replace has the credential authority replace voter's lost credential
// (spec §18.8, as "scrutin credentials replace" does): it returns the
// replacement entry, for the officer to record, and the voter's code is
// the new one from then on.
func (f *Fixture) Replace(voter int) ([]byte, error) {
	if f.Authority == nil {
		return nil, errors.New("the demo has no credential authority's key (Options.Authority)")
	}
	issued := make([]credauth.Issued, len(f.Roll.Members))
	for i, m := range f.Roll.Members {
		issued[i] = credauth.Issued{Member: m, Code: f.Codes[i]}
	}
	is, entry, err := credauth.Replace(issued, f.Roll.Members[voter].ID, f.F, f.Authority, nil, time.Now())
	if err != nil {
		return nil, err
	}
	f.Codes[voter] = is.Code
	return entry, nil
}

// CastWith casts voter's ballot (choosing leader) with the credential of
// code, signing in as the voter, through the server at url.
func (f *Fixture) CastWith(ctx context.Context, url string, voter int, code string, leader []int) error {
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	if view == nil {
		return errors.New("voting is not open")
	}
	saved := f.Codes[voter]
	f.Codes[voter] = code
	defer func() { f.Codes[voter] = saved }()
	return f.castOne(ctx, http.DefaultClient, url, view, board.Origin(f.F), voter, f.Choices(voter, leader, []int{}))
}
