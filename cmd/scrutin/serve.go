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
	fs := newFlagSet("serve", "(--config FILE | --dir DIR [--db URL] [--domain NAME] [--addr ADDR] [--smtp HOST:PORT --smtp-from ADDRESS …] [--sign-in off] …) [--check-config]",
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
credentials given in person).

With --domain, it serves HTTPS itself, with certificates obtained and renewed
through ACME (Let's Encrypt by default), plain HTTP on --http-addr for the
challenge and a redirect, and Strict-Transport-Security; without, it serves
plain HTTP on --addr, for a reverse proxy that serves HTTPS (--trusted-proxy).
The data folder is made (mode 0700) if missing, and closed to other users if
not. The settings can be given in a JSON file instead (--config; never both),
and checked with --check-config (README: "Operating the server").`)
	cfg := new(serveConfig)
	cfg.flags(fs)
	configFile := fs.String("config", "", "read the settings from this JSON file instead of flags (README: \"Configuration file\"); only --check-config and --accept-rollback go with it")
	checkConfig := fs.Bool("check-config", false, "check the settings (and the files they name), print the effective configuration, and exit: 0 if valid, 1 if not")
	acceptRollback := fs.Bool("accept-rollback", false, "start even though an election's log does not extend the latest checkpoint this server signed (a database restored from an older backup): the acknowledged entries since are lost; the choice is logged")
	return fs, func(stdout, stderr io.Writer) int {
		flagNames := true
		if *configFile != "" {
			// One source of settings: a flag beside the file would be
			// a second, and which wins a question nobody should have to
			// answer at 3 a.m.
			var both []string
			fs.Visit(func(f *flag.Flag) {
				switch f.Name {
				case "config", "check-config", "accept-rollback":
				default:
					both = append(both, "--"+f.Name)
				}
			})
			if len(both) > 0 {
				fmt.Fprintf(stderr, "scrutin serve: %s with --config: give every setting in the configuration file, or none there (only --check-config and --accept-rollback go with --config)\n", strings.Join(both, ", "))
				return exitUsage
			}
			c, err := loadServeConfig(*configFile)
			if err != nil {
				return fail(stderr, "serve", err)
			}
			cfg, flagNames = c, false
		}
		if *checkConfig {
			stdout.Write(cfg.effective())
			if err := cfg.check(flagNames); err != nil {
				fmt.Fprintf(stderr, "scrutin serve: the configuration is not valid:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
				return exitFailure
			}
			fmt.Fprintln(stderr, "scrutin serve: the configuration is valid")
			return exitOK
		}
		if cfg.Dir == "" {
			// Staff accounts, sign-in lists and checkpoint files live there.
			fmt.Fprintln(stderr, "scrutin serve: --dir is required (with --db too: it holds the staff accounts, sign-in lists and checkpoint files)")
			return exitUsage
		}
		if err := cfg.check(flagNames); err != nil {
			return fail(stderr, "serve", err)
		}
		dir, keyFile, staffKey, db := &cfg.Dir, &cfg.LogKeyFile, &cfg.StaffKeyFile, &cfg.DB
		signIn, smtpAddr, smtpFrom, smtpUser, smtpPass := cfg.signIn(), &cfg.SMTP, &cfg.SMTPFrom, &cfg.SMTPUsername, &cfg.SMTPPasswordFile
		smtpTLS, contactF, cpDir, publicURL := cfg.smtpTLS(), &cfg.Contact, &cfg.CheckpointDir, cfg.publicURL()
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
		var mc mailer.Config
		if signIn == "email" {
			mc = mailer.Config{Addr: *smtpAddr, From: *smtpFrom, Username: *smtpUser, TLS: smtpTLS}
			if *smtpPass != "" {
				b, err := os.ReadFile(*smtpPass)
				if err != nil {
					return fail(stderr, "serve", err)
				}
				mc.Password = strings.TrimRight(string(b), "\r\n")
			}
		}
		var trusted []netip.Prefix
		for _, c := range cfg.TrustedProxies {
			trusted = append(trusted, netip.MustParsePrefix(c)) // checked above
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
		ln, err := net.Listen("tcp", cfg.addr())
		if err != nil {
			return fail(stderr, "serve", err)
		}
		sw := new(server.Switch)
		srv := server.NewHTTPServer(cfg.addr(), sw)
		defer srv.Close()
		scheme := "http"
		if cfg.https() {
			// HTTPS with certificates from ACME (Go's TLS defaults), and
			// plain HTTP beside it for http-01 and the redirect.
			scheme = "https"
			m, err := acmeManager(cfg)
			if err != nil {
				return fail(stderr, "serve", err)
			}
			srv.TLSConfig = m.TLSConfig()
			// Handshake failures (scanners, ACME errors) are logged, not
			// printed.
			srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelInfo)
			if ha := cfg.httpAddr(); ha != "" {
				hln, err := net.Listen("tcp", ha)
				if err != nil {
					return fail(stderr, "serve", fmt.Errorf("the HTTP listener (ACME's http-01 challenge and the redirect to HTTPS; --http-addr off for none): %w", err))
				}
				hsrv := server.NewHTTPServer(ha, m.HTTPHandler(redirectToHTTPS(cfg)))
				defer hsrv.Close()
				go hsrv.Serve(hln)
				fmt.Fprintf(stdout, "http://%s answers ACME's http-01 challenges and redirects to HTTPS\n", hln.Addr())
			}
			fmt.Fprintf(stdout, "certificates for %s from the ACME server %s, kept in %s\n", strings.Join(cfg.Domains, ", "), m.Client.DirectoryURL, filepath.Join(cfg.Dir, acmeCacheDir))
			go warmCertificates(ctx, m, cfg.Domains, stdout, logger)
		}
		served := make(chan error, 1)
		go func() {
			if cfg.https() {
				served <- srv.ServeTLS(ln, "", "")
			} else {
				served <- srv.Serve(ln)
			}
		}()
		fmt.Fprintf(stdout, "starting on %s://%s (it answers 503 \"starting\" until the logs are loaded)\n", scheme, ln.Addr())
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
			if signIn == "off" {
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
		staff, base, err := openStaff(st.Shared(), *dir, *staffKey, publicURL, scheme+"://"+linkAddr(cfg.addr(), ln.Addr()), *smtpAddr, *smtpFrom, *smtpUser, *smtpPass, smtpTLS, "", stdout)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		defer staff.Close()
		// The site serves every election's pages, and the registry's API
		// and logs under them.
		wo := web.Options{Elections: reg, Logger: logger, Accounts: staff, PublicURL: publicURL, TrustedProxies: trusted, HSTS: cfg.hsts(), Trustees: st, Contact: cmp.Or(*contactF, *smtpFrom),
			Members: server.SignInLists(*dir), Mailings: st.Shared()}
		if mail, err := siteMail(*smtpAddr, *smtpFrom, *smtpUser, *smtpPass, smtpTLS); err != nil {
			return fail(stderr, "serve", err)
		} else if mail != nil {
			wo.Mail = mail.Send
		}
		site, err = web.New(wo)
		if err != nil {
			return fail(stderr, "serve", err)
		}
		// The setup link last, once nothing can stop the start (issue
		// 17): a start that failed printed none, and the link it kept
		// from an earlier start is still the one.
		if err := printSetupLink(staff, *dir, base, stdout); err != nil {
			return fail(stderr, "serve", err)
		}
		sw.Set(site)
		logger.Info("serving", "addr", ln.Addr().String())
		fmt.Fprintf(stdout, "serving %s://%s\n", scheme, ln.Addr())
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
// (the staff key in dir), and returns the site's base address for links
// (--public-url, or local: scheme://host:port of the address listened on).
func openStaff(shared *store.Shared, dir, keyFile, publicURL, local, smtpAddr, smtpFrom, smtpUser, smtpPass, smtpTLS, title string, stdout io.Writer) (*accounts.Service, string, error) {
	o := accounts.Options{Dir: dir, KeyFile: keyFile, SiteName: "scrutin", Shared: shared}
	if title != "" {
		o.SiteName = "scrutin: " + title
	}
	base := local // the listener's address, scheme://host:port
	if publicURL != "" {
		u, err := url.Parse(publicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" && u.Path != "/" {
			return nil, "", fmt.Errorf("--public-url must be like https://vote.example.org, not %q", publicURL)
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
				return nil, "", err
			}
			mc.Password = strings.TrimRight(string(b), "\r\n")
		}
		if err := mc.Check(); err != nil {
			return nil, "", err
		}
		o.Notify = func(to, subject, body string) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			return mc.Send(ctx, to, subject, body)
		}
	}
	staff, err := accounts.Open(o)
	if err != nil {
		return nil, "", err
	}
	if o.RPID == "" {
		fmt.Fprintln(stdout, "passkeys are off (give --public-url with a domain name to allow them): staff enrol an authenticator app")
	}
	return staff, base, nil
}

// linkAddr is the address to put in links when there is no --public-url:
// --addr, with the port listened on if it asked for any (":0"), and
// localhost if it names no host or every address.
func linkAddr(addr string, ln net.Addr) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if _, p, err := net.SplitHostPort(ln.String()); err == nil && (port == "0" || port == "") {
		port = p
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// printSetupLink, on a fresh server (no account), prints the one-time
// setup link and writes it to DIR/setup-link (mode 0600): the one kept
// there while it is valid, so that a restart does not void it.
func printSetupLink(staff *accounts.Service, dir, base string, stdout io.Writer) error {
	if !staff.Empty() {
		return nil
	}
	path := filepath.Join(dir, "setup-link")
	link, exp, err := staff.SetupLink(path, base)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "no staff account yet: create the first administrator with this one-time link (also in %s, readable only by you), before %s:\n  %s\n", path, exp.UTC().Format(time.RFC3339), link)
	return nil
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
