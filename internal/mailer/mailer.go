// Package mailer sends plain-text e-mail through a real SMTP server, with
// STARTTLS required unless the server is on this machine. The credential
// authority sends credential letters with it, and the server sends voters
// their sign-in codes.
package mailer

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// Config says how to reach the mail server.
type Config struct {
	Addr     string // host:port
	From     string
	Username string
	Password string
	// TLS: "starttls" (the default; required unless the server is on
	// loopback), "none" (loopback only).
	TLS string
}

// Check reports a configuration that cannot work or is unsafe.
func (c Config) Check() error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("the SMTP address must be host:port: %w", err)
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("bad sender address: %w", err)
	}
	switch c.TLS {
	case "", "starttls":
	case "none":
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return errors.New("sending mail without TLS is only allowed to a server on this machine")
		}
	default:
		return fmt.Errorf("unknown TLS mode %q (starttls or none)", c.TLS)
	}
	return nil
}

// Conn is a connection to the mail server, for sending several messages.
type Conn struct {
	c    *smtp.Client
	from string // the envelope's sender: the address alone
	// header is the From header: the sender's name and address, as
	// Config.From gives them ("Local 42 Elections <elections@…>").
	header string
}

// Dial connects, starts TLS and authenticates.
func (cfg Config) Dial(ctx context.Context) (*Conn, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	from, _ := mail.ParseAddress(cfg.From)
	d := net.Dialer{Timeout: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	// The whole exchange, not only the dial, ends by the context's deadline.
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Minute)
	}
	conn.SetDeadline(deadline)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if cfg.TLS != "none" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			c.Close()
			return nil, errors.New("the SMTP server does not offer STARTTLS")
		}
		if err := c.StartTLS(&tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}); err != nil {
			c.Close()
			return nil, err
		}
	}
	if cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, host)); err != nil {
			c.Close()
			return nil, err
		}
	}
	return &Conn{c: c, from: from.Address, header: from.String()}, nil
}

// Send sends one message.
func (m *Conn) Send(to, subject, body string) error {
	if _, err := mail.ParseAddress(to); err != nil {
		return fmt.Errorf("bad recipient address: %w", err)
	}
	if strings.ContainsAny(to+subject, "\r\n") {
		return errors.New("a header holds a line break")
	}
	if err := m.c.Mail(m.from); err != nil {
		return err
	}
	if err := m.c.Rcpt(to); err != nil {
		return err
	}
	w, err := m.c.Data()
	if err != nil {
		return err
	}
	var msg bytes.Buffer
	fmt.Fprintf(&msg, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s",
		m.header, to, header(subject), time.Now().UTC().Format(time.RFC1123Z), body)
	if _, err := w.Write(msg.Bytes()); err != nil {
		return err
	}
	return w.Close()
}

// Close ends the session.
func (m *Conn) Close() error {
	err := m.c.Quit()
	m.c.Close()
	return err
}

// Send sends one message on a connection of its own.
func (cfg Config) Send(ctx context.Context, to, subject, body string) error {
	c, err := cfg.Dial(ctx)
	if err != nil {
		return err
	}
	if err := c.Send(to, subject, body); err != nil {
		c.c.Close()
		return err
	}
	return c.Close()
}

// header encodes a header value with RFC 2047 if it is not ASCII.
func header(s string) string {
	for _, r := range s {
		if r > 127 {
			return "=?utf-8?b?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
		}
	}
	return s
}
