// Package credauth is the credential authority's work, done offline on its
// own computer (docs/spec.md §18.4): a private credential code for every
// member of the frozen roll, written as a mail-merge file and sent by
// e-mail through a real SMTP server, and the list of public credentials,
// the only part the election's server and log receive.
package credauth

import (
	"bytes"
	"crypto/tls"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/roll"
)

// Issued is one member's credential.
type Issued struct {
	Member roll.Member
	Code   string
	Public *crypto.PublicKey
}

// Generate makes a fresh code for every member of the roll, for the
// election with fingerprint f.
func Generate(r *roll.Roll, f crypto.Fingerprint, rnd io.Reader) ([]Issued, error) {
	out := make([]Issued, 0, len(r.Members))
	for _, m := range r.Members {
		code, err := election.NewCode(rnd)
		if err != nil {
			return nil, err
		}
		k, err := election.CredentialKey(f, code)
		if err != nil {
			return nil, err
		}
		out = append(out, Issued{Member: m, Code: code, Public: k.PublicKey()})
	}
	return out, nil
}

// MailMerge writes the private codes as CSV: member_id, name, email,
// credential_code. It is secret: whoever holds it can vote for everyone.
func MailMerge(w io.Writer, issued []Issued) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"member_id", "name", "email", "credential_code"})
	for _, is := range issued {
		cw.Write([]string{is.Member.ID, is.Member.Name, is.Member.Email, is.Code})
	}
	cw.Flush()
	return cw.Error()
}

// Entries returns the credentials entries (spec §18.4) of the public
// credentials, in batches. They follow the roll's order, which reveals
// nothing: the roll's order is not published and the codes are random.
func Entries(issued []Issued) [][]byte {
	var out [][]byte
	for i := 0; i < len(issued); i += election.MaxCredentialsPerEntry {
		var c election.Credentials
		for _, is := range issued[i:min(len(issued), i+election.MaxCredentialsPerEntry)] {
			c.Credentials = append(c.Credentials, is.Public)
		}
		out = append(out, c.Entry())
	}
	return out
}

// SMTP says how to reach the mail server.
type SMTP struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
	// TLS: "starttls" (the default; required unless the server is on
	// loopback), "none" (loopback only).
	TLS string
}

// Letter is the text sent to each member; {name}, {code} and {election}
// are replaced.
type Letter struct {
	Subject  string
	Body     string
	Election string // the election's title
}

// DefaultLetter is a plain letter in English and French.
var DefaultLetter = Letter{
	Subject: "Your voting credential / Votre code de vote",
	Body: "Hello {name},\r\n\r\nYour credential for \"{election}\" is:\r\n\r\n    {code}\r\n\r\n" +
		"Keep it secret: it lets you vote. You may vote again; only your last ballot counts.\r\n\r\n" +
		"Bonjour {name},\r\n\r\nVotre code pour « {election} » est :\r\n\r\n    {code}\r\n\r\n" +
		"Gardez-le secret : il permet de voter. Vous pouvez voter à nouveau ; seul le dernier bulletin compte.\r\n",
}

// Send mails every member its code, one message each, and returns how many
// were sent; it stops at the first failure, naming the member.
func Send(cfg SMTP, l Letter, issued []Issued) (int, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return 0, fmt.Errorf("the SMTP address must be host:port: %w", err)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return 0, fmt.Errorf("bad sender address: %w", err)
	}
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	if cfg.TLS == "none" && !loopback {
		return 0, errors.New("sending credentials without TLS is only allowed to a server on this machine")
	}
	conn, err := net.DialTimeout("tcp", cfg.Addr, 30*time.Second)
	if err != nil {
		return 0, err
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return 0, err
	}
	defer c.Close()
	if cfg.TLS != "none" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return 0, errors.New("the SMTP server does not offer STARTTLS")
		}
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			return 0, err
		}
	}
	if cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, host)); err != nil {
			return 0, err
		}
	}
	sent := 0
	for _, is := range issued {
		if is.Member.Email == "" {
			return sent, fmt.Errorf("member %s has no e-mail address", is.Member.ID)
		}
		if err := sendOne(c, from.Address, is, l); err != nil {
			return sent, fmt.Errorf("member %s (%s): %w", is.Member.ID, is.Member.Email, err)
		}
		sent++
	}
	return sent, c.Quit()
}

func sendOne(c *smtp.Client, from string, is Issued, l Letter) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(is.Member.Email); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	name := is.Member.Name
	if name == "" {
		name = is.Member.ID
	}
	body := strings.NewReplacer("{name}", name, "{code}", is.Code, "{election}", l.Election).Replace(l.Body)
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s",
		from, is.Member.Email, mimeHeader(l.Subject), time.Now().UTC().Format(time.RFC1123Z), body)
	if _, err := w.Write(msg.Bytes()); err != nil {
		return err
	}
	return w.Close()
}

func mimeHeader(s string) string {
	for _, r := range s {
		if r > 127 {
			return mimeQ(s)
		}
	}
	return s
}

func mimeQ(s string) string { return "=?utf-8?b?" + b64(s) + "?=" }
