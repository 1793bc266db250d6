package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/verify"
)

// trusteeFlags are the flags the trustee commands share.
type trusteeFlags struct {
	dir, ceremony, passphraseFile string
	election, fingerprint         string        // online (trustee_online.go)
	wait                          time.Duration // online: how long to wait for the others
}

func (t *trusteeFlags) keystore(fs *flag.FlagSet) {
	fs.StringVar(&t.dir, "dir", "scrutin-trustee", "the trustee's keystore folder, on the trustee's own computer")
	fs.StringVar(&t.passphraseFile, "passphrase-file", "", "read the keystore passphrase from this file (default: $SCRUTIN_PASSPHRASE_FILE, else ask)")
}

func (t *trusteeFlags) folder(fs *flag.FlagSet) {
	fs.StringVar(&t.ceremony, "ceremony", "", "the ceremony folder shared by the trustees (holds roster.json and the messages), for trustees off line; else give --election")
}

// passphrase reads the passphrase from a file, or asks for it (twice when
// confirm is set) without echo on a terminal, or reads a line of stdin.
func (t *trusteeFlags) passphrase(stderr io.Writer, confirm bool) (string, error) {
	path := t.passphraseFile
	if path == "" {
		path = os.Getenv("SCRUTIN_PASSPHRASE_FILE")
	}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("failed to read the passphrase file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		fmt.Fprint(stderr, "Passphrase of the trustee keystore: ")
		p, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if confirm {
			fmt.Fprint(stderr, "The same passphrase again: ")
			q, err := term.ReadPassword(fd)
			fmt.Fprintln(stderr)
			if err != nil {
				return "", err
			}
			if string(p) != string(q) {
				return "", errors.New("the two passphrases differ; run the command again")
			}
		}
		return string(p), nil
	}
	line, err := stdin.ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no passphrase: give --passphrase-file or type it when asked")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// open loads the roster and the trustee's identity and finds its number.
func (t *trusteeFlags) open(stderr io.Writer) (*crypto.Roster, int, *crypto.TrusteeSecrets, string, error) {
	if t.ceremony == "" {
		return nil, 0, nil, "", errors.New("give --election https://host/e/ID (the election's address), or --ceremony DIR (a folder holding roster.json, for trustees off line)")
	}
	r, err := trustee.Ceremony{Dir: t.ceremony}.Roster()
	if err != nil {
		return nil, 0, nil, "", err
	}
	pass, err := t.passphrase(stderr, false)
	if err != nil {
		return nil, 0, nil, "", err
	}
	name, secrets, err := trustee.Keystore{Dir: t.dir}.Identity(pass)
	if err != nil {
		return nil, 0, nil, "", err
	}
	self := r.Index(secrets.Signing.PublicKey())
	if self == 0 {
		return nil, 0, nil, "", fmt.Errorf("the identity in %s (%s) is not on this roster", t.dir, name)
	}
	if !r.Trustees[self-1].Encryption.Equal(secrets.Encryption.PublicKey()) {
		return nil, 0, nil, "", fmt.Errorf("this roster has the signing key of the identity in %s (%s) with another encryption key: the identity on the roster is not the one made; take no step and tell the officer (compare the identity fingerprints)", t.dir, name)
	}
	return r, self, secrets, pass, nil
}

func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "scrutin %s: %v\n", cmd, err)
	return exitFailure
}

func trusteeInitCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee init", "--name NAME [--dir DIR] [--passphrase-file FILE]",
		`Init creates a trustee's identity (a signing key and an encryption key) in the
keystore folder, encrypted under a passphrase of at least 12 characters, and
writes its public half to DIR/identity.json: send that file to the election
officer. Keep the folder and the passphrase: without them the trustee cannot
take part in the ceremony nor decrypt. (A trustee may instead do everything in
the browser, on the election's trustee page, https://host/e/ID/trustee, which
keeps the keystore in one file; "scrutin trustee unpack" and "pack" convert
between that file and a folder.)`)
	var t trusteeFlags
	t.keystore(fs)
	name := fs.String("name", "", "the trustee's name as it will appear on the roster")
	wf := fs.Int("work-factor", trustee.DefaultWorkFactor, "scrypt work factor (log2 N) protecting the keystore; lower only for tests")
	return fs, func(stdout, stderr io.Writer) int {
		if *name == "" {
			fmt.Fprintln(stderr, "scrutin trustee init: --name is required")
			return exitUsage
		}
		pass, err := t.passphrase(stderr, true)
		if err != nil {
			return fail(stderr, "trustee init", err)
		}
		pub, err := trustee.Keystore{Dir: t.dir, WorkFactor: *wf}.Init(nil, *name, pass)
		if err != nil {
			return fail(stderr, "trustee init", err)
		}
		fp := pub.Fingerprint()
		fmt.Fprintf(stdout, "created the identity of %s in %s\nsend %s to the election officer\nits fingerprint, to read to the officer when asked: %s\n", pub.Name, t.dir, filepath.Join(t.dir, trustee.IdentityPublicFile), trustee.GroupHex(fp[:]))
		return exitOK
	}
}

func trusteeRosterCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee roster", "--label LABEL --threshold T --ceremony DIR IDENTITY.json...",
		`Roster (for the election officer) assembles the trustees' identity files, in
the order given, into the ceremony's roster, written to DIR/roster.json. Any T
of the trustees will be able to decrypt; fewer learn nothing.`)
	var t trusteeFlags
	t.folder(fs)
	label := fs.String("label", "", "what the key is for, e.g. the election's name and date")
	threshold := fs.Int("threshold", 0, "how many trustees are needed to decrypt")
	return fs, func(stdout, stderr io.Writer) int {
		if t.ceremony == "" || *label == "" || *threshold == 0 || fs.NArg() == 0 {
			fmt.Fprintln(stderr, "scrutin trustee roster: --ceremony, --label, --threshold and the identity files are required")
			return exitUsage
		}
		var ids []crypto.Trustee
		for _, p := range fs.Args() {
			id, err := trustee.ReadPublicIdentity(p)
			if err != nil {
				return fail(stderr, "trustee roster", err)
			}
			ids = append(ids, *id)
		}
		r, err := trustee.NewRoster(nil, *label, *threshold, ids)
		if err != nil {
			return fail(stderr, "trustee roster", err)
		}
		if err := (trustee.Ceremony{Dir: t.ceremony}).WriteRoster(r); err != nil {
			return fail(stderr, "trustee roster", err)
		}
		f := r.Fingerprint()
		fmt.Fprintf(stdout, "wrote the roster of %d trustees (threshold %d), fingerprint %x\n", r.N(), r.Threshold, f)
		return exitOK
	}
}

func trusteeDealCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee deal", "--election https://host/e/ID | --ceremony DIR [--dir KEYSTORE]",
		`Deal (round 1) makes this trustee's dealing: commitments to a fresh secret
polynomial and an encrypted share for every trustee, posted to the election
(--election) or written to the ceremony folder (--ceremony). Then run
"scrutin trustee check".`)
	var t trusteeFlags
	t.keystore(fs)
	t.folder(fs)
	t.online(fs, false)
	return fs, func(stdout, stderr io.Writer) int {
		if t.election != "" {
			o, err := t.openOnline(context.Background(), stdout, stderr)
			if err != nil {
				return fail(stderr, "trustee deal", err)
			}
			return o.deal(context.Background())
		}
		r, self, secrets, _, err := t.open(stderr)
		if err != nil {
			return fail(stderr, "trustee deal", err)
		}
		// The keystore keeps the dealing (as on line): dealing again, into
		// a fresh export whose log does not show it yet, writes the same
		// dealing, never a second one (equivocation, spec §13.2).
		kept := filepath.Join(outboxDir(t.dir, r), fmt.Sprintf("dealing-%d.msg", self))
		msg, err := outboxDealing(kept, func() ([]byte, error) { return crypto.Deal(nil, r, self, secrets) })
		if err != nil {
			return fail(stderr, "trustee deal", err)
		}
		path, err := trustee.WriteMessage(t.ceremony, msg)
		if err != nil {
			return fail(stderr, "trustee deal", err)
		}
		fmt.Fprintf(stdout, "trustee %d dealt: %s\n", self, path)
		return exitOK
	}
}

func trusteeCheckCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee check", "--election https://host/e/ID [--wait D] | --ceremony DIR [--dir KEYSTORE]",
		`Check (round 2) decrypts the shares this trustee received, checks each against
its dealer's commitments, and posts (--election) or writes (--ceremony) this
trustee's complaints message (empty if every share is good). A complaint
reveals only the bad share, so that everyone can see who cheated. With
--election it first waits for every trustee's dealing. Then run "scrutin
trustee finish".`)
	var t trusteeFlags
	t.keystore(fs)
	t.folder(fs)
	t.online(fs, true)
	partial := fs.Bool("partial", false, "with --election, check even though some trustees have not dealt (they are then left out)")
	return fs, func(stdout, stderr io.Writer) int {
		if t.election != "" {
			o, err := t.openOnline(context.Background(), stdout, stderr)
			if err != nil {
				return fail(stderr, "trustee check", err)
			}
			return o.check(context.Background(), *partial)
		}
		r, self, secrets, _, err := t.open(stderr)
		if err != nil {
			return fail(stderr, "trustee check", err)
		}
		msgs, err := trustee.Ceremony{Dir: t.ceremony}.Messages()
		if err != nil {
			return fail(stderr, "trustee check", err)
		}
		var dealings [][]byte
		for _, m := range msgs {
			if len(m) > 0 && m[0] == 1 {
				dealings = append(dealings, m)
			}
		}
		if len(dealings) < r.N() {
			fmt.Fprintf(stderr, "warning: only %d of %d trustees have dealt; the missing ones will be excluded\n", len(dealings), r.N())
		}
		msg, err := crypto.Complain(nil, r, self, secrets, dealings)
		if err != nil {
			return fail(stderr, "trustee check", err)
		}
		path, err := trustee.WriteMessage(t.ceremony, msg)
		if err != nil {
			return fail(stderr, "trustee check", err)
		}
		n := int(msg[37])<<24 | int(msg[38])<<16 | int(msg[39])<<8 | int(msg[40])
		fmt.Fprintf(stdout, "trustee %d checked %d dealings and made %d complaint(s): %s\n", self, len(dealings), n, path)
		return exitOK
	}
}

func trusteeFinishCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee finish", "--election https://host/e/ID [--wait D] | --ceremony DIR [--dir KEYSTORE]",
		`Finish (round 3) replays the ceremony, computes this trustee's share of the
election key, stores it encrypted in the keystore, and posts (--election) or
writes (--ceremony) a confirmation (with a proof that the trustee holds its
share). With --election it first waits for every trustee's check, and then
for the ceremony to be complete.`)
	var t trusteeFlags
	t.keystore(fs)
	t.folder(fs)
	t.online(fs, true)
	wf := fs.Int("work-factor", trustee.DefaultWorkFactor, "scrypt work factor (log2 N) protecting the stored share; lower only for tests")
	partial := fs.Bool("partial", false, "finish even though some trustees have not checked their shares (they are then left out)")
	return fs, func(stdout, stderr io.Writer) int {
		if t.election != "" {
			o, err := t.openOnline(context.Background(), stdout, stderr)
			if err != nil {
				return fail(stderr, "trustee finish", err)
			}
			return o.finish(context.Background(), *partial, *wf)
		}
		r, self, secrets, pass, err := t.open(stderr)
		if err != nil {
			return fail(stderr, "trustee finish", err)
		}
		folder := trustee.Ceremony{Dir: t.ceremony}
		var waiting []string
		for j := 1; j <= r.N(); j++ {
			if !folder.Sent("complaints", j) {
				waiting = append(waiting, fmt.Sprintf("%d (%s)", j, r.Trustees[j-1].Name))
			}
		}
		if len(waiting) > 0 && !*partial {
			fmt.Fprintf(stderr, "scrutin trustee finish: trustee(s) %s have not checked their shares yet; finish when every trustee has run \"scrutin trustee check\" (or give --partial to go on without them)\n", strings.Join(waiting, ", "))
			return exitFailure
		}
		msgs, err := folder.Messages()
		if err != nil {
			return fail(stderr, "trustee finish", err)
		}
		out, err := crypto.Replay(r, msgs)
		if err != nil {
			return fail(stderr, "trustee finish", err)
		}
		share, err := out.Share(r, self, secrets)
		if err != nil {
			return fail(stderr, "trustee finish", err)
		}
		ks := trustee.Keystore{Dir: t.dir, WorkFactor: *wf}
		if err := ks.SaveShare(out.Fingerprint, self, share, out.PublicKey, pass); err != nil {
			return fail(stderr, "trustee finish", err)
		}
		conf, err := out.Confirm(nil, r, self, secrets, share)
		if err != nil {
			return fail(stderr, "trustee finish", err)
		}
		path, err := trustee.WriteMessage(t.ceremony, conf)
		if err != nil {
			return fail(stderr, "trustee finish", err)
		}
		key, _ := out.PublicKey.MarshalText()
		fmt.Fprintf(stdout, "trustee %d stored its share and confirmed: %s\nelection key: %s\n", self, path, key)
		printFaults(stdout, out.Faults)
		return exitOK
	}
}

func printFaults(w io.Writer, faults []crypto.Fault) {
	for _, f := range faults {
		fmt.Fprintf(w, "  - %s\n", f.Reason)
	}
}

// ceremonyStatus is the JSON form of a ceremony's outcome.
type ceremonyStatus struct {
	Fingerprint      string         `json:"fingerprint"`
	Label            string         `json:"label"`
	Threshold        int            `json:"threshold"`
	Trustees         int            `json:"trustees"`
	Qualified        []int          `json:"qualified"`
	PublicKey        string         `json:"election_key,omitempty"`
	VerificationKeys []string       `json:"verification_keys,omitempty"`
	Confirmed        []int          `json:"confirmed"`
	Complete         bool           `json:"complete"`
	Faults           []crypto.Fault `json:"faults"`
	Error            string         `json:"error,omitempty"`
	// Started is false before any trustee sent a message; WaitingFor
	// names, per round, the trustees whose message is awaited.
	Started    bool     `json:"started"`
	WaitingFor []string `json:"waiting_for,omitempty"`
}

func trusteeStatusCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee status", "--election https://host/e/ID | --ceremony DIR [--json]",
		`Status replays every message of a ceremony, as any observer can, and prints
the qualified dealers, the election key, the confirmations, whom it waits
for and every fault found, naming the trustee at fault; with --election, also
the decryption shares recorded. Exit status 0 means the ceremony is complete,
or has not started or is under way with no fault found (it then says whom it
waits for); 1 means it failed or a trustee is at fault.`)
	var t trusteeFlags
	t.folder(fs)
	t.online(fs, false)
	asJSON := fs.Bool("json", false, "print the outcome as JSON")
	return fs, func(stdout, stderr io.Writer) int {
		if t.election != "" {
			return onlineStatus(context.Background(), &t, *asJSON, stdout, stderr)
		}
		c := trustee.Ceremony{Dir: t.ceremony}
		r, err := c.Roster()
		if err != nil {
			return fail(stderr, "trustee status", err)
		}
		msgs, err := c.Messages()
		if err != nil {
			return fail(stderr, "trustee status", err)
		}
		out, rerr := crypto.Replay(r, msgs)
		return printStatus(r, msgs, out, rerr, *asJSON, stdout)
	}
}

// printStatus prints a ceremony's outcome; it returns the exit status: 0
// if the ceremony is complete, or still waits for trustees' messages with
// no fault found so far (a ceremony not started yet has not failed); 1 if
// it failed or a trustee is at fault.
func printStatus(r *crypto.Roster, msgs [][]byte, out *crypto.Outcome, rerr error, asJSON bool, stdout io.Writer) int {
	waiting, undealt := []string(nil), map[int]bool{}
	if !out.Complete {
		waiting = waitingFor(r, msgs)
		undealt = notDealt(r, msgs)
	}
	// While dealings are missing, the replay counts their trustees as
	// having sent no valid dealing: they are awaited, not at fault.
	var faults []crypto.Fault
	for _, f := range out.Faults {
		if f.Trustee != 0 && undealt[f.Trustee] {
			continue
		}
		faults = append(faults, f)
	}
	pending := len(waiting) > 0 && (rerr == nil || len(undealt) > 0)
	st := ceremonyStatus{Fingerprint: fmt.Sprintf("%x", r.Fingerprint()), Label: r.Label, Threshold: r.Threshold, Trustees: r.N(),
		Qualified: out.Qualified, Confirmed: out.Confirmed, Complete: out.Complete, Faults: faults, Started: len(msgs) > 0, WaitingFor: waiting}
	if faults == nil {
		st.Faults = []crypto.Fault{}
	}
	if rerr != nil && !pending {
		st.Error = rerr.Error()
	}
	if out.PublicKey != nil {
		k, _ := out.PublicKey.MarshalText()
		st.PublicKey = string(k)
		for _, v := range out.VerificationKeys {
			k, _ := v.MarshalText()
			st.VerificationKeys = append(st.VerificationKeys, string(k))
		}
	}
	if asJSON {
		b, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		fmt.Fprintf(stdout, "ceremony %q, %d-of-%d, fingerprint %s\n", r.Label, r.Threshold, r.N(), st.Fingerprint)
		switch {
		case out.Complete:
		case len(msgs) == 0:
			fmt.Fprintln(stdout, "the ceremony has not started: no trustee has sent a message yet")
		case pending:
			fmt.Fprintln(stdout, "the ceremony is under way")
		}
		if len(msgs) > 0 {
			fmt.Fprintf(stdout, "qualified dealers: %v\n", out.Qualified)
			if st.PublicKey != "" {
				fmt.Fprintf(stdout, "election key: %s\n", st.PublicKey)
			}
			fmt.Fprintf(stdout, "confirmed by: %v (complete: %v)\n", out.Confirmed, out.Complete)
		} else {
			fmt.Fprintf(stdout, "complete: false\n")
		}
		for _, w := range waiting {
			fmt.Fprintf(stdout, "waiting for %s\n", w)
		}
		printFaults(stdout, faults)
		if st.Error != "" {
			fmt.Fprintf(stdout, "FAILED: %v\n", rerr)
		}
	}
	switch {
	case out.Complete && rerr == nil:
		return exitOK
	case pending && len(faults) == 0:
		return exitOK
	}
	return exitFailure
}

// notDealt is the set of trustees whose dealing is not among msgs.
func notDealt(r *crypto.Roster, msgs [][]byte) map[int]bool {
	sent := make(map[string]bool)
	for _, m := range msgs {
		if name, err := trustee.MessageName(m); err == nil {
			sent[name] = true
		}
	}
	out := map[int]bool{}
	for j := 1; j <= r.N(); j++ {
		if !sent[fmt.Sprintf("dealing-%d.msg", j)] {
			out[j] = true
		}
	}
	return out
}

// waitingFor lists, per round, the trustees who have not sent their message.
func waitingFor(r *crypto.Roster, msgs [][]byte) []string {
	sent := make(map[string]bool)
	for _, m := range msgs {
		if name, err := trustee.MessageName(m); err == nil {
			sent[name] = true
		}
	}
	var out []string
	for _, round := range []string{"dealing", "complaints", "confirmation"} {
		var missing []string
		for j := 1; j <= r.N(); j++ {
			if !sent[fmt.Sprintf("%s-%d.msg", round, j)] {
				missing = append(missing, fmt.Sprintf("%d (%s)", j, r.Trustees[j-1].Name))
			}
		}
		if len(missing) > 0 {
			out = append(out, fmt.Sprintf("%s from trustee(s) %s", round, strings.Join(missing, ", ")))
		}
	}
	return out
}

func trusteeDecryptCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee decrypt", "--election https://host/e/ID [--yes] | --ceremony DIR --tally https://host/e/ID|FILE --out DIR [--dir KEYSTORE]",
		`Decrypt makes this trustee's decryption shares of a tally (each with a proof
that it used the trustee's share of the key). With --election, it verifies
the election's whole record up to the tally (the tally must be the sum of the
counted ballots), shows what it is about to decrypt, asks for confirmation,
and posts the shares to the election. With --ceremony, it writes them to the
--out folder. Nothing is decrypted by one trustee alone: any T shares are
combined (by the officer's console, or "scrutin trustee combine").`)
	var t trusteeFlags
	t.keystore(fs)
	t.folder(fs)
	t.online(fs, false)
	yes := fs.Bool("yes", false, "with --election, do not ask for confirmation (for scripts)")
	tallyPath := fs.String("tally", "", tallyUsage)
	outDir := fs.String("out", "", "the folder to write decryption-<trustee>.msg into")
	return fs, func(stdout, stderr io.Writer) int {
		if t.election != "" {
			if *tallyPath != "" || *outDir != "" {
				fmt.Fprintln(stderr, "scrutin trustee decrypt: --election takes the tally from the election's record and posts the shares there: give neither --tally nor --out")
				return exitUsage
			}
			o, err := t.openOnline(context.Background(), stdout, stderr)
			if err != nil {
				return fail(stderr, "trustee decrypt", err)
			}
			return o.decrypt(context.Background(), *yes)
		}
		if *tallyPath == "" || *outDir == "" {
			fmt.Fprintln(stderr, "scrutin trustee decrypt: --tally and --out are required")
			return exitUsage
		}
		r, self, secrets, pass, err := t.open(stderr)
		if err != nil {
			return fail(stderr, "trustee decrypt", err)
		}
		msgs, err := trustee.Ceremony{Dir: t.ceremony}.Messages()
		if err != nil {
			return fail(stderr, "trustee decrypt", err)
		}
		out, err := crypto.Replay(r, msgs)
		if err != nil {
			return fail(stderr, "trustee decrypt", err)
		}
		cts, err := readTally(*tallyPath, out.PublicKey)
		if err != nil {
			return fail(stderr, "trustee decrypt", err)
		}
		if st, err := os.Stat(*tallyPath); err == nil && !st.IsDir() {
			// A bare list of ciphertexts is checked against nothing: it
			// could hold one voter's ballot.
			fmt.Fprintf(stderr, "warning: %s is a tally file, checked against no record: decrypt only ciphertexts you know to be the election's tally (give the election's address or its exported log, DIR/log, to have them verified)\n", *tallyPath)
		}
		share, err := trustee.Keystore{Dir: t.dir}.Share(out.Fingerprint, pass)
		if err != nil {
			return fail(stderr, "trustee decrypt", err)
		}
		if !share.PublicKey().Equal(out.VerificationKeys[self-1]) {
			// The confirmed transcript is not the one this trustee finished
			// with: its share of the confirmed key is recomputed from the
			// dealings, which only its own keys can decrypt.
			fmt.Fprintf(stderr, "note: the ceremony was completed with a transcript other than the one trustee %d finished with; using its share of the confirmed key\n", self)
			if share, err = out.Share(r, self, secrets); err != nil {
				return fail(stderr, "trustee decrypt", err)
			}
		}
		msg, err := out.DecryptShare(nil, r, self, secrets, share, cts)
		if err != nil {
			return fail(stderr, "trustee decrypt", err)
		}
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			return fail(stderr, "trustee decrypt", err)
		}
		path, err := trustee.WriteMessage(*outDir, msg)
		if err != nil {
			return fail(stderr, "trustee decrypt", err)
		}
		fmt.Fprintf(stdout, "trustee %d wrote its decryption shares of %d ciphertexts: %s\n", self, len(cts), path)
		return exitOK
	}
}

func trusteeCombineCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee combine", "--election https://host/e/ID [--json] | --ceremony DIR --tally https://host/e/ID|FILE [--max N] [--json] DECRYPTION.msg...",
		`Combine verifies decryption shares (signature and proofs, against the
ceremony's verification keys), rejects and names any bad one, and decrypts
the tally with T valid ones. With --election, it verifies the election's
record and takes the roster, the ceremony, the tally and the decryption
shares from it; with --ceremony, from the folder, the --tally given and the
decryption-share files. Anyone can run it.`)
	var t trusteeFlags
	t.folder(fs)
	t.online(fs, false)
	tallyPath := fs.String("tally", "", tallyUsage)
	max := fs.Uint64("max", 10_000_000, "the largest possible value of a result (the number of ballots)")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	return fs, func(stdout, stderr io.Writer) int {
		if t.election != "" {
			if t.ceremony != "" || *tallyPath != "" || fs.NArg() > 0 {
				fmt.Fprintln(stderr, "scrutin trustee combine: --election takes the ceremony, the tally and the decryption shares from the election's record: give no --ceremony, --tally nor files")
				return exitUsage
			}
			rep, err := readElection(context.Background(), t.election, t.fingerprint)
			if err != nil {
				return fail(stderr, "trustee combine", err)
			}
			st := rep.State
			if st.Tally == nil {
				return fail(stderr, "trustee combine", fmt.Errorf("the election has no tally yet (phase %s): the officer records it once voting is closed", rep.Phase))
			}
			if st.Ceremony == nil || !st.Ceremony.Complete {
				return fail(stderr, "trustee combine", errors.New("the election's key ceremony is not complete"))
			}
			dec, err := st.Ceremony.Combine(&st.Manifest.Roster, st.TallyCiphertexts(), st.DecryptionMessages(), uint64(max1(rep.Counted)))
			return printCombined(dec, err, *asJSON, st.Manifest, stdout, stderr)
		}
		if *tallyPath == "" || fs.NArg() == 0 {
			fmt.Fprintln(stderr, "scrutin trustee combine: --tally and the decryption-share files are required")
			return exitUsage
		}
		c := trustee.Ceremony{Dir: t.ceremony}
		r, err := c.Roster()
		if err != nil {
			return fail(stderr, "trustee combine", err)
		}
		msgs, err := c.Messages()
		if err != nil {
			return fail(stderr, "trustee combine", err)
		}
		out, err := crypto.Replay(r, msgs)
		if err != nil {
			return fail(stderr, "trustee combine", err)
		}
		cts, err := readTally(*tallyPath, out.PublicKey)
		if err != nil {
			return fail(stderr, "trustee combine", err)
		}
		shares, err := trustee.ReadMessages(fs.Args())
		if err != nil {
			return fail(stderr, "trustee combine", err)
		}
		dec, err := out.Combine(r, cts, shares, *max)
		return printCombined(dec, err, *asJSON, nil, stdout, stderr)
	}
}

func max1(n int) int { return max(n, 1) }

// printCombined prints the outcome of Combine, with the contests' and
// options' names if the manifest is known; it returns the exit status.
func printCombined(dec *crypto.Decryption, err error, asJSON bool, m *election.Manifest, stdout, stderr io.Writer) int {
	if asJSON {
		res := map[string]any{"results": nil, "used": nil, "valid": nil, "faults": []crypto.Fault{}}
		if dec != nil {
			res["results"], res["used"], res["valid"] = dec.Results, dec.Used, dec.Valid
			if dec.Faults != nil {
				res["faults"] = dec.Faults
			}
		}
		if err != nil {
			res["error"] = err.Error()
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else if dec != nil {
		printFaults(stdout, dec.Faults)
	}
	if err != nil {
		return fail(stderr, "trustee combine", err)
	}
	if !asJSON {
		fmt.Fprintf(stdout, "decrypted with trustees %v (all valid: %v)\n", dec.Used, dec.Valid)
		k := 0
		if m != nil {
			for _, c := range m.Contests {
				for _, o := range c.Options {
					if k < len(dec.Results) {
						fmt.Fprintf(stdout, "%s, %s: %d\n", c.Title["en"], o.Title["en"], dec.Results[k])
					}
					k++
				}
			}
		} else {
			for k, n := range dec.Results {
				fmt.Fprintf(stdout, "ciphertext %d: %d\n", k+1, n)
			}
		}
	}
	return exitOK
}

const tallyUsage = "the tally: the election's address (https://host/e/ID) or its published record (a folder), whose log is verified first, or a tally file (JSON with the ciphertexts)"

// readTally reads the ciphertexts to decrypt from loc: an election's
// address or a published record's folder (the whole record is verified,
// and its election key must be the ceremony's, key), or a tally file.
func readTally(loc string, key *crypto.PublicKey) ([]*crypto.Ciphertext, error) {
	if st, err := os.Stat(loc); err != nil || !st.IsDir() {
		if !strings.HasPrefix(loc, "http://") && !strings.HasPrefix(loc, "https://") {
			return trustee.ReadTally(loc)
		}
	}
	rep, err := verify.Record(context.Background(), mirror.For(logLocation(loc)), verify.Options{})
	if err != nil {
		return nil, err
	}
	if !rep.OK {
		f := rep.Failures[0]
		return nil, fmt.Errorf("the record at %s does not verify (%d failed checks; run scrutin verify): entry %d, %s: %s", loc, len(rep.Failures), f.Entry, f.Check, f.Reason)
	}
	if rep.Tally == nil {
		return nil, fmt.Errorf("the record at %s has no tally yet (phase %s): the officer records it once voting is closed", loc, rep.Phase)
	}
	if key == nil || rep.ElectionKey == nil || !rep.ElectionKey.Equal(key) {
		return nil, fmt.Errorf("the election at %s is not encrypted under this ceremony's key", loc)
	}
	return rep.Tally, nil
}

func trusteePostCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee post", "--to https://host/e/ID FILE.msg...",
		`Post sends trustees' messages to the election at its address (as its pages
print it), in the order given: the ceremony's (dealing-*.msg, complaints-*.msg,
confirmation-*.msg), once the election's manifest is recorded, all the
dealings, then all the complaints, then all the confirmations; and, after the
tally, decryption shares (decryption-*.msg). The server checks each before it
enters the log; the command stops at the first one refused, with the reason.
Anyone can post them: they are signed by their trustee.`)
	to := fs.String("to", "", "the election's address, https://host/e/ID")
	return fs, func(stdout, stderr io.Writer) int {
		if *to == "" || fs.NArg() == 0 {
			fmt.Fprintln(stderr, "scrutin trustee post: --to and the message files are required")
			return exitUsage
		}
		api, err := electionAPI(*to)
		if err != nil {
			fmt.Fprintf(stderr, "scrutin trustee post: --to: %v\n", err)
			return exitUsage
		}
		routes := make([]string, fs.NArg())
		for i, f := range fs.Args() {
			switch base := filepath.Base(f); {
			case strings.HasSuffix(base, ".msg") && (strings.HasPrefix(base, "dealing-") || strings.HasPrefix(base, "complaints-") || strings.HasPrefix(base, "confirmation-")):
				routes[i] = api + "/ceremony"
			case strings.HasSuffix(base, ".msg") && strings.HasPrefix(base, "decryption-"):
				routes[i] = api + "/decryptions"
			default:
				fmt.Fprintf(stderr, "scrutin trustee post: %s is neither a ceremony message (dealing-, complaints-, confirmation-*.msg) nor decryption shares (decryption-*.msg)\n", f)
				return exitUsage
			}
		}
		for i, f := range fs.Args() {
			body, err := os.ReadFile(f)
			if err != nil {
				return fail(stderr, "trustee post", err)
			}
			index, err := postMessage(routes[i], body)
			if err != nil {
				return fail(stderr, "trustee post", fmt.Errorf("%s: %w", f, err))
			}
			fmt.Fprintf(stdout, "%s: entry %d of the election's log\n", f, index)
		}
		return exitOK
	}
}

// postMessage posts a trustee's message to url and returns its index in
// the log.
func postMessage(url string, body []byte) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	// 200: the log already holds this message, byte for byte (spec §22.3),
	// as when a trustee retries after a lost answer.
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("the server answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	var ok struct {
		Index int64 `json:"index"`
	}
	json.Unmarshal(b, &ok)
	return ok.Index, nil
}
