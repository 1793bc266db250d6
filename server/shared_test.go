package server

// Several nodes on one database share the voters' sign-in state: codes,
// their attempts, the letter limits and the ballot limits (issue 18,
// deliverable 3). Each test runs two or three SignIns on one database, as
// several `scrutin serve` nodes behind a load balancer would.

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/internal/pgtest"
	"github.com/scrutin/scrutin/store"
)

// signInNodes are n SignIns of one election on the database at loc, with
// one list, one mailbox and one clock.
func signInNodes(t *testing.T, loc string, n int, lim SignInLimits) []*signInFixture {
	t.Helper()
	mail := &outbox{sent: map[string][]string{}}
	var voters []Voter
	for _, email := range []string{"ada@example.org", "bob@example.org"} {
		k, _ := crypto.GenerateKey(nil)
		voters = append(voters, Voter{Email: email, Credential: k.PublicKey()})
	}
	clock := time.Unix(1_800_000_000, 0)
	var nodes []*signInFixture
	for range n {
		f := &signInFixture{mail: mail, clock: clock, voters: voters}
		l := nodeLimits(t, loc, lim)
		s, err := NewSignIn(bytes.Repeat([]byte{1}, 32), crypto.Fingerprint{2}, voters, mail, "Union ballot", l, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.now = func() time.Time { return f.clock }
		f.s = s
		mux := http.NewServeMux()
		mux.HandleFunc("POST /api/sign-in", s.requestCode)
		mux.HandleFunc("POST /api/sign-in/verify", s.verifyCode)
		f.srv = httptest.NewServer(mux)
		t.Cleanup(f.srv.Close)
		t.Cleanup(s.Close)
		nodes = append(nodes, f)
	}
	return nodes
}

// nodeLimits are the limits of a node on the database at loc.
func nodeLimits(t *testing.T, loc string, lim SignInLimits) SignInLimits {
	t.Helper()
	st, err := store.OpenShared(context.Background(), loc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lim.State = st
	return lim
}

func sharedPostgres(t *testing.T) string { return pgtest.Schema(t, "shared") }

// TestSharedCodeAcrossNodes: a code asked on one node is accepted on
// another, once, in both forms.
func TestSharedCodeAcrossNodes(t *testing.T) {
	nodes := signInNodes(t, sharedPostgres(t), 2, SignInLimits{})
	a, b := nodes[0], nodes[1]
	const ada = "ada@example.org"
	ch, code := a.code(t, ada)
	if st, tok := b.verify(t, ada, ch, code); st != http.StatusOK || tok == "" {
		t.Fatalf("a code asked on node A, typed on node B: %d", st)
	}
	if st, _ := a.verify(t, ada, ch, code); st != http.StatusUnauthorized {
		t.Fatalf("a code used on node B works again on node A: %d", st)
	}
	// The long form too.
	ch, _ = b.code(t, ada)
	long := longCode(t, a.mail, ada)
	if st, _ := a.verify(t, ada, "", long); st != http.StatusOK {
		t.Fatalf("a long code asked on node B, typed on node A: %d", st)
	}
	if st, _ := b.verify(t, ada, ch, long[:8]); st != http.StatusUnauthorized {
		t.Fatalf("a code used in its long form works in its short one on another node: %d", st)
	}
}

// longCode is the 16-digit form of the last code mailed to email.
func longCode(t *testing.T, o *outbox, email string) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.sent[email]
	if len(m) == 0 {
		t.Fatalf("no letter to %s", email)
	}
	return strings.ReplaceAll(sixteenDigits.FindString(m[len(m)-1]), " ", "")
}

// TestSharedLetterBudgetAcrossNodes: one address gets its letter limit
// (CodeBurst) from all the nodes together, not from each; asked at once
// from many goroutines on three nodes, exactly the budget is sent.
func TestSharedLetterBudgetAcrossNodes(t *testing.T) {
	nodes := signInNodes(t, sharedPostgres(t), 3, SignInLimits{})
	const ada = "ada@example.org"
	var accepted, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			st, _, _ := nodes[i%3].post(t, "/api/sign-in", map[string]string{"email": ada})
			switch st {
			case http.StatusAccepted:
				accepted.Add(1)
			case http.StatusTooManyRequests:
				refused.Add(1)
			default:
				t.Errorf("asking for a code: %d", st)
			}
		})
	}
	wg.Wait()
	if accepted.Load() != 2 || refused.Load() != 22 {
		t.Fatalf("24 requests on 3 nodes: %d letters, %d refused; want 2 and 22", accepted.Load(), refused.Load())
	}
	nodes[0].flush(t, ada, 2)
	time.Sleep(50 * time.Millisecond)
	if n := nodes[0].mail.count(ada); n != 2 {
		t.Fatalf("%d letters sent, want 2", n)
	}
}

// TestSharedAttemptsAcrossNodes: a short code's wrong attempts are counted
// on every node together: guessed at once from many goroutines on two
// nodes, the code is void after the budget, and the right code then fails.
func TestSharedAttemptsAcrossNodes(t *testing.T) {
	nodes := signInNodes(t, sharedPostgres(t), 2, SignInLimits{})
	const ada = "ada@example.org"
	ch, code := nodes[0].code(t, ada)
	wrong := "00000000"
	if code == wrong {
		wrong = "11111111"
	}
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Go(func() {
			if st, _ := nodes[i%2].verify(t, ada, ch, wrong); st != http.StatusUnauthorized {
				t.Errorf("a wrong code: %d", st)
			}
		})
	}
	wg.Wait()
	for _, n := range nodes {
		if st, _ := n.verify(t, ada, ch, code); st != http.StatusUnauthorized {
			t.Fatalf("after 12 wrong attempts on two nodes, the right short code works: %d", st)
		}
	}
}

// TestSharedCodeUsedOnce: the right code typed at once on two nodes by
// many goroutines signs in exactly once.
func TestSharedCodeUsedOnce(t *testing.T) {
	nodes := signInNodes(t, sharedPostgres(t), 2, SignInLimits{})
	const ada = "ada@example.org"
	ch, code := nodes[1].code(t, ada)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if st, _ := nodes[i%2].verify(t, ada, ch, code); st == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Fatalf("one code signed in %d times", ok.Load())
	}
}

// TestSharedBallotBudgetAcrossNodes: a voter's ballot limit holds on all
// nodes together.
func TestSharedBallotBudgetAcrossNodes(t *testing.T) {
	nodes := signInNodes(t, sharedPostgres(t), 2, SignInLimits{})
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 3 * BallotsBurst {
		wg.Go(func() {
			req := httptest.NewRequest("POST", "/api/ballots", nil)
			if allowed, _ := nodes[i%2].s.AllowBallot(req, "ada@example.org"); allowed {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != BallotsBurst {
		t.Fatalf("%d ballots of one voter allowed on two nodes, want %d", ok.Load(), BallotsBurst)
	}
}

// TestSharedSignInSurvivesRestart: a code asked before a node restarts is
// accepted after, and the letter limit is not reset by the restart.
func TestSharedSignInSurvivesRestart(t *testing.T) {
	for _, db := range []struct{ name, loc string }{{"sqlite", ""}, {"postgres", ""}} {
		t.Run(db.name, func(t *testing.T) {
			loc := t.TempDir()
			if db.name == "postgres" {
				loc = sharedPostgres(t)
			}
			first := signInNodes(t, loc, 1, SignInLimits{})[0]
			const ada = "ada@example.org"
			first.code(t, ada)
			ch, code := first.code(t, ada)
			first.s.Close()
			again := signInNodes(t, loc, 1, SignInLimits{})[0]
			again.mail = first.mail
			if st, _, _ := again.post(t, "/api/sign-in", map[string]string{"email": ada}); st != http.StatusTooManyRequests {
				t.Fatalf("a third code right after a restart: %d, want 429", st)
			}
			if st, _ := again.verify(t, ada, ch, code); st != http.StatusOK {
				t.Fatalf("a code asked before a restart: %d", st)
			}
		})
	}
}
