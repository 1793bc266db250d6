package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"unicode"

	"golang.org/x/term"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mirror"
	"github.com/scrutin/scrutin/verify"
)

func verifyCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("verify", "[--election F] [--witness KEY]... [--quorum N] [--previous FILE] [--tracker T] [--audit FILE] [--json] DIR|URL",
		`Verify checks a published election record, from a folder or a URL (the
election's address as its pages print it, https://host/e/ID, or a mirror of
its log), with no access to any server: the log (its checkpoint, witness cosignatures, every
tile and entry), the manifest, the trustees' ceremony and the election key,
the roll's commitment and the credentials, every ballot (proofs, signature,
credential, inside the voting window) and which ballot of each credential
counts, the tally recomputed from the counted ballots, every decryption share
and the result. It exits 0 only when everything holds, and otherwise names
each failing check with its entry, tracker and reason.

Give --election with the fingerprint the officer announced: without it, the
record is only checked against its own manifest. With --tracker (as the
receipt shows it), a voter checks that their ballot is in the log (else the
exit status is 1), whether it counts, and its inclusion proof. With --audit, a voter checks the audit record the booth gave for an
encryption they audited instead of casting it (docs/spec.md §21.3): that it
holds exactly the choices it states, under this election's key.`)
	electionF := fs.String("election", "", "the election's fingerprint as announced (64 hex digits)")
	var witnesses keyList
	fs.Var(&witnesses, "witness", "a witness's verifier key (repeatable)")
	quorum := fs.Int("quorum", -1, "how many of the witnesses must have cosigned (default: all given)")
	maxAge := maxAgeFlag(fs)
	previous := fs.String("previous", "", "a checkpoint of this election seen before (a receipt's): the log must extend it")
	tracker := fs.String("tracker", "", "a ballot's tracker, to find it and prove its inclusion")
	audit := fs.String("audit", "", "a booth's audit record (JSON) to check against the election")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	return fs, func(stdout, stderr io.Writer) int {
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "scrutin verify: give the record's folder or URL")
			return exitUsage
		}
		if hint, ok := serverRoot(fs.Arg(0)); ok {
			fmt.Fprintln(stderr, "scrutin verify: "+hint)
			return exitUsage
		}
		o := verify.Options{Witnesses: witnesses, Quorum: *quorum, Fresh: freshnessFor(fs.Arg(0), *maxAge), Tracker: normalTracker(*tracker)}
		if o.Quorum < 0 {
			o.Quorum = len(witnesses)
		}
		if *electionF != "" {
			// As the pages and the letter print it: in groups of four.
			b, err := hex.DecodeString(strings.Join(strings.Fields(*electionF), ""))
			if err != nil || len(b) != 32 {
				fmt.Fprintln(stderr, "scrutin verify: --election must be 64 hexadecimal digits")
				return exitUsage
			}
			f := crypto.Fingerprint(b)
			o.Election = &f
		}
		if *previous != "" {
			b, err := os.ReadFile(*previous)
			if err != nil {
				return fail(stderr, "verify", err)
			}
			o.Previous = b
		}
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) && !*asJSON {
			o.Progress = func(done, total int64) {
				width := 40
				filled := int(int64(width) * done / max(total, 1))
				fmt.Fprintf(stderr, "\r  [%s%s] %d/%d entries", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total)
				if done == total {
					fmt.Fprintln(stderr)
				}
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		rep, err := verify.Record(ctx, mirror.For(logLocation(fs.Arg(0))), o)
		if err != nil {
			return fail(stderr, "verify", err)
		}
		if *asJSON {
			b, _ := json.MarshalIndent(rep, "", "  ")
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			printReport(stdout, rep, *electionF != "")
		}
		auditOK := true
		if *audit != "" {
			auditOK = checkAudit(stdout, rep, *audit)
		}
		// A voter's ballot that is not in the log, or not proven to be, is a
		// failure of the check they asked for, however valid the record.
		trackerOK := rep.Tracker == nil || rep.Tracker.Found && rep.Tracker.Proof
		if !rep.OK || !auditOK || !trackerOK {
			return exitFailure
		}
		return exitOK
	}
}

// checkAudit checks a booth's audit record against the verified record's
// election (spec §21.3) and says what it encrypts.
func checkAudit(w io.Writer, rep *verify.Report, path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(w, "audit record %s: %v\n", path, err)
		return false
	}
	if rep.Manifest == nil || rep.ElectionKey == nil {
		fmt.Fprintf(w, "audit record %s: cannot be checked: the record has no election key (voting never opened)\n", path)
		return false
	}
	f, _ := hex.DecodeString(rep.Fingerprint)
	view := &election.Election{Manifest: rep.Manifest, Fingerprint: crypto.Fingerprint(f), Key: rep.ElectionKey, Eligibility: rep.Eligibility}
	a, err := election.ParseAudit(bytes.TrimSpace(b))
	if err == nil {
		err = view.CheckAudit(a)
	}
	if err != nil {
		fmt.Fprintf(w, "audit record %s: DOES NOT CHECK: %v\n", path, err)
		return false
	}
	fmt.Fprintf(w, "audit record %s: checks. Ballot code %s; the encryption holds:\n", path, a.Code)
	for c, ct := range rep.Manifest.Contests {
		if a.Choices[c] == nil {
			continue
		}
		var names []string
		for _, o := range a.Choices[c] {
			names = append(names, ct.Options[o].Title.In("en"))
		}
		if len(names) == 0 {
			names = []string{"(blank)"}
		}
		fmt.Fprintf(w, "  %s: %s\n", ct.Title.In("en"), strings.Join(names, ", "))
	}
	if !rep.OK {
		fmt.Fprintln(w, "  (but the record itself is INVALID: the election key it gives cannot be trusted)")
	}
	return true
}

func printReport(w io.Writer, rep *verify.Report, announced bool) {
	fmt.Fprintf(w, "election %s\n", rep.Fingerprint)
	if !announced {
		fmt.Fprintln(w, "  (no --election given: checked against the record's own manifest, not against the announced fingerprint)")
	}
	fmt.Fprintf(w, "  %d entries; phase %s; %d voters; %d ballots (%d counted); %d selection proofs verified in %.2fs\n",
		rep.Entries, rep.Phase, rep.Voters, rep.Ballots, rep.Counted, rep.Selections, rep.Seconds)
	if rep.LogKey != "" {
		fmt.Fprintf(w, "  log key (for witnesses): %s\n", rep.LogKey)
	}
	if win := rep.Window; win != nil && rep.Phase != "setup" {
		// spec: §19 the window as the record sets it (§18.7).
		fmt.Fprintf(w, "  voting window: planned end %s", win.Planned)
		for _, x := range win.Extensions {
			fmt.Fprintf(w, "; extended at %s (entry %d) to %s: %q", x.At, x.Entry, x.Closes, x.Reason)
		}
		fmt.Fprintf(w, "; end in force %s\n", win.Ends)
		if win.Closed != "" {
			early := ""
			if win.Early {
				early = ", before the end in force"
			}
			fmt.Fprintf(w, "  closed at %s%s: %q\n", win.Closed, early, win.Reason)
		}
	}
	if rep.Authority != "" {
		// spec: §18.8 the authority checks that the recorded key is its own.
		fmt.Fprintf(w, "  credential authority's key: %s (the authority checks that it is the one its \"credentials generate\" printed)\n", rep.Authority)
	}
	if n := len(rep.Replacements); n > 0 {
		// spec: §18.8 every replacement of a lost credential is public.
		fmt.Fprintf(w, "  %d lost credential(s) replaced by the credential authority:", n)
		for _, r := range rep.Replacements {
			fmt.Fprintf(w, " entry %d (%s)", r.Entry, r.At)
		}
		fmt.Fprintln(w)
	}
	if rep.Result != nil && rep.Manifest != nil {
		printResult(w, rep.Manifest, rep.Result)
	}
	if t := rep.Tracker; t != nil {
		switch {
		case !t.Found:
			fmt.Fprintf(w, "tracker %s: NOT in the log\n", t.Tracker)
		case t.Counted:
			fmt.Fprintf(w, "tracker %s: in the log at entry %d, counted, inclusion proof verified: %v; ballot code %s\n", t.Tracker, t.Index, t.Proof, t.Code)
		case t.Revoked:
			fmt.Fprintf(w, "tracker %s: in the log at entry %d, cast under a credential since replaced (revoked): it does not count; inclusion proof verified: %v; ballot code %s\n", t.Tracker, t.Index, t.Proof, t.Code)
		default:
			fmt.Fprintf(w, "tracker %s: in the log at entry %d, superseded by a later ballot of the same credential (it does not count); inclusion proof verified: %v; ballot code %s\n", t.Tracker, t.Index, t.Proof, t.Code)
		}
	}
	// spec: §19 a record that ends before its result is valid so far.
	switch {
	case rep.OK && rep.Decided:
		fmt.Fprintln(w, "VALID: every check passed")
		return
	case rep.OK:
		fmt.Fprintf(w, "VALID so far: every check passed; the election is not decided yet (phase %s), so there is no result to check\n", rep.Phase)
		return
	}
	fmt.Fprintf(w, "INVALID: %d check(s) failed\n", len(rep.Failures))
	for _, f := range rep.Failures {
		where := ""
		if f.Entry >= 0 {
			where = fmt.Sprintf(" (entry %d", f.Entry)
			if f.Tracker != "" {
				where += ", tracker " + f.Tracker
			}
			where += ")"
		}
		fmt.Fprintf(w, "  - %s%s: %s\n", f.Check, where, f.Reason)
	}
}

// normalTracker is a tracker as typed: as the receipt prints it, in groups of
// four digits separated by spaces, in either case, or dashes.
func normalTracker(t string) string {
	return strings.ToLower(strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, t))
}
