package web_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/web"
)

// The trustee page's tests make keystores at a low scrypt work factor
// (web.SetTrusteeWorkFactor, a knob of the tests only), and so does the
// command line (--work-factor).
const testWorkFactor = "10"

// scrutinCLI builds the scrutin command.
func scrutinCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "scrutin")
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "../cmd/scrutin").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// cli runs the scrutin command; it returns its output and whether it
// succeeded.
func cli(bin string, args ...string) (string, bool) {
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader("")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err == nil
}

func mustCLI(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, ok := cli(bin, args...)
	if !ok {
		t.Fatalf("scrutin %s: %s", strings.Join(args, " "), out)
	}
	return out
}

// pageTrustee is a trustee on the trustee page, in a browser of its own
// whose downloads go to dir.
type pageTrustee struct {
	name, pass string
	ctx        context.Context
	dir        string
}

func newPageTrustee(t *testing.T, name string) *pageTrustee {
	p := &pageTrustee{name: name, pass: "the passphrase of " + name, ctx: browser(t), dir: t.TempDir()}
	run(t, p.ctx, "downloads", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: p.dir})
		return err
	}))
	return p
}

// download waits for the trustee's n-th download and returns its path
// (Chromium names them by a GUID).
func (p *pageTrustee) download(t *testing.T, n int) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	var names []string
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir(p.dir)
		type file struct {
			name string
			at   time.Time
		}
		var got []file
		names = names[:0]
		for _, e := range entries {
			names = append(names, e.Name())
			if fi, err := e.Info(); err == nil && !strings.HasSuffix(e.Name(), ".crdownload") && fi.Size() > 0 {
				got = append(got, file{e.Name(), fi.ModTime()})
			}
		}
		if len(got) >= n {
			slices.SortFunc(got, func(a, b file) int { return a.at.Compare(b.at) })
			return filepath.Join(p.dir, got[n-1].name)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: no download %d (the folder holds %q)", p.name, n, names)
	return ""
}

// makeIdentity makes the trustee's identity on the page at u; it returns
// the keystore file and identity.json downloaded.
func (p *pageTrustee) makeIdentity(t *testing.T, u string) (keystore, identity string) {
	t.Helper()
	run(t, p.ctx, "make "+p.name+"'s identity", chromedp.Navigate(u), chromedp.WaitEnabled(css("#create-go")),
		chromedp.SendKeys(css("#trustee-name"), p.name), chromedp.SendKeys(css("#trustee-pass"), p.pass),
		chromedp.SendKeys(css("#trustee-pass2"), p.pass), chromedp.Click(css("#create-go")), chromedp.WaitVisible(css("#created")))
	keystore = p.download(t, 1)
	run(t, p.ctx, "public identity", chromedp.Click(css("#download-identity")))
	return keystore, p.download(t, 2)
}

// open opens a keystore file on the trustee page at u.
func (p *pageTrustee) open(t *testing.T, u, keystore, pass string) {
	t.Helper()
	run(t, p.ctx, p.name+" opens a keystore", chromedp.Navigate(u), chromedp.WaitEnabled(css("#open-go")),
		chromedp.SetUploadFiles(css("#keystore-file"), []string{keystore}), chromedp.SendKeys(css("#open-pass"), pass),
		chromedp.Click(css("#open-go")))
}

// waitStep waits until the page's step title starts with want, failing
// early on an error shown.
func (p *pageTrustee) waitStep(t *testing.T, want string) {
	t.Helper()
	last := ""
	for {
		if st := p.state(); !strings.Contains(st, "deadline") {
			last = st
		}
		title, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.getElementById("step-title").textContent`))
		if err == nil && strings.HasPrefix(title, want) {
			return
		}
		if e, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(e => e.hidden ? "" : e.textContent)(document.getElementById("trustee-error"))`)); e != "" {
			t.Fatalf("%s: waiting for %q, the page says: %s", p.name, want, e)
		}
		select {
		case <-p.ctx.Done():
			t.Fatalf("%s waits for %q: %v; the page shows: %s", p.name, want, p.ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// state is what the page shows of its state.
func (p *pageTrustee) state() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`["trustee-status", "trustee-error", "step-title", "step-text", "step-waiting", "step-plan"].map(id => id + ": " + document.getElementById(id).textContent).join(" | ")`))
	if err != nil {
		return err.Error()
	}
	return s
}

// waitError waits for the page's error and returns it.
func (p *pageTrustee) waitError(t *testing.T) string {
	t.Helper()
	return value(t, p.ctx, p.name+"'s error", chromedp.Poll[string](`(e => e.hidden || !e.textContent ? null : e.textContent)(document.getElementById("trustee-error"))`))
}

// TestBrowserTrustees is the acceptance test of issue 16: three trustees
// run the key ceremony and decrypt through a real server, Ada on the
// command line and Bea and Cy on the trustee page in two browsers, with no
// file moved by hand but each one's own keystore file. Cy's keystore, made
// in the browser, decrypts on the command line (scrutin trustee unpack);
// Ada's, made on the command line, decrypts in the browser (scrutin
// trustee pack). The result is published and verifies.
func TestBrowserTrustees(t *testing.T) { trusteesOnline(t, false) }

// TestBrowserTrusteesCheater: the same, with Mallory instead of Cy, who
// deals Bea a bad share (a dealing made in Go and posted): Bea's page
// complains, Mallory is excluded and named on the page and by scrutin
// trustee status, and Ada and Bea make the key and decrypt.
func TestBrowserTrusteesCheater(t *testing.T) { trusteesOnline(t, true) }

func trusteesOnline(t *testing.T, cheat bool) {
	web.SetTrusteeWorkFactor(10)
	t.Cleanup(func() { web.SetTrusteeWorkFactor(0) })
	bin := scrutinCLI(t)
	root := t.TempDir()
	const id = "board-2027"

	// Before the election exists, the trustees make their identities:
	// Bea (and Cy) on the trustee page, with an invitation the server
	// does not know (it takes none: the page says to send the file).
	early := httptest.NewServer(must(web.New(web.Options{Elections: manyElections{}})))
	defer early.Close()
	bea := newPageTrustee(t, "Bea")
	beaKeystore, beaIdentity := bea.makeIdentity(t, early.URL+"/e/"+id+"/trustee#invite=abcdefghijklmnopqrstuv")
	if got := text(t, bea.ctx, "#invite-result"); !strings.Contains(got, "send the file identity.json") {
		t.Errorf("the invitation's failure says %q", got)
	}
	screenshot(t, bea.ctx, "trustee-identity")
	checkPage(t, bea.ctx, "trustee page, identity made")
	ada := filepath.Join(root, "ada")
	adaPass := filepath.Join(root, "ada.pass")
	os.WriteFile(adaPass, []byte("the passphrase of Ada\n"), 0o600)
	mustCLI(t, bin, "trustee", "init", "--name", "Ada", "--dir", ada, "--passphrase-file", adaPass, "--work-factor", testWorkFactor)
	identities := []string{filepath.Join(ada, trustee.IdentityPublicFile), beaIdentity}
	var cy *pageTrustee
	var cyKeystore string
	var mallory *crypto.TrusteeSecrets
	if cheat {
		var err error
		if mallory, err = crypto.NewTrusteeSecrets(nil); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, "mallory.json")
		os.WriteFile(p, trustee.PublicJSON(&crypto.Trustee{Name: "Mallory", Signing: mallory.Signing.PublicKey(), Encryption: mallory.Encryption.PublicKey()}), 0o644)
		identities = append(identities, p)
	} else {
		cy = newPageTrustee(t, "Cy")
		var cyIdentity string
		cyKeystore, cyIdentity = cy.makeIdentity(t, early.URL+"/e/"+id+"/trustee")
		identities = append(identities, cyIdentity)
	}
	// The officer makes the roster from the identity files and records
	// the manifest.
	rosterDir := filepath.Join(root, "roster")
	mustCLI(t, bin, append([]string{"trustee", "roster", "--ceremony", rosterDir, "--label", "Board 2027", "--threshold", "2"}, identities...)...)
	roster, err := trustee.Ceremony{Dir: rosterDir}.Roster()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 6, Workers: 2, Seed: 11, NoSignIn: true, Roster: roster, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	address := base + "/e/" + id
	page := address + "/trustee"

	// Refusals: a wrong passphrase, a file that is no keystore, and a
	// keystore not on the roster, each said plainly.
	bea.open(t, page, beaKeystore, "not the passphrase")
	if got := bea.waitError(t); !strings.Contains(got, "Wrong passphrase") {
		t.Errorf("a wrong passphrase: %q", got)
	}
	bea.open(t, page, beaIdentity, bea.pass)
	if got := bea.waitError(t); !strings.Contains(got, "not a scrutin trustee keystore") {
		t.Errorf("a file that is no keystore: %q", got)
	}
	stranger := filepath.Join(root, "stranger.age")
	kf, _, _ := trustee.NewKeystoreFile(nil, "Stranger")
	sealed, _ := kf.Seal(bea.pass, 10)
	os.WriteFile(stranger, sealed, 0o600)
	// Before the manifest, the page waits for it.
	bea.open(t, page, stranger, bea.pass)
	waitFor(t, bea.ctx, "no manifest yet", `document.getElementById("step-text").textContent === "" && document.getElementById("step-title").textContent.includes("has not recorded this election yet")`)
	if err := f.RecordManifest(ctx); err != nil {
		t.Fatal(err)
	}
	run(t, bea.ctx, "check again", chromedp.Click(css("#step-again")))
	if got := bea.waitError(t); !strings.Contains(got, "is not among this election's trustees") || !strings.Contains(got, "Stranger") {
		t.Errorf("a keystore not on the roster: %q", got)
	}

	// The ceremony: each trustee on its own, at once.
	var wg sync.WaitGroup
	var adaOut string
	var adaOK bool
	as := func(args ...string) []string {
		return append(args, "--election", address, "--dir", ada, "--passphrase-file", adaPass)
	}
	wg.Go(func() {
		for _, step := range [][]string{{"trustee", "deal"}, {"trustee", "check", "--wait", "3m"}, {"trustee", "finish", "--wait", "3m", "--work-factor", testWorkFactor}} {
			out, ok := cli(bin, as(step...)...)
			adaOut += out
			if adaOK = ok; !ok {
				return
			}
		}
	})
	if cheat {
		// Mallory deals Bea (trustee 2) a share off its polynomial, then
		// checks the others' dealings as they do.
		wg.Go(func() {
			r := &f.Manifest.Roster
			d, err := crypto.Deal(nil, r, 3, mallory)
			if err == nil {
				_, err = f.Election.Append(ctx, append([]byte{election.TypeCeremony}, badShare(t, r, mallory, d, 2)...))
			}
			for deadline := time.Now().Add(3 * time.Minute); err == nil; time.Sleep(200 * time.Millisecond) {
				var dealings [][]byte
				f.Election.State(func(s *election.State) {
					for _, m := range s.CeremonyMessages() {
						if m[0] == 1 {
							dealings = append(dealings, m)
						}
					}
				})
				if len(dealings) == 3 {
					var c []byte
					if c, err = crypto.Complain(nil, r, 3, mallory, dealings); err == nil {
						_, err = f.Election.Append(ctx, append([]byte{election.TypeCeremony}, c...))
					}
					break
				}
				if time.Now().After(deadline) {
					err = fmt.Errorf("Mallory saw %d dealings", len(dealings))
				}
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	bea.open(t, page, beaKeystore, bea.pass)
	if !cheat {
		cy.open(t, page, cyKeystore, cy.pass)
	}
	bea.waitStep(t, "The election key is made")
	screenshot(t, bea.ctx, "trustee-key-made")
	checkPage(t, bea.ctx, "trustee page, key made")
	if !cheat {
		cy.waitStep(t, "The election key is made")
	}
	wg.Wait()
	if !adaOK || !strings.Contains(adaOut, "the ceremony is complete") {
		t.Fatalf("Ada on the command line:\n%s", adaOut)
	}
	// Each browser trustee's keystore with its share was downloaded (and
	// can be saved again).
	beaKeystore = bea.download(t, 3)
	run(t, bea.ctx, "save the keystore again", chromedp.Click(css("#download-updated")))
	if again := bea.download(t, 4); !sameFile(beaKeystore, again) {
		t.Error("the keystore saved again differs")
	}
	if !cheat {
		cyKeystore = cy.download(t, 3)
	}
	if cheat {
		faults := text(t, bea.ctx, "#step-faults-list")
		if !strings.Contains(faults, "Trustee 3 (Mallory) is excluded") {
			t.Errorf("the page does not name the cheater: %q", faults)
		}
		if out, _ := cli(bin, "trustee", "status", "--election", address); !strings.Contains(out, "trustee 3 (Mallory)") {
			t.Errorf("scrutin trustee status does not name the cheater:\n%s", out)
		}
	}
	var key *crypto.PublicKey
	f.Election.State(func(s *election.State) {
		if s.Ceremony != nil && s.Ceremony.Complete {
			key = s.Ceremony.PublicKey
		}
	})
	if key == nil {
		t.Fatal("the ceremony is not complete in the log")
	}

	// The vote.
	if err := f.OpenVoting(ctx); err != nil {
		t.Fatal(err)
	}
	want, err := f.Vote(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CloseAndTally(ctx); err != nil {
		t.Fatal(err)
	}

	// Bea decrypts in the browser, after seeing what.
	bea.open(t, page, beaKeystore, bea.pass)
	bea.waitStep(t, "Decrypt the result")
	what := text(t, bea.ctx, "#decrypt-what")
	if !strings.Contains(what, "counted ballots") || !strings.Contains(what, "Contest") {
		t.Errorf("the page does not say what it decrypts: %q", what)
	}
	screenshot(t, bea.ctx, "trustee-decrypt")
	if eval[bool](t, bea.ctx, `getComputedStyle(document.getElementById("step-again")).display !== "none"`) {
		t.Error("a hidden button shows")
	}
	checkPage(t, bea.ctx, "trustee page, decrypt")
	run(t, bea.ctx, "decrypt", chromedp.Click(css("#decrypt-yes")))
	bea.waitStep(t, "Your decryption is sent")

	if cheat {
		// Ada decrypts on the command line.
		mustCLI(t, bin, as("trustee", "decrypt", "--yes")...)
	} else {
		// Cy's keystore, made in the browser, decrypts on the command
		// line; Ada's, made on the command line, in the browser.
		cyDir := filepath.Join(root, "cy")
		cyPass := filepath.Join(root, "cy.pass")
		os.WriteFile(cyPass, []byte(cy.pass+"\n"), 0o600)
		mustCLI(t, bin, "trustee", "unpack", "--dir", cyDir, "--passphrase-file", cyPass, "--work-factor", testWorkFactor, cyKeystore)
		mustCLI(t, bin, "trustee", "decrypt", "--election", address, "--dir", cyDir, "--passphrase-file", cyPass, "--yes")
		adaFile := filepath.Join(root, "ada.age")
		mustCLI(t, bin, "trustee", "pack", "--dir", ada, "--passphrase-file", adaPass, "--work-factor", testWorkFactor, "--out", adaFile)
		cy.open(t, page, adaFile, "the passphrase of Ada")
		cy.waitStep(t, "Decrypt the result")
		run(t, cy.ctx, "decrypt", chromedp.Click(css("#decrypt-yes")))
		cy.waitStep(t, "Your decryption is sent")
	}
	var decrypted []int
	f.Election.State(func(s *election.State) { decrypted = s.Decrypted() })
	if wantD := map[bool][]int{false: {1, 2, 3}, true: {1, 2}}[cheat]; !slices.Equal(decrypted, wantD) {
		t.Fatalf("decryptions from trustees %v, want %v", decrypted, wantD)
	}

	// The result is published, is the votes cast, and verifies.
	result, err := f.Publish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(result.Contests[0].Counts); got != fmt.Sprint(want[0]) {
		t.Errorf("result %s, want %v", got, want[0])
	}
	if out := mustCLI(t, bin, "verify", address); !strings.Contains(out, "VALID") {
		t.Errorf("scrutin verify:\n%s", out)
	}
	bea.open(t, page, beaKeystore, bea.pass)
	bea.waitStep(t, "The result is published")
}

// checkPage checks that the page fits a 360-px screen and, with
// SCRUTIN_AXE, passes the accessibility check.
func checkPage(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if eval[bool](t, ctx, `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Errorf("%s scrolls sideways on a 360-px screen", what)
	}
	if os.Getenv("SCRUTIN_AXE") != "" {
		checkAxe(t, ctx, axe(t), what)
	}
}

func sameFile(a, b string) bool {
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestBrowserTrusteeKeyboard: a trustee makes its identity and saves its
// public identity with the keyboard alone, and the focus goes to what the
// page says next.
func TestBrowserTrusteeKeyboard(t *testing.T) {
	web.SetTrusteeWorkFactor(10)
	t.Cleanup(func() { web.SetTrusteeWorkFactor(0) })
	srv := httptest.NewServer(must(web.New(web.Options{Elections: manyElections{}})))
	defer srv.Close()
	p := newPageTrustee(t, "Kay")
	focused := func() string {
		return eval[string](t, p.ctx, `document.activeElement ? document.activeElement.id : ""`)
	}
	tabTo := func(id string) {
		t.Helper()
		for range 40 {
			if focused() == id {
				return
			}
			run(t, p.ctx, "tab", chromedp.KeyEvent("\t"))
		}
		t.Fatalf("Tab never reaches #%s", id)
	}
	run(t, p.ctx, "open the page", chromedp.Navigate(srv.URL+"/e/board-2027/trustee"), chromedp.WaitEnabled(css("#create-go")))
	tabTo("trustee-name")
	run(t, p.ctx, "name", chromedp.KeyEvent("Kay"))
	tabTo("trustee-pass")
	run(t, p.ctx, "passphrase", chromedp.KeyEvent(p.pass))
	tabTo("trustee-pass2")
	run(t, p.ctx, "passphrase again", chromedp.KeyEvent(p.pass+"\r"), chromedp.WaitVisible(css("#created")))
	if focused() != "created-text" {
		t.Errorf("once the identity is made, the focus is on %q", focused())
	}
	p.download(t, 1)
	tabTo("download-identity")
	run(t, p.ctx, "save the public identity", chromedp.KeyEvent("\r"))
	if _, err := trustee.ReadPublicIdentity(p.download(t, 2)); err != nil {
		t.Fatalf("the public identity saved: %v", err)
	}
}

// TestBrowserTrusteeSeesAnotherLog: the trustee page remembers the
// checkpoint it verified, and when the server, after a pause, shows
// another log at the election's address, it says to stop and takes no step.
func TestBrowserTrusteeSeesAnotherLog(t *testing.T) {
	web.SetTrusteeWorkFactor(10)
	t.Cleanup(func() { web.SetTrusteeWorkFactor(0) })
	ctx := context.Background()
	kf, pub, err := trustee.NewKeystoreFile(nil, "Bea")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := crypto.NewTrusteeSecrets(nil)
	roster := &crypto.Roster{Label: "Board 2027", Threshold: 1, Trustees: []crypto.Trustee{*pub, {Name: "Ada", Signing: other.Signing.PublicKey(), Encryption: other.Encryption.PublicKey()}}}
	roster.ID, _ = crypto.NewCeremonyID(nil)
	p := newPageTrustee(t, "Bea")
	keystore := filepath.Join(t.TempDir(), "bea.age")
	sealed, _ := kf.Seal(p.pass, 10)
	os.WriteFile(keystore, sealed, 0o600)
	serve := func(addr string) (string, func()) {
		f, err := demo.Prepare(ctx, demo.Options{Dir: t.TempDir(), Voters: 2, Workers: 1, Seed: 5, NoSignIn: true, Roster: roster, ID: "board-2027"})
		if err != nil {
			t.Fatal(err)
		}
		base, stop, err := f.Serve(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.RecordManifest(ctx); err != nil {
			t.Fatal(err)
		}
		return base, func() { stop(); f.Close() }
	}
	base, stop := serve("")
	p.open(t, base+"/e/board-2027/trustee", keystore, p.pass)
	p.waitStep(t, "Waiting for the other trustees to deal")
	if got := text(t, p.ctx, "#step-waiting"); !strings.Contains(got, "Ada") {
		t.Errorf("the page waits for %q", got)
	}
	stop()
	waitFor(t, p.ctx, "the log cannot be read", `document.getElementById("step-title").textContent.includes("cannot be read now")`)
	_, stop = serve(strings.TrimPrefix(base, "http://"))
	defer stop()
	if got := p.waitError(t); !strings.Contains(got, "the server now shows another record") {
		t.Fatalf("another log: %q", got)
	}
}
