package main

// The trustee commands against an election's address (docs/spec.md §22.3):
// the roster and the other trustees' messages are read from the election's
// published log, verified by package verify (the checkpoint's signature,
// every tile and entry, every entry replayed through package election, as
// "scrutin verify" does), and the trustee's own message is posted to the
// election's API.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/verify"
)

// stdin is read by the passphrase and confirmation prompts alike, so that
// neither swallows the other's line.
var stdin = bufio.NewReader(os.Stdin)

// defaultWait bounds how long a command waits for the other trustees.
const defaultWait = 30 * time.Minute

// pollEvery is how often a waiting command reads the log again.
var pollEvery = 2 * time.Second

func (t *trusteeFlags) online(fs *flag.FlagSet, waits bool) {
	fs.StringVar(&t.election, "election", "", "the election's address as its pages print it (https://host/e/ID): read the roster and the other trustees' messages from its verified log, and post to it")
	fs.StringVar(&t.fingerprint, "fingerprint", "", "the election's fingerprint as the officer announced it (64 hex digits): the record must be that election's")
	if waits {
		fs.DurationVar(&t.wait, "wait", defaultWait, "with --election, how long to wait for the other trustees (0: do not wait, say what is missing)")
	}
}

// readElection reads and verifies the record of the election at address
// u, as far as it goes.
func readElection(ctx context.Context, u, fingerprint string) (*verify.Report, error) {
	return readElectionAfter(ctx, u, fingerprint, nil)
}

// readElectionAfter is readElection for a reader who saw the signed
// checkpoint previous before: the log must extend it.
func readElectionAfter(ctx context.Context, u, fingerprint string, previous []byte) (*verify.Report, error) {
	return readElectionInto(ctx, u, fingerprint, previous, "")
}

// readElectionInto is readElectionAfter that also writes the files of the
// log it verifies into the folder copyTo (if not ""), for a verification
// off line.
func readElectionInto(ctx context.Context, u, fingerprint string, previous []byte, copyTo string) (*verify.Report, error) {
	if _, _, ok := electionURL(u); !ok {
		return nil, fmt.Errorf("--election: %q is not an election's address, like https://vote.example.org/e/ID", u)
	}
	var o verify.Options
	if fingerprint != "" {
		f, err := parseFingerprint(fingerprint)
		if err != nil {
			return nil, fmt.Errorf("--fingerprint: %w", err)
		}
		o.Election = &f
	}
	o.Previous = previous
	src := mirror.For(logLocation(u))
	if copyTo != "" {
		src = mirror.Copy(src, mirror.Dir(copyTo))
	}
	rep, err := verify.Record(ctx, src, o)
	if err != nil {
		return nil, err
	}
	if !rep.OK {
		f := rep.Failures[0]
		if previous != nil && f.Check == "log" && strings.Contains(f.Reason, "previous checkpoint") {
			return nil, fmt.Errorf("the election's log at %s does not extend the one this trustee saw before: the server shows another log than it did (%s); tell the officer and the observers, and take part in nothing until it is explained", u, f.Reason)
		}
		if rep.Manifest == nil {
			return nil, fmt.Errorf("cannot read the election's record at %s (is the address right, and its manifest recorded?): %s", u, f.Reason)
		}
		return nil, fmt.Errorf("the election's record at %s does not verify (%d failed checks; run scrutin verify %s): entry %d, %s: %s", u, len(rep.Failures), u, f.Entry, f.Check, f.Reason)
	}
	if rep.State == nil || rep.Manifest == nil {
		return nil, fmt.Errorf("the election at %s has no manifest yet", u)
	}
	return rep, nil
}

// sentBy returns the trustees who sent a message of type typ (1 dealing,
// 2 complaints, 3 confirmation) among msgs, and the first such message of
// trustee self.
func sentBy(msgs [][]byte, typ byte, self int) (map[int]bool, []byte) {
	sent := make(map[int]bool)
	var own []byte
	for _, m := range msgs {
		if len(m) < 37 || m[0] != typ {
			continue
		}
		j := int(m[33])<<24 | int(m[34])<<16 | int(m[35])<<8 | int(m[36])
		sent[j] = true
		if j == self && own == nil {
			own = m
		}
	}
	return sent, own
}

var roundNames = map[byte]string{1: "dealings", 2: "checks (complaints messages)", 3: "confirmations"}

// missing names the trustees of r not in sent.
func missing(r *crypto.Roster, sent map[int]bool) []string {
	var out []string
	for j := 1; j <= r.N(); j++ {
		if !sent[j] {
			out = append(out, fmt.Sprintf("%d (%s)", j, r.Trustees[j-1].Name))
		}
	}
	return out
}

// onlineSession is a trustee working against an election's address.
type onlineSession struct {
	t       *trusteeFlags
	stdout  io.Writer
	stderr  io.Writer
	rep     *verify.Report
	r       *crypto.Roster
	self    int
	secrets *crypto.TrusteeSecrets
	pass    string
	seen    []byte // the checkpoint this command last read from or wrote to the keystore
}

// openOnline reads the election and the trustee's identity.
func (t *trusteeFlags) openOnline(ctx context.Context, stdout, stderr io.Writer) (*onlineSession, error) {
	if t.ceremony != "" {
		return nil, errors.New("give either --election (online) or --ceremony (a shared folder), not both")
	}
	fmt.Fprintf(stderr, "reading and verifying the record of the election at %s…\n", t.election)
	seen := t.seenFile()
	previous, err := os.ReadFile(seen)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	rep, err := readElectionAfter(ctx, t.election, t.fingerprint, previous)
	if err != nil {
		return nil, err
	}
	r := &rep.Manifest.Roster
	pass, err := t.passphrase(stderr, false)
	if err != nil {
		return nil, err
	}
	name, secrets, err := trustee.Keystore{Dir: t.dir}.Identity(pass)
	if err != nil {
		return nil, err
	}
	self := r.Index(secrets.Signing.PublicKey())
	if self == 0 {
		return nil, fmt.Errorf("the identity in %s (%s) is not on the roster of the election at %s: check the address, or ask the officer", t.dir, name, t.election)
	}
	if !r.Trustees[self-1].Encryption.Equal(secrets.Encryption.PublicKey()) {
		return nil, fmt.Errorf("the roster of the election at %s has the signing key of the identity in %s (%s) with another encryption key: the identity on the roster is not the one made; take no step and tell the officer (compare the identity fingerprints)", t.election, t.dir, name)
	}
	o := &onlineSession{t: t, stdout: stdout, stderr: stderr, rep: rep, r: r, self: self, secrets: secrets, pass: pass, seen: previous}
	return o, o.remember(ctx)
}

// seenFile is where the keystore keeps the latest signed checkpoint of the
// election at --election that the trustee's commands verified: each
// command then requires the log to extend it, so that a server cannot show
// a trustee a log, then another.
func (t *trusteeFlags) seenFile() string {
	h := sha256.Sum256([]byte(electionKey(t.election)))
	return filepath.Join(t.dir, fmt.Sprintf("seen-%x.checkpoint", h[:8]))
}

// remember keeps the checkpoint just verified. If another command of the
// trustee remembered a checkpoint since this one last read or wrote the
// file, the log must extend that one too: it is verified again against it
// before being remembered, rather than overwriting it unchecked.
func (o *onlineSession) remember(ctx context.Context) error {
	seen := o.t.seenFile()
	stored, err := os.ReadFile(seen)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(stored) > 0 && !bytes.Equal(stored, o.seen) && !bytes.Equal(stored, o.rep.Checkpoint) {
		rep, err := readElectionAfter(ctx, o.t.election, o.rep.Fingerprint, stored)
		if err != nil {
			return err
		}
		o.rep = rep
	}
	if len(o.rep.Checkpoint) == 0 {
		return nil
	}
	if err := atrest.WriteFile(seen, o.rep.Checkpoint, 0o644); err != nil {
		return err
	}
	o.seen = o.rep.Checkpoint
	return nil
}

func (o *onlineSession) title() string { return o.rep.Manifest.Title["en"] }

// refresh reads the election again.
func (o *onlineSession) refresh(ctx context.Context) error {
	rep, err := readElectionAfter(ctx, o.t.election, o.rep.Fingerprint, o.rep.Checkpoint)
	if err != nil {
		return err
	}
	o.rep = rep
	return o.remember(ctx)
}

// waitRound waits (at most --wait) until every trustee has sent a message
// of type typ, saying whom it waits for whenever that changes. It returns
// the trustees still missing when it gives up.
func (o *onlineSession) waitRound(ctx context.Context, typ byte) ([]string, error) {
	deadline := time.Now().Add(o.t.wait)
	last := ""
	for {
		if o.rep.State.Phase != election.PhaseSetup {
			return nil, nil // the ceremony is over: nothing more will come
		}
		if c := o.rep.State.Ceremony; c != nil && c.Complete {
			return nil, nil // t trustees confirmed: nothing sent now changes the key
		}
		sent, _ := sentBy(o.rep.State.CeremonyMessages(), typ, 0)
		miss := missing(o.r, sent)
		if len(miss) == 0 {
			return nil, nil
		}
		if line := strings.Join(miss, ", "); line != last {
			fmt.Fprintf(o.stdout, "waiting for the %s of trustee(s) %s\n", roundNames[typ], line)
			last = line
		}
		if !time.Now().Before(deadline) {
			return miss, nil
		}
		select {
		case <-ctx.Done():
			return miss, ctx.Err()
		case <-time.After(min(pollEvery, time.Until(deadline)+time.Millisecond)):
		}
		if err := o.refresh(ctx); err != nil {
			return nil, err
		}
	}
}

// post sends a ceremony message or decryption shares to the election.
func (o *onlineSession) post(msg []byte) (int64, error) {
	api, err := electionAPI(o.t.election)
	if err != nil {
		return 0, err
	}
	route := "/ceremony"
	if msg[0] == 4 {
		route = "/decryptions"
	}
	return postMessage(api+route, msg)
}

// outbox is where a dealing waits to be posted: dealing twice would be
// equivocation (spec §13.2), so a dealing made but not seen in the log is
// posted again as it is, never made anew.
func (o *onlineSession) outbox() string { return outboxDir(o.t.dir, o.r) }

// outboxDir is the folder of keystore dir where the trustee's dealing in
// the ceremony of roster r is kept, on line or off.
func outboxDir(dir string, r *crypto.Roster) string {
	f := r.Fingerprint()
	return filepath.Join(dir, fmt.Sprintf("outbox-%x", f[:8]))
}

func (o *onlineSession) deal(ctx context.Context) int {
	msgs := o.rep.State.CeremonyMessages()
	_, own := sentBy(msgs, 1, o.self)
	if own == nil && o.rep.State.Phase != election.PhaseSetup {
		return fail(o.stderr, "trustee deal", fmt.Errorf("the election %q is past its set-up (phase %s): the ceremony is over", o.title(), o.rep.Phase))
	}
	if own != nil {
		fmt.Fprintf(o.stdout, "trustee %d (%s) has already dealt in the election %q; nothing to do\n", o.self, o.r.Trustees[o.self-1].Name, o.title())
	} else {
		path := filepath.Join(o.outbox(), fmt.Sprintf("dealing-%d.msg", o.self))
		msg, err := outboxDealing(path, func() ([]byte, error) { return crypto.Deal(nil, o.r, o.self, o.secrets) })
		if err != nil {
			return fail(o.stderr, "trustee deal", err)
		}
		i, err := o.post(msg)
		if err != nil {
			return fail(o.stderr, "trustee deal", fmt.Errorf("posting the dealing (kept in %s; run the command again to send it): %w", path, err))
		}
		fmt.Fprintf(o.stdout, "trustee %d (%s) dealt in the election %q (fingerprint %s): entry %d of its log\n", o.self, o.r.Trustees[o.self-1].Name, o.title(), o.rep.Fingerprint, i)
	}
	fmt.Fprintf(o.stdout, "roster %q: %d of %d trustees decrypt (%s)\nnext: scrutin trustee check --election %s (it waits for the other trustees' dealings)\n",
		o.r.Label, o.r.Threshold, o.r.N(), strings.Join(names(o.r), ", "), o.t.election)
	return exitOK
}

func names(r *crypto.Roster) []string {
	var out []string
	for _, t := range r.Trustees {
		out = append(out, t.Name)
	}
	return out
}

// waitOrSay waits for a round; if trustees are still missing, it says so
// and how to go on, and returns false.
func (o *onlineSession) waitOrSay(ctx context.Context, cmd string, typ byte, partial bool) bool {
	miss, err := o.waitRound(ctx, typ)
	if err != nil {
		fail(o.stderr, cmd, err)
		return false
	}
	if len(miss) > 0 && !partial {
		fmt.Fprintf(o.stderr, "scrutin %s: still waiting for the %s of trustee(s) %s; run this again later (--wait sets how long it waits), or give --partial to go on without them\n", cmd, roundNames[typ], strings.Join(miss, ", "))
		return false
	}
	return true
}

func (o *onlineSession) check(ctx context.Context, partial bool) int {
	if _, own := sentBy(o.rep.State.CeremonyMessages(), 2, o.self); own != nil {
		fmt.Fprintf(o.stdout, "trustee %d has already checked its shares; nothing to do\nnext: scrutin trustee finish --election %s\n", o.self, o.t.election)
		return exitOK
	}
	if o.rep.State.Phase != election.PhaseSetup {
		return fail(o.stderr, "trustee check", fmt.Errorf("the election %q is past its set-up (phase %s): the ceremony is over", o.title(), o.rep.Phase))
	}
	if _, own := sentBy(o.rep.State.CeremonyMessages(), 1, o.self); own == nil {
		return fail(o.stderr, "trustee check", fmt.Errorf("trustee %d has not dealt yet: run scrutin trustee deal --election %s first", o.self, o.t.election))
	}
	if !o.waitOrSay(ctx, "trustee check", 1, partial) {
		return exitFailure
	}
	var dealings [][]byte
	for _, m := range o.rep.State.CeremonyMessages() {
		if m[0] == 1 {
			dealings = append(dealings, m)
		}
	}
	msg, err := crypto.Complain(nil, o.r, o.self, o.secrets, dealings)
	if err != nil {
		return fail(o.stderr, "trustee check", err)
	}
	i, err := o.post(msg)
	if err != nil {
		return fail(o.stderr, "trustee check", err)
	}
	n := int(msg[37])<<24 | int(msg[38])<<16 | int(msg[39])<<8 | int(msg[40])
	fmt.Fprintf(o.stdout, "trustee %d checked %d dealings and made %d complaint(s): entry %d of the election's log\nnext: scrutin trustee finish --election %s (it waits for the other trustees' checks)\n", o.self, len(dealings), n, i, o.t.election)
	return exitOK
}

func (o *onlineSession) finish(ctx context.Context, partial bool, wf int) int {
	if _, own := sentBy(o.rep.State.CeremonyMessages(), 3, o.self); own != nil {
		fmt.Fprintf(o.stdout, "trustee %d has already confirmed\n", o.self)
	} else {
		if o.rep.State.Phase != election.PhaseSetup {
			return fail(o.stderr, "trustee finish", fmt.Errorf("the election %q is past its set-up (phase %s): the ceremony is over", o.title(), o.rep.Phase))
		}
		if _, own := sentBy(o.rep.State.CeremonyMessages(), 2, o.self); own == nil {
			return fail(o.stderr, "trustee finish", fmt.Errorf("trustee %d has not checked its shares yet: run scrutin trustee check --election %s first", o.self, o.t.election))
		}
		if !o.waitOrSay(ctx, "trustee finish", 2, partial) {
			return exitFailure
		}
		out, err := crypto.Replay(o.r, o.rep.State.CeremonyMessages())
		if err != nil {
			return fail(o.stderr, "trustee finish", err)
		}
		share, err := out.Share(o.r, o.self, o.secrets)
		if err != nil {
			return fail(o.stderr, "trustee finish", err)
		}
		if err := (trustee.Keystore{Dir: o.t.dir, WorkFactor: wf}).SaveShare(out.Fingerprint, o.self, share, out.PublicKey, o.pass); err != nil {
			return fail(o.stderr, "trustee finish", err)
		}
		conf, err := out.Confirm(nil, o.r, o.self, o.secrets, share)
		if err != nil {
			return fail(o.stderr, "trustee finish", err)
		}
		i, err := o.post(conf)
		if err != nil {
			return fail(o.stderr, "trustee finish", err)
		}
		fmt.Fprintf(o.stdout, "trustee %d stored its share in %s and confirmed: entry %d of the election's log\n", o.self, o.t.dir, i)
		printFaults(o.stdout, out.Faults)
		if err := o.refresh(ctx); err != nil {
			return fail(o.stderr, "trustee finish", err)
		}
	}
	// Wait for the ceremony to be complete: t confirmations.
	deadline, last := time.Now().Add(o.t.wait), ""
	for {
		c := o.rep.State.Ceremony
		if c != nil && c.Complete {
			key, _ := c.PublicKey.MarshalText()
			fmt.Fprintf(o.stdout, "the ceremony is complete (confirmed by trustees %v): election key %s\nkeep %s and its passphrase: they are needed to decrypt the tally\n", c.Confirmed, key, o.t.dir)
			return exitOK
		}
		sent, _ := sentBy(o.rep.State.CeremonyMessages(), 3, 0)
		miss := missing(o.r, sent)
		line := strings.Join(miss, ", ")
		if line != last {
			fmt.Fprintf(o.stdout, "waiting for the confirmations of trustee(s) %s (%d of %d needed)\n", line, o.r.Threshold, o.r.N())
			last = line
		}
		if !time.Now().Before(deadline) {
			fmt.Fprintf(o.stdout, "the ceremony is not complete yet; scrutin trustee status --election %s shows its progress\n", o.t.election)
			return exitOK
		}
		select {
		case <-ctx.Done():
			return fail(o.stderr, "trustee finish", ctx.Err())
		case <-time.After(min(pollEvery, time.Until(deadline)+time.Millisecond)):
		}
		if err := o.refresh(ctx); err != nil {
			return fail(o.stderr, "trustee finish", err)
		}
	}
}

// confirm asks a yes/no question on stderr, reading stdin.
func confirm(stderr io.Writer, question string) bool {
	fmt.Fprintf(stderr, "%s [y/N] ", question)
	line, _ := stdin.ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes", "o", "oui":
		return true
	}
	return false
}

func (o *onlineSession) decrypt(ctx context.Context, yes bool) int {
	s := o.rep.State
	switch {
	case s.Phase == election.PhaseDecided:
		fmt.Fprintf(o.stdout, "the result of the election %q is already published; nothing to decrypt\n", o.title())
		return exitOK
	case s.Phase != election.PhaseTallied:
		return fail(o.stderr, "trustee decrypt", fmt.Errorf("the election %q has no tally yet (phase %s): the officer records it once voting is closed", o.title(), o.rep.Phase))
	}
	if slices.Contains(s.Decrypted(), o.self) {
		fmt.Fprintf(o.stdout, "trustee %d's decryption shares are already recorded; %d of the %d needed are\n", o.self, len(s.Decrypted()), o.r.Threshold)
		return exitOK
	}
	m := o.rep.Manifest
	fmt.Fprintf(o.stdout, "election %q\nfingerprint %s\nthe record verifies up to the tally: the tally is the sum of the %d counted ballots, each voter's last (%d valid ballots in the log; %d voters on the roll)\n", o.title(), o.rep.Fingerprint, o.rep.Counted, o.rep.Ballots, o.rep.Voters)
	for _, c := range m.Contests {
		fmt.Fprintf(o.stdout, "  contest %q: %d options\n", c.Title["en"], len(c.Options))
	}
	fmt.Fprintf(o.stdout, "trustee %d (%s) is about to decrypt these %d sums, and nothing else\n", o.self, o.r.Trustees[o.self-1].Name, len(o.rep.Tally))
	if !yes && !confirm(o.stderr, "Post this trustee's decryption shares of this tally?") {
		fmt.Fprintln(o.stderr, "scrutin trustee decrypt: not confirmed; nothing was sent (--yes skips the question)")
		return exitFailure
	}
	out := s.Ceremony
	share, err := trustee.Keystore{Dir: o.t.dir}.Share(out.Fingerprint, o.pass)
	if err != nil {
		return fail(o.stderr, "trustee decrypt", err)
	}
	if !share.PublicKey().Equal(out.VerificationKeys[o.self-1]) {
		fmt.Fprintf(o.stderr, "note: the ceremony was completed with a transcript other than the one trustee %d finished with; using its share of the confirmed key\n", o.self)
		if share, err = out.Share(o.r, o.self, o.secrets); err != nil {
			return fail(o.stderr, "trustee decrypt", err)
		}
	}
	msg, err := out.DecryptShare(nil, o.r, o.self, o.secrets, share, o.rep.Tally)
	if err != nil {
		return fail(o.stderr, "trustee decrypt", err)
	}
	i, err := o.post(msg)
	if err != nil {
		return fail(o.stderr, "trustee decrypt", err)
	}
	fmt.Fprintf(o.stdout, "trustee %d posted its decryption shares: entry %d of the election's log\n", o.self, i)
	return exitOK
}

// onlineStatus prints the ceremony's and the decryption's progress as the
// election's verified record shows them.
func onlineStatus(ctx context.Context, t *trusteeFlags, asJSON bool, stdout, stderr io.Writer) int {
	rep, err := readElection(ctx, t.election, t.fingerprint)
	if err != nil {
		return fail(stderr, "trustee status", err)
	}
	r := &rep.Manifest.Roster
	msgs := rep.State.CeremonyMessages()
	out, rerr := crypto.Replay(r, msgs)
	code := printStatus(r, msgs, out, rerr, asJSON, stdout)
	if !asJSON && rep.State.Phase >= election.PhaseTallied {
		d := rep.State.Decrypted()
		fmt.Fprintf(stdout, "decryption shares recorded from trustees %v (%d of the %d needed)\n", d, len(d), r.Threshold)
	}
	return code
}

// exportSeenFile is where an export folder keeps the last signed
// checkpoint exported into it.
const exportSeenFile = "seen.checkpoint"

func trusteeExportCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee export", "--election https://host/e/ID --out DIR",
		`Export (for a trustee whose keystore stays on a computer that is never on
line) verifies the election's record and writes into the folder DIR what the
trustee's commands need with --ceremony DIR: the roster (roster.json), every
ceremony message recorded so far, and the election's log as verified
(DIR/log). Carry the folder to the air-gapped computer, run "scrutin
trustee deal|check|finish --ceremony DIR" (or, once the tally is recorded,
"decrypt --ceremony DIR --tally DIR/log --out DIR", which verifies the log
again there) there, carry back the message written, and send it
with "scrutin trustee post --to https://host/e/ID FILE". Export again into the
same folder before each round: it adds the messages recorded since, and
requires the log to extend the one it exported before (the folder keeps its
checkpoint, seen.checkpoint), so that a server cannot show it another log.`)
	var t trusteeFlags
	t.online(fs, false)
	outDir := fs.String("out", "", "the folder to write into (made if missing)")
	return fs, func(stdout, stderr io.Writer) int {
		if t.election == "" || *outDir == "" {
			fmt.Fprintln(stderr, "scrutin trustee export: --election and --out are required")
			return exitUsage
		}
		// The folder keeps the last checkpoint exported into it (as a
		// keystore does, for a trustee on line): each export requires the
		// log to extend it.
		seen := filepath.Join(*outDir, exportSeenFile)
		previous, err := os.ReadFile(seen)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fail(stderr, "trustee export", err)
		}
		// The log is copied as it is verified, so that the air-gapped
		// computer verifies it again before decrypting (decrypt --tally
		// DIR/log): what a trustee decrypts is always the tally of a
		// record it verified itself, never a file handed over.
		rep, err := readElectionInto(context.Background(), t.election, t.fingerprint, previous, filepath.Join(*outDir, "log"))
		if err != nil {
			return fail(stderr, "trustee export", err)
		}
		r := &rep.Manifest.Roster
		c := trustee.Ceremony{Dir: *outDir}
		if old, err := c.Roster(); err == nil {
			if old.Fingerprint() != r.Fingerprint() {
				return fail(stderr, "trustee export", fmt.Errorf("%s holds another ceremony's roster: export into another folder", *outDir))
			}
		} else if err := c.WriteRoster(r); err != nil {
			return fail(stderr, "trustee export", err)
		}
		msgs := rep.State.CeremonyMessages()
		for _, m := range msgs {
			if _, err := trustee.WriteMessage(*outDir, m); err != nil {
				return fail(stderr, "trustee export", err)
			}
		}
		fmt.Fprintf(stdout, "wrote the roster of the election %q (fingerprint %s) and its %d ceremony messages into %s\n", rep.Manifest.Title["en"], rep.Fingerprint, len(msgs), *outDir)
		fmt.Fprintf(stdout, "wrote the election's log, verified, into %s\n", filepath.Join(*outDir, "log"))
		if rep.Tally != nil {
			fmt.Fprintf(stdout, "its tally is recorded (the sum of the %d counted ballots): decrypt it off line with --tally %s\n", rep.Counted, filepath.Join(*outDir, "log"))
		}
		if len(rep.Checkpoint) > 0 {
			if err := atrest.WriteFile(seen, rep.Checkpoint, 0o644); err != nil {
				return fail(stderr, "trustee export", err)
			}
		}
		return exitOK
	}
}

// outboxDealing returns the dealing kept at path, or makes one with deal
// and keeps it there first. The file is created exclusively (a hard link
// to a complete temporary file): of two commands of one trustee racing,
// the second posts the first one's dealing, never a second dealing, which
// would be equivocation (spec §13.2).
func outboxDealing(path string, deal func() ([]byte, error)) ([]byte, error) {
	if msg, err := os.ReadFile(path); err == nil {
		return msg, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	msg, err := deal()
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(dir, ".dealing-*.tmp")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(msg)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			// No hard links here (some removable media): create the file
			// exclusively and write it.
			f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if cerr == nil {
				_, err = f.Write(msg)
				if err == nil {
					err = f.Sync()
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return nil, err
				}
				return msg, nil
			}
			if !errors.Is(cerr, fs.ErrExist) {
				return nil, err
			}
		}
		// Another command kept its dealing first: post that one.
		return os.ReadFile(path)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return msg, nil
}
