package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/scrutin/scrutin/server"
)

func votersImportCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("voters import", "--dir DIR sign-in.csv",
		`Import keeps the voters' sign-in list (sign-in.csv, from "scrutin credentials
generate") in the server's data folder, encrypted under a key of its own
(DIR/voters.key, readable only by you), replacing any earlier list. "scrutin
serve" uses it to send one-time codes and to check that a ballot's credential
belongs to the member who signed in (docs/spec.md §20). Delete sign-in.csv
afterwards.`)
	dir := fs.String("dir", "", "the server's data folder")
	return fs, func(stdout, stderr io.Writer) int {
		if *dir == "" || fs.NArg() != 1 {
			fmt.Fprintln(stderr, "scrutin voters import: --dir and one sign-in list are required")
			return exitUsage
		}
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fail(stderr, "voters import", err)
		}
		defer f.Close()
		n, err := server.ImportSignInList(*dir, f)
		if err != nil {
			return fail(stderr, "voters import", err)
		}
		fmt.Fprintf(stdout, "%d voters' addresses and credentials sealed in %s/%s\n", n, *dir, server.SignInListFile)
		return exitOK
	}
}

func votersEraseCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("voters erase", "--dir DIR",
		`Erase deletes the voters' sign-in list and its key from the server's data
folder, once the election is over: the addresses of who voted are then gone,
from backups too (they cannot be opened without the key). The public record
is untouched.`)
	dir := fs.String("dir", "", "the server's data folder")
	return fs, func(stdout, stderr io.Writer) int {
		if *dir == "" {
			fmt.Fprintln(stderr, "scrutin voters erase: --dir is required")
			return exitUsage
		}
		if err := server.EraseSignInList(*dir); err != nil {
			return fail(stderr, "voters erase", err)
		}
		fmt.Fprintf(stdout, "the sign-in list and its key are erased from %s\n", *dir)
		return exitOK
	}
}
