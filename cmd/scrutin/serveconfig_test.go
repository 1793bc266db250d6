package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeConfigFile (issue 23, item 5): a configuration file is read
// strictly, names secrets only by their files, and does not mix with
// flags; --check-config prints the effective configuration and exits 0 or
// 1.
func TestServeConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pass := write("smtp-password", "s3cret-for-the-test\n", 0o600)
	open := write("smtp-password-open", "s3cret-for-the-test\n", 0o644)
	data := filepath.Join(dir, "data")
	good := `{
  "dir": "` + data + `",
  "addr": "127.0.0.1:0",
  "smtp": "mail.example.org:587",
  "smtp_from": "Elections <elections@example.org>",
  "smtp_username": "elections",
  "smtp_password_file": "` + pass + `",
  "trusted_proxies": ["10.0.0.0/8"]
}`
	check := func(args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		status := run(append([]string{"serve"}, args...), &stdout, &stderr)
		return status, stdout.String(), stderr.String()
	}

	// Valid: the effective configuration, defaults filled in, the
	// password's file named and its content nowhere.
	status, out, errs := check("--config", write("good.json", good, 0o600), "--check-config")
	if status != exitOK {
		t.Fatalf("a valid configuration: %d %s", status, errs)
	}
	var eff map[string]any
	if err := json.Unmarshal([]byte(out), &eff); err != nil {
		t.Fatalf("--check-config printed %q: %v", out, err)
	}
	if eff["sign_in"] != "email" || eff["smtp_tls"] != "starttls" || eff["hsts"] != false || eff["smtp_password_file"] != pass || eff["log_key_file"] != filepath.Join(data, "log.key") {
		t.Errorf("effective configuration: %s", out)
	}
	if strings.Contains(out+errs, "s3cret") {
		t.Error("--check-config printed the SMTP password")
	}
	// The same settings as flags give the same effective configuration.
	_, fromFlags, errs := check("--dir", data, "--addr", "127.0.0.1:0", "--smtp", "mail.example.org:587", "--smtp-from", "Elections <elections@example.org>", "--smtp-username", "elections", "--smtp-password-file", pass, "--trusted-proxy", "10.0.0.0/8", "--check-config")
	if fromFlags != out {
		t.Errorf("flags and file differ:\n%s\n%s\n%s", fromFlags, out, errs)
	}
	// HTTPS: the defaults that follow from domains.
	_, out, _ = check("--dir", data, "--sign-in", "off", "--domain", "vote.example.org", "--check-config")
	json.Unmarshal([]byte(out), &eff)
	if eff["addr"] != ":443" || eff["http_addr"] != ":80" || eff["hsts"] != true || eff["public_url"] != "https://vote.example.org" || eff["acme_directory"] != letsEncryptURL {
		t.Errorf("effective configuration with a domain: %s", out)
	}

	for _, c := range []struct {
		name, body string
		args       []string
		status     int
		want       string
	}{
		{"missing file", "", []string{"--config", filepath.Join(dir, "nowhere.json")}, exitFailure, "no such file"},
		{"unknown key", strings.Replace(good, `"addr"`, `"address"`, 1), nil, exitFailure, `unknown setting "address"`},
		{"wrong type", strings.Replace(good, `"127.0.0.1:0"`, `8080`, 1), nil, exitFailure, `"addr" must be a string, not a JSON number`},
		{"wrong type, list", strings.Replace(good, `["10.0.0.0/8"]`, `"10.0.0.0/8"`, 1), nil, exitFailure, `"trusted_proxies" must be a list of strings`},
		{"inline secret", strings.Replace(good, `"smtp_password_file": "`+pass+`"`, `"smtp_password": "hunter2hunter2"`, 1), nil, exitFailure, "a secret is never written in the configuration"},
		{"inline database password", strings.Replace(good, `"addr"`, `"db": "postgres://scrutin:hunter2@db.example.org/scrutin", "addr"`, 1), nil, exitFailure, "?passfile=FILE"},
		{"secret file open to others", strings.Replace(good, pass, open, 1), nil, exitFailure, "chmod 600"},
		{"secret file missing", strings.Replace(good, pass, pass+"-gone", 1), nil, exitFailure, "no such file"},
		{"key set twice", strings.Replace(good, `"addr"`, `"dir": "/elsewhere", "addr"`, 1), nil, exitFailure, `"dir" is set twice`},
		{"two objects", good + "{}", nil, exitFailure, "something follows"},
		{"not an object", `["dir"]`, nil, exitFailure, "not a JSON object"},
		{"syntax", `{"dir": "x",}`, nil, exitFailure, "invalid character"},
		{"flags with the file", good, []string{"--addr", "127.0.0.1:9"}, exitUsage, "--addr with --config"},
		{"bad value", strings.Replace(good, `["10.0.0.0/8"]`, `["10.0.0.0/33"]`, 1), nil, exitFailure, "trusted_proxies"},
		{"a domain that is an address", strings.Replace(good, `"addr"`, `"domains": ["192.0.2.1"], "addr"`, 1), nil, exitFailure, "is not a domain name"},
		{"ACME settings without a domain", strings.Replace(good, `"addr"`, `"acme_email": "ops@example.org", "addr"`, 1), nil, exitFailure, "acme_email is for HTTPS through ACME"},
		{"public URL not among the domains", strings.Replace(good, `"addr"`, `"domains": ["vote.example.org"], "public_url": "https://example.net", "addr"`, 1), nil, exitFailure, "must be https:// and one of the domains"},
	} {
		args := c.args
		if c.body != "" {
			args = append([]string{"--config", write(strings.ReplaceAll(c.name, " ", "-")+".json", c.body, 0o600)}, args...)
		}
		for _, extra := range [][]string{{"--check-config"}, nil} {
			status, _, errs := check(append(args, extra...)...)
			if status != c.status || !strings.Contains(errs, c.want) {
				t.Errorf("%s %v: status %d (want %d), %q (want %q)", c.name, extra, status, c.status, errs, c.want)
			}
		}
	}
	if _, err := os.Stat(data); err == nil {
		t.Error("a refused configuration made the data folder")
	}
}

// TestServeConfigDBPasswordNeverPrinted (issue 23 review): a password
// written into the PostgreSQL URL is refused, and --check-config (whose
// output goes to terminals, CI logs and the journal) prints it nowhere:
// neither in the userinfo, nor as ?password=, nor inside the error of a
// URL that does not parse.
func TestServeConfigDBPasswordNeverPrinted(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	for _, db := range []string{
		"postgres://scrutin:Pa55-in-userinfo@db.example.org/scrutin",
		"postgres://scrutin@db.example.org/scrutin?sslmode=require&password=Pa55-in-query",
		"postgres://scrutin:Pa55-bad%zz@db.example.org/scrutin",
		"host=db.example.org user=scrutin password=Pa55-keywords",
	} {
		var stdout, stderr bytes.Buffer
		status := run([]string{"serve", "--dir", data, "--sign-in", "off", "--db", db, "--check-config"}, &stdout, &stderr)
		if status != exitFailure {
			t.Errorf("%s: --check-config exited %d, want %d (a password in the URL is refused)\n%s", db, status, exitFailure, stderr.String())
		}
		if strings.Contains(stdout.String()+stderr.String(), "Pa55") {
			t.Errorf("%s: the password was printed:\n%s%s", db, stdout.String(), stderr.String())
		}
		stdout.Reset()
		stderr.Reset()
		run([]string{"serve", "--dir", data, "--sign-in", "off", "--db", db}, &stdout, &stderr)
		if strings.Contains(stdout.String()+stderr.String(), "Pa55") {
			t.Errorf("%s: serve printed the password:\n%s%s", db, stdout.String(), stderr.String())
		}
	}
}

// TestServeConfigKeysExact (issue 23 review): encoding/json matches keys
// without regard to case, so {"dir": A, "DIR": B} passed the "each key
// once" check and ran on B while the file visibly says A. Keys are the
// settings' exact names.
func TestServeConfigKeysExact(t *testing.T) {
	dir := t.TempDir()
	for _, body := range []string{
		`{"dir": "` + filepath.Join(dir, "a") + `", "DIR": "` + filepath.Join(dir, "b") + `", "sign_in": "off"}`,
		`{"Dir": "` + filepath.Join(dir, "b") + `", "sign_in": "off"}`,
	} {
		p := filepath.Join(dir, "c.json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		if status := run([]string{"serve", "--config", p, "--check-config"}, &stdout, &stderr); status == exitOK {
			t.Errorf("%s accepted:\n%s", body, stdout.String())
		}
	}
}
