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
	fs := newFlagSet("demo", "[--voters N] [--elections N] [--dir DIR] [--db URL] [--out DIR] [--serve] [--json]",
		`Demo runs a complete election on this machine, election "demo": a roll of
members (some rows deliberately ineligible, reported in
DIR/elections/demo/roll-report.json), a credential per member
(DIR/elections/demo/credentials.csv, the mail-merge file), a 3-of-5 trustee ceremony,
every member voting over HTTP on loopback (some voting twice: the second
ballot counts), closing, the homomorphic tally, decryption by trustees 1, 3
and 5, and the result, checked against the votes cast. The published record
is written to --out, for "scrutin log check" and the verifier. With
--elections N, the server runs N such elections at once (demo, demo-2, …).`)
	voters := fs.Int("voters", 1000, "members on the roll (all vote)")
	elections := fs.Int("elections", 1, "how many elections the server runs at once")
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
		if *elections < 1 || *elections > 100 {
			fmt.Fprintln(stderr, "scrutin demo: --elections must be between 1 and 100")
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
			if *elections == 1 {
				fmt.Fprintf(stdout, "scrutin demo: an election with %d voters in %s\n", *voters, *dir)
			} else {
				fmt.Fprintf(stdout, "scrutin demo: %d elections with %d voters each in %s\n", *elections, *voters, *dir)
			}
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
		var fixtures []*demo.Fixture
		for i := range *elections {
			o := opts
			o.ID = "demo"
			if i > 0 {
				o.ID, o.Host, o.Seed = fmt.Sprintf("demo-%d", i+1), fixtures[0], opts.Seed+uint64(i)
			}
			if *elections > 1 && !*asJSON {
				fmt.Fprintf(stdout, "election %s:\n", o.ID)
			}
			f, err := demo.Setup(ctx, o)
			if err != nil {
				return fail(stderr, "demo", err)
			}
			defer f.Close()
			fixtures = append(fixtures, f)
		}
		f := fixtures[0]
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
		var summaries []map[string]any
		for _, f := range fixtures {
			if len(fixtures) > 1 && !*asJSON {
				fmt.Fprintf(stdout, "election %s:\n", f.ID)
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
				return fail(stderr, "demo", fmt.Errorf("election %s: THE RESULT IS WRONG: %w", f.ID, err))
			}
			out := *out
			if out != "" && len(fixtures) > 1 {
				out = filepath.Join(out, f.ID)
			}
			if out != "" {
				c, err := f.Election.Publish(ctx, mirror.Dir(out))
				if err != nil {
					return fail(stderr, "demo", err)
				}
				progress("published record (%d entries) written to %s", c.Size, out)
			}
			if *asJSON {
				summaries = append(summaries, map[string]any{
					"id": f.ID, "url": url + "/e/" + f.ID, "fingerprint": fmt.Sprintf("%x", f.F[:]), "log_key": f.LogKey,
					"roll": f.Report, "result": result, "expected": want, "out": out,
				})
				continue
			}
			printResult(stdout, f.Manifest, result)
			if len(fixtures) == 1 {
				fmt.Fprintf(stdout, "the result matches the votes cast; %d voters, %v in all\n", *voters, time.Since(start).Round(time.Millisecond))
			} else {
				fmt.Fprintf(stdout, "the result matches the votes cast; %d voters\n", *voters)
			}
			if *serve {
				fmt.Fprintf(stdout, "election %s: %s/e/%s\n", f.ID, url, f.ID)
			}
			fmt.Fprintf(stdout, "election fingerprint: %x\nlog key: %s\n", f.F[:], f.LogKey)
			if out != "" {
				fmt.Fprintf(stdout, "verify the election yourself: scrutin verify --election %x %s\n", f.F[:], out)
			}
		}
		if *asJSON {
			// One election: its summary, as before; several: a list.
			var v any = summaries
			if len(summaries) == 1 {
				summaries[0]["voters"], summaries[0]["dir"], summaries[0]["seconds"] = *voters, *dir, time.Since(start).Seconds()
				v = summaries[0]
			} else {
				v = map[string]any{"voters": *voters, "dir": *dir, "seconds": time.Since(start).Seconds(), "elections": summaries}
			}
			b, _ := json.MarshalIndent(v, "", "  ")
			fmt.Fprintf(stdout, "%s\n", b)
		} else if len(fixtures) > 1 {
			fmt.Fprintf(stdout, "%d elections in %v in all\n", len(fixtures), time.Since(start).Round(time.Millisecond))
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
