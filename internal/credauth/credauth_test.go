package credauth

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/roll"
)

// smtpServer is a minimal in-process SMTP server on loopback that records
// the messages it receives.
type smtpServer struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs map[string]string // recipient → message
}

func newSMTPServer(t *testing.T) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, msgs: map[string]string{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	w := func(line string) { c.Write([]byte(line + "\r\n")) }
	w("220 test ESMTP")
	var rcpt string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			w("250 test")
		case strings.HasPrefix(cmd, "MAIL FROM"):
			w("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO"):
			rcpt = strings.Trim(strings.TrimSpace(line)[len("RCPT TO:"):], "<>")
			w("250 ok")
		case cmd == "DATA":
			w("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil || l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.msgs[rcpt] = b.String()
			s.mu.Unlock()
			w("250 queued")
		case cmd == "QUIT":
			w("221 bye")
			return
		default:
			w("250 ok")
		}
	}
}

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
	entries := Entries(issued)
	if len(entries) != 1 || entries[0][0] != election.TypeCredentials {
		t.Fatalf("entries: %d", len(entries))
	}

	srv := newSMTPServer(t)
	n, err := Send(SMTP{Addr: srv.ln.Addr().String(), From: "Returning Officer <officer@example.org>", TLS: "none"},
		Letter{Subject: DefaultLetter.Subject, Body: DefaultLetter.Body, Election: "Union ballot 2027"}, issued)
	if err != nil || n != 3 {
		t.Fatalf("sent %d: %v", n, err)
	}
	for _, is := range issued {
		msg := srv.msgs[is.Member.Email]
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
	if _, err := Send(SMTP{Addr: "mail.example.org:25", From: "a@b.c", TLS: "none"}, DefaultLetter, issued); err == nil || !strings.Contains(err.Error(), "without TLS") {
		t.Fatalf("plain SMTP to a remote server: %v", err)
	}
	srv := newSMTPServer(t)
	if _, err := Send(SMTP{Addr: srv.ln.Addr().String(), From: "a@b.c"}, DefaultLetter, issued); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("a server without STARTTLS: %v", err)
	}
	if _, err := Send(SMTP{Addr: srv.ln.Addr().String(), From: "not an address", TLS: "none"}, DefaultLetter, issued); err == nil {
		t.Fatal("bad sender accepted")
	}
	noMail := []Issued{{Member: roll.Member{ID: "M9"}, Code: issued[0].Code}}
	if _, err := Send(SMTP{Addr: srv.ln.Addr().String(), From: "a@b.c", TLS: "none"}, DefaultLetter, noMail); err == nil || !strings.Contains(err.Error(), "M9") {
		t.Fatalf("member without e-mail: %v", err)
	}
}
