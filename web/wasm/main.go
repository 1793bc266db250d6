//go:build js && wasm

// Command wasm is scrutin's booth and verifier compiled to WebAssembly: the
// same packages crypto, election and verify that the server and the command
// line use, with no second implementation. It sets a global object scrutin
// whose functions take and return strings (JSON); the voter's credential
// code is used here and never leaves the browser.
//
//	scrutin.credential(election, code)          → {"credential"} (the public key)
//	scrutin.encrypt(election, code, choices)    → {"id", "code"} (spec §21.1)
//	scrutin.cast(id, election, code)            → {"ballot", "tracker", "code"}
//	scrutin.checkReceipt(election, ballot, receipt) → {"ok"}: the server's receipt proves this ballot is in the log
//	scrutin.audit(id)                           → {"record", "code"} (spec §21.3)
//	scrutin.checkAudit(election, record, contests) → {"ok", "error", "code", "choices"} (contests: the ids the credential may answer, JSON)
//	scrutin.verify(base, fingerprint, tracker)  → Promise of the verifier's report
//	scrutin.trustee…                            the trustee page's (trustee.go)
//
// election is the JSON of GET /api/election. Errors come back as
// {"error": "…"}.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/verify"
)

func main() {
	api := js.Global().Get("Object").New()
	api.Set("credential", fn(credential))
	api.Set("encrypt", fn(encrypt))
	api.Set("cast", fn(cast))
	api.Set("checkReceipt", fn(checkReceipt))
	api.Set("audit", fn(audit))
	api.Set("checkAudit", fn(checkAudit))
	api.Set("verify", js.FuncOf(verifyRecord))
	for _, f := range extra {
		f(api)
	}
	js.Global().Set("scrutin", api)
	if cb := js.Global().Get("scrutinReady"); cb.Type() == js.TypeFunction {
		cb.Invoke()
	}
	select {}
}

// extra are the functions other files of the module set on the scrutin
// object (trustee.go: the trustee page's).
var extra []func(api js.Value)

// jsonString is v as JSON.
func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// fn wraps a function of strings returning a JSON-able value or an error.
func fn(f func(args []string) (any, error)) js.Func {
	return js.FuncOf(func(this js.Value, args []js.Value) any {
		s := make([]string, len(args))
		for i, a := range args {
			s[i] = a.String()
		}
		v, err := f(s)
		if err != nil {
			v = map[string]string{"error": err.Error()}
		}
		b, _ := json.Marshal(v)
		return string(b)
	})
}

// view is what the booth reads from GET /api/election.
type view struct {
	Manifest    json.RawMessage `json:"manifest"`
	Fingerprint string          `json:"fingerprint"`
	ElectionKey string          `json:"election_key"`
}

// parseElection builds the voter's view of the election, checking that the
// manifest is the one the fingerprint names.
func parseElection(s string) (*election.Election, error) {
	var v view
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("the election's description is not valid JSON: %v", err)
	}
	m, err := election.ParseManifest(v.Manifest)
	if err != nil {
		return nil, err
	}
	f, err := m.Fingerprint()
	if err != nil {
		return nil, err
	}
	if hex.EncodeToString(f[:]) != v.Fingerprint {
		return nil, fmt.Errorf("the manifest does not hash to the election's fingerprint %s", v.Fingerprint)
	}
	if v.ElectionKey == "" {
		return nil, fmt.Errorf("voting is not open: the election has no key yet")
	}
	k := new(crypto.PublicKey)
	if err := k.UnmarshalText([]byte(v.ElectionKey)); err != nil {
		return nil, fmt.Errorf("the election key: %v", err)
	}
	return &election.Election{Manifest: m, Fingerprint: f, Key: k}, nil
}

// voter parses the election and derives the voter's credential key from
// the code.
func voter(electionJSON, code string) (*election.Election, *crypto.SecretKey, error) {
	e, err := parseElection(electionJSON)
	if err != nil {
		return nil, nil, err
	}
	k, err := election.CredentialKey(e.Fingerprint, code)
	if err != nil {
		return nil, nil, err
	}
	return e, k, nil
}

func credential(a []string) (any, error) {
	if len(a) != 2 {
		return nil, fmt.Errorf("credential(election, code)")
	}
	_, k, err := voter(a[0], a[1])
	if err != nil {
		return nil, err
	}
	pub, _ := k.PublicKey().MarshalText()
	return map[string]string{"credential": string(pub)}, nil
}

var (
	mu      sync.Mutex
	nextID  int
	pending = map[int]*election.EncryptedBallot{}
)

func encrypt(a []string) (any, error) {
	if len(a) != 3 {
		return nil, fmt.Errorf("encrypt(election, code, choices)")
	}
	e, k, err := voter(a[0], a[1])
	if err != nil {
		return nil, err
	}
	var choices [][]int
	if err := json.Unmarshal([]byte(a[2]), &choices); err != nil {
		return nil, fmt.Errorf("choices: %v", err)
	}
	b, err := e.Encrypt(rand.Reader, k.PublicKey(), choices)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	nextID++
	pending[nextID] = b
	return map[string]any{"id": nextID, "code": b.Code()}, nil
}

// take removes an encryption from the pending ones: it is cast or audited
// once, never both.
func take(id string) (*election.EncryptedBallot, error) {
	var n int
	if _, err := fmt.Sscan(id, &n); err != nil {
		return nil, fmt.Errorf("no such encryption")
	}
	mu.Lock()
	defer mu.Unlock()
	b, ok := pending[n]
	if !ok {
		return nil, fmt.Errorf("this encryption was already cast or audited: encrypt afresh")
	}
	delete(pending, n)
	return b, nil
}

func cast(a []string) (any, error) {
	if len(a) != 3 {
		return nil, fmt.Errorf("cast(id, election, code)")
	}
	b, err := take(a[0])
	if err != nil {
		return nil, err
	}
	_, k, err := voter(a[1], a[2])
	if err != nil {
		return nil, err
	}
	entry, err := b.Sign(rand.Reader, k)
	if err != nil {
		return nil, err
	}
	return map[string]string{"ballot": string(entry[1:]), "tracker": election.Tracker(entry), "code": b.Code()}, nil
}

// checkReceipt checks the server's receipt for the ballot the booth cast: its
// tracker and code are this ballot's, and its inclusion proof verifies
// against a checkpoint signed by the election's log key.
func checkReceipt(a []string) (any, error) {
	if len(a) != 3 {
		return nil, fmt.Errorf("checkReceipt(election, ballot, receipt)")
	}
	e, err := parseElection(a[0])
	if err != nil {
		return nil, err
	}
	entry := append([]byte{election.TypeBallot}, a[1]...)
	var rc struct {
		Checkpoint     string   `json:"checkpoint"`
		Index          int64    `json:"index"`
		InclusionProof []string `json:"inclusion_proof"`
		Tracker        string   `json:"tracker"`
		Code           string   `json:"code"`
	}
	if err := json.Unmarshal([]byte(a[2]), &rc); err != nil {
		return nil, fmt.Errorf("the receipt is not valid JSON: %v", err)
	}
	code, err := election.BallotCode(entry)
	if err != nil {
		return nil, err
	}
	if rc.Tracker != election.Tracker(entry) || rc.Code != code {
		return nil, fmt.Errorf("the receipt is for another ballot than the one this device cast")
	}
	vkey, err := election.LogVerifierKey(e.Fingerprint, e.Manifest.LogKey)
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	if _, err := board.CheckReceipt([]byte(rc.Checkpoint), board.Origin(e.Fingerprint), v, rc.Index, rc.InclusionProof, entry); err != nil {
		return nil, err
	}
	return map[string]bool{"ok": true}, nil
}

func audit(a []string) (any, error) {
	if len(a) != 1 {
		return nil, fmt.Errorf("audit(id)")
	}
	b, err := take(a[0])
	if err != nil {
		return nil, err
	}
	rec, err := b.Audit()
	if err != nil {
		return nil, err
	}
	return map[string]string{"record": string(rec.JSON()), "code": rec.Code}, nil
}

// checkAudit checks an audit record (spec §21.3) against the election and
// the contests its credential may answer: the ids of
// GET /api/credentials/{credential}'s "contests", as a JSON list.
func checkAudit(a []string) (any, error) {
	if len(a) != 3 {
		return nil, fmt.Errorf("checkAudit(election, record, contests)")
	}
	e, err := parseElection(a[0])
	if err != nil {
		return nil, err
	}
	rec, err := election.ParseAudit([]byte(strings.TrimSpace(a[1])))
	if err != nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal([]byte(a[2]), &ids); err != nil {
		return nil, fmt.Errorf("the credential's contests are not a JSON list: %v", err)
	}
	var eligible uint64
	for c, ct := range e.Manifest.Contests {
		if slices.Contains(ids, ct.ID) {
			eligible |= 1 << c
		}
	}
	e.Eligibility = func(*crypto.PublicKey) (uint64, bool) { return eligible, true }
	if err := e.CheckAudit(rec); err != nil {
		return nil, err
	}
	return map[string]any{"ok": true, "code": rec.Code, "choices": rec.Choices}, nil
}

// verifyRecord runs the verifier on the log published at base (a URL) and
// resolves to its report, as JSON.
func verifyRecord(this js.Value, args []js.Value) any {
	var base, fp, tracker string
	if len(args) > 0 {
		base = args[0].String()
	}
	if len(args) > 1 {
		fp = args[1].String()
	}
	if len(args) > 2 {
		tracker = args[2].String()
	}
	var progress js.Value
	if len(args) > 3 {
		progress = args[3]
	}
	promise := js.Global().Get("Promise")
	return promise.New(js.FuncOf(func(this js.Value, p []js.Value) any {
		resolve := p[0]
		go func() {
			out := func(v any) {
				b, _ := json.Marshal(v)
				resolve.Invoke(string(b))
			}
			o := verify.Options{Tracker: tracker, Workers: 1}
			if progress.Type() == js.TypeFunction {
				o.Progress = func(done, total int64) { progress.Invoke(done, total) }
			}
			if fp != "" {
				b, err := hex.DecodeString(fp)
				if err != nil || len(b) != len(crypto.Fingerprint{}) {
					out(map[string]string{"error": "the fingerprint is 64 hexadecimal digits"})
					return
				}
				var f crypto.Fingerprint
				copy(f[:], b)
				o.Election = &f
			}
			rep, err := verify.Record(context.Background(), fetcher{strings.TrimSuffix(base, "/")}, o)
			if err != nil {
				out(map[string]string{"error": err.Error()})
				return
			}
			out(rep)
		}()
		return nil
	}))
}

// fetcher reads a published log's files with the browser's fetch (which
// keeps net/http, and a few megabytes, out of the module).
type fetcher struct{ base string }

// ReadFile fetches a file of the log; told to wait (429, or 503 while the
// server is busy, with Retry-After: a server limits what each client reads),
// it waits as told (at most a minute) and asks again, at most 30 times.
func (f fetcher) ReadFile(ctx context.Context, path string, max int) ([]byte, error) {
	if path == "" || strings.HasPrefix(path, "/") || strings.Contains(path, "..") || strings.ContainsAny(path, "\\?#%") {
		return nil, fmt.Errorf("bad path %q", path)
	}
	for try := 0; ; try++ {
		b, wait, err := f.fetch(ctx, path, max)
		if wait < 0 || try == 30 {
			return b, err
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

// fetch fetches a file once; wait is how long to wait before asking again
// if the server said to, else negative.
func (f fetcher) fetch(ctx context.Context, path string, max int) (b []byte, wait time.Duration, err error) {
	type result struct {
		b    []byte
		wait time.Duration
		err  error
	}
	done := make(chan result, 1)
	var onResponse, onBody, onError js.Func
	release := func() { onResponse.Release(); onBody.Release(); onError.Release() }
	onError = js.FuncOf(func(this js.Value, args []js.Value) any {
		done <- result{wait: -1, err: fmt.Errorf("%s: %s", path, args[0].Call("toString").String())}
		return nil
	})
	onBody = js.FuncOf(func(this js.Value, args []js.Value) any {
		arr := js.Global().Get("Uint8Array").New(args[0])
		n := arr.Get("length").Int()
		if n > max {
			done <- result{err: fmt.Errorf("%s: larger than %d bytes", path, max)}
			return nil
		}
		b := make([]byte, n)
		js.CopyBytesToGo(b, arr)
		done <- result{b: b, wait: -1}
		return nil
	})
	onResponse = js.FuncOf(func(this js.Value, args []js.Value) any {
		resp := args[0]
		if st := resp.Get("status").Int(); st != 200 {
			wait := time.Duration(-1)
			if st == 429 || st == 503 {
				wait = time.Second
				if s, err := strconv.Atoi(resp.Get("headers").Call("get", "Retry-After").String()); err == nil && s >= 0 {
					wait = min(time.Duration(s)*time.Second, time.Minute)
				}
			}
			done <- result{wait: wait, err: fmt.Errorf("%s: HTTP status %d", path, st)}
			return nil
		}
		resp.Call("arrayBuffer").Call("then", onBody, onError)
		return nil
	})
	opts := js.Global().Get("Object").New()
	opts.Set("cache", "no-store")
	js.Global().Call("fetch", f.base+"/"+path, opts).Call("then", onResponse, onError)
	select {
	case r := <-done:
		release()
		return r.b, r.wait, r.err
	case <-ctx.Done():
		return nil, -1, ctx.Err()
	}
}
