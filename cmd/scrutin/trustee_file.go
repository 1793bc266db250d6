package main

// A keystore folder to and from one keystore file (docs/spec.md §13.5):
// the trustee page in the browser keeps a trustee's identity and shares in
// one file, the command line in a folder; these two commands let a trustee
// switch between the two at any step.

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/scrutin/scrutin/internal/atrest"
	"github.com/scrutin/scrutin/internal/trustee"
)

func trusteePackCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee pack", "[--dir KEYSTORE] --out FILE",
		`Pack puts the trustee's keystore folder (its identity and its shares) into one
keystore file, encrypted under the same passphrase: the file the trustee page
of an election (https://host/e/ID/trustee) asks for. Use it to go on in the
browser after starting on the command line. The file is as secret as the
folder: keep it as safely, and delete copies you no longer need.`)
	var t trusteeFlags
	t.keystore(fs)
	out := fs.String("out", "", "the keystore file to write (it must not exist)")
	wf := fs.Int("work-factor", trustee.DefaultWorkFactor, "scrypt work factor (log2 N) protecting the file; lower only for tests")
	return fs, func(stdout, stderr io.Writer) int {
		if *out == "" {
			fmt.Fprintln(stderr, "scrutin trustee pack: --out is required")
			return exitUsage
		}
		if _, err := os.Stat(*out); err == nil {
			return fail(stderr, "trustee pack", fmt.Errorf("%s %w: give another file name", *out, trustee.ErrExists))
		}
		pass, err := t.passphrase(stderr, false)
		if err != nil {
			return fail(stderr, "trustee pack", err)
		}
		kf, err := trustee.Keystore{Dir: t.dir}.Pack(pass)
		if err != nil {
			return fail(stderr, "trustee pack", err)
		}
		sealed, err := kf.Seal(pass, *wf)
		if err != nil {
			return fail(stderr, "trustee pack", err)
		}
		if err := atrest.WriteFile(*out, sealed, 0o600); err != nil {
			return fail(stderr, "trustee pack", err)
		}
		fmt.Fprintf(stdout, "wrote the keystore of %s (its identity and %d share(s)) into %s, under the same passphrase\nload it on the trustee page of the election (https://host/e/ID/trustee)\n", kf.Name(), kf.Shares(), *out)
		return exitOK
	}
}

func trusteeUnpackCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("trustee unpack", "[--dir KEYSTORE] FILE",
		`Unpack makes a keystore folder from a keystore file saved by the trustee page
in the browser (its identity and its shares, under the same passphrase), so
that the trustee goes on with the scrutin trustee commands. Unpacking into a
folder that already holds the same identity adds the shares it lacks; a
folder of another identity is refused.`)
	var t trusteeFlags
	t.keystore(fs)
	wf := fs.Int("work-factor", trustee.DefaultWorkFactor, "scrypt work factor (log2 N) protecting the folder's files; lower only for tests")
	return fs, func(stdout, stderr io.Writer) int {
		if fs.NArg() != 1 {
			fmt.Fprintln(stderr, "scrutin trustee unpack: give one keystore file")
			return exitUsage
		}
		data, err := readKeystoreFile(fs.Arg(0))
		if err != nil {
			return fail(stderr, "trustee unpack", err)
		}
		pass, err := t.passphrase(stderr, false)
		if err != nil {
			return fail(stderr, "trustee unpack", err)
		}
		kf, err := trustee.OpenKeystoreFile(data, pass)
		if errors.Is(err, trustee.ErrBadPassphrase) {
			return fail(stderr, "trustee unpack", fmt.Errorf("%s: wrong passphrase (the one chosen when the identity was made)", fs.Arg(0)))
		}
		if err != nil {
			return fail(stderr, "trustee unpack", fmt.Errorf("%s: %w", fs.Arg(0), err))
		}
		if err := (trustee.Keystore{Dir: t.dir, WorkFactor: *wf}).Unpack(kf, pass); err != nil {
			return fail(stderr, "trustee unpack", err)
		}
		fmt.Fprintf(stdout, "made the keystore of %s (its identity and %d share(s)) in %s\ngo on with scrutin trustee deal|check|finish|decrypt --election https://host/e/ID --dir %s\n", kf.Name(), kf.Shares(), t.dir, t.dir)
		return exitOK
	}
}

func readKeystoreFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, trustee.MaxKeystoreFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > trustee.MaxKeystoreFile {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a keystore file", path, trustee.MaxKeystoreFile)
	}
	return data, nil
}
