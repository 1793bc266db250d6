package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/internal/pgtest"
	"github.com/scrutin/scrutin/verify"
)

var ctx = context.Background()

// postgresURL gives a fresh schema on the test server, or skips (fails in
// CI, where $SCRUTIN_REQUIRE_POSTGRES is set).
func postgresURL(t *testing.T) string {
	t.Helper()
	return pgtest.Schema(t, "scrutin_demo")
}

// TestEndToEnd runs a whole election over HTTP on both stores, then reads
// the published record and replays it with the election package, as a
// verifier would, and requires the same result.
func TestEndToEnd(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			o := Options{Dir: t.TempDir(), Voters: 60, Revote: 0.3, Workers: 8, Seed: 3}
			if kind == "postgres" {
				o.DB = postgresURL(t)
			}
			f, want, result, err := Run(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Store.Close()
			if err := Check(result, want); err != nil {
				t.Fatal(err)
			}
			if f.Report.Eligible != 60 || len(f.Report.Problems) < 3 {
				t.Fatalf("roll report: %+v", f.Report)
			}
			// The published record, read and replayed independently.
			out := t.TempDir()
			if _, err := f.Election.Publish(ctx, mirror.Dir(out)); err != nil {
				t.Fatal(err)
			}
			v, err := note.NewVerifier(f.LogKey)
			if err != nil {
				t.Fatal(err)
			}
			replay := election.New()
			_, _, err = board.ReadPublished(ctx, mirror.Dir(out), board.ReadOptions{Origin: board.Origin(f.F), LogKey: v,
				Visit: func(i int64, e []byte) error { return replay.Apply(e) }})
			if err != nil {
				t.Fatal(err)
			}
			if replay.Phase != election.PhaseDecided || string(replay.Result.Entry()) != string(result.Entry()) || replay.Fingerprint != f.F {
				t.Fatal("the replayed record does not give the same result")
			}
			// Restarting the server on the same store reloads the same state.
			if kind == "sqlite" {
				f.Store.Close()
			}
		})
	}
}

// TestHTTPRefusals sends every kind of bad request to a running server;
// each is refused with the right status and a message, and nothing is
// appended.
func TestHTTPRefusals(t *testing.T) {
	// The ballot's own checks, on a server without sign-in (TestSignIn
	// tests sign-in's refusals, which come first).
	o := Options{Dir: t.TempDir(), Voters: 5, Workers: 2, Seed: 4, NoSignIn: true}
	f, err := Setup(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	key := func(v int) *crypto.SecretKey {
		k, _ := election.CredentialKey(f.F, f.Codes[v])
		return k
	}
	ballot := func(v int) []byte {
		b, err := view.NewBallot(nil, key(v), f.Choices(v, []int{0}, []int{1}))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	post := func(body []byte, contentType string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, f.API(url)+"/ballots", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		return resp.StatusCode, e.Error
	}
	size := func() int64 { n, _ := f.Store.Size(ctx); return n }
	before := size()

	stranger, _ := crypto.GenerateKey(nil)
	strangerBallot, _ := view.NewBallot(nil, stranger, [][]int{{0}, {}, nil})
	other := &election.Election{Manifest: view.Manifest, Fingerprint: crypto.Fingerprint{9}, Key: view.Key}
	otherBallot, _ := other.NewBallot(nil, key(1), f.Choices(1, []int{0}, []int{}))
	var b election.Ballot
	json.Unmarshal(ballot(2)[1:], &b)
	var b2 election.Ballot
	json.Unmarshal(ballot(3)[1:], &b2)
	b.Signature = b2.Signature
	badSig := b.Entry()
	json.Unmarshal(ballot(2)[1:], &b)
	b.Contests[1].Proofs = b2.Contests[1].Proofs
	otherContest := b.Entry()

	for _, c := range []struct {
		name        string
		body        []byte
		contentType string
		status      int
		says        string
	}{
		{"unknown credential", strangerBallot[1:], "application/json", http.StatusForbidden, "not on the published list"},
		{"replayed from another election", otherBallot[1:], "application/json", http.StatusBadRequest, "do not verify"},
		{"bad signature", badSig[1:], "application/json", http.StatusBadRequest, "do not verify"},
		{"proofs of another ballot's contest", otherContest[1:], "application/json", http.StatusBadRequest, "do not verify"},
		{"malformed JSON", []byte(`{"contests":[`), "application/json", http.StatusBadRequest, "invalid entry"},
		{"not canonical JSON", append([]byte(" "), ballot(4)[1:]...), "application/json", http.StatusBadRequest, "canonical"},
		{"oversized body", bytes.Repeat([]byte("x"), 300<<10), "application/json", http.StatusRequestEntityTooLarge, "at most"},
		{"wrong content type", ballot(4)[1:], "text/plain", http.StatusUnsupportedMediaType, "application/json"},
	} {
		status, msg := post(c.body, c.contentType)
		if status != c.status || !strings.Contains(msg, c.says) {
			t.Errorf("%s: %d %q, want %d and %q", c.name, status, msg, c.status, c.says)
		}
	}
	if size() != before {
		t.Fatalf("refused requests appended %d entries", size()-before)
	}
	// A good ballot, then the same ballot again (a replay is a re-vote of the
	// same content: accepted, and still only one counts).
	good := ballot(0)
	if status, msg := post(good[1:], "application/json"); status != http.StatusCreated {
		t.Fatalf("good ballot: %d %s", status, msg)
	}
	resp, err := http.Get(f.API(url) + "/ballots/" + election.Tracker(good))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("tracker lookup: %v %v", err, resp.Status)
	}
	var found struct{ Counted bool }
	json.NewDecoder(resp.Body).Decode(&found)
	resp.Body.Close()
	if !found.Counted {
		t.Fatal("the ballot is not reported as counted")
	}
	// After the window closes.
	if _, err := f.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	if status, msg := post(ballot(1)[1:], "application/json"); status != http.StatusConflict || !strings.Contains(msg, "not open") {
		t.Fatalf("after close: %d %q", status, msg)
	}
	for _, p := range []string{f.API(url) + "/election", f.API(url) + "/checkpoint", f.Log(url) + "/checkpoint", url + "/healthz", url + "/metrics"} {
		resp, err := http.Get(p)
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: %v %v", p, err, resp.Status)
		}
		resp.Body.Close()
	}
}

// TestOfficerAndTrusteeAPI closes, tallies, decrypts and decides an
// election entirely over HTTP: officers with their token, trustees with
// their signed messages.
func TestOfficerAndTrusteeAPI(t *testing.T) {
	f, err := Setup(ctx, Options{Dir: t.TempDir(), Voters: 8, Workers: 2, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	want, err := f.Vote(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	staff, err := f.StaffSession(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	call := func(path, session, ctype string, body []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, f.API(url)+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if session != "" {
			req.AddCookie(&http.Cookie{Name: staff.Name, Value: session})
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	closeBody := []byte(`{"reason":"the voting window ended"}`)
	for _, tok := range []string{"", "wrong", staff.Value + "x"} {
		if status, _ := call("/admin/close", tok, "application/json", closeBody); status != http.StatusUnauthorized {
			t.Fatalf("close with session %q: %d", tok, status)
		}
	}
	if status, body := call("/admin/tally", staff.Value, "application/json", nil); status != http.StatusConflict {
		t.Fatalf("tally before close: %d %s", status, body)
	}
	if status, body := call("/admin/close", staff.Value, "application/json", closeBody); status != http.StatusCreated {
		t.Fatalf("close: %d %s", status, body)
	}
	if status, body := call("/admin/tally", staff.Value, "application/json", nil); status != http.StatusCreated {
		t.Fatalf("tally: %d %s", status, body)
	}
	var out *crypto.Outcome
	var cts []*crypto.Ciphertext
	f.Election.State(func(s *election.State) { out, cts = s.Ceremony, s.TallyCiphertexts() })
	r := &f.Manifest.Roster
	// A trustee's shares for another tally are refused.
	share2, _ := out.Share(r, 2, f.trustees[1])
	other, _ := out.DecryptShare(nil, r, 2, f.trustees[1], share2, append(slices.Clone(cts[:len(cts)-1]), cts[0]))
	if status, _ := call("/decryptions", "", "application/octet-stream", other); status != http.StatusBadRequest {
		t.Fatalf("shares of another tally: %d", status)
	}
	if status, _ := call("/admin/result", staff.Value, "application/json", nil); status != http.StatusConflict {
		t.Fatal("a result before enough decryption shares was accepted")
	}
	for _, j := range []int{2, 4, 5} {
		share, _ := out.Share(r, j, f.trustees[j-1])
		msg, _ := out.DecryptShare(nil, r, j, f.trustees[j-1], share, cts)
		if status, body := call("/decryptions", "", "application/octet-stream", msg); status != http.StatusCreated {
			t.Fatalf("trustee %d's shares: %d %s", j, status, body)
		}
	}
	if status, body := call("/admin/result", staff.Value, "application/json", nil); status != http.StatusCreated {
		t.Fatalf("result: %d %s", status, body)
	}
	var result *election.Result
	f.Election.State(func(s *election.State) { result = s.Result })
	if err := Check(result, want); err != nil || !slices.Equal(result.Trustees, []int{2, 4, 5}) {
		t.Fatalf("%v %+v", err, result)
	}
}

// TestSignIn casts through the voters' second factor (spec §20): without a
// token, with another member's token, with a forged one, and rightly; the
// refusals append nothing.
func TestSignIn(t *testing.T) {
	f, err := Setup(ctx, Options{Dir: t.TempDir(), Voters: 4, Workers: 2, Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	url, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	var info struct {
		SignIn string `json:"sign_in"`
	}
	resp, err := http.Get(f.API(url) + "/election")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info.SignIn != "email" {
		t.Fatalf("the election says sign-in is %q", info.SignIn)
	}
	k, _ := election.CredentialKey(f.F, f.Codes[2])
	ballot, err := view.NewBallot(nil, k, f.Choices(2, []int{1}, []int{}))
	if err != nil {
		t.Fatal(err)
	}
	cast := func(body []byte, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, f.API(url)+"/ballots", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error
	}
	size := func() int64 { n, _ := f.Store.Size(ctx); return n }
	before := size()
	other, err := f.SignIn(ctx, http.DefaultClient, url, f.Emails[3])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, token string
		body        []byte
		status      int
	}{
		{"no token", "", ballot[1:], http.StatusUnauthorized},
		{"another member's token", other, ballot[1:], http.StatusForbidden},
		{"forged token", other[:len(other)-2] + "AA", ballot[1:], http.StatusUnauthorized},
		{"not a ballot", other, []byte(`{"contests":[`), http.StatusBadRequest},
	} {
		if st, msg := cast(c.body, c.token); st != c.status || msg == "" {
			t.Errorf("%s: %d %q, want %d", c.name, st, msg, c.status)
		}
	}
	if size() != before {
		t.Fatalf("refused ballots appended %d entries", size()-before)
	}
	own, err := f.SignIn(ctx, http.DefaultClient, url, f.Emails[2])
	if err != nil {
		t.Fatal(err)
	}
	if st, msg := cast(ballot[1:], own); st != http.StatusCreated {
		t.Fatalf("signed-in voter: %d %s", st, msg)
	}
}

// TestUnansweredContests runs two elections to a verified result of zeros
// (spec §2.1, §18.6): one where the group-only contest gets no ballot (only
// members outside Belgium vote), and one where nobody votes at all. The sum
// over no ballot is the identity ciphertext; the tally, the decryption
// shares and the result must all accept it, and the published record must
// verify.
func TestUnansweredContests(t *testing.T) {
	for _, nobody := range []bool{false, true} {
		t.Run(map[bool]string{false: "contest-without-ballot", true: "nobody-votes"}[nobody], func(t *testing.T) {
			o := Options{Dir: t.TempDir(), Voters: 6, Workers: 2, Seed: 3, NoSignIn: true}
			f, err := Setup(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Store.Close()
			want := Tally{{0, 0, 0}, {0, 0}, {0, 0}}
			if !nobody {
				url, stop, err := f.Serve("")
				if err != nil {
					t.Fatal(err)
				}
				client := &http.Client{}
				var view *election.Election
				f.Election.State(func(s *election.State) { view, _ = s.Voter() })
				cast := 0
				for v := range f.Roll.Members {
					if slices.Contains(f.Roll.Members[v].Groups, "be") {
						continue // the delegate contest gets no ballot
					}
					if err := f.castOne(ctx, client, url, view, board.Origin(f.F), v, f.Choices(v, []int{1}, []int{0})); err != nil {
						t.Fatal(err)
					}
					want[0][1]++
					want[1][0]++
					cast++
				}
				stop()
				if cast == 0 || cast == len(f.Roll.Members) {
					t.Fatalf("the seed gives %d voters outside Belgium of %d: choose another", cast, len(f.Roll.Members))
				}
			}
			result, err := f.Finish(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := Check(result, want); err != nil {
				t.Fatal(err)
			}
			if w := result.Contests[2].Winners; len(w) != 0 {
				t.Fatalf("a contest without votes has winners %v", w)
			}
			out := t.TempDir()
			if _, err := f.Election.Publish(ctx, mirror.Dir(out)); err != nil {
				t.Fatal(err)
			}
			rep, err := verify.Record(ctx, mirror.Dir(out), verify.Options{Election: &f.F, Workers: 2})
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK || rep.Phase != "decided" || rep.Result == nil || string(rep.Result.Entry()) != string(result.Entry()) {
				t.Fatalf("the published record does not verify to the same result: %+v", rep)
			}
		})
	}
}
