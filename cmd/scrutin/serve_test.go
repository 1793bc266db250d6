package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mailer/mailtest"
)

// TestServeWithSignIn runs "scrutin serve" on an election left open by
// "scrutin demo --no-vote", with a real SMTP exchange: a member asks for a
// code, reads it in the mail, signs in and casts; the server refuses to
// start without the list or a mail server; "voters erase" removes the list.
func TestServeWithSignIn(t *testing.T) {
	bin := buildScrutin(t)
	dir := t.TempDir()
	if r := runScrutin(t, bin, "demo", "--voters", "5", "--dir", dir, "--no-vote"); r.status != 0 {
		t.Fatalf("demo --no-vote: %s", r.stderr)
	}
	smtp := mailtest.New(t)
	if r := runScrutin(t, bin, "serve", "--dir", dir, "--addr", "127.0.0.1:0"); r.status == 0 || !strings.Contains(r.stderr, "--smtp") {
		t.Fatalf("serve without a mail server: %d %s", r.status, r.stderr)
	}
	if r := runScrutin(t, bin, "serve", "--dir", dir, "--smtp", "mail.example.org:25", "--smtp-from", "e@example.org", "--smtp-tls", "none"); r.status == 0 || !strings.Contains(r.stderr, "without TLS") {
		t.Fatalf("serve with plain SMTP to a remote server: %d %s", r.status, r.stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--dir", dir, "--addr", "127.0.0.1:0", "--smtp", smtp.Addr(), "--smtp-from", "Elections <elections@example.org>", "--smtp-tls", "none")
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); cmd.Wait() }()
	url := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "serving "); ok {
			url = u
			break
		}
	}
	if url == "" {
		t.Fatal("serve did not start")
	}
	go io.Copy(io.Discard, stdout)

	// The first member, from the demo's mail-merge file.
	f, _ := os.Open(filepath.Join(dir, "elections", "demo", "credentials.csv"))
	rows, _ := csv.NewReader(f).ReadAll()
	f.Close()
	email, code := rows[1][2], rows[1][3]
	post := func(path string, body []byte, token string) (int, []byte) {
		req, _ := http.NewRequest(http.MethodPost, url+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	st, b := post("/api/e/demo/sign-in", []byte(`{"email":"`+email+`"}`), "")
	var ch struct{ Challenge string }
	json.Unmarshal(b, &ch)
	if st != http.StatusAccepted || ch.Challenge == "" {
		t.Fatalf("sign-in: %d %s", st, b)
	}
	letter := smtp.Wait(email, 1, 10*time.Second)
	otp := regexp.MustCompile(`\b[0-9]{8}\b`).FindString(letter)
	if otp == "" || !strings.Contains(letter, "Subject: Your sign-in code") {
		t.Fatalf("letter: %q", letter)
	}
	st, b = post("/api/e/demo/sign-in/verify", []byte(`{"email":"`+email+`","challenge":"`+ch.Challenge+`","code":"`+otp+`"}`), "")
	var tok struct{ Token string }
	json.Unmarshal(b, &tok)
	if st != http.StatusOK || tok.Token == "" {
		t.Fatalf("verify: %d %s", st, b)
	}
	resp, err := http.Get(url + "/api/e/demo/election")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Fingerprint string
		Manifest    *election.Manifest
		ElectionKey string `json:"election_key"`
		SignIn      string `json:"sign_in"`
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.SignIn != "email" {
		t.Fatalf("sign_in is %q", info.SignIn)
	}
	fp, _ := parseFingerprint(info.Fingerprint)
	var key crypto.PublicKey
	key.UnmarshalText([]byte(info.ElectionKey))
	view := &election.Election{Manifest: info.Manifest, Fingerprint: fp, Key: &key}
	k, _ := election.CredentialKey(fp, code)
	// The device asks which contests this credential may answer.
	ct, _ := k.PublicKey().MarshalText()
	resp, err = http.Get(url + "/api/e/demo/credentials/" + string(ct))
	if err != nil {
		t.Fatal(err)
	}
	var elig struct{ Contests []string }
	json.NewDecoder(resp.Body).Decode(&elig)
	resp.Body.Close()
	choices := make([][]int, len(info.Manifest.Contests))
	for c, contest := range info.Manifest.Contests {
		if slices.Contains(elig.Contests, contest.ID) {
			choices[c] = []int{0}
		}
	}
	if len(elig.Contests) < 2 {
		t.Fatalf("eligible for %v", elig.Contests)
	}
	ballot, err := view.NewBallot(nil, k, choices)
	if err != nil {
		t.Fatal(err)
	}
	if st, b := post("/api/e/demo/ballots", ballot[1:], ""); st != http.StatusUnauthorized {
		t.Fatalf("ballot without sign-in: %d %s", st, b)
	}
	if st, b := post("/api/e/demo/ballots", ballot[1:], tok.Token); st != http.StatusCreated {
		t.Fatalf("ballot after sign-in: %d %s", st, b)
	}
	cancel()
	cmd.Wait()

	if r := runScrutin(t, bin, "voters", "erase", "--dir", dir, "--election", "demo"); r.status != 0 {
		t.Fatalf("voters erase: %s", r.stderr)
	}
	for _, name := range []string{"voters.sealed", "voters.key"} {
		if _, err := os.Stat(filepath.Join(dir, "elections", "demo", name)); err == nil {
			t.Fatalf("%s survived voters erase", name)
		}
	}
	// Without its list, the election takes no ballots, and the server
	// says so at start (the other elections serve).
	url, stop := startServeURL(t, bin, "--dir", dir, "--smtp", smtp.Addr(), "--smtp-from", "e@example.org", "--smtp-tls", "none")
	defer stop()
	if st, b := postTo(t, url+"/api/e/demo/ballots", ballot[1:], tok.Token); st != http.StatusServiceUnavailable || !strings.Contains(string(b), "sign-in list") {
		t.Fatalf("a ballot to an election without its sign-in list: %d %s", st, b)
	}
}

// postTo posts a JSON body to url, with a voter token if given.
func postTo(t *testing.T, url string, body []byte, token string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}
