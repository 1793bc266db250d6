package main

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDoctorFails (issue 23, item 7): on a broken setup every broken part
// has its FAIL line, --json says the same, and the exit status is 1: a
// clock an hour off, a public URL without HTTPS, a mail server that does
// not answer, too little disk for the ballots expected, witnesses that
// never cosigned, a secret open to other users.
func TestDoctorFails(t *testing.T) {
	bin := buildScrutin(t)
	dir := filepath.Join(t.TempDir(), "data")
	if r := runScrutin(t, bin, "demo", "--voters", "3", "--no-vote", "--dir", dir); r.status != 0 {
		t.Fatalf("demo: %s", r.stderr)
	}
	if r := runScrutin(t, bin, "election", "witnesses", "--dir", dir, "--id", "demo", "--witness", witnessKey(t, "W1")); r.status != 0 {
		t.Fatalf("election witnesses: %s", r.stderr)
	}
	os.Chmod(filepath.Join(dir, "staff.key"), 0o644)
	// A reference clock an hour ahead.
	ref := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
	}))
	defer ref.Close()
	roots := filepath.Join(t.TempDir(), "roots.pem")
	os.WriteFile(roots, pemCert(ref.Certificate().Raw), 0o644)
	args := []string{"doctor", "--dir", dir, "--public-url", "http://vote.example.org", "--smtp", "127.0.0.1:1", "--smtp-from", "e@example.org", "--smtp-tls", "none",
		"--mail-to", "operator@example.org", "--time-url", ref.URL, "--roots", roots, "--ballots-per-voter", "1e12"}
	var out, errs strings.Builder
	status := run(args, &out, &errs)
	t.Logf("scrutin doctor:\n%s%s", out.String(), errs.String())
	if status != exitFailure {
		t.Errorf("status %d", status)
	}
	for _, want := range []string{"FAIL  clock     ", "FAIL  https     ", "FAIL  mail      ", "FAIL  disk      ", "FAIL  witnesses ", "FAIL  modes     ", "PASS  database  ", "staff.key (-rw-r--r--)", "1h0m0s off", "is not HTTPS", "none has cosigned"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the report", want)
		}
	}
	out.Reset()
	if status := run(append(args, "--json"), &out, &errs); status != exitFailure {
		t.Errorf("--json: status %d", status)
	}
	var rep struct {
		OK     bool
		Checks []doctorCheck
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil || rep.OK {
		t.Fatalf("--json: %v %s", err, out.String())
	}
	failed := map[string]bool{}
	for _, c := range rep.Checks {
		failed[c.Name] = c.Status == "fail"
	}
	for _, name := range []string{"clock", "https", "mail", "disk", "witnesses", "modes"} {
		if !failed[name] {
			t.Errorf("--json: %s did not fail: %s", name, out.String())
		}
	}
	// A data folder that does not exist: the database check fails, and
	// nothing is made.
	out.Reset()
	gone := filepath.Join(t.TempDir(), "nothing")
	if status := run([]string{"doctor", "--dir", gone, "--sign-in", "off"}, &out, &errs); status != exitFailure || !strings.Contains(out.String(), "FAIL  database") {
		t.Errorf("doctor on a missing folder: %d %s", status, out.String())
	}
	if _, err := os.Stat(gone); err == nil {
		t.Error("doctor made the data folder")
	}
}

// pemCert encodes a DER certificate as PEM.
func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestDoctorDoesNotMakeTheDatabase (issue 23 review): doctor run before the
// first start (often with sudo, as root) must not make DIR/scrutin.db: a
// database made by another user (root, mode 0600) is one the server's
// user cannot write, and its first start fails. doctor says there is no
// database yet.
func TestDoctorDoesNotMakeTheDatabase(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	run([]string{"doctor", "--dir", data, "--sign-in", "off", "--time-url", "https://127.0.0.1:1", "--json"}, &stdout, &stderr)
	if _, err := os.Stat(filepath.Join(data, "scrutin.db")); err == nil {
		t.Error("doctor made DIR/scrutin.db")
	}
	var got struct{ Checks []doctorCheck }
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s %s", err, stdout.String(), stderr.String())
	}
	for _, c := range got.Checks {
		if c.Name == "database" && (c.Status != "fail" || !strings.Contains(c.Detail, "first start")) {
			t.Errorf("database check without a database: %+v", c)
		}
	}
}
