package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

// openDB opens the store of --dir or --db.
func openDB(ctx context.Context, dir, db string) (*store.DB, error) {
	switch {
	case db != "":
		return store.Open(ctx, db)
	case dir != "":
		return store.Open(ctx, dir)
	}
	return nil, errors.New("--dir or --db is required")
}

func electionNewCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("election new", "--dir DIR [--db URL] --id ID [--witness KEY]…",
		`New creates an election with an empty log in the server's store: its id ID
(1 to 32 lowercase letters, digits and hyphens, starting and ending with a
letter or digit) is in every address of the election (/e/ID/…) and never
changes. A running "scrutin serve" serves it at once. Its log key is derived
from the server's master seed and the id ("scrutin manifest new --election
ID" puts it in the manifest). Witnesses are named by their verifier keys, as
"scrutin witness init" or litewitness prints them (a plain Ed25519 note key
or a C2SP cosignature/v1 key): the server keeps their cosignatures of the
election's checkpoints. Given as "KEY URL", with the witness's tlog-witness
address, the server pushes each new checkpoint to the witness (C2SP
add-checkpoint) and keeps its cosignature.`)
	dir := fs.String("dir", "", "the server's data folder")
	db := fs.String("db", "", "PostgreSQL URL instead of SQLite in --dir")
	id := fs.String("id", "", "the election's id")
	var witnesses stringList
	fs.Var(&witnesses, "witness", "a witness: its verifier key, then optionally a space and its tlog-witness address, to push checkpoints to (repeatable)")
	return fs, func(stdout, stderr io.Writer) int {
		if *id == "" {
			fmt.Fprintln(stderr, "scrutin election new: --id is required")
			return exitUsage
		}
		if err := store.CheckID(*id); err != nil {
			return fail(stderr, "election new", err)
		}
		for _, w := range witnesses {
			if _, err := server.ParseWitness(w); err != nil {
				return fail(stderr, "election new", fmt.Errorf("--witness %q: %w", w, err))
			}
		}
		ctx := context.Background()
		st, err := openDB(ctx, *dir, *db)
		if err != nil {
			return fail(stderr, "election new", err)
		}
		defer st.Close()
		if err := st.Create(ctx, *id, witnesses); errors.Is(err, store.ErrExists) {
			return fail(stderr, "election new", fmt.Errorf("an election %q exists already: choose another id", *id))
		} else if err != nil {
			return fail(stderr, "election new", err)
		}
		fmt.Fprintf(stdout, "election %s created (%d witnesses); its addresses are /e/%s/ on the server\n", *id, len(witnesses), *id)
		return exitOK
	}
}

func electionWitnessesCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("election witnesses", "--dir DIR [--db URL] --id ID [--witness KEY]…",
		`Witnesses replaces the witnesses of election ID (none: it keeps no
cosignature) by those given, as for "scrutin election new": a verifier key,
optionally followed by a space and the witness's tlog-witness address.
An election of a folder made before elections had ids ("main") starts with
none: give it the witnesses its server was started with (the --witness flags
of an older "scrutin serve"). A running "scrutin serve" takes the change at its
next start.`)
	dir := fs.String("dir", "", "the server's data folder")
	db := fs.String("db", "", "PostgreSQL URL instead of SQLite in --dir")
	id := fs.String("id", "", "the election's id")
	var witnesses stringList
	fs.Var(&witnesses, "witness", "a witness: its verifier key, then optionally a space and its tlog-witness address, to push checkpoints to (repeatable)")
	return fs, func(stdout, stderr io.Writer) int {
		if *id == "" {
			fmt.Fprintln(stderr, "scrutin election witnesses: --id is required")
			return exitUsage
		}
		for _, w := range witnesses {
			if _, err := server.ParseWitness(w); err != nil {
				return fail(stderr, "election witnesses", fmt.Errorf("--witness %q: %w", w, err))
			}
		}
		ctx := context.Background()
		st, err := openDB(ctx, *dir, *db)
		if err != nil {
			return fail(stderr, "election witnesses", err)
		}
		defer st.Close()
		if err := st.SetWitnesses(ctx, *id, witnesses); errors.Is(err, store.ErrNoElection) {
			return fail(stderr, "election witnesses", fmt.Errorf("no election %q", *id))
		} else if err != nil {
			return fail(stderr, "election witnesses", err)
		}
		fmt.Fprintf(stdout, "election %s: %d witnesses (restart \"scrutin serve\" to use them)\n", *id, len(witnesses))
		return exitOK
	}
}

func electionListCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("election list", "--dir DIR [--db URL]",
		`List prints the elections of the server's store, oldest first: id, creation
date, phase (as of the server's last summary: "?" if it has not seen the
latest entries), log entries, and the title.`)
	dir := fs.String("dir", "", "the server's data folder")
	db := fs.String("db", "", "PostgreSQL URL instead of SQLite in --dir")
	return fs, func(stdout, stderr io.Writer) int {
		ctx := context.Background()
		st, err := openDB(ctx, *dir, *db)
		if err != nil {
			return fail(stderr, "election list", err)
		}
		defer st.Close()
		infos, err := st.Elections(ctx)
		if err != nil {
			return fail(stderr, "election list", err)
		}
		if len(infos) == 0 {
			fmt.Fprintln(stdout, "no election yet: create one with \"scrutin election new\"")
			return exitOK
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tPHASE\tENTRIES\tWITNESSES\tTITLE")
		for _, in := range infos {
			phase, title := "?", ""
			if s, ok := server.SummaryOf(in); ok {
				phase, title = s.Phase.String(), s.Title["en"]
			} else if in.Size == 0 {
				phase = election.PhaseEmpty.String()
			}
			id := in.ID
			if in.Legacy {
				id += " (legacy)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", id, in.Created.UTC().Format(time.DateOnly), phase, in.Size, len(in.Witnesses), title)
		}
		tw.Flush()
		return exitOK
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }
