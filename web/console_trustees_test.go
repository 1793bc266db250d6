package web_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
)

// badShare makes dealer i's dealing give trustee j a share off its
// committed polynomial (spec §13.2), re-signed by the dealer, as a
// cheating dealer would.
func badShare(t *testing.T, r *crypto.Roster, s *crypto.TrusteeSecrets, dealing []byte, j int) []byte {
	t.Helper()
	off := 1 + 32 + 4 + crypto.ElementSize*r.Threshold + crypto.KnowledgeProofSize + crypto.ElementSize + crypto.KnowledgeProofSize + crypto.ScalarSize*(j-1)
	body := slices.Clone(dealing[:len(dealing)-crypto.SignatureSize])
	body[off] ^= 0x01
	m, err := crypto.SealCeremonyMessage(nil, r, s, body)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var trusteeRowRE = regexp.MustCompile(`(?s)<tr id="trustee-(\d+)">(.*?)</tr>`)
var cellRE = regexp.MustCompile(`(?s)<t[hd][^>]*>(.*?)</t[hd]>`)
var tagRE = regexp.MustCompile(`<[^>]*>`)

// trusteeRows returns the console's trustees' table, one line per trustee,
// its cells joined by "|".
func trusteeRows(body string) []string {
	var out []string
	for _, m := range trusteeRowRE.FindAllStringSubmatch(body, -1) {
		var texts []string
		for _, c := range cellRE.FindAllStringSubmatch(m[2], -1) {
			texts = append(texts, strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(c[1], ""))))
		}
		out = append(out, strings.Join(texts, "|"))
	}
	return out
}

// trusteesElection is an election whose trustees are outside the demo
// (its roster made of their identities), with the manifest recorded.
type trusteesElection struct {
	f       *demo.Fixture
	base    string
	admin   *http.Cookie
	secrets []*crypto.TrusteeSecrets
	r       *crypto.Roster
}

func newTrusteesElection(t *testing.T, names []string, threshold int) *trusteesElection {
	t.Helper()
	ctx := context.Background()
	id, err := crypto.NewCeremonyID(nil)
	if err != nil {
		t.Fatal(err)
	}
	roster := &crypto.Roster{Label: "console test", ID: id, Threshold: threshold}
	var secrets []*crypto.TrusteeSecrets
	for _, n := range names {
		s, err := crypto.NewTrusteeSecrets(nil)
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, s)
		roster.Trustees = append(roster.Trustees, crypto.Trustee{Name: n, Signing: s.Signing.PublicKey(), Encryption: s.Encryption.PublicKey()})
	}
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 4, Workers: 2, Seed: 5, Roster: roster})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := f.StaffSession(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	return &trusteesElection{f: f, base: base, admin: admin, secrets: secrets, r: &f.Manifest.Roster}
}

func (e *trusteesElection) record(t *testing.T, typ byte, msg []byte) {
	t.Helper()
	if _, err := e.f.Election.Append(context.Background(), append([]byte{typ}, msg...)); err != nil {
		t.Fatal(err)
	}
}

// console is the election's console's page, in lang.
func (e *trusteesElection) console(t *testing.T, lang string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", e.base+el+"/console", nil)
	req.Header.Set("Accept-Language", lang)
	req.AddCookie(e.admin)
	resp, body := doBody(t, http.DefaultClient, req)
	if resp.StatusCode != 200 || strings.Contains(body, "MISSING:") {
		i := strings.Index(body, "MISSING:")
		t.Fatalf("console (%s): %s %.80s", lang, resp.Status, body[max(i, 0):])
	}
	return body
}

// TestConsoleShowsTrustees follows an election with four outside trustees
// (threshold 3) on the officer's console: trustee 2 deals trustee 4 a bad
// share and is named and excluded, trustee 1 complains falsely about
// trustee 3 and is named, and the console says at each step who it waits
// for, with the command and this election's address.
func TestConsoleShowsTrustees(t *testing.T) {
	ctx := context.Background()
	names := []string{"Ada", "Bob", "Cy", "Dee"}
	e := newTrusteesElection(t, names, 3)
	f, base, admin, secrets, r := e.f, e.base, e.admin, e.secrets, e.r
	record := func(typ byte, msg []byte) { t.Helper(); e.record(t, typ, msg) }
	console := func(lang string) string { t.Helper(); return e.console(t, lang) }
	address := base + el
	check := func(stage string, rows []string, has, hasNot []string) {
		t.Helper()
		body := console("en")
		if got := trusteeRows(body); !slices.Equal(got, rows) {
			t.Errorf("%s: trustees\n%q\nwant\n%q", stage, got, rows)
		}
		text := html.UnescapeString(tagRE.ReplaceAllString(body, ""))
		for _, s := range has {
			if !strings.Contains(text, s) {
				t.Errorf("%s: the console does not say %q", stage, s)
			}
		}
		for _, s := range hasNot {
			if strings.Contains(text, s) {
				t.Errorf("%s: the console says %q", stage, s)
			}
		}
		console("fr") // every string in both catalogs
	}

	check("manifest", []string{
		"Trustee 1 (Ada)|not yet|not yet|not yet",
		"Trustee 2 (Bob)|not yet|not yet|not yet",
		"Trustee 3 (Cy)|not yet|not yet|not yet",
		"Trustee 4 (Dee)|not yet|not yet|not yet",
	}, []string{"to deal (first step): Trustee 1 (Ada), Trustee 2 (Bob), Trustee 3 (Cy), Trustee 4 (Dee).", "scrutin trustee deal --election " + address},
		[]string{"Decryption shares", "excluded", "scrutin trustee check"})

	// Everyone deals; trustee 2 deals trustee 4 a share off its polynomial.
	var dealings [][]byte
	for j := 1; j <= 4; j++ {
		d, err := crypto.Deal(nil, r, j, secrets[j-1])
		if err != nil {
			t.Fatal(err)
		}
		if j == 2 {
			d = badShare(t, r, secrets[1], d, 4)
		}
		dealings = append(dealings, d)
		if j < 4 {
			record(election.TypeCeremony, d)
		}
	}
	check("three dealt", []string{
		"Trustee 1 (Ada)|yes|not yet|not yet",
		"Trustee 2 (Bob)|yes|not yet|not yet",
		"Trustee 3 (Cy)|yes|not yet|not yet",
		"Trustee 4 (Dee)|not yet|not yet|not yet",
	}, []string{"to deal (first step): Trustee 4 (Dee).", "to check the others' dealings: Trustee 1 (Ada), Trustee 2 (Bob), Trustee 3 (Cy).", "scrutin trustee check --election " + address},
		[]string{"excluded"})
	record(election.TypeCeremony, dealings[3])

	// The complaints round: trustee 4 complains, rightly, about trustee 2;
	// trustee 1, shown another dealing of trustee 3's, complains wrongly.
	for j := 1; j <= 4; j++ {
		ds := dealings
		if j == 1 {
			ds = slices.Clone(dealings)
			ds[2] = badShare(t, r, secrets[2], dealings[2], 1)
		}
		c, err := crypto.Complain(nil, r, j, secrets[j-1], ds)
		if err != nil {
			t.Fatal(err)
		}
		record(election.TypeCeremony, c)
	}
	excluded := "Trustee 2 (Bob) dealt shares that do not match their commitments (another trustee's complaint proves it): they are excluded; the election key is made by the others."
	falseComplaint := "Trustee 1 (Ada) complained about trustee 3 (Cy), but the public check shows the complaint is wrong or not proved: it changes nothing, and trustee 3 stays."
	check("checked", []string{
		"Trustee 1 (Ada)|yes|yes|not yet",
		"Trustee 2 (Bob)|yes|yes|not yet",
		"Trustee 3 (Cy)|yes|yes|not yet",
		"Trustee 4 (Dee)|yes|yes|not yet",
	}, []string{excluded, falseComplaint, "to confirm the election key: Trustee 1 (Ada), Trustee 2 (Bob), Trustee 3 (Cy), Trustee 4 (Dee).", "scrutin trustee finish --election " + address},
		[]string{"cannot make an election key", "scrutin trustee deal"})

	// The notices and the list of whom the console waits for pass the
	// accessibility check too (in both languages), and fit a phone.
	t.Run("accessible", func(t *testing.T) {
		script := axe(t)
		ctx := browser(t)
		_, codes := inviteCodes(t, base, admin, "ada@example.org", accounts.RoleAdmin, accounts.AllElections)
		run(t, ctx, "staff sign-in", chromedp.Navigate(base+"/staff/sign-in"), chromedp.WaitVisible(css("#password")),
			chromedp.SendKeys(css("#email"), "ada@example.org"), chromedp.SendKeys(css("#password"), "green kettle over the hills"),
			chromedp.Submit(css("#password")), chromedp.WaitVisible(css("details summary")), chromedp.Click(css("details summary")),
			chromedp.SendKeys(css("#recovery"), codes[0]), chromedp.Submit(css("#recovery")),
			chromedp.WaitVisible(css("#console-elections")))
		for _, lang := range []string{"en", "fr"} {
			if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`fetch("/lang", {method: "POST", body: new URLSearchParams({lang: "`+lang+`", back: "/"})}).then(r => r.ok)`, chromedp.EvalAwaitPromise)); err != nil {
				t.Fatal(err)
			}
			run(t, ctx, "the election's console", chromedp.Navigate(base+el+"/console"), chromedp.WaitVisible(css("#trustee-notices")), chromedp.WaitVisible(css("#trustee-waiting")))
			checkAxe(t, ctx, script, lang+" console: the trustees")
			// On a phone (the browser is 360 pixels wide): nothing wider
			// than the screen.
			if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1 || document.getElementById("trustees").getBoundingClientRect().right > window.innerWidth + 1`) {
				t.Errorf("%s: the console is wider than a phone's screen: %s", lang, eval[string](t, ctx, `[...document.querySelectorAll("main *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.tagName + "#" + e.id + " " + e.getBoundingClientRect().right + "/" + window.innerWidth + " " + e.textContent.slice(0, 40)).slice(0, 6).join(" | ")`))
			}
		}
	})

	// Trustees 1, 3 and 4 confirm: the ceremony is complete.
	var out *crypto.Outcome
	f.Election.State(func(s *election.State) { out = s.Ceremony })
	if !slices.Equal(out.Qualified, []int{1, 3, 4}) {
		t.Fatalf("qualified %v", out.Qualified)
	}
	shares := make(map[int]*crypto.SecretKey)
	for _, j := range []int{1, 3, 4} {
		share, err := out.Share(r, j, secrets[j-1])
		if err != nil {
			t.Fatal(err)
		}
		shares[j] = share
		c, err := out.Confirm(nil, r, j, secrets[j-1], share)
		if err != nil {
			t.Fatal(err)
		}
		record(election.TypeCeremony, c)
	}
	check("complete", []string{
		"Trustee 1 (Ada)|yes|yes|yes",
		"Trustee 2 (Bob)|yes|yes|not yet",
		"Trustee 3 (Cy)|yes|yes|yes",
		"Trustee 4 (Dee)|yes|yes|yes",
	}, []string{excluded, falseComplaint},
		[]string{"Waiting for:", "scrutin trustee finish"})

	// Voting, then the tally: the decryption shares are awaited.
	if err := f.OpenVoting(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.CloseAndTally(ctx); err != nil {
		t.Fatal(err)
	}
	check("tallied", []string{
		"Trustee 1 (Ada)|yes|yes|yes|not yet",
		"Trustee 2 (Bob)|yes|yes|not yet|not yet",
		"Trustee 3 (Cy)|yes|yes|yes|not yet",
		"Trustee 4 (Dee)|yes|yes|yes|not yet",
	}, []string{"Decryption shares: 0 of 3 needed.", "to send a decryption share: Trustee 1 (Ada), Trustee 2 (Bob), Trustee 3 (Cy), Trustee 4 (Dee).", "scrutin trustee decrypt --election " + address, "Any 3 trustees are enough to decrypt."},
		nil)
	var cts []*crypto.Ciphertext
	f.Election.State(func(s *election.State) { out, cts = s.Ceremony, s.TallyCiphertexts() })
	for _, j := range []int{1, 3} {
		msg, err := out.DecryptShare(nil, r, j, secrets[j-1], shares[j], cts)
		if err != nil {
			t.Fatal(err)
		}
		record(election.TypeDecryption, msg)
	}
	check("two shares", []string{
		"Trustee 1 (Ada)|yes|yes|yes|yes",
		"Trustee 2 (Bob)|yes|yes|not yet|not yet",
		"Trustee 3 (Cy)|yes|yes|yes|yes",
		"Trustee 4 (Dee)|yes|yes|yes|not yet",
	}, []string{"Decryption shares: 2 of 3 needed.", "to send a decryption share: Trustee 2 (Bob), Trustee 4 (Dee)."},
		nil)
	msg, err := out.DecryptShare(nil, r, 4, secrets[3], shares[4], cts)
	if err != nil {
		t.Fatal(err)
	}
	record(election.TypeDecryption, msg)
	if _, err := f.Publish(ctx); err != nil {
		t.Fatal(err)
	}
	check("decided", []string{
		"Trustee 1 (Ada)|yes|yes|yes|yes",
		"Trustee 2 (Bob)|yes|yes|not yet|not yet",
		"Trustee 3 (Cy)|yes|yes|yes|yes",
		"Trustee 4 (Dee)|yes|yes|yes|yes",
	}, []string{"Decryption shares: 3 of 3 needed."},
		[]string{"Waiting for:"})
}

// TestConsoleCeremonyFails: with three trustees and a threshold of 3, a
// dealer excluded for bad shares leaves too few for a key, and the console
// says that this election cannot open and what to do.
func TestConsoleCeremonyFails(t *testing.T) {
	e := newTrusteesElection(t, []string{"Ada", "Bob", "Cy"}, 3)
	var dealings [][]byte
	for j := 1; j <= 3; j++ {
		d, err := crypto.Deal(nil, e.r, j, e.secrets[j-1])
		if err != nil {
			t.Fatal(err)
		}
		if j == 2 {
			d = badShare(t, e.r, e.secrets[1], d, 3)
		}
		dealings = append(dealings, d)
		e.record(t, election.TypeCeremony, d)
	}
	body := html.UnescapeString(tagRE.ReplaceAllString(e.console(t, "en"), ""))
	if strings.Contains(body, "cannot make an election key") || strings.Contains(body, "excluded") {
		t.Fatalf("the ceremony is said to fail before any complaint:\n%s", body)
	}
	c, err := crypto.Complain(nil, e.r, 3, e.secrets[2], dealings)
	if err != nil {
		t.Fatal(err)
	}
	e.record(t, election.TypeCeremony, c)
	body = html.UnescapeString(tagRE.ReplaceAllString(e.console(t, "en"), ""))
	for _, want := range []string{
		"Trustee 2 (Bob) dealt shares that do not match their commitments",
		"The ceremony cannot make an election key: only 2 trustees can still take part, and 3 are needed. This election cannot open: set up a new election",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the console does not say %q", want)
		}
	}
	fr := html.UnescapeString(tagRE.ReplaceAllString(e.console(t, "fr"), ""))
	if !strings.Contains(fr, "Le garant 2 (Bob) a distribué des parts qui ne correspondent pas") || !strings.Contains(fr, "seuls 2 garants peuvent encore y prendre part, et il en faut 3") {
		t.Errorf("the French console does not say it")
	}
}

// TestConsoleNamesEquivocationAndMissingDealer: trustee 1 signs two
// different dealings and trustee 4 never deals; trustees 2 and 3 (the
// threshold) complete the ceremony without them, and the console names both
// in plain words.
func TestConsoleNamesEquivocationAndMissingDealer(t *testing.T) {
	e := newTrusteesElection(t, []string{"Ada", "Bob", "Cy", "Dee"}, 2)
	var dealings [][]byte
	for _, j := range []int{1, 1, 2, 3} {
		d, err := crypto.Deal(nil, e.r, j, e.secrets[j-1])
		if err != nil {
			t.Fatal(err)
		}
		dealings = append(dealings, d)
		e.record(t, election.TypeCeremony, d)
	}
	equivocated := "Trustee 1 (Ada) signed two different dealings: they are excluded; the election key is made by the others."
	text := func(lang string) string { return html.UnescapeString(tagRE.ReplaceAllString(e.console(t, lang), "")) }
	if body := text("en"); !strings.Contains(body, equivocated) || strings.Contains(body, "did not deal") {
		t.Fatalf("before the key is fixed: equivocation not named, or trustee 4 blamed already:\n%s", body)
	}
	for _, j := range []int{2, 3} {
		c, err := crypto.Complain(nil, e.r, j, e.secrets[j-1], dealings[2:])
		if err != nil {
			t.Fatal(err)
		}
		e.record(t, election.TypeCeremony, c)
	}
	var out *crypto.Outcome
	e.f.Election.State(func(s *election.State) { out = s.Ceremony })
	for _, j := range []int{2, 3} {
		share, err := out.Share(e.r, j, e.secrets[j-1])
		if err != nil {
			t.Fatal(err)
		}
		c, err := out.Confirm(nil, e.r, j, e.secrets[j-1], share)
		if err != nil {
			t.Fatal(err)
		}
		e.record(t, election.TypeCeremony, c)
	}
	body := text("en")
	for _, want := range []string{equivocated, "Trustee 4 (Dee) did not deal before the key was fixed: the election key is made by the others. Nothing to do."} {
		if !strings.Contains(body, want) {
			t.Errorf("the console does not say %q", want)
		}
	}
	if strings.Contains(body, "Waiting for:") || strings.Contains(body, "cannot make an election key") {
		t.Errorf("a complete ceremony still waits, or is said to fail:\n%s", body)
	}
	if got := trusteeRows(e.console(t, "en")); !slices.Equal(got, []string{
		"Trustee 1 (Ada)|yes|not yet|not yet",
		"Trustee 2 (Bob)|yes|yes|yes",
		"Trustee 3 (Cy)|yes|yes|yes",
		"Trustee 4 (Dee)|not yet|not yet|not yet",
	}) {
		t.Errorf("trustees %q", got)
	}
	if fr := text("fr"); !strings.Contains(fr, "Le garant 1 (Ada) a signé deux distributions différentes") || !strings.Contains(fr, "Le garant 4 (Dee) n'a pas distribué") {
		t.Errorf("the French console does not name them")
	}

	// Trustee 4 deals at last: ignored, and said so, not taken for a
	// cheat.
	d, err := crypto.Deal(nil, e.r, 4, e.secrets[3])
	if err != nil {
		t.Fatal(err)
	}
	e.record(t, election.TypeCeremony, d)
	body = text("en")
	if !strings.Contains(body, "Trustee 4 (Dee) dealt after the key was fixed: that dealing is ignored") || strings.Contains(body, "Trustee 4 (Dee) dealt shares that do not match") || strings.Contains(body, "Trustee 4 (Dee) did not deal") {
		t.Errorf("a late dealing is not reported as late:\n%s", body)
	}
	if !strings.Contains(body, equivocated) {
		t.Errorf("the equivocation is no longer named")
	}
}

var faultsRE = regexp.MustCompile(`(?s)<ul id="fault-details">(.*?)</ul>`)

// TestConsoleFaultsInFrench: the details of the ceremony's faults are in
// the page's language, each kind of fault crypto reports in its own words,
// naming the trustee, never crypto's English reasons nor Go's printing of
// a struct.
func TestConsoleFaultsInFrench(t *testing.T) {
	e := newTrusteesElection(t, []string{"Ada", "Bob", "Cy", "Dee"}, 2)
	var dealings [][]byte
	for _, j := range []int{1, 1, 2, 3} {
		d, err := crypto.Deal(nil, e.r, j, e.secrets[j-1])
		if err != nil {
			t.Fatal(err)
		}
		dealings = append(dealings, d)
		e.record(t, election.TypeCeremony, d)
	}
	for _, j := range []int{2, 3} {
		c, err := crypto.Complain(nil, e.r, j, e.secrets[j-1], dealings[2:])
		if err != nil {
			t.Fatal(err)
		}
		e.record(t, election.TypeCeremony, c)
	}
	faults := func(lang string) string {
		m := faultsRE.FindStringSubmatch(e.console(t, lang))
		if m == nil {
			t.Fatalf("no details of the faults (%s)", lang)
		}
		return html.UnescapeString(tagRE.ReplaceAllString(m[1], ""))
	}
	fr := faults("fr")
	for _, want := range []string{"Garant 1 (Ada) : a signé deux distributions différentes", "Garant 4 (Dee) : n'a envoyé aucune distribution valable"} {
		if !strings.Contains(fr, want) {
			t.Errorf("the French details lack %q:\n%s", want, fr)
		}
	}
	if strings.Contains(fr, "equivocation") || strings.Contains(fr, "sent no valid dealing") || strings.Contains(fr, "{") {
		t.Errorf("the French details hold English or Go's printing:\n%s", fr)
	}
	if en := faults("en"); !strings.Contains(en, "Trustee 1 (Ada): signed two different dealings") || strings.Contains(en, "{") {
		t.Errorf("the English details:\n%s", en)
	}
}
