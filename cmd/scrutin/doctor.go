package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// storedBytesPerEntryByte is how many bytes of SQLite database a log
// entry takes per byte of the entry (its hash, the index, page slack, the
// rest of the database): 1,564,672 bytes of scrutin.db for 1,137,621 bytes
// of entries after "scrutin demo --voters 300" (README, "Pre-flight
// check"), 1.38, rounded up.
const storedBytesPerEntryByte = 1.4

// doctorDial, in tests, reaches the server's domain names (which no DNS
// resolves) on loopback.
var doctorDial func(ctx context.Context, network, addr string) (net.Conn, error)

// doctorCheck is one line of the pre-flight check.
type doctorCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"` // pass, fail, or skip
	Detail string `json:"detail"`
}

func doctorCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("doctor", "(--config FILE | the flags of serve) [--mail-to ADDRESS] [--time-url URL] [--roots FILE] [--ballots-per-voter N] [--json]",
		`Doctor checks a server before an election opens, with the settings
"scrutin serve" runs with (its configuration file, or the same flags): the
clock against an independent HTTPS server's Date header, HTTPS at the public
URL (certificate valid, days to expiry), mail (a test message to --mail-to),
the database (reachable; opening it applies any pending migration, as serve
would), free disk for the ballots expected (measured from each election's
manifest: the size of a real ballot entry, times its voters), witnesses
(cosignatures kept against the latest checkpoint), and the modes of the
data folder and of every secret file. It prints one line per check, PASS,
FAIL or SKIP, or with --json one object, and exits 1 if any check fails.
Run it on the server's machine, as the server's user.`)
	cfg := new(serveConfig)
	cfg.flags(fs)
	configFile := fs.String("config", "", "the configuration file \"scrutin serve --config\" reads (instead of the flags)")
	mailTo := fs.String("mail-to", "", "send a test message to this address (the mail check is skipped without it)")
	timeURL := fs.String("time-url", "", "an HTTPS server whose Date header the clock is compared with (default: the ACME directory, "+letsEncryptURL+")")
	roots := fs.String("roots", "", "PEM file of roots trusted for the HTTPS checks, beside the system's (a private CA)")
	perVoter := fs.Float64("ballots-per-voter", 1, "ballots expected per voter (more if many re-vote)")
	asJSON := fs.Bool("json", false, "print the checks as JSON")
	return fs, func(stdout, stderr io.Writer) int {
		if *configFile != "" {
			c, err := loadServeConfig(*configFile)
			if err != nil {
				return fail(stderr, "doctor", err)
			}
			cfg = c
		}
		if cfg.Dir == "" {
			fmt.Fprintln(stderr, "scrutin doctor: give the server's settings: --config FILE, or --dir DIR and the other flags of serve")
			return exitUsage
		}
		hc := &http.Client{Timeout: 15 * time.Second}
		if *roots != "" {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			b, err := os.ReadFile(*roots)
			if err != nil || !pool.AppendCertsFromPEM(b) {
				return fail(stderr, "doctor", fmt.Errorf("--roots %s: no PEM certificate (%v)", *roots, err))
			}
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = &tls.Config{RootCAs: pool}
			hc.Transport = tr
		}
		if doctorDial != nil {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			if t, ok := hc.Transport.(*http.Transport); ok {
				tr = t
			}
			tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if h, _, _ := net.SplitHostPort(addr); contains(cfg.Domains, h) {
					return doctorDial(ctx, network, addr)
				}
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			hc.Transport = tr
		}
		ctx := context.Background()
		var checks []doctorCheck
		add := func(name string, err error, detail string) {
			c := doctorCheck{Name: name, Status: "pass", Detail: detail}
			if err != nil {
				c.Status, c.Detail = "fail", err.Error()
			}
			checks = append(checks, c)
		}
		skip := func(name, why string) { checks = append(checks, doctorCheck{name, "skip", why}) }

		// The settings themselves.
		if err := cfg.check(*configFile == ""); err != nil {
			add("config", err, "")
		} else {
			add("config", nil, "the settings are valid")
		}
		// The clock.
		tu := cmpOr(*timeURL, cmpOr(cfg.ACMEDirectory, letsEncryptURL))
		checks = append(checks, clockCheck(hc, tu))
		// HTTPS at the public URL.
		checks = append(checks, httpsCheck(hc, cfg.publicURL()))
		// Mail.
		if *mailTo == "" {
			skip("mail", "give --mail-to ADDRESS to send a test message")
		} else {
			checks = append(checks, mailCheck(ctx, cfg, *mailTo))
		}
		// The database, the disk and the witnesses.
		checks = append(checks, storeChecks(ctx, cfg, *perVoter)...)
		// Modes.
		checks = append(checks, modesCheck(cfg))

		failed := 0
		for _, c := range checks {
			if c.Status == "fail" {
				failed++
			}
		}
		if *asJSON {
			b, _ := json.MarshalIndent(struct {
				OK     bool          `json:"ok"`
				Checks []doctorCheck `json:"checks"`
			}{failed == 0, checks}, "", "  ")
			stdout.Write(append(b, '\n'))
		} else {
			for _, c := range checks {
				fmt.Fprintf(stdout, "%-4s  %-9s %s\n", strings.ToUpper(c.Status), c.Name, strings.ReplaceAll(c.Detail, "\n", "; "))
			}
			if failed > 0 {
				fmt.Fprintf(stdout, "%d of %d checks failed\n", failed, len(checks))
			} else {
				fmt.Fprintln(stdout, "every check passed")
			}
		}
		if failed > 0 {
			return exitFailure
		}
		return exitOK
	}
}

// maxSkew is how far the clock may be from the reference's: voting windows
// are checked against this server's clock.
const maxSkew = 5 * time.Second

// clockCheck reports this machine's time and zone, and its offset from the
// Date header of an independent HTTPS server (one-second resolution, so
// offsets under two seconds are noise). NTP itself is not used: its port is
// often closed to servers, and HTTPS is what the server needs anyway.
func clockCheck(hc *http.Client, url string) doctorCheck {
	now := time.Now()
	zone, _ := now.Zone()
	local := fmt.Sprintf("this machine: %s (%s, UTC%s)", now.Format(time.DateTime), zone, now.Format("-07:00"))
	start := time.Now()
	resp, err := hc.Head(url)
	if err != nil {
		return doctorCheck{"clock", "fail", fmt.Sprintf("%s; cannot compare it with %s: %v", local, url, err)}
	}
	resp.Body.Close()
	rtt := time.Since(start)
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return doctorCheck{"clock", "fail", fmt.Sprintf("%s; %s sent no Date header", local, url)}
	}
	// The Date was stamped during the round trip: compare with its
	// middle, truncated as the header is.
	mid := start.Add(rtt / 2)
	skew := mid.Sub(date.Add(500 * time.Millisecond)).Round(time.Second)
	detail := fmt.Sprintf("%s; %s off %s's Date", local, skew, url)
	if math.Abs(float64(skew)) > float64(maxSkew) {
		return doctorCheck{"clock", "fail", detail + fmt.Sprintf(" (more than %s: synchronise the clock, e.g. with systemd-timesyncd)", maxSkew)}
	}
	return doctorCheck{"clock", "pass", detail}
}

// minCertDays is how many days a certificate must still be valid: ACME
// renews 30 days before expiry, so fewer means renewal is failing.
const minCertDays = 14

// httpsCheck fetches the public URL's /healthz over HTTPS.
func httpsCheck(hc *http.Client, public string) doctorCheck {
	if public == "" {
		return doctorCheck{"https", "fail", "no public URL (--public-url or --domain): voters need an https:// address, and passkeys a domain name"}
	}
	if !strings.HasPrefix(public, "https://") {
		return doctorCheck{"https", "fail", public + " is not HTTPS: voters' browsers must reach the server over HTTPS (--domain, or a proxy serving HTTPS)"}
	}
	resp, err := hc.Get(public + "/healthz")
	if err != nil {
		return doctorCheck{"https", "fail", fmt.Sprintf("%s: %v", public, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	leaf := resp.TLS.PeerCertificates[0]
	days := int(time.Until(leaf.NotAfter).Hours() / 24)
	detail := fmt.Sprintf("%s/healthz: %d; certificate for %s by %q, %d days to expiry (%s)", public, resp.StatusCode, strings.Join(leaf.DNSNames, ", "), leaf.Issuer.CommonName, days, leaf.NotAfter.UTC().Format(time.DateOnly))
	switch {
	case resp.StatusCode != http.StatusOK:
		return doctorCheck{"https", "fail", detail + ": " + strings.TrimSpace(string(body))}
	case days < minCertDays:
		return doctorCheck{"https", "fail", detail + fmt.Sprintf(": under %d days, renewal is failing (see the server's log)", minCertDays)}
	case resp.Header.Get("Strict-Transport-Security") == "":
		return doctorCheck{"https", "fail", detail + ": no Strict-Transport-Security header (--hsts)"}
	}
	return doctorCheck{"https", "pass", detail}
}

// mailCheck sends a test message through the configured SMTP server.
func mailCheck(ctx context.Context, cfg *serveConfig, to string) doctorCheck {
	mc, err := siteMail(cfg.SMTP, cfg.SMTPFrom, cfg.SMTPUsername, cfg.SMTPPasswordFile, cfg.smtpTLS())
	if err != nil {
		return doctorCheck{"mail", "fail", err.Error()}
	}
	if mc == nil {
		return doctorCheck{"mail", "fail", "no mail server configured (--smtp, --smtp-from)"}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := mc.Send(ctx, to, "scrutin: test message", "This message was sent by \"scrutin doctor\" to check that the server's mail reaches you.\r\n"); err != nil {
		return doctorCheck{"mail", "fail", fmt.Sprintf("to %s through %s: %v", to, cfg.SMTP, err)}
	}
	return doctorCheck{"mail", "pass", fmt.Sprintf("a test message to %s went through %s: check that it arrived", to, cfg.SMTP)}
}

// storeChecks opens the database and checks, for each election still to
// vote, the disk it will need and its witnesses.
func storeChecks(ctx context.Context, cfg *serveConfig, perVoter float64) []doctorCheck {
	loc := cmpOr(cfg.DB, cfg.Dir)
	if _, err := os.Stat(cfg.Dir); cfg.DB == "" && err != nil {
		return []doctorCheck{{"database", "fail", fmt.Sprintf("%s: %v (the first start of \"scrutin serve\" makes it)", cfg.Dir, err)}}
	}
	// store.Open would make a missing database: made by doctor (often
	// run as root) it would be one the server's user cannot write.
	if _, err := os.Stat(filepath.Join(cfg.Dir, store.SQLiteFile)); cfg.DB == "" && err != nil {
		return []doctorCheck{{"database", "fail", fmt.Sprintf("no database yet: %v (the first start of \"scrutin serve\" makes it)", err)}}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, loc)
	if err != nil {
		return []doctorCheck{{"database", "fail", err.Error()}}
	}
	defer st.Close()
	infos, err := st.Elections(ctx)
	if err != nil {
		return []doctorCheck{{"database", "fail", err.Error()}}
	}
	what := "SQLite " + filepath.Join(cfg.Dir, "scrutin.db")
	if cfg.DB != "" {
		what = "PostgreSQL"
	}
	out := []doctorCheck{{"database", "pass", fmt.Sprintf("%s reachable and migrated; %d elections", what, len(infos))}}

	// Disk: the ballots still to come, for each election not closed.
	var need float64
	var parts []string
	var witnesses []string
	witnessFail := false
	cpDir := cmpOr(cfg.CheckpointDir, filepath.Join(cfg.Dir, server.CheckpointDir))
	for _, in := range infos {
		if sum, ok := server.SummaryOf(in); ok && sum.Phase > election.PhaseVoting {
			continue
		}
		size, voters, err := ballotSize(ctx, st, in.ID)
		if err != nil {
			parts = append(parts, fmt.Sprintf("%s: %v", in.ID, err))
			continue
		}
		if size > 0 {
			n := float64(voters) * perVoter * float64(size) * storedBytesPerEntryByte
			need += n
			parts = append(parts, fmt.Sprintf("%s: %d voters × %d-byte ballots ≈ %s", in.ID, voters, size, bytesString(n)))
		}
		if len(in.Witnesses) > 0 {
			signed, _ := checkpointSize(filepath.Join(cpDir, in.ID))
			cosigned, err := checkpointSize(filepath.Join(cpDir, in.ID+server.WitnessedSuffix))
			switch {
			case err != nil && signed > 0:
				witnessFail = true
				witnesses = append(witnesses, fmt.Sprintf("%s: %d witnesses, none has cosigned its log of %d entries (are they running \"scrutin witness run --submit\"?)", in.ID, len(in.Witnesses), signed))
			default:
				if cosigned < signed {
					witnesses = append(witnesses, fmt.Sprintf("%s: %d witnesses, cosigned up to %d entries of %d", in.ID, len(in.Witnesses), cosigned, signed))
				} else {
					witnesses = append(witnesses, fmt.Sprintf("%s: %d witnesses, cosigned up to %d entries", in.ID, len(in.Witnesses), cosigned))
				}
			}
		}
	}
	if cfg.DB != "" {
		out = append(out, doctorCheck{"disk", "skip", "the database is PostgreSQL's: check its server's disk (" + strings.Join(append(parts, "about "+bytesString(need)+" to come"), "; ") + ")"})
	} else {
		var fsst syscall.Statfs_t
		if err := syscall.Statfs(cfg.Dir, &fsst); err != nil {
			out = append(out, doctorCheck{"disk", "fail", err.Error()})
		} else {
			free := float64(fsst.Bavail) * float64(fsst.Bsize)
			// Twice the need: the write-ahead log, backups made
			// beside it.
			d := fmt.Sprintf("%s free in %s; the ballots to come need about %s", bytesString(free), cfg.Dir, bytesString(need))
			if len(parts) > 0 {
				d += " (" + strings.Join(parts, "; ") + ")"
			}
			status := "pass"
			if free < 2*need {
				status, d = "fail", d+": keep at least twice that free"
			}
			out = append(out, doctorCheck{"disk", status, d})
		}
	}
	switch {
	case len(witnesses) == 0:
		out = append(out, doctorCheck{"witnesses", "skip", "no election has witnesses (scrutin election witnesses)"})
	case witnessFail:
		out = append(out, doctorCheck{"witnesses", "fail", strings.Join(witnesses, "; ")})
	default:
		out = append(out, doctorCheck{"witnesses", "pass", strings.Join(witnesses, "; ")})
	}
	return out
}

// ballotSize replays an election's log and, if voting can start (its key
// made, credentials registered), encrypts a ballot for its manifest with a
// throw-away credential: the size of a real ballot entry; and the number of
// voters.
func ballotSize(ctx context.Context, st *store.DB, id string) (int, int, error) {
	l, err := st.Log(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	n, err := l.Size(ctx)
	if err != nil {
		return 0, 0, err
	}
	s := election.New()
	const batch = 1000
	for i := int64(0); i < n; i += batch {
		entries, err := l.ReadEntries(ctx, i, min(i+batch, n))
		if err != nil {
			return 0, 0, err
		}
		for _, e := range entries {
			if err := s.Apply(e); err != nil {
				return 0, 0, err
			}
		}
	}
	view, err := s.Voter()
	if err != nil || len(s.Credentials) == 0 {
		return 0, 0, nil // no key or no voters yet
	}
	code, err := election.NewCode(rand.Reader)
	if err != nil {
		return 0, 0, err
	}
	k, err := election.CredentialKey(view.Fingerprint, code)
	if err != nil {
		return 0, 0, err
	}
	choices := make([][]int, len(view.Manifest.Contests))
	for i := range choices {
		choices[i] = []int{0}
	}
	b, err := view.NewBallot(nil, k, choices)
	if err != nil {
		for i := range choices {
			choices[i] = nil
		}
		if b, err = view.NewBallot(nil, k, choices); err != nil {
			return 0, 0, fmt.Errorf("cannot make a sample ballot: %w", err)
		}
	}
	return len(b), len(s.Credentials), nil
}

// checkpointSize reads the tree size of a checkpoint file.
func checkpointSize(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := bytes.SplitN(b, []byte("\n"), 3)
	if len(lines) < 2 {
		return 0, errors.New("not a checkpoint")
	}
	return strconv.ParseInt(string(lines[1]), 10, 64)
}

func bytesString(n float64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", n/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", n/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", n/1e3)
	}
	return fmt.Sprintf("%.0f B", n)
}

// modesCheck lists what in the data folder, and which secret files named by
// the settings, other users can read.
func modesCheck(cfg *serveConfig) doctorCheck {
	var open []string
	n := 0
	look := func(path string) {
		st, err := os.Stat(path)
		if err != nil {
			return
		}
		n++
		if st.Mode().Perm()&0o077 != 0 {
			open = append(open, fmt.Sprintf("%s (%v)", path, st.Mode().Perm()))
		}
	}
	filepath.WalkDir(cfg.Dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil {
			look(path)
		}
		return nil
	})
	for _, p := range []string{cfg.LogKeyFile, cfg.StaffKeyFile, cfg.SMTPPasswordFile, cfg.CheckpointDir} {
		if p != "" {
			look(p)
		}
	}
	if len(open) > 0 {
		return doctorCheck{"modes", "fail", "open to other users: " + strings.Join(open, ", ") + " (chmod go-rwx them)"}
	}
	return doctorCheck{"modes", "pass", fmt.Sprintf("%d files and folders, none open to other users", n)}
}
