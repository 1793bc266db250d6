package credauth

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mailer"
	"github.com/scrutin/scrutin/internal/mailer/mailtest"
	"github.com/scrutin/scrutin/roll"
)

func testRoll() *roll.Roll {
	return &roll.Roll{Members: []roll.Member{
		{ID: "M1", Name: "Ada", Email: "ada@example.org"},
		{ID: "M2", Name: "Bob", Email: "bob@example.org"},
		{ID: "M3", Name: "Cyd", Email: "cyd@example.org"},
	}}
}

func TestGenerateMailMergeAndSend(t *testing.T) {
	f := crypto.Fingerprint{4, 2}
	issued, err := Generate(testRoll(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Each code derives the public credential published for it.
	for _, is := range issued {
		k, _ := election.CredentialKey(f, is.Code)
		if !k.PublicKey().Equal(is.Public) {
			t.Fatalf("%s: code and public credential disagree", is.Member.ID)
		}
	}
	var buf bytes.Buffer
	if err := MailMerge(&buf, issued); err != nil {
		t.Fatal(err)
	}
	rows, _ := csv.NewReader(&buf).ReadAll()
	if len(rows) != 4 || rows[0][3] != "credential_code" || rows[2][0] != "M2" || rows[2][3] != issued[1].Code {
		t.Fatalf("mail merge: %v", rows)
	}
	buf.Reset()
	if err := SignInList(&buf, issued); err != nil {
		t.Fatal(err)
	}
	rows, _ = csv.NewReader(&buf).ReadAll()
	if len(rows) != 4 || strings.Join(rows[0], ",") != "email,credential" || rows[3][0] != "cyd@example.org" || rows[3][1] != text(issued[2].Public) {
		t.Fatalf("sign-in list: %v", rows)
	}
	entries := Entries(issued, nil)
	if len(entries) != 1 || entries[0][0] != election.TypeCredentials {
		t.Fatalf("entries: %d", len(entries))
	}

	srv := mailtest.New(t)
	n, err := Send(context.Background(), mailer.Config{Addr: srv.Addr(), From: "Returning Officer <officer@example.org>", TLS: "none"},
		Letter{Subject: DefaultLetter.Subject, Body: DefaultLetter.Body, Election: "Union ballot 2027"}, issued)
	if err != nil || n != 3 {
		t.Fatalf("sent %d: %v", n, err)
	}
	for _, is := range issued {
		msg := srv.Last(is.Member.Email)
		if !strings.Contains(msg, is.Code) || !strings.Contains(msg, "Hello "+is.Member.Name) || !strings.Contains(msg, "Union ballot 2027") {
			t.Fatalf("%s got: %q", is.Member.Email, msg)
		}
		for _, other := range issued {
			if other.Code != is.Code && strings.Contains(msg, other.Code) {
				t.Fatal("a member received another member's code")
			}
		}
	}
}

func TestSendRefusals(t *testing.T) {
	issued, _ := Generate(testRoll(), crypto.Fingerprint{}, nil)
	if _, err := Send(context.Background(), mailer.Config{Addr: "mail.example.org:25", From: "a@b.c", TLS: "none"}, DefaultLetter, issued); err == nil || !strings.Contains(err.Error(), "without TLS") {
		t.Fatalf("plain SMTP to a remote server: %v", err)
	}
	srv := mailtest.New(t)
	if _, err := Send(context.Background(), mailer.Config{Addr: srv.Addr(), From: "a@b.c"}, DefaultLetter, issued); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("a server without STARTTLS: %v", err)
	}
	if _, err := Send(context.Background(), mailer.Config{Addr: srv.Addr(), From: "not an address", TLS: "none"}, DefaultLetter, issued); err == nil {
		t.Fatal("bad sender accepted")
	}
	noMail := []Issued{{Member: roll.Member{ID: "M9"}, Code: issued[0].Code}}
	if _, err := Send(context.Background(), mailer.Config{Addr: srv.Addr(), From: "a@b.c", TLS: "none"}, DefaultLetter, noMail); err == nil || !strings.Contains(err.Error(), "M9") {
		t.Fatalf("member without e-mail: %v", err)
	}
}

func text(k *crypto.PublicKey) string {
	t, _ := k.MarshalText()
	return string(t)
}

func TestEntriesByGroup(t *testing.T) {
	r := testRoll()
	r.Members[0].Groups = []string{"north", "youth"}
	r.Members[2].Groups = []string{"north"}
	issued, _ := Generate(r, crypto.Fingerprint{1}, nil)
	entries := Entries(issued, []string{"north"}) // "youth" is used by no contest
	if len(entries) != 2 {
		t.Fatalf("%d entries", len(entries))
	}
	var plain, north election.Credentials
	json.Unmarshal(entries[0][1:], &plain)
	json.Unmarshal(entries[1][1:], &north)
	if len(plain.Credentials) != 1 || plain.Groups != nil || !plain.Credentials[0].Equal(issued[1].Public) {
		t.Fatalf("without groups: %+v", plain)
	}
	if len(north.Credentials) != 2 || strings.Join(north.Groups, ",") != "north" || !north.Credentials[0].Equal(issued[0].Public) || !north.Credentials[1].Equal(issued[2].Public) {
		t.Fatalf("north: %+v", north)
	}
}

// TestLetterWithoutNameAndWithURL: a member without a name is greeted
// without one (not by their member id), and the letter says where to vote
// when the booth's address is given, and says nothing of it otherwise.
func TestLetterWithoutNameAndWithURL(t *testing.T) {
	issued, err := Generate(testRoll(), crypto.Fingerprint{4, 2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	issued[0].Member.Name = ""
	srv := mailtest.New(t)
	cfg := mailer.Config{Addr: srv.Addr(), From: "officer@example.org", TLS: "none"}
	l := DefaultLetter
	l.Election, l.URL = "Union ballot 2027", "https://vote.example.org/e/union-2027/vote"
	if _, err := Send(context.Background(), cfg, l, issued[:2]); err != nil {
		t.Fatal(err)
	}
	nameless, named := srv.Last(issued[0].Member.Email), srv.Last(issued[1].Member.Email)
	// (The member id is short: it may well appear in the random credential
	// itself, so only the greetings are searched for it.)
	if !strings.Contains(nameless, "Hello,\r\n") || !strings.Contains(nameless, "Bonjour,\r\n") || strings.Contains(nameless, "Hello "+issued[0].Member.ID) || strings.Contains(nameless, "Bonjour "+issued[0].Member.ID) {
		t.Errorf("a member without a name got: %q", nameless)
	}
	if !strings.Contains(named, "Hello "+issued[1].Member.Name+",") {
		t.Errorf("a named member got: %q", named)
	}
	for _, m := range []string{nameless, named} {
		if strings.Count(m, l.URL) != 2 {
			t.Errorf("the letter does not give the booth's address in both languages: %q", m)
		}
	}
	l.URL = ""
	if _, err := Send(context.Background(), cfg, l, issued[1:2]); err != nil {
		t.Fatal(err)
	}
	if m := srv.Last(issued[1].Member.Email); strings.Contains(m, "{url}") || strings.Contains(m, "Vote at") {
		t.Errorf("without an address: %q", m)
	}
}

// TestLetterSaysWhereWhenAndWhich (issue 17): the letter, from the
// manifest, gives the booth's address, the voting window in each
// language, the election's fingerprint to check, its title in each
// language, and calls the code what the booth calls it, a voting code; it
// comes from the sender's name, not a bare address.
func TestLetterSaysWhereWhenAndWhich(t *testing.T) {
	f := crypto.Fingerprint{0xab, 0xcd, 0xef, 0x01}
	issued, err := Generate(testRoll(), f, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := &election.Manifest{
		Title:  election.Text{"en": "Union ballot 2027", "fr": "Scrutin syndical 2027"},
		Window: election.Window{Opens: "2027-03-01T09:00:00Z", Closes: "2027-03-08T18:30:00Z"},
	}
	l := DefaultLetter
	if err := l.FromManifest(m, f); err != nil {
		t.Fatal(err)
	}
	l.URL = "https://vote.example.org/e/union-2027/vote"
	srv := mailtest.New(t)
	cfg := mailer.Config{Addr: srv.Addr(), From: `"Local 42 Elections" <elections@local42.example>`, TLS: "none"}
	if _, err := Send(context.Background(), cfg, l, issued[:1]); err != nil {
		t.Fatal(err)
	}
	msg := srv.Last(issued[0].Member.Email)
	en, fr, ok := strings.Cut(msg, "Bonjour")
	if !ok {
		t.Fatalf("no French half: %q", msg)
	}
	grouped := "abcd ef01 0000"
	for _, w := range []struct{ half, want string }{
		{msg, `From: "Local 42 Elections" <elections@local42.example>`},
		{en, "Union ballot 2027"}, {en, "voting code"}, {en, l.URL}, {en, "1 March 2027, 09:00 UTC"}, {en, "8 March 2027, 18:30 UTC"}, {en, grouped},
		{fr, "Scrutin syndical 2027"}, {fr, "code de vote"}, {fr, l.URL}, {fr, "1er mars 2027 à 9 h 00 UTC"}, {fr, "8 mars 2027 à 18 h 30 UTC"}, {fr, grouped},
	} {
		if !strings.Contains(w.half, w.want) {
			t.Errorf("the letter lacks %q:\n%s", w.want, msg)
		}
	}
	if strings.Contains(strings.ToLower(en), "credential") {
		t.Errorf("the letter says credential where the booth says voting code:\n%s", en)
	}
	if strings.Contains(fr, "Union ballot 2027") {
		t.Errorf("the French half uses the English title:\n%s", fr)
	}
}
