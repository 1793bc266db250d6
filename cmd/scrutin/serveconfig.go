package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/mailer"
	"github.com/scrutin/scrutin/store"
)

// serveConfig is what "scrutin serve" runs with: its flags, or the same
// settings in a configuration file (--config), never both. Every secret is
// a path to a file readable only by its owner, never the secret itself.
// The zero value of each setting is its safe default.
type serveConfig struct {
	Dir              string   `json:"dir"`
	DB               string   `json:"db,omitempty"`
	LogKeyFile       string   `json:"log_key_file,omitempty"`
	StaffKeyFile     string   `json:"staff_key_file,omitempty"`
	CheckpointDir    string   `json:"checkpoint_dir,omitempty"`
	PublicURL        string   `json:"public_url,omitempty"`
	Addr             string   `json:"addr,omitempty"`
	Domains          []string `json:"domains,omitempty"`
	HTTPAddr         string   `json:"http_addr,omitempty"`
	ACMEDirectory    string   `json:"acme_directory,omitempty"`
	ACMECAFile       string   `json:"acme_ca_file,omitempty"`
	ACMEEmail        string   `json:"acme_email,omitempty"`
	HSTS             *bool    `json:"hsts,omitempty"`
	TrustedProxies   []string `json:"trusted_proxies,omitempty"`
	SignIn           string   `json:"sign_in,omitempty"`
	SMTP             string   `json:"smtp,omitempty"`
	SMTPFrom         string   `json:"smtp_from,omitempty"`
	SMTPUsername     string   `json:"smtp_username,omitempty"`
	SMTPPasswordFile string   `json:"smtp_password_file,omitempty"`
	SMTPTLS          string   `json:"smtp_tls,omitempty"`
	Contact          string   `json:"contact,omitempty"`
}

// Defaults of the settings left empty.
const (
	defaultAddr      = "127.0.0.1:8080" // without domains: behind a proxy, or to try it
	defaultHTTPSAddr = ":443"           // with domains
	defaultHTTPAddr  = ":80"            // with domains: ACME http-01 and the redirect to HTTPS
)

// https says whether the server serves HTTPS itself, with certificates
// from ACME.
func (c *serveConfig) https() bool { return len(c.Domains) > 0 }

// hsts says whether Strict-Transport-Security is sent: by default when the
// server serves HTTPS itself.
func (c *serveConfig) hsts() bool {
	if c.HSTS != nil {
		return *c.HSTS
	}
	return c.https()
}

// addr is the address of the main listener (HTTPS with domains).
func (c *serveConfig) addr() string {
	switch {
	case c.Addr != "":
		return c.Addr
	case c.https():
		return defaultHTTPSAddr
	}
	return defaultAddr
}

// httpAddr is the address of the HTTP listener beside HTTPS ("" for none).
func (c *serveConfig) httpAddr() string {
	switch {
	case !c.https() || c.HTTPAddr == "off":
		return ""
	case c.HTTPAddr != "":
		return c.HTTPAddr
	}
	return defaultHTTPAddr
}

// publicURL is the address voters and staff reach the server at, if known.
func (c *serveConfig) publicURL() string {
	if c.PublicURL == "" && c.https() {
		u := "https://" + c.Domains[0]
		if _, port, _ := net.SplitHostPort(c.addr()); port != "" && port != "443" {
			u += ":" + port
		}
		return u
	}
	return c.PublicURL
}

func (c *serveConfig) signIn() string  { return cmpOr(c.SignIn, "email") }
func (c *serveConfig) smtpTLS() string { return cmpOr(c.SMTPTLS, "starttls") }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// boolFlag is a boolean flag that knows whether it was given.
type boolFlag struct{ p **bool }

func (b boolFlag) String() string {
	if b.p == nil || *b.p == nil {
		return ""
	}
	return strconv.FormatBool(**b.p)
}
func (b boolFlag) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b.p = &v
	return nil
}
func (b boolFlag) IsBoolFlag() bool { return true }

// listFlag is a comma-separated list flag.
type listFlag struct{ p *[]string }

func (l listFlag) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}
func (l listFlag) Set(s string) error {
	*l.p = nil
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l.p = append(*l.p, v)
		}
	}
	return nil
}

// flags defines c's settings as flags of fs.
func (c *serveConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Dir, "dir", "", "data folder (made, mode 0700, if missing)")
	fs.StringVar(&c.DB, "db", "", "PostgreSQL URL instead of SQLite in --dir (a password goes in a file: ?passfile=FILE)")
	fs.StringVar(&c.LogKeyFile, "log-key-file", "", "file holding the 32-byte master seed of the elections' log keys (default DIR/log.key)")
	fs.StringVar(&c.StaffKeyFile, "staff-key-file", "", "the key sealing staff secrets (default DIR/staff.key, made on first start)")
	fs.StringVar(&c.PublicURL, "public-url", "", "the address voters and staff reach the server at, e.g. https://vote.example.org (for links, and for passkeys, which need a domain name; default https://DOMAIN with --domain)")
	fs.StringVar(&c.Addr, "addr", "", "address to listen on (default "+defaultAddr+"; with --domain, "+defaultHTTPSAddr+", for HTTPS)")
	fs.Var(listFlag{&c.Domains}, "domain", "serve HTTPS for these domain names (comma-separated), with certificates obtained and renewed through ACME (Let's Encrypt by default) and kept in DIR/acme")
	fs.StringVar(&c.HTTPAddr, "http-addr", "", "with --domain: the address for plain HTTP (ACME's http-01 challenge, and a redirect to HTTPS); default "+defaultHTTPAddr+", or off")
	fs.StringVar(&c.ACMEDirectory, "acme-directory", "", "with --domain: the ACME server's directory URL (default Let's Encrypt's)")
	fs.StringVar(&c.ACMECAFile, "acme-ca-file", "", "with --domain: PEM file of the roots trusted for the ACME server's own HTTPS (a private ACME server); default the system's")
	fs.StringVar(&c.ACMEEmail, "acme-email", "", "with --domain: the address the ACME server writes to about the certificates (optional)")
	fs.Var(boolFlag{&c.HSTS}, "hsts", "send Strict-Transport-Security (default: on with --domain; give it behind a proxy that serves HTTPS, or --hsts=false)")
	fs.Var(listFlag{&c.TrustedProxies}, "trusted-proxy", "reverse proxies (CIDR, comma-separated) whose X-Forwarded-For names the client, for per-client limits")
	fs.StringVar(&c.SignIn, "sign-in", "email", "voters' second factor: email (one-time codes), or off")
	fs.StringVar(&c.SMTP, "smtp", "", "SMTP server for sign-in codes, host:port")
	fs.StringVar(&c.SMTPFrom, "smtp-from", "", "sender of sign-in codes, e.g. \"Elections <elections@example.org>\"")
	fs.StringVar(&c.Contact, "contact", "", "whom voters write to when no sign-in code arrives, e.g. \"Elections <elections@example.org>\" (default: --smtp-from)")
	fs.StringVar(&c.SMTPUsername, "smtp-username", "", "SMTP user name")
	fs.StringVar(&c.SMTPPasswordFile, "smtp-password-file", "", "file holding the SMTP password")
	fs.StringVar(&c.SMTPTLS, "smtp-tls", "starttls", "starttls, or none (only to a server on this machine)")
	fs.StringVar(&c.CheckpointDir, "checkpoint-dir", "", "where the server keeps the latest checkpoint it signed of each election, outside the database (default DIR/checkpoints); never restore it from a backup")
}

// maxConfigSize bounds a configuration file.
const maxConfigSize = 64 << 10

// secretName matches the names of settings that would hold a secret inline.
var secretName = regexp.MustCompile(`(?i)(password|passwd|secret|token|key|seed|credential)`)

// loadServeConfig reads a configuration file strictly: one JSON object,
// each key once, every key known, every value of its type; secrets only as
// file paths.
func loadServeConfig(path string) (*serveConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("the configuration file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("the configuration file: %w", err)
	}
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("%s: larger than %d bytes: is it the configuration file?", path, maxConfigSize)
	}
	// Each key once (encoding/json would keep the last silently).
	d := json.NewDecoder(bytes.NewReader(b))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("%s: not a JSON object (%v)", path, err)
	}
	seen := map[string]bool{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		k, _ := t.(string)
		// encoding/json would take "DIR" or "Dir" for "dir": every
		// setting's name is lower case.
		if k != strings.ToLower(k) {
			return nil, fmt.Errorf("%s: unknown setting %q: the settings' names are lower case", path, k)
		}
		if seen[k] {
			return nil, fmt.Errorf("%s: %q is set twice", path, k)
		}
		seen[k] = true
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, k, err)
		}
	}
	var c serveConfig
	d = json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			return nil, fmt.Errorf("%s: %q must be a %s, not a JSON %s", path, te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		case errors.As(err, &se):
			return nil, fmt.Errorf("%s: not valid JSON at byte %d: %w", path, se.Offset, err)
		}
		if k, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			k, _ = strconv.Unquote(k)
			if secretName.MatchString(k) && !strings.HasSuffix(k, "_file") {
				return nil, fmt.Errorf("%s: unknown setting %q: a secret is never written in the configuration, only the path of a file holding it (readable only by its owner): smtp_password_file, log_key_file, staff_key_file, or ?passfile= in db", path, k)
			}
			return nil, fmt.Errorf("%s: unknown setting %q (\"scrutin help serve\" lists the settings: each flag's name, with _ for -)", path, k)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%s: something follows the JSON object", path)
	}
	return &c, nil
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "list of strings"
	case "ptr", "bool":
		return "boolean (true or false)"
	}
	return k
}

// check validates the configuration: every setting, and every file it
// names (secrets readable only by their owner). It returns all the
// problems found.
func (c *serveConfig) check(flagNames bool) error {
	var errs []error
	// Problems are named as the operator wrote them: flags, or the
	// file's keys.
	n := func(key string) string {
		if !flagNames {
			return key
		}
		switch key {
		case "domains":
			return "--domain"
		case "trusted_proxies":
			return "--trusted-proxy"
		}
		return "--" + strings.ReplaceAll(key, "_", "-")
	}
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.Dir == "" {
		// Staff accounts, sign-in lists and checkpoint files live there.
		bad("%s is required (with %s too: it holds the staff accounts' key, sign-in lists and checkpoint files)", n("dir"), n("db"))
	}
	if c.DB != "" {
		if err := checkDB(n("db"), c.DB); err != nil {
			errs = append(errs, err)
		}
	}
	if c.LogKeyFile != "" {
		if _, err := atrest.LoadKey(c.LogKeyFile); err != nil {
			bad("%s: %v", n("log_key_file"), err)
		}
	}
	if c.StaffKeyFile != "" {
		// Made on first start if missing (as DIR/staff.key).
		if _, err := atrest.LoadKey(c.StaffKeyFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			bad("%s: %v", n("staff_key_file"), err)
		}
	}
	if c.SMTPPasswordFile != "" {
		errs = append(errs, secretFile(n("smtp_password_file"), c.SMTPPasswordFile, true))
	}
	if c.ACMECAFile != "" {
		if _, err := os.ReadFile(c.ACMECAFile); err != nil {
			bad("%s: %v", n("acme_ca_file"), err)
		}
	}
	if p := c.publicURL(); p != "" {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" && u.Path != "/" {
			bad("%s must be like https://vote.example.org, not %q", n("public_url"), p)
		} else if c.https() && (u.Scheme != "https" || !contains(c.Domains, u.Hostname())) {
			bad("%s %q must be https:// and one of the domains %v", n("public_url"), p, c.Domains)
		}
	}
	for _, d := range c.Domains {
		if net.ParseIP(d) != nil || !strings.Contains(strings.Trim(d, "."), ".") || strings.ContainsAny(d, ":/ ") {
			bad("%s: %q is not a domain name like vote.example.org (ACME certifies names, not addresses)", n("domains"), d)
		}
	}
	if !c.https() {
		for name, v := range map[string]string{"http_addr": c.HTTPAddr, "acme_directory": c.ACMEDirectory, "acme_ca_file": c.ACMECAFile, "acme_email": c.ACMEEmail} {
			if v != "" {
				bad("%s is for HTTPS through ACME: give %s too, or remove it", n(name), n("domains"))
			}
		}
	}
	if c.ACMEDirectory != "" {
		if u, err := url.Parse(c.ACMEDirectory); err != nil || u.Scheme != "https" || u.Host == "" {
			bad("%s must be an https:// URL, not %q", n("acme_directory"), c.ACMEDirectory)
		}
	}
	if c.ACMEEmail != "" {
		if _, err := mail.ParseAddress(c.ACMEEmail); err != nil {
			bad("%s %q: %v", n("acme_email"), c.ACMEEmail, err)
		}
	}
	for _, a := range []string{c.addr(), c.httpAddr()} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("%q is not an address to listen on, like 127.0.0.1:8080 or :443: %v", a, err)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err != nil {
			bad("%s: %v", n("trusted_proxies"), err)
		}
	}
	if ct := cmpOr(c.Contact, c.SMTPFrom); ct != "" {
		if _, err := mail.ParseAddress(ct); err != nil {
			bad("the voters' contact %q (%s, or %s) is not an e-mail address like \"Elections <elections@example.org>\": %v", ct, n("contact"), n("smtp_from"), err)
		}
	}
	switch c.signIn() {
	case "off":
	case "email":
		if c.SMTP == "" || c.SMTPFrom == "" {
			bad("voter sign-in sends codes by e-mail: give %s and %s (or %s off)", n("smtp"), n("smtp_from"), n("sign_in"))
		}
	default:
		bad("%s is email or off, not %q", n("sign_in"), c.SignIn)
	}
	if c.SMTP != "" && c.SMTPFrom != "" {
		if err := (&mailer.Config{Addr: c.SMTP, From: c.SMTPFrom, Username: c.SMTPUsername, TLS: c.smtpTLS()}).Check(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// secretFile checks that path is a file readable only by its owner (and
// not empty, if nonEmpty).
func secretFile(name, path string, nonEmpty bool) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s: %s is readable by others than its owner (mode %v): chmod 600 it", name, path, st.Mode().Perm())
	}
	if nonEmpty && st.Size() == 0 {
		return fmt.Errorf("%s: %s is empty", name, path)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// effective is the configuration as the server runs it, defaults filled
// in, as JSON in the configuration file's form. Secrets are file paths; a
// password in db (refused by check) is redacted.
func (c *serveConfig) effective() []byte {
	e := *c
	e.Addr, e.HTTPAddr, e.PublicURL, e.SignIn, e.SMTPTLS = e.addr(), e.httpAddr(), e.publicURL(), e.signIn(), e.smtpTLS()
	if c.https() && c.httpAddr() == "" {
		e.HTTPAddr = "off"
	}
	h := c.hsts()
	e.HSTS = &h
	e.DB = redactDB(e.DB)
	if e.LogKeyFile == "" && e.Dir != "" {
		e.LogKeyFile = e.Dir + string(os.PathSeparator) + "log.key"
	}
	if e.StaffKeyFile == "" && e.Dir != "" {
		e.StaffKeyFile = e.Dir + string(os.PathSeparator) + "staff.key"
	}
	if e.CheckpointDir == "" && e.Dir != "" {
		e.CheckpointDir = e.Dir + string(os.PathSeparator) + "checkpoints"
	}
	if c.https() && e.ACMEDirectory == "" {
		e.ACMEDirectory = letsEncryptURL
	}
	b, _ := json.MarshalIndent(e, "", "  ")
	return append(b, '\n')
}

// redactDB is the PostgreSQL URL db with its password, in the user
// information or as ?password=, replaced by xxxxx; a URL that does not
// parse is shown by its scheme only. Printed configuration and errors go
// to terminals, CI logs and the journal.
func redactDB(db string) string {
	if db == "" {
		return ""
	}
	u, err := url.Parse(db)
	if err != nil || !store.IsPostgres(db) {
		// A keyword string (host=… password=…) or a broken URL.
		return "(not a valid postgres:// URL: not shown, it may hold a password)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// checkDB checks the PostgreSQL URL db, named name in errors: no password
// in it (it would be printed, logged, and on pg_dump's command line), a
// passfile readable only by its owner.
func checkDB(name, db string) error {
	if !store.IsPostgres(db) {
		return fmt.Errorf("%s must be a PostgreSQL URL, postgres://…", name)
	}
	u, err := url.Parse(db)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return fmt.Errorf("%s %s is not a valid URL (a character that must be %%-escaped?)", name, redactDB(db))
	}
	if _, ok := u.User.Password(); ok || u.Query().Has("password") {
		return fmt.Errorf("%s holds a password: put it in a file readable only by you and name it, postgres://%s@%s%s?passfile=FILE (lines host:port:db:user:password)", name, u.User.Username(), u.Host, u.Path)
	}
	if pf := u.Query().Get("passfile"); pf != "" {
		return secretFile(name+"'s passfile", pf, false)
	}
	return nil
}
