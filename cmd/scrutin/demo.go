package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/dirlock"
	"github.com/scrutin/scrutin/internal/mirror"
)

func demoCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("demo", "[--voters N] [--dir DIR] [--db URL] [--out DIR] [--serve] [--json]",
		`Demo runs a complete election on this machine: a roll of members (some rows
deliberately ineligible, reported in DIR/roll-report.json), a credential per
member (DIR/credentials.csv, the mail-merge file), a 3-of-5 trustee ceremony,
every member voting over HTTP on loopback (some voting twice: the second
ballot counts), closing, the homomorphic tally, decryption by trustees 1, 3
and 5, and the result, checked against the votes cast. The published record
is written to --out, for "scrutin log check" and the verifier.`)
	voters := fs.Int("voters", 1000, "members on the roll (all vote)")
	dir := fs.String("dir", "", "data folder (default: a new temporary folder)")
	db := fs.String("db", "", "a PostgreSQL URL to use instead of SQLite in --dir (the database must be empty)")
	out := fs.String("out", "", "write the published record (checkpoint and tiles) to this folder")
	serve := fs.Bool("serve", false, "keep the server running after the election, until interrupted")
	addr := fs.String("addr", "127.0.0.1:0", "address of the HTTP server (loopback)")
	revote := fs.Float64("revote", 0.1, "the share of voters who vote twice")
	asJSON := fs.Bool("json", false, "print a JSON summary instead of progress lines")
	noVote := fs.Bool("no-vote", false, "stop once voting is open (for \"scrutin serve\" and \"scrutin load\" on DIR)")
	return fs, func(stdout, stderr io.Writer) int {
		if *voters < 1 || *voters > 1_000_000 {
			fmt.Fprintln(stderr, "scrutin demo: --voters must be between 1 and 1,000,000")
			return exitUsage
		}
		if *dir == "" {
			d, err := os.MkdirTemp("", "scrutin-demo-")
			if err != nil {
				return fail(stderr, "demo", err)
			}
			*dir = d
		} else if err := os.MkdirAll(*dir, 0o700); err != nil {
			return fail(stderr, "demo", err)
		}
		l, err := dirlock.TryLock(*dir)
		if err != nil {
			return fail(stderr, "demo", fmt.Errorf("%w: is a \"scrutin serve\" or another demo running on %s?", err, *dir))
		}
		defer l.Unlock()
		progress := func(format string, args ...any) {
			if !*asJSON {
				fmt.Fprintf(stdout, "  "+format+"\n", args...)
			}
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		start := time.Now()
		if !*asJSON {
			fmt.Fprintf(stdout, "scrutin demo: an election with %d voters in %s\n", *voters, *dir)
		}
		opts := demo.Options{Dir: *dir, DB: *db, Voters: *voters, Revote: *revote, Workers: 32, Seed: uint64(time.Now().UnixNano()), Progress: progress}
		if *serve {
			// The demo has no mail server: a person signing in to vote
			// reads the codes here.
			ob, err := os.OpenFile(filepath.Join(*dir, "outbox.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
			if err != nil {
				return fail(stderr, "demo", err)
			}
			defer ob.Close()
			opts.Outbox = ob
		}
		f, err := demo.Setup(ctx, opts)
		if err != nil {
			return fail(stderr, "demo", err)
		}
		defer f.Store.Close()
		url, stopServer, err := f.Serve(*addr)
		if err != nil {
			return fail(stderr, "demo", err)
		}
		defer stopServer()
		progress("server listening on %s", url)
		if *noVote {
			fmt.Fprintf(stdout, "voting is open in %s; serve it with: scrutin serve --dir %s --smtp HOST:PORT --smtp-from ADDRESS (or --sign-in off for scrutin load)\n", *dir, *dir)
			return exitOK
		}
		want, err := f.Vote(ctx, url)
		if err != nil {
			return fail(stderr, "demo", err)
		}
		result, err := f.Finish(ctx)
		if err != nil {
			return fail(stderr, "demo", err)
		}
		if err := demo.Check(result, want); err != nil {
			return fail(stderr, "demo", fmt.Errorf("THE RESULT IS WRONG: %w", err))
		}
		if *out != "" {
			c, err := f.Election.Publish(ctx, mirror.Dir(*out))
			if err != nil {
				return fail(stderr, "demo", err)
			}
			progress("published record (%d entries) written to %s", c.Size, *out)
		}
		if *asJSON {
			b, _ := json.MarshalIndent(map[string]any{
				"voters": *voters, "dir": *dir, "fingerprint": fmt.Sprintf("%x", f.F[:]), "log_key": f.LogKey,
				"roll": f.Report, "result": result, "expected": want, "seconds": time.Since(start).Seconds(), "out": *out,
			}, "", "  ")
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			printResult(stdout, f.Manifest, result)
			fmt.Fprintf(stdout, "the result matches the votes cast; %d voters, %v in all\n", *voters, time.Since(start).Round(time.Millisecond))
			fmt.Fprintf(stdout, "election fingerprint: %x\nlog key: %s\n", f.F[:], f.LogKey)
			if *out != "" {
				fmt.Fprintf(stdout, "verify the election yourself: scrutin verify --election %x %s\n", f.F[:], *out)
			}
		}
		if *serve {
			fmt.Fprintf(stdout, "serving %s until interrupted (Ctrl-C); voters' sign-in codes are written to %s\n", url, filepath.Join(*dir, "outbox.txt"))
			<-ctx.Done()
		}
		return exitOK
	}
}

func printResult(w io.Writer, m *election.Manifest, r *election.Result) {
	for c, ct := range m.Contests {
		fmt.Fprintf(w, "%s:\n", ct.Title["en"])
		for o, opt := range ct.Options {
			mark := ""
			for _, win := range r.Contests[c].Winners {
				if win == opt.ID {
					mark = "  ← winner"
				}
			}
			fmt.Fprintf(w, "  %-20s %8d%s\n", opt.Title["en"], r.Contests[c].Counts[o], mark)
		}
	}
}
