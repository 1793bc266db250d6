package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/internal/trustee"
)

// TestTrusteeCeremonyAcrossProcesses is the acceptance test of the trustee
// issue: five trustees, each a separate scrutin process with its own
// keystore, run a 3-of-5 ceremony through files in a shared folder; then a
// tally is decrypted by trustees 1, 3, 5 and again by 2, 4, 5 with the same,
// verified result, and a tampered share is named.
func TestTrusteeCeremonyAcrossProcesses(t *testing.T) {
	bin := buildScrutin(t)
	root := t.TempDir()
	ceremony := filepath.Join(root, "ceremony")
	const n = 5
	keystore := func(j int) string { return filepath.Join(root, fmt.Sprintf("trustee%d", j)) }
	passfile := func(j int) string { return filepath.Join(root, fmt.Sprintf("pass%d", j)) }
	// run runs one scrutin process per trustee, all at once.
	eachTrustee := func(args ...string) {
		t.Helper()
		var wg sync.WaitGroup
		results := make([]result, n)
		for j := 1; j <= n; j++ {
			wg.Go(func() {
				a := append(slices.Clone(args), "--dir", keystore(j), "--passphrase-file", passfile(j))
				results[j-1] = runScrutinNoFatal(bin, a...)
			})
		}
		wg.Wait()
		for j, r := range results {
			if r.status != 0 {
				t.Fatalf("trustee %d: scrutin %s: status %d\n%s%s", j+1, strings.Join(args, " "), r.status, r.stdout, r.stderr)
			}
		}
	}

	var ids []string
	for j := 1; j <= n; j++ {
		if err := os.WriteFile(passfile(j), []byte(fmt.Sprintf("correct horse battery staple %d\n", j)), 0o600); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, filepath.Join(keystore(j), trustee.IdentityPublicFile))
	}
	for j := 1; j <= n; j++ {
		r := runScrutin(t, bin, "trustee", "init", "--name", fmt.Sprintf("Trustee %d", j), "--dir", keystore(j), "--passphrase-file", passfile(j), "--work-factor", "10")
		if r.status != 0 {
			t.Fatalf("init: %s", r.stderr)
		}
	}
	// The keystore never holds a secret in the clear.
	for _, name := range []string{"identity.age"} {
		b, _ := os.ReadFile(filepath.Join(keystore(1), name))
		if !strings.HasPrefix(string(b), "age-encryption.org/v1") {
			t.Fatalf("%s is not age-encrypted", name)
		}
		if fi, _ := os.Stat(filepath.Join(keystore(1), name)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v", name, fi.Mode())
		}
	}
	r := runScrutin(t, bin, append([]string{"trustee", "roster", "--ceremony", ceremony, "--label", "Leadership ballot 2027", "--threshold", "3"}, ids...)...)
	if r.status != 0 {
		t.Fatalf("roster: %s", r.stderr)
	}

	eachTrustee("trustee", "deal", "--ceremony", ceremony)
	eachTrustee("trustee", "check", "--ceremony", ceremony)
	eachTrustee("trustee", "finish", "--ceremony", ceremony, "--work-factor", "10")

	r = runScrutin(t, bin, "trustee", "status", "--ceremony", ceremony, "--json")
	var st ceremonyStatus
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.status != 0 {
		t.Fatalf("status %d: %v\n%s%s", r.status, err, r.stdout, r.stderr)
	}
	if !st.Complete || len(st.Qualified) != n || len(st.Confirmed) != n || len(st.Faults) != 0 {
		t.Fatalf("ceremony outcome: %+v", st)
	}
	var key crypto.PublicKey
	if err := key.UnmarshalText([]byte(st.PublicKey)); err != nil {
		t.Fatal(err)
	}

	// A tally: option counts 12, 0, 31, made of encrypted 0/1 ballots.
	want := []uint64{12, 0, 31}
	var cts []*crypto.Ciphertext
	for _, c := range want {
		var ballots []*crypto.Ciphertext
		for i := range 40 {
			m := uint64(0)
			if uint64(i) < c {
				m = 1
			}
			ct, err := crypto.Encrypt(nil, &key, m)
			if err != nil {
				t.Fatal(err)
			}
			ballots = append(ballots, ct)
		}
		cts = append(cts, crypto.Sum(ballots...))
	}
	tally := filepath.Join(root, "tally.json")
	if err := trustee.WriteTally(tally, cts); err != nil {
		t.Fatal(err)
	}
	shares := filepath.Join(root, "shares")
	eachTrustee("trustee", "decrypt", "--ceremony", ceremony, "--tally", tally, "--out", shares)

	share := func(j int) string { return filepath.Join(shares, fmt.Sprintf("decryption-%d.msg", j)) }
	combine := func(js ...int) (map[string]any, result) {
		args := []string{"trustee", "combine", "--ceremony", ceremony, "--tally", tally, "--max", "100", "--json"}
		for _, j := range js {
			args = append(args, share(j))
		}
		r := runScrutin(t, bin, args...)
		var res map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
			t.Fatalf("combine output: %v\n%s", err, r.stdout)
		}
		return res, r
	}
	results := func(res map[string]any) string { return fmt.Sprint(res["results"]) }
	a, ra := combine(1, 3, 5)
	b, rb := combine(2, 4, 5)
	if ra.status != 0 || rb.status != 0 {
		t.Fatalf("combine failed: %s %s", ra.stderr, rb.stderr)
	}
	if results(a) != fmt.Sprint(want) || results(b) != results(a) || fmt.Sprint(a["used"]) != "[1 3 5]" || fmt.Sprint(b["used"]) != "[2 4 5]" {
		t.Fatalf("1,3,5 gave %v (used %v); 2,4,5 gave %v (used %v); want %v", a["results"], a["used"], b["results"], b["used"], want)
	}

	// A tampered share file is rejected and its trustee named; with only two
	// valid shares left the tally cannot be decrypted.
	data, _ := os.ReadFile(share(3))
	data[100] ^= 1
	if err := os.WriteFile(share(3), data, 0o644); err != nil {
		t.Fatal(err)
	}
	c, rc := combine(1, 3, 5)
	if rc.status == 0 || !strings.Contains(fmt.Sprint(c["faults"]), "Trustee 3") {
		t.Fatalf("tampered share of trustee 3 not named: %v\n%s", c, rc.stderr)
	}
	d, rd := combine(1, 2, 3, 4)
	if rd.status != 0 || results(d) != fmt.Sprint(want) || fmt.Sprint(d["used"]) != "[1 2 4]" {
		t.Fatalf("with 1, 2, 4 valid: %v %s", d, rd.stderr)
	}

	// A wrong passphrase is refused clearly.
	os.WriteFile(passfile(2), []byte("not the passphrase at all\n"), 0o600)
	r = runScrutinNoFatal(bin, "trustee", "decrypt", "--ceremony", ceremony, "--tally", tally, "--out", shares, "--dir", keystore(2), "--passphrase-file", passfile(2))
	if r.status != 1 || !strings.Contains(r.stderr, "wrong passphrase") {
		t.Fatalf("wrong passphrase: %d %s", r.status, r.stderr)
	}
}

// runScrutinNoFatal is runScrutin for use from other goroutines.
func runScrutinNoFatal(bin string, args ...string) result {
	var out, errb strings.Builder
	cmd := execCommand(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	status := 0
	if err != nil {
		status = -1
		if ee, ok := err.(interface{ ExitCode() int }); ok {
			status = ee.ExitCode()
		}
	}
	return result{out.String(), errb.String(), status}
}

// TestTrusteePost: "trustee post" sends each file to the election's API by
// its kind (ceremony messages, decryption shares), in the order given,
// stops at the first one the server refuses, with its reason, and refuses a
// file that is neither before sending anything.
func TestTrusteePost(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.Path+" "+string(b))
		if string(b) == "bad" {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"error":"refused: out of order"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"index":1}`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	file := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	d1, c1, f1, s1 := file("dealing-1.msg", "d1"), file("complaints-1-ab.msg", "c1"), file("confirmation-1.msg", "f1"), file("decryption-1.msg", "s1")
	bad, other := file("dealing-2.msg", "bad"), file("roster.json", "{}")
	post := func(files ...string) (int, string) {
		var out, errOut strings.Builder
		status := run(append([]string{"trustee", "post", "--to", srv.URL + "/e/union-2027"}, files...), &out, &errOut)
		return status, out.String() + errOut.String()
	}
	if status, out := post(d1, c1, f1, s1); status != exitOK {
		t.Fatalf("post: %d %s", status, out)
	}
	want := []string{"POST /api/e/union-2027/ceremony d1", "POST /api/e/union-2027/ceremony c1", "POST /api/e/union-2027/ceremony f1", "POST /api/e/union-2027/decryptions s1"}
	if !slices.Equal(got, want) {
		t.Fatalf("posted %q, want %q", got, want)
	}
	got = nil
	if status, out := post(bad, d1); status != exitFailure || !strings.Contains(out, "out of order") || !strings.Contains(out, "dealing-2.msg") || len(got) != 1 {
		t.Fatalf("a refused message: %d %s %q", status, out, got)
	}
	got = nil
	if status, out := post(d1, other); status != exitUsage || len(got) != 0 {
		t.Fatalf("a file that is no message: %d %s %q", status, out, got)
	}
}
