package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/scrutin/scrutin/accounts"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/clientip"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/dirlock"
	"github.com/scrutin/scrutin/internal/mailer"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
	"github.com/scrutin/scrutin/web"
)

func serveCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("serve", "--dir DIR [--db URL] [--log-key-file FILE] [--addr ADDR] [--smtp HOST:PORT --smtp-from ADDRESS …] [--sign-in off]",
		`Serve runs every election stored in DIR (SQLite) or in the PostgreSQL database
--db: it replays the logs of the elections being set up or voted on to rebuild
their state (decided ones are loaded when first asked for), then serves the
web pages (the voting booth, the public log, results, the verifier, the staff
console) and, for each election ID, its API under /api/e/ID/ and its published
log under /e/ID/log/; /healthz and /metrics are the server's. An election
whose log fails to load is reported (on /healthz too) and the others serve.
Each election's log key is derived from the master seed read from
--log-key-file (by default DIR/log.key, made on first start); an election of a
folder made before elections had ids is election "main", its files moved to
DIR/checkpoints/main and DIR/elections/main/ on first start.

Voters sign in with a one-time code sent by e-mail before casting (a second
factor beside the credential, docs/spec.md §20): this needs each election's
sign-in list, loaded with "scrutin voters import --election ID", and an SMTP
server (--smtp, --smtp-from). An election without its list takes no ballots.
Sign-in can be turned off explicitly with --sign-in off (for load tests, or
credentials given in person).`)
	dir := fs.String("dir", "", "data folder")
	db := fs.String("db", "", "PostgreSQL URL instead of SQLite in --dir")
	keyFile := fs.String("log-key-file", "", "file holding the 32-byte master seed of the elections' log keys (default DIR/log.key)")
	staffKey := fs.String("staff-key-file", "", "the key sealing staff secrets (default DIR/staff.key, made on first start)")
	publicURL := fs.String("public-url", "", "the address voters and staff reach the server at, e.g. https://vote.example.org (for links, and for passkeys, which need a domain name)")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
	signIn := fs.String("sign-in", "email", "voters' second factor: email (one-time codes), or off")
	smtpAddr := fs.String("smtp", "", "SMTP server for sign-in codes, host:port")
	smtpFrom := fs.String("smtp-from", "", "sender of sign-in codes, e.g. \"Elections <elections@example.org>\"")
	contactF := fs.String("contact", "", "whom voters write to when no sign-in code arrives, e.g. \"Elections <elections@example.org>\" (default: --smtp-from)")
	smtpUser := fs.String("smtp-username", "", "SMTP user name")
	smtpPass := fs.String("smtp-password-file", "", "file holding the SMTP password")
	smtpTLS := fs.String("smtp-tls", "starttls", "starttls, or none (only to a server on this machine)")
	hsts := fs.Bool("hsts", false, "send Strict-Transport-Security (when voters reach the server over HTTPS)")
	cpDir := fs.String("checkpoint-dir", "", "where the server keeps the latest checkpoint it signed of each election, outside the database (default DIR/"+server.CheckpointDir+"); never restore it from a backup")
	acceptRollback := fs.Bool("accept-rollback", false, "start even though an election's log does not extend the latest checkpoint this server signed (a database restored from an older backup): the acknowledged entries since are lost; the choice is logged")
	proxies := fs.String("trusted-proxy", "", "reverse proxies (CIDR, comma-separated) whose X-Forwarded-For names the client, for per-client limits")
	return fs, func(stdout, stderr io.Writer) int {
		if *dir == "" {
			// Staff accounts, sign-in lists and checkpoint files live there.
			fmt.Fprintln(stderr, "scrutin serve: --dir is required (with --db too: it holds the staff accounts, sign-in lists and checkpoint files)")
			return exitUsage
		}
		// One process per folder: two would both write the staff trail and
		// the store (issue 13, defect 3).
		l, err := dirlock.TryLock(*dir)
		if err != nil {
			return fail(stderr, "serve", fmt.Errorf("%w: is another \"scrutin serve\" or \"scrutin demo\" running on %s? Stop it first, or give another --dir", err, *dir))
		}
		defer l.Unlock()
		// The folder holds keys, the database and the sign-in lists: the
		// lock made it 0700 if it was missing; one made beforehand (mkdir,
		// a volume) is closed to other users here.
		if err := privateDir(*dir, stdout); err != nil {
			return fail(stderr, "serve", err)
		}
		var seed []byte
		if *keyFile == "" {
			// Made on first start (mode 0600), as "scrutin manifest new"
			// does: no key is ever shipped.
			var created bool
			if seed, created, err = atrest.LoadOrCreateKey(filepath.Join(*dir, demo.LogKeyFile)); err != nil {
				return fail(stderr, "serve", fmt.Errorf("the log key: %w", err))
			}
			if created {
				fmt.Fprintf(stdout, "a new log signing key was made in %s (readable only by you)\n", filepath.Join(*dir, demo.LogKeyFile))
			}
		} else if seed, err = atrest.LoadKey(*keyFile); err != nil {
			return fail(stderr, "serve", fmt.Errorf("failed to read the log key: %w", err))
		}
		// Checked before anything starts (the setup link is minted below).
		if c := cmp.Or(*contactF, *smtpFrom); c != "" {
			if _, err := mail.ParseAddress(c); err != nil {
				return fail(stderr, "serve", fmt.Errorf("the voters' contact %q (--contact, or --smtp-from) is not an e-mail address like \"Elections <elections@example.org>\": %w", c, err))
			}
		}
		var mc mailer.Config
		switch *signIn {
		case "off":
		case "email":
			mc = mailer.Config{Addr: *smtpAddr, From: *smtpFrom, Username: *smtpUser, TLS: *smtpTLS}
			if *smtpAddr == "" || *smtpFrom == "" {
				return fail(stderr, "serve", errors.New("voter sign-in sends codes by e-mail: give --smtp and --smtp-from (or --sign-in off)"))
			}
			if *smtpPass != "" {
				if st, err := os.Stat(*smtpPass); err == nil && st.Mode().Perm()&0o077 != 0 {
					return fail(stderr, "serve", fmt.Errorf("%s is readable by others than you: chmod 600 it", *smtpPass))
				}
				b, err := os.ReadFile(*smtpPass)
				if err != nil {
					return fail(stderr, "serve", err)
				}
				mc.Password = strings.TrimRight(string(b), "\r\n")
			}
			if err := mc.Check(); err != nil {
				return fail(stderr, "serve", err)
			}
		default:
			return fail(stderr, "serve", fmt.Errorf("--sign-in is email or off, not %q", *signIn))
		}
		var trusted []netip.Prefix
		for _, c := range strings.Split(*proxies, ",") {
			if c = strings.TrimSpace(c); c == "" {
				continue
			}
			p, err := netip.ParsePrefix(c)
			if err != nil {
				return fail(stderr, "serve", fmt.Errorf("--trusted-proxy: %w", err))
			}
			trusted = append(trusted, p)
		}
		// SIGTERM (systemctl stop, docker stop) is a request to stop, as
		// SIGINT is: both drain the requests in flight and close the store.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		loc := *dir
		if *db != "" {
			loc = *db
		}
		logger := slog.New(slog.NewJSONHandler(stderr, nil))
		// The port opens at once; until the logs are replayed every request,
		// /healthz included, gets 503 "starting".
		ln, err := net.Listen("tcp", *addr)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		sw := new(server.Switch)
		srv := server.NewHTTPServer(*addr, sw)
		defer srv.Close()
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		fmt.Fprintf(stdout, "starting on http://%s (it answers 503 \"starting\" until the logs are loaded)\n", ln.Addr())
		if *cpDir == "" {
			*cpDir = filepath.Join(*dir, server.CheckpointDir)
		}
		if err := server.MoveLegacyFiles(*dir, *cpDir); err != nil {
			return fail(stderr, "serve", err)
		}
		st, err := store.Open(ctx, loc)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		defer st.Close()
		var site *web.Site
		// The officers' check of election id (the staff accounts, through
		// the web site).
		officer := func(id string) func(r *http.Request, action string) (func(string), error) {
			return func(r *http.Request, action string) (func(string), error) { return site.Officer(id)(r, action) }
		}
		lim := server.DefaultSignInLimits
		lim.TrustedProxies = trusted
		// One budget per client for all the elections: a client asking
		// codes of every election gets no more than of one.
		lim.Clients = clientip.NewLimiters(lim.PerClient, lim.PerClientBurst)
		// Codes, their attempts, and the letter and ballot limits are the
		// database's: every node on it enforces them together.
		lim.State = st.Shared()
		var warnMu sync.Mutex
		warned := map[string]bool{}
		warn := func(id, msg string) {
			warnMu.Lock()
			defer warnMu.Unlock()
			if !warned[id+msg] {
				warned[id+msg] = true
				fmt.Fprintf(stdout, "election %s: %s\n", id, msg)
				logger.Warn(msg, "election", id)
			}
		}
		apiOptions := func(id string, e *server.Election) server.Options {
			o := server.Options{Logger: logger.With("election", id), Officer: officer(id)}
			if *signIn == "off" {
				o.NoSignIn = true
				return o
			}
			var phase election.Phase
			e.State(func(s *election.State) { phase = s.Phase })
			if phase == election.PhaseEmpty {
				return o // no fingerprint yet: made again with the manifest
			}
			edir := server.ElectionDir(*dir, id)
			key, voters, err := server.LoadSignInList(edir)
			if err != nil {
				if phase <= election.PhaseVoting {
					if errors.Is(err, os.ErrNotExist) {
						warn(id, fmt.Sprintf("no voters' sign-in list in %s: it takes no ballots; load it with \"scrutin voters import --dir %s --election %s\" and restart, or run with --sign-in off", edir, *dir, id))
					} else {
						warn(id, fmt.Sprintf("the voters' sign-in list cannot be read (%v): it takes no ballots", err))
					}
				}
				return o
			}
			if err := e.CheckSignInList(voters); err != nil {
				warn(id, fmt.Sprintf("%v: it takes no ballots", err))
				return o
			}
			si, err := server.NewSignIn(key, e.Fingerprint(), voters, mc, e.Title(), lim, logger.With("election", id))
			if err != nil {
				warn(id, fmt.Sprintf("voter sign-in: %v: it takes no ballots", err))
				return o
			}
			if phase <= election.PhaseVoting {
				warn(id, fmt.Sprintf("voter sign-in by e-mail code: %d voters on the list", len(voters)))
			}
			o.SignIn = si
			return o
		}
		reg, err := server.OpenRegistry(ctx, server.RegistryOptions{DB: st, MasterSeed: seed, CheckpointDir: *cpDir, AcceptRollback: *acceptRollback, Shared: store.IsPostgres(loc), Logger: logger, Handler: apiOptions})
		if err != nil && ctx.Err() != nil {
			// Stopped (SIGTERM, SIGINT) while replaying the logs: not a failure.
			fmt.Fprintln(stderr, "scrutin serve: stopped before serving")
			return exitOK
		}
		if err != nil {
			return fail(stderr, "serve", err)
		}
		defer reg.Close()
		list := reg.List()
		failed := 0
		for _, s := range list {
			if s.Failed != "" {
				failed++
				hint := ""
				if strings.Contains(s.Failed, server.ErrRolledBack.Error()) {
					hint = "\n(restore the latest backup of the database; or, only to accept the loss, run once with --accept-rollback; see \"Backup and restore\" in the README)"
				}
				fmt.Fprintf(stderr, "scrutin serve: election %s cannot be served: %s%s\n", s.ID, s.Failed, hint)
			}
		}
		if failed > 0 && failed == len(list) {
			// Nothing to serve: the operator must act (a single
			// election's server behaves as before).
			return fail(stderr, "serve", fmt.Errorf("no election can be served"))
		}
		switch {
		case len(list) == 1:
			fmt.Fprintln(stdout, "1 election")
		case failed == 0:
			fmt.Fprintf(stdout, "%d elections\n", len(list))
		default:
			fmt.Fprintf(stdout, "%d elections (%d cannot be served)\n", len(list), failed)
		}
		staff, err := openStaff(st.Shared(), *dir, *staffKey, *publicURL, *addr, *smtpAddr, *smtpFrom, *smtpUser, *smtpPass, *smtpTLS, "", stdout)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		defer staff.Close()
		// The site serves every election's pages, and the registry's API
		// and logs under them.
		wo := web.Options{Elections: reg, Logger: logger, Accounts: staff, PublicURL: *publicURL, TrustedProxies: trusted, HSTS: *hsts, Trustees: st, Contact: cmp.Or(*contactF, *smtpFrom)}
		if mail, err := siteMail(*smtpAddr, *smtpFrom, *smtpUser, *smtpPass, *smtpTLS); err != nil {
			return fail(stderr, "serve", err)
		} else if mail != nil {
			wo.Mail = mail.Send
		}
		site, err = web.New(wo)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		sw.Set(site)
		logger.Info("serving", "addr", ln.Addr().String())
		fmt.Fprintf(stdout, "serving http://%s\n", ln.Addr())
		// Serve returns as soon as Shutdown starts; the deferred closes of
		// the registry and the store wait until the requests in flight end
		// (or drainTimeout passes: a request still waiting then for the
		// store gets "try again", and nothing of it is appended). Closing
		// the store checkpoints SQLite's write-ahead log. An election that
		// stops (its store contradicts what it acknowledged) is marked
		// failed, and the others serve on.
		status := exitOK
		shutdown := make(chan struct{})
		go func() {
			defer close(shutdown)
			<-ctx.Done()
			logger.Info("stopping: draining requests in flight", "timeout", drainTimeout.String())
			sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				logger.Warn("requests still in flight after the drain timeout", "err", err)
			}
		}()
		if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fail(stderr, "serve", err)
		}
		<-shutdown
		logger.Info("stopped")
		return status
	}
}

// siteMail is the mail the console sends (the trustees' invitations), if
// --smtp and --smtp-from are given; else nil.
func siteMail(addr, from, user, passFile, tlsMode string) (*mailer.Config, error) {
	if addr == "" || from == "" {
		return nil, nil
	}
	mc := mailer.Config{Addr: addr, From: from, Username: user, TLS: tlsMode}
	if passFile != "" {
		b, err := os.ReadFile(passFile)
		if err != nil {
			return nil, err
		}
		mc.Password = strings.TrimRight(string(b), "\r\n")
	}
	if err := mc.Check(); err != nil {
		return nil, err
	}
	return &mc, nil
}

// drainTimeout bounds how long a stopping server waits for the requests in
// flight.
const drainTimeout = 10 * time.Second

// openStaff opens the staff accounts, kept in the database's shared state
// (the staff key in dir); on a fresh server (no
// account), it makes a one-time setup link, prints it, and writes it to
// DIR/setup-link (mode 0600).
func openStaff(shared *store.Shared, dir, keyFile, publicURL, addr, smtpAddr, smtpFrom, smtpUser, smtpPass, smtpTLS, title string, stdout io.Writer) (*accounts.Service, error) {
	o := accounts.Options{Dir: dir, KeyFile: keyFile, SiteName: "scrutin", Shared: shared}
	if title != "" {
		o.SiteName = "scrutin: " + title
	}
	base := "http://" + addr
	if publicURL != "" {
		u, err := url.Parse(publicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("--public-url must be like https://vote.example.org, not %q", publicURL)
		}
		base = u.Scheme + "://" + u.Host
		if net.ParseIP(u.Hostname()) == nil {
			o.RPID, o.RPOrigins = u.Hostname(), []string{base}
		}
	}
	if smtpAddr != "" && smtpFrom != "" {
		mc := mailer.Config{Addr: smtpAddr, From: smtpFrom, Username: smtpUser, TLS: smtpTLS}
		if smtpPass != "" {
			b, err := os.ReadFile(smtpPass)
			if err != nil {
				return nil, err
			}
			mc.Password = strings.TrimRight(string(b), "\r\n")
		}
		if err := mc.Check(); err != nil {
			return nil, err
		}
		o.Notify = func(to, subject, body string) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return mc.Send(ctx, to, subject, body)
		}
	}
	staff, err := accounts.Open(o)
	if err != nil {
		return nil, err
	}
	if staff.Empty() {
		path := filepath.Join(dir, "setup-link")
		link, exp, err := staff.SetupLink(path, base)
		if err != nil {
			staff.Close()
			return nil, err
		}
		fmt.Fprintf(stdout, "no staff account yet: create the first administrator with this one-time link (also in %s, readable only by you), before %s:\n  %s\n", path, exp.UTC().Format(time.RFC3339), link)
	}
	if o.RPID == "" {
		fmt.Fprintln(stdout, "passkeys are off (give --public-url with a domain name to allow them): staff enrol an authenticator app")
	}
	return staff, nil
}

// privateDir makes dir accessible to its owner only (mode 0700), saying so
// if it was not.
func privateDir(dir string, stdout io.Writer) error {
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		if err := os.Chmod(dir, perm&^0o077); err != nil {
			return fmt.Errorf("the data folder %s is open to other users (mode %v) and cannot be closed: %w; chmod 700 it", dir, perm, err)
		}
		fmt.Fprintf(stdout, "the data folder %s was open to other users (mode %v): it is now %v\n", dir, perm, perm&^0o077)
	}
	return nil
}
