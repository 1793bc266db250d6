package server

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/internal/clientip"
)

var update = flag.Bool("update", false, "rewrite testdata/v0/signin.json")

// TestSignInVector checks the spec §20.4 vector, computed here without the
// package's functions, against the file and against the package.
func TestSignInVector(t *testing.T) {
	mac := func(key []byte, parts ...string) []byte {
		m := hmac.New(sha256.New, key)
		for _, p := range parts {
			m.Write([]byte(p))
		}
		return m.Sum(nil)
	}
	dataKey := bytes.Repeat([]byte{1}, 32)
	f := crypto.Fingerprint(bytes.Repeat([]byte{2}, 32))
	k := mac(dataKey, "scrutin/v0/voter-sign-in\x00", string(f[:]))
	email, code := "ada@example.org", "01234567"
	codeMAC := mac(k, "code\x00", email, "\x00", code)
	payload := append([]byte{0, 0, 0, 0, 0x6b, 0x49, 0xd2, 0x00}, email...) // 1800000000
	token := base64.RawURLEncoding.EncodeToString(append(payload, mac(k, "token\x00", string(payload))...))

	// Byte strings in hex, the expiry a JSON number, the token its text
	// (spec §12, §20.4).
	want := map[string]any{
		"list_key": hex.EncodeToString(dataKey), "election": hex.EncodeToString(f[:]), "k": hex.EncodeToString(k), "email": email,
		"code": code, "code_mac": hex.EncodeToString(codeMAC), "expiry": json.Number("1800000000"), "token": token,
	}
	if !bytes.Equal(SignInKey(dataKey, f), k) {
		t.Fatal("SignInKey disagrees with spec §20.3")
	}
	if got := CodeMAC(k, email, code); !bytes.Equal(got[:], codeMAC) {
		t.Fatal("CodeMAC disagrees with spec §20.3")
	}
	if got := Token(k, email, time.Unix(1800000000, 0)); got != token {
		t.Fatalf("Token disagrees with spec §20.3:\n%s\n%s", got, token)
	}
	path := filepath.Join("..", "testdata", "v0", "signin.json")
	if *update {
		b, _ := json.MarshalIndent(want, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&file); err != nil {
		t.Fatal(err)
	}
	if len(file) != len(want) {
		t.Errorf("signin.json has %d members, want %d", len(file), len(want))
	}
	for name, v := range want {
		if file[name] != v {
			t.Errorf("signin.json: %s is %#v, want %#v", name, file[name], v)
		}
	}
}

// outbox records the letters sent.
type outbox struct {
	mu    sync.Mutex
	sent  map[string][]string
	fails bool
}

func (o *outbox) Send(ctx context.Context, to, subject, body string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fails {
		return errors.New("the mail server is down")
	}
	o.sent[to] = append(o.sent[to], body)
	return nil
}

func (o *outbox) count(to string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.sent[to])
}

var eightDigits = regexp.MustCompile(`\b[0-9]{8}\b`)

func (o *outbox) lastCode(t *testing.T, to string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	m := o.sent[to]
	if len(m) == 0 {
		t.Fatalf("no letter to %s", to)
	}
	return eightDigits.FindString(m[len(m)-1])
}

type signInFixture struct {
	s      *SignIn
	mail   *outbox
	clock  time.Time
	voters []Voter
	srv    *httptest.Server
}

func newSignInFixture(t *testing.T, lim SignInLimits) *signInFixture {
	f := &signInFixture{mail: &outbox{sent: map[string][]string{}}, clock: time.Unix(1_800_000_000, 0)}
	for _, email := range []string{"ada@example.org", "bob@example.org", "bob@example.org"} {
		k, _ := crypto.GenerateKey(nil)
		f.voters = append(f.voters, Voter{Email: email, Credential: k.PublicKey()})
	}
	s, err := NewSignIn(bytes.Repeat([]byte{1}, 32), crypto.Fingerprint{2}, f.voters, f.mail, "Union ballot", lim, nil)
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
	return f
}

// code asks for a code for email and returns its challenge and the code
// mailed (n letters counted before).
func (f *signInFixture) code(t *testing.T, email string) (string, string) {
	t.Helper()
	n := f.mail.count(email)
	st, a, _ := f.post(t, "/api/sign-in", map[string]string{"email": email})
	if st != http.StatusAccepted || a["challenge"] == "" {
		t.Fatalf("sign-in: %d %v", st, a)
	}
	f.flush(t, email, n+1)
	return a["challenge"], f.mail.lastCode(t, email)
}

func (f *signInFixture) verify(t *testing.T, email, challenge, code string) (int, string) {
	t.Helper()
	st, a, _ := f.post(t, "/api/sign-in/verify", map[string]string{"email": email, "challenge": challenge, "code": code})
	return st, a["token"]
}

// flush waits until the mail workers have sent what is queued.
func (f *signInFixture) flush(t *testing.T, to string, n int) {
	deadline := time.Now().Add(5 * time.Second)
	for f.mail.count(to) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s received %d letters, want %d", to, f.mail.count(to), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (f *signInFixture) post(t *testing.T, path string, body any) (int, map[string]string, http.Header) {
	b, _ := json.Marshal(body)
	resp, err := http.Post(f.srv.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

func (f *signInFixture) credential(i int) string {
	t, _ := f.voters[i].Credential.MarshalText()
	return string(t)
}

func (f *signInFixture) authorize(token, credential string) (int, error) {
	r := httptest.NewRequest(http.MethodPost, "/api/ballots", nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	email, err := f.s.Voter(r)
	if err != nil {
		return http.StatusUnauthorized, err
	}
	if err := f.s.Owns(email, credential); err != nil {
		return http.StatusForbidden, err
	}
	return 0, nil
}

func TestSignInFlow(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	// On the list or not, the same answer, and no letter to a stranger.
	st1, a1, _ := f.post(t, "/api/sign-in", map[string]string{"email": " Ada@Example.org "})
	st2, a2, _ := f.post(t, "/api/sign-in", map[string]string{"email": "eve@example.org"})
	if st1 != http.StatusAccepted || st2 != st1 || a1["message"] != a2["message"] || len(a1["challenge"]) != len(a2["challenge"]) || a1["challenge"] == a2["challenge"] {
		t.Fatalf("answers differ: %d %v / %d %v", st1, a1, st2, a2)
	}
	f.flush(t, "ada@example.org", 1)
	if f.mail.count("eve@example.org") != 0 {
		t.Fatal("a code was sent to an address not on the list")
	}
	code := f.mail.lastCode(t, "ada@example.org")
	if st, _ := f.verify(t, "ada@example.org", a1["challenge"], "99999999"); st != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", st)
	}
	if st, _ := f.verify(t, "ada@example.org", a2["challenge"], code); st != http.StatusUnauthorized {
		t.Fatalf("right code, another challenge: %d", st)
	}
	st, token := f.verify(t, "ADA@example.org", a1["challenge"], code[:4]+" "+code[4:])
	if st != http.StatusOK || token == "" {
		t.Fatalf("right code: %d", st)
	}
	// A code works once.
	if st, _ := f.verify(t, "ada@example.org", a1["challenge"], code); st != http.StatusUnauthorized {
		t.Fatalf("a code was used twice: %d", st)
	}
	if st, err := f.authorize(token, f.credential(0)); err != nil {
		t.Fatalf("own credential: %d %v", st, err)
	}
	if st, _ := f.authorize(token, f.credential(1)); st != http.StatusForbidden {
		t.Fatalf("another member's credential: %d", st)
	}
	if st, _ := f.authorize("", f.credential(0)); st != http.StatusUnauthorized {
		t.Fatalf("no token: %d", st)
	}
	// Every changed byte of the token is refused.
	raw, _ := base64.RawURLEncoding.DecodeString(token)
	for i := range raw {
		c := bytes.Clone(raw)
		c[i] ^= 0x20
		if st, _ := f.authorize(base64.RawURLEncoding.EncodeToString(c), f.credential(0)); st != http.StatusUnauthorized {
			t.Fatalf("token byte %d changed: %d", i, st)
		}
	}
	// Tokens of another list key or another election are refused.
	for _, k := range [][]byte{SignInKey(bytes.Repeat([]byte{9}, 32), crypto.Fingerprint{2}), SignInKey(bytes.Repeat([]byte{1}, 32), crypto.Fingerprint{3})} {
		if st, _ := f.authorize(Token(k, "ada@example.org", f.clock.Add(time.Hour)), f.credential(0)); st != http.StatusUnauthorized {
			t.Fatalf("token under another key: %d", st)
		}
	}
	// Members sharing an address: one sign-in serves both credentials.
	ch, bc := f.code(t, "bob@example.org")
	_, btok := f.verify(t, "bob@example.org", ch, bc)
	for _, i := range []int{1, 2} {
		if st, err := f.authorize(btok, f.credential(i)); err != nil {
			t.Fatalf("shared address, credential %d: %d %v", i, st, err)
		}
	}
	// Tokens expire.
	f.clock = f.clock.Add(time.Hour)
	if st, _ := f.authorize(token, f.credential(0)); st != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", st)
	}
}

// TestSignInLockout: a stranger can neither void the code a voter holds
// nor make the server send more than its letter limit.
func TestSignInLockout(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	const ada = "ada@example.org"
	ch, code := f.code(t, ada)
	// The stranger asks for more codes and guesses against their own
	// challenges and against a made-up one: the voter's code still works,
	// in both forms.
	var theirs []string
	for range 3 {
		_, a, _ := f.post(t, "/api/sign-in", map[string]string{"email": ada})
		theirs = append(theirs, a["challenge"])
	}
	f.flush(t, ada, 2)
	for _, c := range append(theirs, "made-up") {
		for range 10 {
			f.verify(t, ada, c, "12345678")
		}
	}
	if st, _ := f.verify(t, ada, ch, code); st != http.StatusOK {
		t.Fatalf("the voter's code was voided by a stranger: %d", st)
	}
	// Their letter's short form is void for them, its long form still works
	// for the voter who reads it.
	f.mail.mu.Lock()
	long := strings.ReplaceAll(sixteenDigits.FindString(f.mail.sent[ada][1]), " ", "")
	f.mail.mu.Unlock()
	if st, _ := f.verify(t, ada, "", long); st != http.StatusOK {
		t.Fatalf("the long form of a letter asked for by a stranger: %d", st)
	}
	// Two letters in a row, then one every 6 minutes, but each code used
	// gives its letter back: both were used.
	time.Sleep(20 * time.Millisecond)
	if n := f.mail.count(ada); n != 2 {
		t.Fatalf("%d letters; want 2", n)
	}
	for i := range 3 {
		st, _, h := f.post(t, "/api/sign-in", map[string]string{"email": ada})
		if (i < 2) != (st == http.StatusAccepted) {
			t.Fatalf("request %d: %d %v", i, st, h)
		}
	}
	f.clock = f.clock.Add(6 * time.Minute)
	for i := range 2 {
		st, _, h := f.post(t, "/api/sign-in", map[string]string{"email": ada})
		if (i == 0) != (st == http.StatusAccepted) {
			t.Fatalf("request %d after 6 minutes: %d %v", i, st, h)
		}
	}
	f.flush(t, ada, 5)
	time.Sleep(20 * time.Millisecond)
	if n := f.mail.count(ada); n != 5 {
		t.Fatalf("%d letters; want 5", n)
	}
}

func TestSignInCodeLimits(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	const ada = "ada@example.org"
	// A code expires after 10 minutes.
	ch, code := f.code(t, ada)
	f.clock = f.clock.Add(10 * time.Minute)
	if st, _ := f.verify(t, ada, ch, code); st != http.StatusUnauthorized {
		t.Fatalf("expired code: %d", st)
	}
	// Five wrong attempts void a code, even if the right one comes next.
	ch, code = f.code(t, ada)
	wrong := fmt.Sprintf("%08d", (int(code[7]-'0')+1)%10)
	for range 5 {
		if st, _ := f.verify(t, ada, ch, wrong); st != http.StatusUnauthorized {
			t.Fatalf("wrong code accepted: %d", st)
		}
	}
	if st, _ := f.verify(t, ada, ch, code); st != http.StatusUnauthorized {
		t.Fatalf("the right code after 5 wrong attempts: %d", st)
	}
	// Its 16 digits still work, once; other lengths never do.
	f.mail.mu.Lock()
	long := strings.ReplaceAll(sixteenDigits.FindString(f.mail.sent[ada][1]), " ", "")
	f.mail.mu.Unlock()
	for _, c := range []string{long[:15], long + "0", long[:8] + "00000000"} {
		if st, _ := f.verify(t, ada, ch, c); st != http.StatusUnauthorized {
			t.Fatalf("%q accepted: %d", c, st)
		}
	}
	if st, _ := f.verify(t, ada, "", long); st != http.StatusOK {
		t.Fatalf("the long form after 5 wrong attempts of the short one: %d", st)
	}
	if st, _ := f.verify(t, ada, "", long); st != http.StatusUnauthorized {
		t.Fatalf("the long form used twice: %d", st)
	}
	// Malformed requests.
	for _, body := range []string{`{"email":`, `{"email":"ada@example.org","x":1}`, strings.Repeat(" ", 5000)} {
		resp, _ := http.Post(f.srv.URL+"/api/sign-in", "application/json", strings.NewReader(body))
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%.20q: %d", body, resp.StatusCode)
		}
		resp.Body.Close()
	}
	if st, _, _ := f.post(t, "/api/sign-in", map[string]string{"email": "not an address"}); st != http.StatusBadRequest {
		t.Fatalf("bad address: %d", st)
	}
	// Only application/json: other sites cannot send these from their
	// visitors' browsers without a preflight.
	for path, body := range map[string]string{"/api/sign-in": `{"email":"ada@example.org"}`, "/api/sign-in/verify": `{"email":"ada@example.org","challenge":"x","code":"12345678"}`} {
		resp, _ := http.Post(f.srv.URL+path, "text/plain", strings.NewReader(body))
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("%s as text/plain: %d", path, resp.StatusCode)
		}
	}
}

func TestSignInPerClientLimit(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{PerClient: 1, PerClientBurst: 3})
	for i := range 3 {
		if st, _, _ := f.post(t, "/api/sign-in", map[string]string{"email": fmt.Sprintf("eve%d@example.org", i)}); st != http.StatusAccepted {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	st, _, h := f.post(t, "/api/sign-in/verify", map[string]string{"email": "ada@example.org", "challenge": "x", "code": "12345678"})
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("fourth request: %d, Retry-After %q", st, h.Get("Retry-After"))
	}
	f.clock = f.clock.Add(2 * time.Second)
	if st, _, _ := f.post(t, "/api/sign-in", map[string]string{"email": "eve@example.org"}); st != http.StatusAccepted {
		t.Fatalf("after waiting: %d", st)
	}
}

// TestSignInPerClientLimitAcrossElections: a server's elections share one
// per-client budget (SignInLimits.Clients), so that a client does not get
// as many sign-in requests as there are elections.
func TestSignInPerClientLimitAcrossElections(t *testing.T) {
	shared := clientip.NewLimiters(1, 3)
	lim := SignInLimits{PerClient: 1, PerClientBurst: 3, Clients: shared}
	a, b := newSignInFixture(t, lim), newSignInFixture(t, lim)
	b.clock = a.clock
	for i := range 3 {
		if st, _, _ := a.post(t, "/api/sign-in", map[string]string{"email": fmt.Sprintf("eve%d@example.org", i)}); st != http.StatusAccepted {
			t.Fatalf("request %d to election a: %d", i, st)
		}
	}
	if st, _, h := b.post(t, "/api/sign-in", map[string]string{"email": "eve@example.org"}); st != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("a fourth request, to election b: %d, Retry-After %q", st, h.Get("Retry-After"))
	}
}

func TestSignInClients(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{PerClient: rate.Every(time.Hour), PerClientBurst: 1, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	req := func(remote string, xff ...string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/api/sign-in", nil)
		r.RemoteAddr = remote
		for _, x := range xff {
			r.Header.Add("X-Forwarded-For", x)
		}
		return r
	}
	for _, c := range []struct {
		r    *http.Request
		want string
	}{
		{req("192.0.2.7:1234"), "192.0.2.7"},
		{req("192.0.2.7:1234", "198.51.100.1"), "192.0.2.7"}, // not a trusted proxy: the header is ignored
		{req("10.1.2.3:443", "203.0.113.9"), "203.0.113.9"},
		{req("10.1.2.3:443", "6.6.6.6, 203.0.113.9, 10.9.9.9"), "203.0.113.9"}, // the rightmost untrusted hop
		{req("[2001:db8:1:2::5]:443"), "2001:db8:1:2::/64"},
		{req("[::ffff:192.0.2.8]:443"), "192.0.2.8"},
	} {
		if got := f.s.client(c.r); got != c.want {
			t.Errorf("%s %v: client %q, want %q", c.r.RemoteAddr, c.r.Header.Values("X-Forwarded-For"), got, c.want)
		}
	}
	// One /64 is one client.
	allowed := 0
	for i := 1; i <= 10; i++ {
		if ok, _ := f.s.allowClient(f.s.client(req(fmt.Sprintf("[2001:db8:1:2::%x]:443", i)))); ok {
			allowed++
		}
	}
	if allowed != 1 {
		t.Fatalf("10 addresses of one /64 got %d requests through a limit of 1", allowed)
	}
	// The limiters kept are bounded.
	for i := f.s.clients.Len(); i < clientip.MaxLimiters; i++ {
		f.s.allowClient(fmt.Sprint(i))
	}
	for i := range 5 {
		f.s.allowClient(fmt.Sprintf("new-%d", i))
	}
	if n := f.s.clients.Len(); n > clientip.MaxLimiters {
		t.Fatalf("%d limiters kept", n)
	}
}

// gatedMail delivers letters to open at once and holds the others until
// release is closed.
type gatedMail struct {
	open    string
	release chan struct{}
	mu      sync.Mutex
	sent    []string
}

func (g *gatedMail) Send(ctx context.Context, to, subject, body string) error {
	if to != g.open {
		<-g.release
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sent = append(g.sent, body)
	return nil
}

func (g *gatedMail) letters() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.sent...)
}

// TestSignInFullMailQueue: a code whose letter cannot be queued is not
// issued, and spends nothing.
func TestSignInFullMailQueue(t *testing.T) {
	const victim = "ada@example.org"
	voters := []Voter{{Email: victim}}
	for i := range 2100 { // 2100 × 2 codes > 4096 queued + 4 being sent
		voters = append(voters, Voter{Email: fmt.Sprintf("m%d@example.org", i)})
	}
	for i := range voters {
		k, _ := crypto.GenerateKey(nil)
		voters[i].Credential = k.PublicKey()
	}
	m := &gatedMail{open: victim, release: make(chan struct{})}
	s, err := NewSignIn(bytes.Repeat([]byte{1}, 32), crypto.Fingerprint{}, voters, m, "Union ballot", SignInLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	defer close(m.release)
	clock := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { return clock }
	id := newChallengeID()
	s.issue(context.Background(), victim, id)
	deadline := time.Now().Add(5 * time.Second)
	for len(m.letters()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no letter to the victim")
		}
		time.Sleep(time.Millisecond)
	}
	code := eightDigits.FindString(m.letters()[0])
	for _, v := range voters[1:] {
		for range 2 {
			s.issue(context.Background(), v.Email, newChallengeID())
		}
	}
	// The queue is full: dropped, and said so, to any address.
	for _, to := range []string{victim, "eve@example.org"} {
		if _, _, err := s.issue(context.Background(), to, newChallengeID()); err != errNoLetters {
			t.Fatalf("%s, full queue: %v", to, err)
		}
	}
	tokens, err := s.state.Tokens(context.Background(), s.budget("letters", victim), s.letters(), clock)
	if err != nil {
		t.Fatal(err)
	}
	if tokens < 1 {
		t.Fatalf("a dropped letter counted against the limit: %v left", tokens)
	}
	if err := s.useCode(context.Background(), victim, id, code); err != nil {
		t.Fatal("the voter's delivered code stopped working")
	}
}

func TestSignInAfterClose(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	f.s.Close()
	f.s.issue(context.Background(), "ada@example.org", newChallengeID()) // must not panic
	if st, _, _ := f.post(t, "/api/sign-in", map[string]string{"email": "ada@example.org"}); st != http.StatusServiceUnavailable {
		t.Fatalf("after close: %d", st)
	}
}

// TestCastChecksTokenFirst: a ballot request without a voter token gets 401
// whatever its body (spec §20.3).
func TestCastChecksTokenFirst(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	h := &handler{signIn: f.s, log: slog.New(slog.DiscardHandler)}
	for _, ct := range []string{"application/json", "text/plain"} {
		r := httptest.NewRequest(http.MethodPost, "/api/ballots", strings.NewReader(`{"contests":[`))
		r.Header.Set("Content-Type", ct)
		w := httptest.NewRecorder()
		h.cast(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Fatalf("%s ballot without a voter token: %d", ct, w.Code)
		}
	}
}

func TestSignInList(t *testing.T) {
	k1, _ := crypto.GenerateKey(nil)
	k2, _ := crypto.GenerateKey(nil)
	c1, _ := k1.PublicKey().MarshalText()
	c2, _ := k2.PublicKey().MarshalText()
	good := fmt.Sprintf("email,credential\nAda@Example.org,%s\nbob@example.org,%s\n", c1, c2)
	for name, bad := range map[string]string{
		"no header":          fmt.Sprintf("ada@example.org,%s\n", c1),
		"empty":              "email,credential\n",
		"bad address":        fmt.Sprintf("email,credential\nada,%s\n", c1),
		"bad credential":     "email,credential\nada@example.org,AAAA\n",
		"identity":           "email,credential\nada@example.org,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
		"repeated":           fmt.Sprintf("email,credential\nada@example.org,%s\nbob@example.org,%s\n", c1, c1),
		"three columns":      fmt.Sprintf("email,credential\nada@example.org,%s,x\n", c1),
		"header only column": "email\n",
		"double dot":         fmt.Sprintf("email,credential\nada..lovelace@example.org,%s\n", c1),
		"comment":            fmt.Sprintf("email,credential\n(ada)@example.org,%s\n", c1),
	} {
		if _, err := ReadSignInList(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dir := t.TempDir()
	n, err := ImportSignInList(dir, strings.NewReader(good))
	if err != nil || n != 2 {
		t.Fatalf("import: %d %v", n, err)
	}
	sealed, _ := os.ReadFile(filepath.Join(dir, SignInListFile))
	if bytes.Contains(sealed, []byte("example.org")) || bytes.Contains(sealed, c1) {
		t.Fatal("the sign-in list is not encrypted at rest")
	}
	for _, f := range []string{SignInListFile, SignInKeyFile} {
		if st, _ := os.Stat(filepath.Join(dir, f)); st.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v", f, st.Mode().Perm())
		}
	}
	_, voters, err := LoadSignInList(dir)
	if err != nil || len(voters) != 2 || voters[0].Email != "ada@example.org" || !voters[1].Credential.Equal(k2.PublicKey()) {
		t.Fatalf("load: %v %v", voters, err)
	}
	// A changed byte is detected.
	sealed[len(sealed)-1] ^= 1
	os.WriteFile(filepath.Join(dir, SignInListFile), sealed, 0o600)
	if _, _, err := LoadSignInList(dir); err == nil {
		t.Fatal("a tampered list was loaded")
	}
	if err := EraseSignInList(dir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadSignInList(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after erasing: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left after erasing: %v", left)
	}
}

// TestBallotLimits: a voter casts at most BallotsBurst ballots at once,
// then one every BallotInterval; another voter is not held back by it; a
// client over its limit is refused.
func TestBallotLimits(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{PerClient: 1, PerClientBurst: 15})
	req := httptest.NewRequest("POST", "/api/ballots", nil)
	for i := range BallotsBurst {
		if ok, _ := f.s.AllowBallot(req, "ada@example.org"); !ok {
			t.Fatalf("ballot %d refused", i+1)
		}
	}
	if ok, wait := f.s.AllowBallot(req, "ada@example.org"); ok || wait <= 0 || wait > BallotInterval {
		t.Fatalf("ballot %d: allowed %v, wait %v", BallotsBurst+1, ok, wait)
	}
	for i := range 5 { // the client's burst of 15, 10 spent
		if ok, _ := f.s.AllowBallot(req, "bob@example.org"); !ok {
			t.Fatalf("another voter's ballot %d refused", i+1)
		}
	}
	if ok, _ := f.s.AllowBallot(req, "bob@example.org"); ok {
		t.Fatal("a client past its limit was allowed")
	}
	f.clock = f.clock.Add(BallotInterval)
	other := httptest.NewRequest("POST", "/api/ballots", nil)
	other.RemoteAddr = "198.51.100.4:1234"
	if ok, _ := f.s.AllowBallot(other, "ada@example.org"); !ok {
		t.Fatal("after the interval, the voter is still refused")
	}
}

// postFrom is post from the client named by a trusted proxy.
func (f *signInFixture) postFrom(t *testing.T, client, path string, body any) (int, map[string]any, http.Header) {
	t.Helper()
	b, _ := json.Marshal(body)
	r, _ := http.NewRequest(http.MethodPost, f.srv.URL+path, bytes.NewReader(b))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Forwarded-For", client)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, resp.Header
}

var sixteenDigits = regexp.MustCompile(`\b[0-9]{8} [0-9]{8}\b`)

// TestSignInManyClientsCannotLockOut is defect 6 of issue 13: strangers
// asking for a voter's codes from many addresses, all hour long, never keep
// the voter out, never make the server say a code is on its way when none
// is, and mail the voter a bounded number of letters (spec §20.3).
func TestSignInManyClientsCannotLockOut(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
	const ada = "ada@example.org"
	start := f.clock
	stranger, used := 0, 0
	for minute := 0; minute < 60; minute++ {
		// Four new addresses a minute, three requests each.
		for range 4 {
			stranger++
			for range 3 {
				f.postFrom(t, fmt.Sprintf("198.51.%d.%d", stranger/256, stranger%256), "/api/sign-in", map[string]string{"email": ada})
			}
		}
		time.Sleep(2 * time.Millisecond)
		if minute%7 != 3 {
			f.clock = f.clock.Add(time.Minute)
			continue
		}
		// The voter, from their own address, asks for a code.
		before := f.mail.count(ada)
		st, a, h := f.postFrom(t, "203.0.113.5", "/api/sign-in", map[string]string{"email": ada})
		time.Sleep(20 * time.Millisecond)
		switch st {
		case http.StatusAccepted:
			f.flush(t, ada, before+1)
			ch, _ := a["challenge"].(string)
			if st, _ := f.verify(t, ada, ch, f.mail.lastCode(t, ada)); st != http.StatusOK {
				t.Fatalf("minute %d: the code just sent does not work: %d", minute, st)
			}
			used++
		case http.StatusTooManyRequests:
			if f.mail.count(ada) != before {
				t.Fatalf("minute %d: refused, yet a letter was sent", minute)
			}
			if h.Get("Retry-After") == "" || a["retry_after"] == nil {
				t.Fatalf("minute %d: refused without saying when to ask again: %v %v", minute, h, a)
			}
			if msg, _ := a["message"].(string); strings.Contains(msg, "on its way") {
				t.Fatalf("minute %d: refused, yet says %q", minute, msg)
			}
			// The latest letter in the mailbox works, in any window.
			f.mail.mu.Lock()
			m := f.mail.sent[ada]
			long := strings.ReplaceAll(sixteenDigits.FindString(m[len(m)-1]), " ", "")
			f.mail.mu.Unlock()
			if st, _ := f.verify(t, ada, "", long); st != http.StatusOK {
				t.Fatalf("minute %d: refused a new code, and the latest letter's code does not work: %d", minute, st)
			}
			used++
		default:
			t.Fatalf("minute %d: %d %v", minute, st, a)
		}
		if f.mail.count(ada) == before && st == http.StatusAccepted {
			t.Fatalf("minute %d: %q, yet no letter was sent", minute, a["message"])
		}
		f.clock = f.clock.Add(time.Minute)
	}
	// At most 2 + 60/6 letters an hour that nobody used.
	if n := f.mail.count(ada); n-used > 12 {
		t.Fatalf("%d letters to one address in %v, %d of them used", n, f.clock.Sub(start), used)
	}
}

// TestSignInRefusalSameForStrangers: the letter limit's answers do not tell
// whether an address is on the list.
func TestSignInRefusalSameForStrangers(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	var answers [2][]string
	for i, email := range []string{"ada@example.org", "eve@example.org"} {
		for range 3 {
			st, a, h := f.postFrom(t, "192.0.2.1", "/api/sign-in", map[string]string{"email": email})
			delete(a, "challenge")
			answers[i] = append(answers[i], fmt.Sprint(st, a, h.Get("Retry-After")))
		}
	}
	if fmt.Sprint(answers[0]) != fmt.Sprint(answers[1]) || !strings.Contains(answers[0][2], "429") {
		t.Fatalf("on the list:\n%q\nnot on it:\n%q", answers[0], answers[1])
	}
}

// TestSignInUsedCodesGiveBack: a voter who uses each code signs in as often
// as they like (the limit bounds the letters nobody used), and a refusal
// always leaves the latest letter unused and valid.
func TestSignInUsedCodesGiveBack(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	const ada = "ada@example.org"
	for i := range 6 {
		ch, code := f.code(t, ada)
		if st, _ := f.verify(t, ada, ch, code); st != http.StatusOK {
			t.Fatalf("sign-in %d: %d", i, st)
		}
		f.clock = f.clock.Add(10 * time.Second)
	}
	// Two letters unused: the third request is refused, and the latest
	// letter works.
	for range 2 {
		f.post(t, "/api/sign-in", map[string]string{"email": ada})
	}
	f.flush(t, ada, 8)
	if st, _, _ := f.post(t, "/api/sign-in", map[string]string{"email": ada}); st != http.StatusTooManyRequests {
		t.Fatalf("a third unused letter: %d", st)
	}
	f.mail.mu.Lock()
	long := strings.ReplaceAll(sixteenDigits.FindString(f.mail.sent[ada][7]), " ", "")
	f.mail.mu.Unlock()
	if st, _ := f.verify(t, ada, "", long); st != http.StatusOK {
		t.Fatalf("the latest letter: %d", st)
	}
	if st, _, _ := f.post(t, "/api/sign-in", map[string]string{"email": ada}); st != http.StatusAccepted {
		t.Fatalf("after using it: %d", st)
	}
}

// TestSignInClientTableFull: once the per-client limiters kept reach their
// bound, clients whose limiter is full again (the state of one never seen,
// so forgetting it loses nothing) make room for new ones. Otherwise
// 100,000 network addresses (an IPv6 /47's worth of /64s), each asking once
// every 10 minutes, make every new client share one limiter, which one of
// them drains: no new voter could ask for a code, use it, or cast.
func TestSignInClientTableFull(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{PerClient: 1, PerClientBurst: 20})
	for i := range clientip.MaxLimiters {
		if ok, _ := f.s.allowClient(fmt.Sprintf("2001:db8:%x:%x::/64", i>>16, i&0xffff)); !ok {
			t.Fatalf("client %d refused", i)
		}
	}
	f.clock = f.clock.Add(25 * time.Second) // every limiter is full again
	for range 20 {
		f.s.allowClient("198.51.100.66") // an attacker drains what it can
	}
	if ok, _ := f.s.allowClient("192.0.2.7"); !ok {
		t.Fatal("a new client is refused while the table is full of limiters full again")
	}
	if n := f.s.clients.Len(); n > clientip.MaxLimiters {
		t.Fatalf("%d limiters kept", n)
	}
}

// TestBallotLimitsNotReset: the voters' ballot limits kept are bounded by
// forgetting those full again, not by forgetting all of them: many voters
// casting do not give a stolen token a fresh burst.
func TestBallotLimitsNotReset(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	req := httptest.NewRequest("POST", "/api/ballots", nil)
	for range BallotsBurst {
		f.s.AllowBallot(req, "ada@example.org")
	}
	for i := range 2000 {
		if ok, _ := f.s.AllowBallot(req, fmt.Sprintf("voter%d@example.org", i)); !ok {
			t.Fatalf("voter %d refused", i)
		}
	}
	if ok, _ := f.s.AllowBallot(req, "ada@example.org"); ok {
		t.Fatal("a voter past the ballot limit got a fresh burst because many others voted")
	}
	f.clock = f.clock.Add(time.Duration(BallotsBurst) * BallotInterval) // every limit full again
	f.s.AllowBallot(req, "new@example.org")
	if n, _, _ := f.s.state.Kept(context.Background(), ""); n > 2 {
		t.Fatalf("%d ballot limits kept after all filled again", n)
	}
}

// records keeps the log records written.
type records struct {
	mu  sync.Mutex
	all []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.all = append(r.all, rec)
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// TestSignInLogsWrongLongCodes: wrong 16-digit codes (guesses, since the
// voter copies the letter) are logged, as spec §20.3 says a server
// SHOULD, at most once a minute with their count, and without the address.
func TestSignInLogsWrongLongCodes(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	rec := &records{}
	f.s.log = slog.New(rec)
	wrong := func() {
		if st, _ := f.verify(t, "ada@example.org", "", "1234567812345678"); st != http.StatusUnauthorized {
			t.Fatalf("a wrong code: %d", st)
		}
	}
	count := func() (n int, counts []int64) {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, r := range rec.all {
			r.Attrs(func(a slog.Attr) bool {
				if a.Key == "count" {
					counts = append(counts, a.Value.Int64())
				}
				if strings.Contains(a.Value.String(), "@") {
					t.Errorf("the log names an address: %s", a)
				}
				return true
			})
		}
		return len(rec.all), counts
	}
	for range 3 {
		wrong()
	}
	if n, counts := count(); n != 1 || len(counts) != 1 || counts[0] != 1 {
		t.Fatalf("after 3 wrong codes within a minute: %d records, counts %v", n, counts)
	}
	f.clock = f.clock.Add(time.Minute)
	wrong()
	if n, counts := count(); n != 2 || counts[1] != 3 {
		t.Fatalf("a minute later: %d records, counts %v", n, counts)
	}
	// An 8-digit code is not counted.
	f.clock = f.clock.Add(time.Minute)
	f.verify(t, "ada@example.org", "x", "12345678")
	if n, _ := count(); n != 2 {
		t.Fatalf("a wrong 8-digit code was logged as a guess of the long form")
	}
}

// heldMail holds every letter until it is told to send it, then sends it,
// or fails, as told.
type heldMail struct {
	next chan error
	mu   sync.Mutex
	sent []string
}

func (h *heldMail) Send(ctx context.Context, to, subject, body string) error {
	if err := <-h.next; err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sent = append(h.sent, body)
	return nil
}

// TestSignInCodeLivesFromItsLetter: a code's 10 minutes run from when its
// letter is handed to the mail server, not from when it was queued, so that
// a backlog (a slow or failing mail server) does not deliver dead codes;
// and a letter that could not be sent gives its letter back.
func TestSignInCodeLivesFromItsLetter(t *testing.T) {
	k, _ := crypto.GenerateKey(nil)
	const ada = "ada@example.org"
	m := &heldMail{next: make(chan error)}
	s, err := NewSignIn(bytes.Repeat([]byte{1}, 32), crypto.Fingerprint{}, []Voter{{Email: ada, Credential: k.PublicKey()}}, m, "Union ballot", SignInLimits{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var clockMu sync.Mutex
	clock := time.Unix(1_800_000_000, 0)
	s.now = func() time.Time { clockMu.Lock(); defer clockMu.Unlock(); return clock }
	advance := func(d time.Duration) { clockMu.Lock(); clock = clock.Add(d); clockMu.Unlock() }
	id := newChallengeID()
	if wait, _, err := s.issue(context.Background(), ada, id); wait != 0 || err != nil {
		t.Fatal(wait, err)
	}
	advance(15 * time.Minute) // the mail server was slow
	m.next <- nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		n := len(m.sent)
		m.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no letter")
		}
		time.Sleep(time.Millisecond)
	}
	m.mu.Lock()
	code := eightDigits.FindString(m.sent[0])
	m.mu.Unlock()
	advance(time.Minute)
	// The workers record the sending just after Send returns.
	for s.useCode(context.Background(), ada, id, code) != nil {
		if time.Now().After(deadline) {
			t.Fatal("a code mailed a minute ago, queued 16 minutes ago, does not work")
		}
		time.Sleep(time.Millisecond)
	}

	// A letter that fails gives its letter back, and its code is void.
	id = newChallengeID()
	if wait, _, err := s.issue(context.Background(), ada, id); wait != 0 || err != nil {
		t.Fatal(wait, err)
	}
	m.next <- errors.New("mail server down")
	for {
		tokens, _ := s.state.Tokens(context.Background(), s.budget("letters", ada), s.letters(), s.now())
		_, live, _ := s.state.Kept(context.Background(), s.scope)
		if tokens >= 2-1e-9 && live == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a failed letter: %v letters left, %d codes live", tokens, live)
		}
		time.Sleep(time.Millisecond)
	}
}
