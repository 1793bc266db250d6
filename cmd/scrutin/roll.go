package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/credauth"
	"github.com/scrutin/scrutin/internal/mailer"
	"github.com/scrutin/scrutin/roll"
)

func rollImportCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("roll import", "--csv FILE --map FIELD=COLUMN,… [rules] --out DIR",
		`Import reads the membership roll from a CSV file (with a header row), maps its
columns, applies the eligibility rules, and writes to DIR: roll.json (the
eligible members: personal data, readable only by you), roll-report.json
(every rejected or suspicious row and why), roll-snapshot.json (give it as
--previous next time to see the rows that changed), roll-salt (secret), and
roll.entry: the roll's commitment, to record in the election's log (it holds
no personal data).

Fields for --map: id (required), name, email, phone, status, joined (YYYY-MM-DD),
country, groups (group ids separated by ";" or spaces, for contests whose
manifest restricts them to a group: docs/spec.md §18.3).`)
	csvPath := fs.String("csv", "", "the members CSV file")
	mapping := fs.String("map", "", "FIELD=COLUMN pairs, separated by commas, e.g. id=member_no,email=E-mail")
	statuses := fs.String("status", "", "eligible membership statuses, separated by commas (e.g. active)")
	joinedBefore := fs.String("joined-before", "", "members who joined on or after this date (YYYY-MM-DD) may not vote")
	countries := fs.String("country", "", "allowed countries, separated by commas")
	previous := fs.String("previous", "", "the roll-snapshot.json of the last import")
	out := fs.String("out", "", "folder to write the roll, the report and the entry to")
	return fs, func(stdout, stderr io.Writer) int {
		if *csvPath == "" || *mapping == "" || *out == "" {
			fmt.Fprintln(stderr, "scrutin roll import: --csv, --map and --out are required")
			return exitUsage
		}
		var m roll.Mapping
		for _, pair := range strings.Split(*mapping, ",") {
			k, v, ok := strings.Cut(pair, "=")
			if !ok || m.Set(strings.TrimSpace(k), v) != nil {
				fmt.Fprintf(stderr, "scrutin roll import: %q in --map is not FIELD=COLUMN with a known field (%s)\n", pair, strings.Join(roll.Fields, ", "))
				return exitUsage
			}
		}
		rules := roll.NewRules(*statuses, *joinedBefore, *countries)
		var prev roll.Snapshot
		if *previous != "" {
			b, err := os.ReadFile(*previous)
			if err == nil {
				err = json.Unmarshal(b, &prev)
			}
			if err != nil {
				return fail(stderr, "roll import", fmt.Errorf("the previous snapshot: %w", err))
			}
		}
		f, err := os.Open(*csvPath)
		if err != nil {
			return fail(stderr, "roll import", err)
		}
		defer f.Close()
		r, rep, snap, err := roll.Import(f, m, rules, time.Now(), prev)
		if err != nil {
			return fail(stderr, "roll import", err)
		}
		if err := os.MkdirAll(*out, 0o700); err != nil {
			return fail(stderr, "roll import", err)
		}
		salt, err := os.ReadFile(filepath.Join(*out, "roll-salt"))
		if errors.Is(err, os.ErrNotExist) {
			salt = make([]byte, 32)
			rand.Read(salt)
			err = os.WriteFile(filepath.Join(*out, "roll-salt"), salt, 0o600)
		}
		if err != nil {
			return fail(stderr, "roll import", err)
		}
		entry := (&election.Roll{Commitment: r.Commitment(salt), Voters: len(r.Members)}).Entry()
		for name, v := range map[string]any{"roll.json": r, "roll-report.json": rep, "roll-snapshot.json": snap} {
			b, _ := json.MarshalIndent(v, "", "  ")
			if err := os.WriteFile(filepath.Join(*out, name), append(b, '\n'), 0o600); err != nil {
				return fail(stderr, "roll import", err)
			}
		}
		if err := os.WriteFile(filepath.Join(*out, "roll.entry"), entry, 0o644); err != nil {
			return fail(stderr, "roll import", err)
		}
		fmt.Fprintf(stdout, "%d rows: %d eligible members, %d problems\n", rep.Rows, rep.Eligible, len(rep.Problems))
		for _, p := range rep.Problems {
			what := "suspicious"
			if p.Rejected {
				what = "REJECTED"
			}
			fmt.Fprintf(stdout, "  row %d (member %q): %s: %s\n", p.Row, p.MemberID, what, p.Reason)
		}
		fmt.Fprintf(stdout, "roll commitment written to %s (record it in the election's staff console, /e/ID/console, with roll-report.json)\n", filepath.Join(*out, "roll.entry"))
		return exitOK
	}
}

func readRoll(path string) (*roll.Roll, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r roll.Roll
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil || len(r.Members) == 0 {
		return nil, fmt.Errorf("%s is not a roll written by scrutin roll import: %v", path, err)
	}
	return &r, nil
}

func parseFingerprint(s string) (crypto.Fingerprint, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return crypto.Fingerprint{}, errors.New("the election's fingerprint is 64 hexadecimal digits")
	}
	return crypto.Fingerprint(b), nil
}

func credentialsGenerateCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("credentials generate", "--roll roll.json --manifest manifest.json --out DIR",
		`Generate (for the credential authority, offline) makes a private credential
code for every member of the roll, for the election of the manifest (or of
fingerprint --election F, for a roll without groups), and writes to DIR:
credentials.csv, the mail-merge file (secret: readable only by you; send it
with "scrutin credentials send"); sign-in.csv, the server's sign-in list
(each voter's e-mail address and public credential, for the second factor of
docs/spec.md §20: personal data, give it to the server's operator alone, who
loads it with "scrutin voters import"); credentials-N.entry files: the
public credentials, published in the log; and the credential authority's
signing key, authority.key (secret: keep it with credentials.csv, for
"scrutin credentials replace"), with authority.entry, which publishes its
public half in the log (docs/spec.md §18.8).`)
	rollPath := fs.String("roll", "", "the roll.json written by scrutin roll import")
	manifestPath := fs.String("manifest", "", "the election's manifest (gives its fingerprint and the groups its contests use)")
	electionF := fs.String("election", "", "or: the election's fingerprint (64 hex digits), for a roll without groups")
	out := fs.String("out", "", "output folder")
	return fs, func(stdout, stderr io.Writer) int {
		if *rollPath == "" || (*electionF == "") == (*manifestPath == "") || *out == "" {
			fmt.Fprintln(stderr, "scrutin credentials generate: --roll, --out, and one of --manifest or --election are required")
			return exitUsage
		}
		r, err := readRoll(*rollPath)
		if err != nil {
			return fail(stderr, "credentials generate", err)
		}
		var f crypto.Fingerprint
		var groups []string
		if *manifestPath != "" {
			m, err := readManifest(*manifestPath)
			if err != nil {
				return fail(stderr, "credentials generate", err)
			}
			f, _ = m.Fingerprint()
			groups = m.Groups()
			count := make(map[string]int)
			for _, mb := range r.Members {
				for _, g := range mb.Groups {
					count[g]++
				}
			}
			for _, g := range groups {
				if count[g] == 0 {
					return fail(stderr, "credentials generate", fmt.Errorf("a contest is for group %q, but no member of the roll is in it", g))
				}
				fmt.Fprintf(stdout, "group %s: %d voters\n", g, count[g])
			}
		} else {
			if f, err = parseFingerprint(*electionF); err != nil {
				return fail(stderr, "credentials generate", err)
			}
			for _, mb := range r.Members {
				if len(mb.Groups) > 0 {
					return fail(stderr, "credentials generate", errors.New("the roll has groups: give --manifest, so that the groups its contests use are published"))
				}
			}
		}
		mm := filepath.Join(*out, "credentials.csv")
		if _, err := os.Stat(mm); err == nil {
			return fail(stderr, "credentials generate", fmt.Errorf("%s exists: credentials are generated once (use another folder to start again)", mm))
		}
		issued, err := credauth.Generate(r, f, nil)
		if err != nil {
			return fail(stderr, "credentials generate", err)
		}
		var buf bytes.Buffer
		credauth.MailMerge(&buf, issued)
		if err := os.MkdirAll(*out, 0o700); err != nil {
			return fail(stderr, "credentials generate", err)
		}
		if err := os.WriteFile(mm, buf.Bytes(), 0o600); err != nil {
			return fail(stderr, "credentials generate", err)
		}
		buf.Reset()
		credauth.SignInList(&buf, issued)
		if err := os.WriteFile(filepath.Join(*out, "sign-in.csv"), buf.Bytes(), 0o600); err != nil {
			return fail(stderr, "credentials generate", err)
		}
		entries := credauth.Entries(issued, groups)
		for i, e := range entries {
			if err := os.WriteFile(filepath.Join(*out, fmt.Sprintf("credentials-%d.entry", i+1)), e, 0o644); err != nil {
				return fail(stderr, "credentials generate", err)
			}
		}
		secret, authority, err := credauth.NewAuthority(nil)
		if err != nil {
			return fail(stderr, "credentials generate", err)
		}
		var pub election.Authority
		if err := json.Unmarshal(authority[1:], &pub); err != nil {
			return fail(stderr, "credentials generate", err)
		}
		pubText, _ := pub.Key.MarshalText()
		if err := os.WriteFile(filepath.Join(*out, "authority.key"), secret, 0o600); err != nil {
			return fail(stderr, "credentials generate", err)
		}
		if err := os.WriteFile(filepath.Join(*out, "authority.entry"), authority, 0o644); err != nil {
			return fail(stderr, "credentials generate", err)
		}
		fmt.Fprintf(stdout, "%d credentials: codes in %s (secret), the sign-in list in %s (personal data, for the server), public credentials in %d entry files\n", len(issued), mm, filepath.Join(*out, "sign-in.csv"), len(entries))
		fmt.Fprintf(stdout, "the credential authority's key in %s (secret: keep it with the codes, to replace a lost code), its public half in %s (record it with the credentials)\n", filepath.Join(*out, "authority.key"), filepath.Join(*out, "authority.entry"))
		fmt.Fprintf(stdout, "the credential authority's public key is %s: before voting opens, check that \"scrutin verify\" reports this key, and no other\n", pubText)
		return exitOK
	}
}

func credentialsSendCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("credentials send", "--csv credentials.csv --smtp HOST:PORT --from ADDRESS --manifest manifest.json --url https://host/e/ID [--username U --password-file F] [--tls starttls|none]",
		`Send e-mails every member their voting code, one message each, through
an SMTP server (STARTTLS required, except to a server on this machine). With
--manifest (the one the codes were generated for), the letter gives the
election's title in English and French, the voting window and the election's
fingerprint; with --url, the election's address as its pages print it, it says
where to vote (its booth, https://host/e/ID/vote). --title gives the title
without a manifest. --from may hold the sender's name, "Local 42 Elections
<elections@example.org>": the letter comes from it.`)
	csvPath := fs.String("csv", "", "the mail-merge file written by scrutin credentials generate")
	addr := fs.String("smtp", "", "the SMTP server, host:port")
	from := fs.String("from", "", "the sender, e.g. \"Returning Officer <officer@example.org>\"")
	title := fs.String("title", "", "the election's title, for the letter")
	user := fs.String("username", "", "SMTP user name")
	passFile := fs.String("password-file", "", "file holding the SMTP password")
	tlsMode := fs.String("tls", "starttls", "starttls, or none (only to a server on this machine)")
	electionAddr := fs.String("url", "", "the election's address, https://host/e/ID, for the letter to say where to vote")
	manifestPath := fs.String("manifest", "", "the election's manifest, for the letter's title, voting window and fingerprint")
	replacement := fs.Bool("replacement", false, "send the letter of a replaced code (the letter-N.csv of scrutin credentials replace): it says the old code no longer works")
	return fs, func(stdout, stderr io.Writer) int {
		if *csvPath == "" || *addr == "" || *from == "" || *title == "" && *manifestPath == "" {
			fmt.Fprintln(stderr, "scrutin credentials send: --csv, --smtp, --from and --manifest (or --title) are required")
			return exitUsage
		}
		l := credauth.DefaultLetter
		if *replacement {
			l = credauth.ReplacementLetter
		}
		l.Election = *title
		if *manifestPath != "" {
			m, err := readManifest(*manifestPath)
			if err != nil {
				return fail(stderr, "credentials send", err)
			}
			f, err := m.Fingerprint()
			if err != nil {
				return fail(stderr, "credentials send", err)
			}
			if err := l.FromManifest(m, f); err != nil {
				return fail(stderr, "credentials send", err)
			}
			if *title != "" {
				l.Election, l.ElectionFR = *title, *title
			}
		}
		booth := ""
		if *electionAddr != "" {
			base, id, ok := electionURL(*electionAddr)
			if !ok {
				fmt.Fprintf(stderr, "scrutin credentials send: --url %q is not an election's address, like https://vote.example.org/e/ID\n", *electionAddr)
				return exitUsage
			}
			booth = base + "/e/" + id + "/vote"
		}
		cfg := mailer.Config{Addr: *addr, From: *from, Username: *user, TLS: *tlsMode}
		if *passFile != "" {
			b, err := os.ReadFile(*passFile)
			if err != nil {
				return fail(stderr, "credentials send", err)
			}
			cfg.Password = strings.TrimRight(string(b), "\r\n")
		}
		issued, err := readMailMerge(*csvPath)
		if err != nil {
			return fail(stderr, "credentials send", err)
		}
		l.URL = booth
		n, err := credauth.Send(context.Background(), cfg, l, issued)
		fmt.Fprintf(stdout, "%d of %d credentials sent\n", n, len(issued))
		if err != nil {
			return fail(stderr, "credentials send", err)
		}
		return exitOK
	}
}

func readMailMerge(path string) ([]credauth.Issued, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) < 2 || strings.Join(rows[0], ",") != "member_id,name,email,credential_code" {
		return nil, fmt.Errorf("%s is not a mail-merge file written by scrutin credentials generate", path)
	}
	var out []credauth.Issued
	for _, r := range rows[1:] {
		if len(r) != 4 {
			return nil, fmt.Errorf("%s: a row has %d fields", path, len(r))
		}
		out = append(out, credauth.Issued{Member: roll.Member{ID: r[0], Name: r[1], Email: r[2]}, Code: r[3]})
	}
	return out, nil
}

func credentialsReplaceCommand() (*flag.FlagSet, func(stdout, stderr io.Writer) int) {
	fs := newFlagSet("credentials replace", "--dir DIR --manifest manifest.json --member ID",
		`Replace (for the credential authority, offline) gives one member who lost
their letter a new voting code (docs/spec.md §18.8). DIR is the folder of
"scrutin credentials generate": its credentials.csv and authority.key. It
writes to DIR: replacement-N.entry, signed with the authority's key, which
revokes the member's old public credential and publishes the new one (give
it to the officer, who records it in the console: voting must be open);
letter-N.csv, the member's new letter (secret; send it with "scrutin
credentials send --replacement --csv DIR/letter-N.csv …" once the entry is
recorded); and credentials.csv, updated with the new code. Ballots cast with
the old code, before or after, do not count: the member votes again.`)
	dir := fs.String("dir", "", "the folder of scrutin credentials generate (credentials.csv, authority.key)")
	manifestPath := fs.String("manifest", "", "the election's manifest (gives its fingerprint)")
	member := fs.String("member", "", "the member id of the member who lost their letter, as on the roll")
	return fs, func(stdout, stderr io.Writer) int {
		if *dir == "" || *manifestPath == "" || *member == "" {
			fmt.Fprintln(stderr, "scrutin credentials replace: --dir, --manifest and --member are required")
			return exitUsage
		}
		m, err := readManifest(*manifestPath)
		if err != nil {
			return fail(stderr, "credentials replace", err)
		}
		f, err := m.Fingerprint()
		if err != nil {
			return fail(stderr, "credentials replace", err)
		}
		secret, err := os.ReadFile(filepath.Join(*dir, "authority.key"))
		if err != nil {
			return fail(stderr, "credentials replace", fmt.Errorf("%w (credentials generated before authority keys existed cannot be replaced)", err))
		}
		authority, err := credauth.ParseAuthority(secret)
		if err != nil {
			return fail(stderr, "credentials replace", err)
		}
		mm := filepath.Join(*dir, "credentials.csv")
		issued, err := readMailMerge(mm)
		if err != nil {
			return fail(stderr, "credentials replace", err)
		}
		n := 1
		for ; ; n++ {
			if _, err := os.Stat(filepath.Join(*dir, fmt.Sprintf("replacement-%d.entry", n))); errors.Is(err, os.ErrNotExist) {
				break
			}
		}
		is, entry, err := credauth.Replace(issued, *member, f, authority, nil, time.Now())
		if err != nil {
			return fail(stderr, "credentials replace", err)
		}
		var buf bytes.Buffer
		credauth.MailMerge(&buf, []credauth.Issued{is})
		letter := filepath.Join(*dir, fmt.Sprintf("letter-%d.csv", n))
		if err := os.WriteFile(letter, buf.Bytes(), 0o600); err != nil {
			return fail(stderr, "credentials replace", err)
		}
		out := filepath.Join(*dir, fmt.Sprintf("replacement-%d.entry", n))
		if err := os.WriteFile(out, entry, 0o644); err != nil {
			return fail(stderr, "credentials replace", err)
		}
		buf.Reset()
		credauth.MailMerge(&buf, issued)
		if err := writeFileAtomic(mm, buf.Bytes(), 0o600); err != nil {
			return fail(stderr, "credentials replace", err)
		}
		fmt.Fprintf(stdout, "member %s: a new voting code; the replacement to record in the console: %s; the new letter (secret): %s; %s is updated\n", *member, out, letter, mm)
		return exitOK
	}
}

// writeFileAtomic replaces a file by a new one written beside it.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
