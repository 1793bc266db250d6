package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/scrutin/scrutin/internal/selftest"
)

func selftestCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("selftest", "[--json] [--ballots N] [--seed S]",
		`Selftest checks that this build of scrutin works on this machine. It plays a
small election: it generates an election key and a credential per voter,
encrypts and signs one ballot per voter (one contest, 3 options, choose
exactly 1), verifies every proof and signature in one batch, checks that a
tampered ballot is caught and named, then decrypts the homomorphic tally and
compares it with the votes cast. It prints the time to encrypt a ballot and to
verify a selection.

Exit status 0 means every check passed; 1 means a check failed, and this build
must not be used for an election.`)
	asJSON := fs.Bool("json", false, "print one JSON object with the figures and \"ok\": true or false, instead of progress lines")
	ballots := fs.Int("ballots", selftest.DefaultBallots, fmt.Sprintf("number of voters, each casting one ballot (%d to %d)", selftest.MinBallots, selftest.MaxBallots))
	seed := fs.Uint64("seed", selftest.DefaultSeed, "seed of the generator that chooses the votes (not the keys or the encryption randomness, which are always fresh)")
	return fs, func(stdout, stderr io.Writer) int {
		if *ballots < selftest.MinBallots || *ballots > selftest.MaxBallots {
			fmt.Fprintf(stderr, "scrutin selftest: --ballots must be between %d and %d, got %d\n", selftest.MinBallots, selftest.MaxBallots, *ballots)
			return exitUsage
		}
		if *seed == 0 {
			fmt.Fprintf(stderr, "scrutin selftest: --seed must not be 0; omit it to use %d\n", selftest.DefaultSeed)
			return exitUsage
		}
		opts := selftest.Options{Ballots: *ballots, Seed: *seed}
		if *asJSON {
			return selftestJSON(opts, stdout, stderr)
		}
		return selftestText(opts, stdout, stderr)
	}
}

func selftestText(opts selftest.Options, stdout, stderr io.Writer) int {
	fmt.Fprintf(stdout, "scrutin %s selftest: checking the cryptographic core with %d ballots (%s, %s/%s, %d CPUs)\n",
		moduleVersion(), opts.Ballots, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	opts.Progress = func(line string) { fmt.Fprintf(stdout, "  %s\n", line) }
	rep, err := selftest.Run(opts)
	if err != nil {
		fmt.Fprintf(stderr, "scrutin selftest: failed to %v\n", err)
		fmt.Fprintf(stderr, "do not use this build for an election; report the output above and of \"scrutin version\" to the scrutin developers\n")
		return exitFailure
	}
	fmt.Fprintf(stdout, "selftest passed: encryption %v per ballot, verification %v per selection, %v in all\n",
		short(rep.EncryptionPerBallot), short(rep.VerificationPerSelection), short(rep.Total))
	return exitOK
}

func selftestJSON(opts selftest.Options, stdout, stderr io.Writer) int {
	rep, err := selftest.Run(opts)
	out := struct {
		Version string `json:"version"`
		Go      string `json:"go"`
		*selftest.Report
	}{moduleVersion(), runtime.Version(), rep}
	if st := writeJSON("selftest", out, stdout, stderr); st != exitOK {
		return st
	}
	if err != nil {
		fmt.Fprintf(stderr, "scrutin selftest: failed to %v; do not use this build for an election\n", err)
		return exitFailure
	}
	return exitOK
}

// short rounds a duration to three significant digits or so, for people.
func short(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	default:
		return d
	}
}
