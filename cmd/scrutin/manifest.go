package main

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scrutin/scrutin/board"
	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/demo"
	"github.com/scrutin/scrutin/internal/trustee"
	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

func manifestNewCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("manifest new", "--dir DIR --election ID (--roster roster.json | --ceremony C) --out manifest.json",
		`New (for the officer) starts the manifest of election ID (docs/spec.md §18.3):
it takes the trustees' roster from roster.json (downloaded from the
election's console, where the officer makes it from the identities the
trustees sent) or from the ceremony folder C (made by "scrutin trustee
roster"), the election's log signing key, derived from the server's
master seed DIR/log.key and the id (creating the seed, readable only by you,
if it is missing: "scrutin serve --dir DIR" signs the election's log with the
same key), and writes manifest.json with example contests. Edit the titles,
contests, options and voting window in it, then run "scrutin manifest check".`)
	dir := fs.String("dir", "", "the server's data folder (holds log.key)")
	id := fs.String("election", "", "the election's id (see \"scrutin election new\")")
	ceremony := fs.String("ceremony", "", "the ceremony folder holding roster.json")
	rosterFile := fs.String("roster", "", "the roster file (roster.json, from the console or \"scrutin trustee roster\")")
	out := fs.String("out", "", "the manifest file to write")
	return fs, func(stdout, stderr io.Writer) int {
		if *dir == "" || *id == "" || (*ceremony == "") == (*rosterFile == "") || *out == "" {
			fmt.Fprintln(stderr, "scrutin manifest new: --dir, --election, --out and one of --roster or --ceremony are required")
			return exitUsage
		}
		if err := store.CheckID(*id); err != nil {
			return fail(stderr, "manifest new", err)
		}
		var roster *crypto.Roster
		var err error
		if *rosterFile != "" {
			roster, err = readRoster(*rosterFile)
		} else {
			roster, err = trustee.Ceremony{Dir: *ceremony}.Roster()
		}
		if err != nil {
			return fail(stderr, "manifest new", err)
		}
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return fail(stderr, "manifest new", err)
		}
		keyPath := filepath.Join(*dir, demo.LogKeyFile)
		master, created, err := atrest.LoadOrCreateKey(keyPath)
		if err != nil {
			return fail(stderr, "manifest new", err)
		}
		// A new election's: the legacy election "main" has its manifest.
		seed := server.LogSeed(master, *id, false)
		if _, err := os.Stat(*out); err == nil {
			return fail(stderr, "manifest new", fmt.Errorf("%s exists; edit it, or remove it to start again", *out))
		}
		t := func(en, fr string) election.Text { return election.Text{"en": en, "fr": fr} }
		opens := time.Now().UTC().Add(14 * 24 * time.Hour).Truncate(24 * time.Hour).Add(9 * time.Hour)
		m := &election.Manifest{
			Contests: []election.Contest{
				{ID: "leader", Min: 1, Max: 1, Title: t("Leader", "Direction"), Options: []election.Option{
					{ID: "candidate-1", Title: t("Candidate 1", "Candidat·e 1")},
					{ID: "candidate-2", Title: t("Candidate 2", "Candidat·e 2")},
				}},
				{ID: "motion-1", Min: 0, Max: 1, Title: t("Adopt motion 1?", "Adopter la motion 1 ?"), Options: []election.Option{
					{ID: "yes", Title: t("Yes", "Oui")}, {ID: "no", Title: t("No", "Non")},
				}},
			},
			Description: t("Describe the election here.", "Décrivez l'élection ici."),
			LogKey:      election.Bytes(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)),
			Roster:      *roster,
			Title:       t("Election title", "Titre de l'élection"),
			Window:      election.Window{Opens: opens.Format(election.TimeFormat), Closes: opens.Add(7*24*time.Hour + 9*time.Hour).Format(election.TimeFormat)},
		}
		b, _ := json.MarshalIndent(m, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return fail(stderr, "manifest new", err)
		}
		if created {
			fmt.Fprintf(stdout, "a new log signing key was written to %s (readable only by you; keep it safe)\n", keyPath)
		}
		fmt.Fprintf(stdout, "%s written for election %s with the roster of %q (%d of %d trustees); edit it, then: scrutin manifest check %s\n", *out, *id, roster.Label, roster.Threshold, roster.N(), *out)
		return exitOK
	}
}

func manifestCheckCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("manifest check", "[--entry FILE] manifest.json",
		`Check validates a manifest strictly (docs/spec.md §18.3), says in words what
each contest asks of voters, and prints the election's fingerprint F, which
the officer announces and everyone checks the record against. With --entry it
writes the manifest's log entry (its canonical form). The officer records the
manifest itself (the JSON file) in the staff console, /console.`)
	entryOut := fs.String("entry", "", "write the manifest's log entry to this file")
	return fs, func(stdout, stderr io.Writer) int {
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "scrutin manifest check: give one manifest file")
			return exitUsage
		}
		m, err := readManifest(fs.Arg(0))
		if err != nil {
			return fail(stderr, "manifest check", err)
		}
		entry, _ := m.Entry()
		f, _ := m.Fingerprint()
		fmt.Fprintf(stdout, "%s / %s\n", m.Title["en"], m.Title["fr"])
		fmt.Fprintf(stdout, "voting window: %s to %s\n", m.Window.Opens, m.Window.Closes)
		fmt.Fprintf(stdout, "trustees: any %d of %d (%s)\n", m.Roster.Threshold, m.Roster.N(), m.Roster.Label)
		for i, c := range m.Contests {
			var opts []string
			for _, o := range c.Options {
				opts = append(opts, o.Title["en"])
			}
			fmt.Fprintf(stdout, "contest %d, %s: %s — %s: %s\n", i+1, c.ID, c.Title["en"], c.Rule(), strings.Join(opts, ", "))
		}
		fmt.Fprintf(stdout, "entry sizes: manifest %d bytes, a ballot answering every contest %d bytes (the limit is %d)\n", len(entry), m.MaxBallotSize(), board.MaxEntrySize)
		fmt.Fprintf(stdout, "election fingerprint: %x\n", f[:])
		if *entryOut != "" {
			if err := os.WriteFile(*entryOut, entry, 0o644); err != nil {
				return fail(stderr, "manifest check", err)
			}
			fmt.Fprintf(stdout, "manifest entry written to %s\n", *entryOut)
		}
		return exitOK
	}
}

func readRoster(path string) (*crypto.Roster, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read the roster: %w", err)
	}
	if len(b) > 1<<20 {
		return nil, errors.New("a roster is at most 1 MiB")
	}
	r, err := trustee.ParseRoster(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

func readManifest(path string) (*election.Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > 1<<20 {
		return nil, errors.New("a manifest is at most 1 MiB")
	}
	m, err := election.ParseManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}
