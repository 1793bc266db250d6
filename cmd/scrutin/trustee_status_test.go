package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/internal/trustee"
)

// TestTrusteeStatusNotStarted (issue 17): before any trustee has dealt,
// "trustee status" says the ceremony has not started and whom it waits
// for, and exits 0: nothing has failed.
func TestTrusteeStatusNotStarted(t *testing.T) {
	root := t.TempDir()
	ceremony := filepath.Join(root, "ceremony")
	var ids []string
	for j := 1; j <= 3; j++ {
		dir := filepath.Join(root, fmt.Sprint("trustee", j))
		pass := filepath.Join(root, fmt.Sprint("pass", j))
		if err := os.WriteFile(pass, []byte(fmt.Sprintf("correct horse battery staple %d\n", j)), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		if st := run([]string{"trustee", "init", "--name", fmt.Sprint("Trustee ", j), "--dir", dir, "--passphrase-file", pass, "--work-factor", "10"}, &out, &errb); st != 0 {
			t.Fatalf("init: %s", errb.String())
		}
		ids = append(ids, filepath.Join(dir, trustee.IdentityPublicFile))
	}
	var out, errb bytes.Buffer
	if st := run(append([]string{"trustee", "roster", "--ceremony", ceremony, "--label", "Board 2027", "--threshold", "2"}, ids...), &out, &errb); st != 0 {
		t.Fatalf("roster: %s", errb.String())
	}
	out.Reset()
	errb.Reset()
	st := run([]string{"trustee", "status", "--ceremony", ceremony}, &out, &errb)
	got := out.String()
	if st != exitOK {
		t.Errorf("status before anyone dealt exits %d, want 0\n%s%s", st, got, errb.String())
	}
	if strings.Contains(got, "FAILED") {
		t.Errorf("status before anyone dealt says FAILED:\n%s", got)
	}
	if !strings.Contains(got, "not started") || !strings.Contains(got, "Trustee 1") || !strings.Contains(got, "Trustee 3") {
		t.Errorf("status before anyone dealt does not say it has not started and whom it waits for:\n%s", got)
	}
}
