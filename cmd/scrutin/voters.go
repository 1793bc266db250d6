package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/scrutin/scrutin/server"
	"github.com/scrutin/scrutin/store"
)

func votersImportCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("voters import", "--dir DIR --election ID sign-in.csv",
		`Import keeps the voters' sign-in list of election ID (sign-in.csv, from
"scrutin credentials generate") in the server's data folder, encrypted under a
key of its own (DIR/elections/ID/voters.key, readable only by you), replacing
any earlier list. "scrutin serve" uses it to send one-time codes and to check
that a ballot's credential belongs to the member who signed in (docs/spec.md
§20); restart it to use a new list. Delete sign-in.csv afterwards.`)
	dir := fs.String("dir", "", "the server's data folder")
	id := fs.String("election", "", "the election's id")
	return fs, func(stdout, stderr io.Writer) int {
		if *dir == "" || *id == "" || fs.NArg() != 1 {
			fmt.Fprintln(stderr, "scrutin voters import: --dir, --election and one sign-in list are required")
			return exitUsage
		}
		edir, err := electionDir(*dir, *id)
		if err != nil {
			return fail(stderr, "voters import", err)
		}
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fail(stderr, "voters import", err)
		}
		defer f.Close()
		n, err := server.ImportSignInList(edir, f)
		if err != nil {
			return fail(stderr, "voters import", err)
		}
		fmt.Fprintf(stdout, "%d voters' addresses and credentials sealed in %s\n", n, filepath.Join(edir, server.SignInListFile))
		fmt.Fprintln(stdout, "a \"scrutin serve\" already running on this folder reads it when it next starts: restart it")
		return exitOK
	}
}

func votersEraseCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("voters erase", "--dir DIR --election ID",
		`Erase deletes the voters' sign-in list of election ID and its key from the
server's data folder, once the election is over: the addresses of who voted
are then gone, from backups too (they cannot be opened without the key). The
public record is untouched.`)
	dir := fs.String("dir", "", "the server's data folder")
	id := fs.String("election", "", "the election's id")
	return fs, func(stdout, stderr io.Writer) int {
		if *dir == "" || *id == "" {
			fmt.Fprintln(stderr, "scrutin voters erase: --dir and --election are required")
			return exitUsage
		}
		edir, err := electionDir(*dir, *id)
		if err != nil {
			return fail(stderr, "voters erase", err)
		}
		if err := server.EraseSignInList(edir); err != nil {
			return fail(stderr, "voters erase", err)
		}
		fmt.Fprintf(stdout, "the sign-in list of election %s and its key are erased from %s\n", *id, edir)
		fmt.Fprintln(stdout, "a \"scrutin serve\" still running on this folder keeps the list in memory until it stops: restart it")
		return exitOK
	}
}

// electionDir is the folder of election id's files in the data folder dir
// (made if missing), once the files of a single-election folder have moved
// to election "main"'s.
func electionDir(dir, id string) (string, error) {
	if err := store.CheckID(id); err != nil {
		return "", err
	}
	// The checkpoint file is left for "scrutin serve", which knows where
	// it keeps them (--checkpoint-dir).
	if err := server.MoveLegacyFiles(dir, ""); err != nil {
		return "", err
	}
	edir := server.ElectionDir(dir, id)
	return edir, os.MkdirAll(edir, 0o700)
}
