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
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scrutin/scrutin/crypto"
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
	k := mac(dataKey, "scrutin/v0/voter-sign-in")
	email, code := "ada@example.org", "01234567"
	codeMAC := mac(k, "code\x00", email, "\x00", code)
	payload := append([]byte{0, 0, 0, 0, 0x6b, 0x49, 0xd2, 0x00}, email...) // 1800000000
	token := base64.RawURLEncoding.EncodeToString(append(payload, mac(k, "token\x00", string(payload))...))

	want := map[string]string{
		"data_key": hex.EncodeToString(dataKey), "k": hex.EncodeToString(k), "email": email,
		"code": code, "code_mac": hex.EncodeToString(codeMAC), "expiry": "1800000000", "token": token,
	}
	if !bytes.Equal(SignInKey(dataKey), k) {
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
	var file map[string]string
	if err := json.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	for name, v := range want {
		if file[name] != v {
			t.Errorf("signin.json: %s is %q, want %q", name, file[name], v)
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
	s, err := NewSignIn(bytes.Repeat([]byte{1}, 32), f.voters, f.mail, "Union ballot", lim, nil)
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
	return f
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
	return f.s.Authorize(r, credential)
}

func TestSignInFlow(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	// On the list or not, the same answer, and no letter to a stranger.
	st1, a1, _ := f.post(t, "/api/sign-in", map[string]string{"email": " Ada@Example.org "})
	st2, a2, _ := f.post(t, "/api/sign-in", map[string]string{"email": "eve@example.org"})
	if st1 != http.StatusAccepted || st2 != st1 || a1["message"] != a2["message"] {
		t.Fatalf("answers differ: %d %v / %d %v", st1, a1, st2, a2)
	}
	f.flush(t, "ada@example.org", 1)
	if f.mail.count("eve@example.org") != 0 {
		t.Fatal("a code was sent to an address not on the list")
	}
	code := f.mail.lastCode(t, "ada@example.org")
	if st, _, _ := f.post(t, "/api/sign-in/verify", map[string]string{"email": "ada@example.org", "code": "99999999"}); st != http.StatusUnauthorized {
		t.Fatalf("wrong code: %d", st)
	}
	st, tok, _ := f.post(t, "/api/sign-in/verify", map[string]string{"email": "ADA@example.org", "code": code[:4] + " " + code[4:]})
	if st != http.StatusOK || tok["token"] == "" {
		t.Fatalf("right code: %d %v", st, tok)
	}
	// A code works once.
	if st, _, _ := f.post(t, "/api/sign-in/verify", map[string]string{"email": "ada@example.org", "code": code}); st != http.StatusUnauthorized {
		t.Fatalf("a code was used twice: %d", st)
	}
	token := tok["token"]
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
	// A token for another address, made with another key, is refused.
	if st, _ := f.authorize(Token(SignInKey(bytes.Repeat([]byte{2}, 32)), "ada@example.org", f.clock.Add(time.Hour)), f.credential(0)); st != http.StatusUnauthorized {
		t.Fatalf("token under another key: %d", st)
	}
	// Members sharing an address: one sign-in serves both credentials.
	f.post(t, "/api/sign-in", map[string]string{"email": "bob@example.org"})
	f.flush(t, "bob@example.org", 1)
	_, btok, _ := f.post(t, "/api/sign-in/verify", map[string]string{"email": "bob@example.org", "code": f.mail.lastCode(t, "bob@example.org")})
	for _, i := range []int{1, 2} {
		if st, err := f.authorize(btok["token"], f.credential(i)); err != nil {
			t.Fatalf("shared address, credential %d: %d %v", i, st, err)
		}
	}
	// Tokens expire.
	f.clock = f.clock.Add(time.Hour)
	if st, _ := f.authorize(token, f.credential(0)); st != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", st)
	}
}

func TestSignInCodeLimits(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{})
	ada := map[string]string{"email": "ada@example.org"}
	// A code expires after 10 minutes.
	f.post(t, "/api/sign-in", ada)
	f.flush(t, "ada@example.org", 1)
	code := f.mail.lastCode(t, "ada@example.org")
	f.clock = f.clock.Add(10 * time.Minute)
	if st, _, _ := f.post(t, "/api/sign-in/verify", map[string]string{"email": "ada@example.org", "code": code}); st != http.StatusUnauthorized {
		t.Fatalf("expired code: %d", st)
	}
	// A new code replaces the old one; five wrong attempts void it, even
	// if the right one comes next.
	f.post(t, "/api/sign-in", ada)
	f.flush(t, "ada@example.org", 2)
	code = f.mail.lastCode(t, "ada@example.org")
	wrong := fmt.Sprintf("%08d", (int(code[7]-'0')+1)%10)
	for range 5 {
		if st, _, _ := f.post(t, "/api/sign-in/verify", map[string]string{"email": "ada@example.org", "code": wrong}); st != http.StatusUnauthorized {
			t.Fatalf("wrong code accepted: %d", st)
		}
	}
	if st, _, _ := f.post(t, "/api/sign-in/verify", map[string]string{"email": "ada@example.org", "code": code}); st != http.StatusUnauthorized {
		t.Fatalf("the right code after 5 wrong attempts: %d", st)
	}
	// At most 5 codes per address per hour.
	for range 6 {
		f.post(t, "/api/sign-in", ada)
	}
	f.flush(t, "ada@example.org", 5)
	time.Sleep(50 * time.Millisecond)
	if n := f.mail.count("ada@example.org"); n != 5 {
		t.Fatalf("%d codes sent within an hour", n)
	}
	f.clock = f.clock.Add(time.Hour)
	f.post(t, "/api/sign-in", ada)
	f.flush(t, "ada@example.org", 6)
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
}

func TestSignInPerIPLimit(t *testing.T) {
	f := newSignInFixture(t, SignInLimits{PerIP: 1, PerIPBurst: 3})
	for i := range 3 {
		if st, _, _ := f.post(t, "/api/sign-in", map[string]string{"email": "eve@example.org"}); st != http.StatusAccepted {
			t.Fatalf("request %d: %d", i, st)
		}
	}
	st, _, h := f.post(t, "/api/sign-in/verify", map[string]string{"email": "ada@example.org", "code": "12345678"})
	if st != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("fourth request: %d, Retry-After %q", st, h.Get("Retry-After"))
	}
	f.clock = f.clock.Add(2 * time.Second)
	if st, _, _ := f.post(t, "/api/sign-in", map[string]string{"email": "eve@example.org"}); st != http.StatusAccepted {
		t.Fatalf("after waiting: %d", st)
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
