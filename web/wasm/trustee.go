//go:build js && wasm && trustee

package main

// The trustee page's functions (web/static/trustee.js drives the page and
// the network; everything else is here, in Go): the keystore file
// (internal/trustee, age scrypt under the passphrase) is made, opened and
// sealed here, and the trustee's secrets stay in this module's memory,
// never in the page's storage nor on the network.
//
//	scrutin.trusteeCreate(name, passphrase, workFactor) → {"keystore" (base64), "identity" (identity.json), "name", "fingerprint" (the identity's, hex)}
//	scrutin.trusteeOpen(keystore, passphrase, workFactor) → {"name", "identity", "shares", "fingerprint"}
//	scrutin.trusteeStep(base, fingerprint, previous)    → Promise of the trustee's situation (internal/online.Situation)
//	scrutin.trusteeAct(step, pending)                   → {"message" (base64), "api" ("ceremony" or "decryptions"), "keystore" (after finish)}
//
// workFactor is 0 (the default, 18) but in tests; previous is the
// checkpoint the page last verified (base64), which the log must extend;
// pending is a dealing made before that may not have reached the log
// (dealing twice would be equivocation).

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"syscall/js"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/internal/trustee/online"
	"github.com/scrutin/scrutin/verify"
)

func init() {
	extra = append(extra, func(api js.Value) {
		api.Set("trusteeCreate", fn(trusteeCreate))
		api.Set("trusteeOpen", fn(trusteeOpen))
		api.Set("trusteeStep", js.FuncOf(trusteeStep))
		api.Set("trusteeAct", fn(trusteeAct))
	})
}

// session is the trustee's opened keystore and the record last verified.
var session struct {
	sync.Mutex
	file   *trustee.KeystoreFile
	pass   string
	wf     int
	online *online.Online
}

func workFactor(s string) (int, error) {
	if s == "" || s == "0" || s == "undefined" {
		return 0, nil
	}
	wf, err := strconv.Atoi(s)
	if err != nil || wf < trustee.MinWorkFactor || wf > 22 {
		return 0, fmt.Errorf("bad work factor %q", s)
	}
	return wf, nil
}

func trusteeCreate(a []string) (any, error) {
	if len(a) != 3 {
		return nil, errors.New("trusteeCreate(name, passphrase, workFactor)")
	}
	name := strings.TrimSpace(a[0])
	if err := trustee.CheckPassphrase(a[1]); err != nil {
		return nil, err
	}
	wf, err := workFactor(a[2])
	if err != nil {
		return nil, err
	}
	kf, pub, err := trustee.NewKeystoreFile(nil, name)
	if err != nil {
		return nil, err
	}
	sealed, err := kf.Seal(a[1], wf)
	if err != nil {
		return nil, err
	}
	// The identity's fingerprint is computed here, from the identity
	// made: the trustee reads it to the officer, and the page compares it
	// with the one the server says it received.
	fp := pub.Fingerprint()
	return map[string]string{"keystore": base64.StdEncoding.EncodeToString(sealed), "identity": string(trustee.PublicJSON(pub)), "name": name, "fingerprint": hex.EncodeToString(fp[:])}, nil
}

func trusteeOpen(a []string) (any, error) {
	if len(a) != 3 {
		return nil, errors.New("trusteeOpen(keystore, passphrase, workFactor)")
	}
	data, err := base64.StdEncoding.DecodeString(a[0])
	if err != nil {
		return nil, trustee.ErrNotKeystore
	}
	wf, err := workFactor(a[2])
	if err != nil {
		return nil, err
	}
	kf, err := trustee.OpenKeystoreFile(data, a[1])
	if errors.Is(err, trustee.ErrBadPassphrase) {
		return nil, errors.New("wrong passphrase")
	}
	if err != nil {
		return nil, err
	}
	session.Lock()
	defer session.Unlock()
	session.file, session.pass, session.wf, session.online = kf, a[1], wf, nil
	fp := kf.Public().Fingerprint()
	return map[string]any{"name": kf.Name(), "identity": string(trustee.PublicJSON(kf.Public())), "shares": kf.Shares(), "fingerprint": hex.EncodeToString(fp[:])}, nil
}

// trusteeStep verifies the election's record at base (as "scrutin
// verify" does, extending the checkpoint previous) and resolves to the
// trustee's situation in it.
func trusteeStep(this js.Value, args []js.Value) any {
	arg := func(i int) string {
		if len(args) > i && args[i].Type() == js.TypeString {
			return args[i].String()
		}
		return ""
	}
	base, fp, previous := strings.TrimSuffix(arg(0), "/"), arg(1), arg(2)
	return js.Global().Get("Promise").New(js.FuncOf(func(this js.Value, p []js.Value) any {
		resolve := p[0]
		go func() {
			v, err := step(base, fp, previous)
			if err != nil {
				v = map[string]string{"error": err.Error()}
			}
			resolve.Invoke(jsonString(v))
		}()
		return nil
	}))
}

func step(base, fp, previous string) (any, error) {
	session.Lock()
	kf := session.file
	session.Unlock()
	if kf == nil {
		return nil, errors.New("open the keystore first")
	}
	o := verify.Options{Workers: 1}
	if fp != "" {
		b, err := hex.DecodeString(fp)
		if err != nil || len(b) != len(crypto.Fingerprint{}) {
			return nil, errors.New("the fingerprint is 64 hexadecimal digits")
		}
		var f crypto.Fingerprint
		copy(f[:], b)
		o.Election = &f
	}
	if previous != "" {
		b, err := base64.StdEncoding.DecodeString(previous)
		if err != nil {
			return nil, errors.New("the checkpoint remembered is damaged")
		}
		o.Previous = b
	}
	rep, err := verify.Record(context.Background(), fetcher{base}, o)
	if err != nil {
		return nil, err
	}
	if !rep.OK {
		f := rep.Failures[0]
		if o.Previous != nil && f.Check == "log" && strings.Contains(f.Reason, "previous checkpoint") {
			return map[string]any{"error": "the election's log does not extend the one this page saw before: the server shows another log than it did (" + f.Reason + ")", "fork": true}, nil
		}
		if rep.Manifest == nil {
			// No log yet (404: the manifest is not recorded, or the
			// election is not on this server), or no answer now.
			if o.Previous == nil && strings.Contains(f.Reason, "status 404") {
				return map[string]any{"error": f.Reason, "no_manifest": true}, nil
			}
			return map[string]any{"error": f.Reason, "unreachable": true}, nil
		}
		return nil, fmt.Errorf("the election's record does not verify (%d failed checks): entry %d, %s: %s", len(rep.Failures), f.Entry, f.Check, f.Reason)
	}
	on, err := online.NewOnline(rep, kf)
	if err != nil {
		return map[string]any{"error": err.Error(), "not_on_roster": errors.Is(err, online.ErrNotOnRoster)}, nil
	}
	session.Lock()
	session.online = on
	session.Unlock()
	s := on.Situation()
	var hasShare bool
	if c := rep.State.Ceremony; c != nil {
		_, hasShare, _ = kf.Share(c.Fingerprint)
	}
	return struct {
		*online.Situation
		HasShare bool `json:"has_share"`
	}{s, hasShare}, nil
}

// trusteeAct makes the message of the step due in the record last
// verified.
func trusteeAct(a []string) (any, error) {
	if len(a) != 2 {
		return nil, errors.New("trusteeAct(step, pending)")
	}
	session.Lock()
	defer session.Unlock()
	on := session.online
	if on == nil {
		return nil, errors.New("read the election's record first")
	}
	if due := on.Situation().Next; due != a[0] {
		return nil, fmt.Errorf("the step due is %q, not %q: read the election's record again", due, a[0])
	}
	out := map[string]string{"api": "ceremony"}
	var msg []byte
	var err error
	switch a[0] {
	case online.StepDeal:
		pending, _ := base64.StdEncoding.DecodeString(a[1])
		msg, err = on.Deal(pending)
	case online.StepCheck:
		msg, err = on.Check()
	case online.StepFinish:
		if msg, err = on.Finish(); err == nil {
			var sealed []byte
			if sealed, err = session.file.Seal(session.pass, session.wf); err == nil {
				out["keystore"] = base64.StdEncoding.EncodeToString(sealed)
			}
		}
	case online.StepDecrypt:
		msg, err = on.Decrypt()
		out["api"] = "decryptions"
	default:
		return nil, fmt.Errorf("no step %q", a[0])
	}
	if err != nil {
		return nil, err
	}
	out["message"] = base64.StdEncoding.EncodeToString(msg)
	return out, nil
}
