package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mailer/mailtest"
)

func TestRollAndCredentialsCommands(t *testing.T) {
	bin := buildScrutin(t)
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "members.csv")
	os.WriteFile(csvPath, []byte("No,Nom,E-mail,Statut,Adhésion\n1,Ada,ada@example.org,active,2019-01-01\n2,Bob,bob@example.org,lapsed,2019-01-01\n3,Cyd,cyd@example.org,active,2019-01-01\n3,Cyd bis,cyd2@example.org,active,2019-01-01\n4,Dee,dee@example.org,ACTIVE,2020-05-05\n"), 0o600)
	out := filepath.Join(dir, "roll")
	r := runScrutin(t, bin, "roll", "import", "--csv", csvPath, "--map", "id=No,name=Nom,email=E-mail,status=Statut,joined=Adhésion", "--status", "active", "--joined-before", "2026-01-01", "--out", out)
	if r.status != 0 || !strings.Contains(r.stdout, "5 rows: 2 eligible members") || !strings.Contains(r.stdout, "duplicate member id") || !strings.Contains(r.stdout, `status "lapsed"`) {
		t.Fatalf("roll import: %d %s%s", r.status, r.stdout, r.stderr)
	}
	for name, mode := range map[string]os.FileMode{"roll.json": 0o600, "roll-salt": 0o600, "roll-report.json": 0o600, "roll.entry": 0o644} {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Fatalf("%s: %v %v", name, fi, err)
		}
	}
	entry, _ := os.ReadFile(filepath.Join(out, "roll.entry"))
	if len(entry) == 0 || entry[0] != election.TypeRoll || strings.Contains(string(entry), "ada@") {
		t.Fatalf("roll entry %q", entry)
	}
	if r := runScrutin(t, bin, "roll", "import", "--csv", csvPath, "--map", "identifier=No", "--out", out); r.status != exitUsage {
		t.Fatalf("bad mapping: %d", r.status)
	}

	creds := filepath.Join(dir, "creds")
	f := strings.Repeat("ab", 32)
	r = runScrutin(t, bin, "credentials", "generate", "--roll", filepath.Join(out, "roll.json"), "--election", f, "--out", creds)
	if r.status != 0 || !strings.Contains(r.stdout, "2 credentials") {
		t.Fatalf("credentials generate: %d %s%s", r.status, r.stdout, r.stderr)
	}
	mm, _ := os.ReadFile(filepath.Join(creds, "credentials.csv"))
	if fi, _ := os.Stat(filepath.Join(creds, "credentials.csv")); fi.Mode().Perm() != 0o600 || strings.Count(string(mm), "\n") != 3 {
		t.Fatalf("mail merge: %v %q", fi.Mode(), mm)
	}
	pub, _ := os.ReadFile(filepath.Join(creds, "credentials-1.entry"))
	if len(pub) == 0 || pub[0] != election.TypeCredentials {
		t.Fatal("no public credentials entry")
	}
	if r := runScrutin(t, bin, "credentials", "generate", "--roll", filepath.Join(out, "roll.json"), "--election", f, "--out", creds); r.status == 0 {
		t.Fatal("credentials generated twice into the same folder")
	}
	// The sign-in list goes to the server, sealed.
	list := filepath.Join(creds, "sign-in.csv")
	sl, _ := os.ReadFile(list)
	if fi, _ := os.Stat(list); fi.Mode().Perm() != 0o600 || !strings.HasPrefix(string(sl), "email,credential\n") || strings.Count(string(sl), "\n") != 3 {
		t.Fatalf("sign-in list: %q", sl)
	}
	srv := filepath.Join(dir, "server")
	os.Mkdir(srv, 0o700)
	if r := runScrutin(t, bin, "voters", "import", "--dir", srv, list); r.status == 0 {
		t.Fatal("voters import without --election")
	}
	if r := runScrutin(t, bin, "voters", "import", "--dir", srv, "--election", "board-2027", list); r.status != 0 || !strings.Contains(r.stdout, "2 voters") || !strings.Contains(r.stdout, filepath.Join("elections", "board-2027", "voters.sealed")) {
		t.Fatalf("voters import: %d %s%s", r.status, r.stdout, r.stderr)
	}
	if r := runScrutin(t, bin, "voters", "import", "--dir", srv, "--election", "board-2027", csvPath); r.status == 0 {
		t.Fatal("a members file was imported as a sign-in list")
	}
}

// TestCredentialsSendURL: with --url (the election's address), the letter
// says where to vote; an address that is not an election's is refused
// before anything is sent.
func TestCredentialsSendURL(t *testing.T) {
	bin := buildScrutin(t)
	dir := t.TempDir()
	merge := filepath.Join(dir, "credentials.csv")
	os.WriteFile(merge, []byte("member_id,name,email,credential_code\n1,,ann@example.org,FQ42-PFRY-WSQP-9Y1J-BA6H\n"), 0o600)
	srv := mailtest.New(t)
	args := []string{"credentials", "send", "--csv", merge, "--smtp", srv.Addr(), "--tls", "none", "--from", "officer@example.org", "--title", "Test"}
	if r := runScrutinNoFatal(bin, append(args, "--url", "https://vote.example.org/")...); r.status != exitUsage {
		t.Fatalf("a URL that is not an election's: %d %s", r.status, r.stderr)
	}
	if r := runScrutin(t, bin, append(args, "--url", "https://vote.example.org/e/union-2027")...); r.status != 0 {
		t.Fatalf("credentials send: %d %s", r.status, r.stderr)
	}
	if m := srv.Last("ann@example.org"); !strings.Contains(m, "To vote, go to https://vote.example.org/e/union-2027/vote") || !strings.Contains(m, "Hello,") {
		t.Fatalf("the letter: %q", m)
	}
}
