package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/internal/pgtest"
	"github.com/scrutin/scrutin/store"
)

// codeMail hands each code mailed to the benchmark.
type codeMail chan string

func (m codeMail) Send(ctx context.Context, to, subject, body string) error {
	m <- eightDigits.FindString(body)
	return nil
}

// BenchmarkSignInRoundTrip is one voter's sign-in: a code asked for,
// mailed, and used (its letter given back), with the state in memory
// (a private SQLite database), in SQLite on disk, and in PostgreSQL
// (docs/performance.md).
func BenchmarkSignInRoundTrip(b *testing.B) {
	for _, kind := range []string{"memory", "sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			var lim SignInLimits
			switch kind {
			case "sqlite":
				st, err := store.OpenShared(context.Background(), b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				lim.State = st
			case "postgres":
				st, err := store.OpenShared(context.Background(), pgtest.Schema(b, "bench"))
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				lim.State = st
			}
			k, _ := crypto.GenerateKey(nil)
			const ada = "ada@example.org"
			m := make(codeMail, 1)
			s, err := NewSignIn(bytes.Repeat([]byte{1}, 32), crypto.Fingerprint{2}, []Voter{{Email: ada, Credential: k.PublicKey()}}, m, "Union ballot", lim, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				id := newChallengeID()
				if wait, _, err := s.issue(ctx, ada, id); wait != 0 || err != nil {
					b.Fatal(wait, err)
				}
				code := <-m
				if err := s.useCode(ctx, ada, id, code); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/float64(b.N), "µs/signin")
		})
	}
}

// BenchmarkAllowBallot is the voter's ballot limit, checked for each
// ballot (docs/performance.md).
func BenchmarkAllowBallot(b *testing.B) {
	for _, kind := range []string{"memory", "sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			var lim SignInLimits
			switch kind {
			case "sqlite":
				st, err := store.OpenShared(context.Background(), b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				lim.State = st
			case "postgres":
				st, err := store.OpenShared(context.Background(), pgtest.Schema(b, "bench"))
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				lim.State = st
			}
			k, _ := crypto.GenerateKey(nil)
			s, err := NewSignIn(bytes.Repeat([]byte{1}, 32), crypto.Fingerprint{2}, []Voter{{Email: "ada@example.org", Credential: k.PublicKey()}}, make(codeMail, 1), "Union ballot", lim, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			req := httptest.NewRequest("POST", "/api/ballots", nil)
			i := 0
			for b.Loop() {
				i++
				s.AllowBallot(req, fmt.Sprintf("voter%d@example.org", i)) // a voter's first ballot, as in a busy hour
			}
		})
	}
}
