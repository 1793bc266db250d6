// Command scrutin runs end-to-end verifiable online ballots.
//
// Usage:
//
//	scrutin <command> [flags]
//
// The commands are:
//
//	demo              run a complete election on this machine, end to end
//	serve             run the casting API of a stored election
//	doctor            (server operator) check a server before an election opens
//	backup            (server operator) copy the store and the keys while the server runs
//	restore           (server operator) put a backup back, with the server stopped
//	load              cast pre-encrypted ballots at a chosen rate and report latencies
//	manifest new      (officer) start an election's manifest from the trustees' roster
//	manifest check    (officer, anyone) validate a manifest, explain it, print its fingerprint
//	roll import       (officer) import the membership roll from CSV, with rules and a report
//	credentials …     (credential authority) generate credentials; e-mail them; replace a lost one
//	voters import     (server operator) keep the voters' sign-in list, encrypted
//	voters erase      (server operator) erase the voters' sign-in list after the election
//	selftest          check that the cryptographic core works on this machine
//	trustee init      create a trustee's identity, encrypted under a passphrase
//	trustee roster    (officer) assemble the trustees' identities into a roster
//	trustee deal      ceremony round 1: deal shares of a fresh secret
//	trustee check     ceremony round 2: check the shares received, complain
//	trustee finish    ceremony round 3: compute and store the share, confirm
//	trustee status    (anyone) replay a ceremony and show its outcome
//	trustee decrypt   produce decryption shares of a tally
//	trustee combine   (anyone) verify decryption shares and decrypt a tally
//	trustee post      send ceremony messages or decryption shares to the election
//	trustee export    copy an election's roster, ceremony and tally into a folder
//	trustee pack      put a keystore folder into one keystore file, for the trustee page
//	trustee unpack    make a keystore folder from a keystore file saved by the trustee page
//	witness init      create a witness's signing key
//	witness run       follow a published log, cosign consistent checkpoints, refuse forks
//	witness serve     cosign the checkpoints logs push (C2SP tlog-witness), refuse forks
//	log check         (anyone) read a published log and check all of it
//	verify            (anyone) check a published election record, or a voter's tracker
//	version           print the version of scrutin and of Go
//	help              print this help, or a command's flags
//
// This package only parses flags and prints: the work is done by library
// packages (internal/selftest, internal/trustee, crypto).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// command is one subcommand.
type command struct {
	name    string
	summary string
	// args says the command takes positional arguments (fs.Args()).
	args bool
	// setup defines the command's flags on a new flag set and returns the
	// function that runs it, once the flags are parsed, and returns the
	// exit status.
	setup func() (*flag.FlagSet, func(stdout, stderr io.Writer) int)
}

func commands() []command {
	return []command{
		{"demo", "run a complete election on this machine, end to end", false, demoCommand},
		{"serve", "serve every election of a store: web pages, casting API, published logs", false, serveCommand},
		{"doctor", "(server operator) check a server before an election opens: clock, HTTPS, mail, database, disk, witnesses, file modes", false, doctorCommand},
		{"election new", "(server operator) create an election, with its id", false, electionNewCommand},
		{"election list", "(server operator) list the elections of a store", false, electionListCommand},
		{"election witnesses", "(server operator) set the witnesses of an election", false, electionWitnessesCommand},
		{"backup", "(server operator) copy the store and the keys while the server runs", false, backupCommand},
		{"restore", "(server operator) put a backup back, with the server stopped", false, restoreCommand},
		{"load", "cast pre-encrypted ballots at a chosen rate and report latencies", false, loadCommand},
		{"manifest new", "(officer) start an election's manifest from the trustees' roster", false, manifestNewCommand},
		{"manifest check", "(officer, anyone) validate a manifest, explain it, print its fingerprint", true, manifestCheckCommand},
		{"roll import", "(officer) import the membership roll from CSV, with eligibility rules and a report", false, rollImportCommand},
		{"credentials generate", "(credential authority) make a credential per member, offline", false, credentialsGenerateCommand},
		{"credentials send", "(credential authority) e-mail each member their voting code", false, credentialsSendCommand},
		{"credentials replace", "(credential authority) replace one member's lost voting code", false, credentialsReplaceCommand},
		{"voters import", "(server operator) keep the voters' sign-in list, encrypted", true, votersImportCommand},
		{"voters erase", "(server operator) erase the voters' sign-in list after the election", false, votersEraseCommand},
		{"selftest", "check that the cryptographic core works on this machine", false, selftestCommand},
		{"trustee init", "create a trustee's identity, encrypted under a passphrase", false, trusteeInitCommand},
		{"trustee roster", "(officer) assemble the trustees' identities into a roster", true, trusteeRosterCommand},
		{"trustee deal", "ceremony round 1: deal shares of a fresh secret", false, trusteeDealCommand},
		{"trustee check", "ceremony round 2: check the shares received, complain", false, trusteeCheckCommand},
		{"trustee finish", "ceremony round 3: compute and store the share, confirm", false, trusteeFinishCommand},
		{"trustee status", "(anyone) replay a ceremony and show its outcome", false, trusteeStatusCommand},
		{"trustee decrypt", "produce decryption shares of a tally", false, trusteeDecryptCommand},
		{"trustee combine", "(anyone) verify decryption shares and decrypt a tally", true, trusteeCombineCommand},
		{"trustee post", "send ceremony messages or decryption shares to the election's server", true, trusteePostCommand},
		{"trustee export", "(for an air-gapped trustee) copy an election's roster, ceremony and tally into a folder", true, trusteeExportCommand},
		{"trustee pack", "put a keystore folder into one keystore file, for the trustee page in the browser", false, trusteePackCommand},
		{"trustee unpack", "make a keystore folder from a keystore file saved by the trustee page", true, trusteeUnpackCommand},
		{"witness init", "create a witness's signing key", false, witnessInitCommand},
		{"witness run", "follow a published log, cosign consistent checkpoints, refuse forks", false, witnessRunCommand},
		{"witness serve", "cosign the checkpoints logs push (C2SP tlog-witness), refuse forks", false, witnessServeCommand},
		{"log check", "(anyone) read a published log and check all of it", false, logCheckCommand},
		{"verify", "(anyone) check a published election record, or a voter's tracker", true, verifyCommand},
		{"version", "print the version of scrutin and of Go", false, versionCommand},
	}
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and something failed
	exitUsage   = 2 // the command line is wrong
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args (without the program name) and returns the
// exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stdout)
		return exitOK
	}
	name, args := args[0], args[1:]
	if isGroup(name) {
		if len(args) == 0 || strings.HasPrefix(args[0], "-") {
			// "scrutin election" or "scrutin election -h": the group's
			// commands.
			if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
				groupUsage(stdout, name)
				return exitOK
			}
			fmt.Fprintf(stderr, "scrutin %s: give one of its commands:\n\n", name)
			groupUsage(stderr, name)
			return exitUsage
		}
		name, args = name+" "+args[0], args[1:]
	}
	switch name {
	case "help", "-h", "-help", "--help":
		return help(args, stdout, stderr)
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(stderr, "scrutin: unknown command %q; the commands are listed below\n\n", name)
		usage(stderr)
		return exitUsage
	}
	fs, runCmd := cmd.setup()
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		// The flag package has printed the error and the usage.
		return exitUsage
	}
	if fs.NArg() > 0 && !cmd.args {
		fmt.Fprintf(stderr, "scrutin %s: unexpected argument %q; run \"scrutin help %s\" for its flags\n", name, fs.Arg(0), name)
		return exitUsage
	}
	return runCmd(stdout, stderr)
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// help prints the general usage, or a command's.
func help(args []string, stdout, stderr io.Writer) int {
	switch len(args) {
	case 0:
		usage(stdout)
		return exitOK
	case 1, 2:
		if len(args) == 1 && isGroup(args[0]) {
			groupUsage(stdout, args[0])
			return exitOK
		}
		cmd, ok := lookup(strings.Join(args, " "))
		if !ok {
			fmt.Fprintf(stderr, "scrutin help: unknown command %q; run \"scrutin help\" to list the commands\n", args[0])
			return exitUsage
		}
		fs, _ := cmd.setup()
		fs.SetOutput(stdout)
		fs.Usage()
		return exitOK
	default:
		fmt.Fprintf(stderr, "scrutin help: too many arguments; run \"scrutin help <command>\" for one command\n")
		return exitUsage
	}
}

// isGroup says whether name is the first word of two-word commands
// ("election new").
func isGroup(name string) bool {
	for _, c := range commands() {
		if strings.HasPrefix(c.name, name+" ") {
			return true
		}
	}
	return false
}

// groupUsage lists the commands of group name.
func groupUsage(w io.Writer, name string) {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage:\n\n\tscrutin %s <command> [flags]\n\nThe commands are:\n\n", name)
	for _, c := range commands() {
		if strings.HasPrefix(c.name, name+" ") {
			fmt.Fprintf(&b, "\t%-21s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintf(&b, "\nRun \"scrutin help %s <command>\" for a command's flags.\n", name)
	io.WriteString(w, b.String())
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("scrutin: end-to-end verifiable online ballots\n\n")
	b.WriteString("Usage:\n\n\tscrutin <command> [flags]\n\nThe commands are:\n\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "\t%-21s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(&b, "\t%-21s %s\n", "help", "print this help, or a command's flags")
	b.WriteString("\nRun \"scrutin help <command>\" for a command's flags.\n")
	io.WriteString(w, b.String())
}

// newFlagSet returns a flag set whose usage names the command and describes
// it.
func newFlagSet(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet("scrutin "+name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: scrutin %s %s\n\n%s\n", name, synopsis, description)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(w, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}
