package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestAlertRules (issue 23, item 8): docs/alerts.yml is a Prometheus rule
// file (JSON, hence YAML): groups of rules, each with an alert name, an
// expression, a severity and a summary, "for" a valid duration; every
// scrutin metric an expression uses is exported by the server and listed
// in the README.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("../../docs/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert       string
				Expr        string
				For         string
				Labels      map[string]string
				Annotations map[string]string
			}
		}
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&file); err != nil {
		t.Fatal(err)
	}
	src, _ := os.ReadFile("../../server/registry.go")
	readme, _ := os.ReadFile("../../README.md")
	metric := regexp.MustCompile(`\bscrutin_[a-z_]+`)
	seen := map[string]bool{}
	n := 0
	for _, g := range file.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q", g.Name)
		}
		for _, r := range g.Rules {
			n++
			if !regexp.MustCompile(`^[A-Z][A-Za-z]+$`).MatchString(r.Alert) || seen[r.Alert] {
				t.Errorf("alert name %q", r.Alert)
			}
			seen[r.Alert] = true
			if r.Expr == "" || strings.Count(r.Expr, "(") != strings.Count(r.Expr, ")") {
				t.Errorf("%s: expr %q", r.Alert, r.Expr)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
				}
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: no summary or description", r.Alert)
			}
			for _, m := range metric.FindAllString(r.Expr, -1) {
				if !bytes.Contains(src, []byte(`"`+m+`"`)) && !bytes.Contains(src, []byte(m+`{`)) {
					t.Errorf("%s uses %s, which the server does not export", r.Alert, m)
				}
				if !bytes.Contains(readme, []byte("`"+m)) {
					t.Errorf("%s uses %s, which the README does not list", r.Alert, m)
				}
				if !bytes.Contains(readme, []byte(r.Alert)) {
					t.Errorf("the README does not explain %s", r.Alert)
				}
			}
		}
	}
	if n < 5 {
		t.Errorf("%d rules", n)
	}
	// Every series the server exports is in the README's table.
	for _, m := range metric.FindAllString(string(src), -1) {
		if !bytes.Contains(readme, []byte("`"+m)) {
			t.Errorf("the README does not list %s", m)
		}
	}
}

// TestReadmeConfigurationFile: the README's example configuration file is
// valid as printed ("scrutin serve --config FILE --check-config" exits 0,
// its paths moved to a temporary folder), and its commands run.
func TestReadmeConfigurationFile(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(readme), "\n### Configuration file\n")
	if !ok {
		t.Fatal("no section Configuration file")
	}
	_, js, ok := strings.Cut(sec, "```json\n")
	js, _, _ = strings.Cut(js, "```")
	if !ok || js == "" {
		t.Fatal("no example configuration")
	}
	tmp := t.TempDir()
	etc := filepath.Join(tmp, "etc") + "/"
	os.MkdirAll(etc, 0o700)
	os.WriteFile(filepath.Join(etc, "smtp-password"), []byte("not-a-real-one\n"), 0o600)
	js = strings.NewReplacer("/etc/scrutin/", etc, "/var/lib/scrutin", filepath.Join(tmp, "data")).Replace(js)
	os.WriteFile(filepath.Join(etc, "scrutin.json"), []byte(js), 0o600)
	var out, errs strings.Builder
	if status := run([]string{"serve", "--config", filepath.Join(etc, "scrutin.json"), "--check-config"}, &out, &errs); status != exitOK {
		t.Fatalf("the README's configuration: %d %s", status, errs.String())
	}
	var eff map[string]any
	if err := json.Unmarshal([]byte(out.String()), &eff); err != nil || eff["public_url"] != "https://vote.example.org" || eff["hsts"] != true {
		t.Errorf("effective configuration: %v %s", err, out.String())
	}
}
