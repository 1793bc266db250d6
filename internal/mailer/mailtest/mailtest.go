// Package mailtest is a minimal SMTP server on loopback, for tests: it
// speaks enough SMTP for net/smtp and keeps the messages it receives.
package mailtest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server records messages by recipient.
type Server struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs map[string][]string // recipient → messages, oldest first
	wake chan struct{}
}

// New starts a server that stops when the test ends.
func New(t testing.TB) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{ln: ln, msgs: map[string][]string{}, wake: make(chan struct{})}
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

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Last returns the last message sent to rcpt, or "".
func (s *Server) Last(rcpt string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs[rcpt]
	if len(m) == 0 {
		return ""
	}
	return m[len(m)-1]
}

// Count returns how many messages rcpt received.
func (s *Server) Count(rcpt string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs[rcpt])
}

// Wait waits up to d for rcpt to have received n messages, and returns the
// last one ("" on timeout).
func (s *Server) Wait(rcpt string, n int, d time.Duration) string {
	deadline := time.After(d)
	for {
		s.mu.Lock()
		m, wake := s.msgs[rcpt], s.wake
		s.mu.Unlock()
		if len(m) >= n {
			return m[len(m)-1]
		}
		select {
		case <-wake:
		case <-deadline:
			return ""
		}
	}
}

func (s *Server) serve(c net.Conn) {
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
			s.msgs[rcpt] = append(s.msgs[rcpt], b.String())
			close(s.wake)
			s.wake = make(chan struct{})
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
