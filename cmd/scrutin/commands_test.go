package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/demo"
)

// TestPrintedCommands (issue 17): every scrutin command the pages of a real
// election print, and every one in the README (code blocks and inline
// code), parses with the command's real flags; those that need no secret
// run against a live server, as printed (placeholders filled in), and
// succeed. A flag that does not exist, or an address that is not an
// election's, fails here.
func TestPrintedCommands(t *testing.T) {
	ctx := context.Background()
	f, err := demo.Setup(ctx, demo.Options{Dir: t.TempDir(), Voters: 4, Workers: 2, NoSignIn: true})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Store.Close()
	base, stop, err := f.Serve("")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := f.Vote(ctx, base); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	eurl := base + "/e/" + f.ID
	fp := hex.EncodeToString(f.F[:])
	var tracker string
	_, ballots := fetch(t, eurl+"/ballots")
	if m := regexp.MustCompile(`/ballots/([0-9a-f]{64})"`).FindStringSubmatch(ballots); m != nil {
		tracker = m[1]
	} else {
		t.Fatal("no tracker on the list of ballots")
	}
	// An audit record, as the booth saves it, in the folder the commands
	// run in.
	cwd := t.TempDir()
	var view *election.Election
	f.Election.State(func(s *election.State) { view, _ = s.Voter() })
	k, _ := election.CredentialKey(f.F, f.Codes[0])
	enc, err := view.Encrypt(nil, k.PublicKey(), f.Choices(0, []int{1}, []int{0}))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := enc.Audit()
	for _, name := range []string{"audit.json", "scrutin-audit.json"} {
		os.WriteFile(filepath.Join(cwd, name), a.JSON(), 0o600)
	}

	type printed struct{ where, line string }
	var cmds []printed
	// The pages, in both languages.
	for _, p := range []string{"/", "/e/" + f.ID + "/", "/e/" + f.ID + "/verify", "/e/" + f.ID + "/audit", "/e/" + f.ID + "/ballots/" + tracker, "/e/" + f.ID + "/results", "/e/" + f.ID + "/board", "/e/" + f.ID + "/vote", "/e/" + f.ID + "/trustee"} {
		for _, lang := range []string{"en", "fr"} {
			_, body := fetch(t, base+p, "Accept-Language", lang)
			for _, c := range pageCommands(body) {
				cmds = append(cmds, printed{p + " (" + lang + ")", c})
			}
		}
	}
	pages := len(cmds)
	if pages < 4 {
		t.Fatalf("only %d commands found on the pages", pages)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range readmeScrutinCommands(string(readme)) {
		cmds = append(cmds, printed{"README", c})
	}
	t.Logf("%d commands on the pages, %d in the README", pages, len(cmds)-pages)

	// Placeholders as the README writes them, filled in for the live
	// election.
	fill := strings.NewReplacer("https://host/e/ID", eurl, "https://vote.example.org/e/ID", eurl, " F ", " "+fp+" ", " T ", " "+tracker+" ", "FILE", "audit.json")
	ran := 0
	for _, c := range cmds {
		args, err := splitCommand(c.line)
		if err != nil || len(args) == 0 || args[0] != "scrutin" {
			t.Errorf("%s: %q is not a command line: %v", c.where, c.line, err)
			continue
		}
		args = args[1:]
		// "scrutin help [command]" and "scrutin GROUP" list commands.
		if len(args) == 1 && isGroup(args[0]) {
			continue // a group of commands, named
		}
		if len(args) > 0 && args[0] == "help" {
			if status := run(args, io.Discard, io.Discard); status != exitOK {
				t.Errorf("%s: %q exits %d", c.where, c.line, status)
			}
			continue
		}
		// Keys are checked as the flags are parsed: a real one for each
		// placeholder.
		for i, a := range args {
			switch a {
			case "KEY", "W1", "W2":
				args[i] = witnessKey(t, a)
			}
			// A witness with its address ("KEY https://…").
			if k, addr, ok := strings.Cut(a, " "); ok && (k == "KEY" || k == "W1" || k == "W2") {
				args[i] = witnessKey(t, k) + " " + addr
			}
		}
		cmd, rest, ok := findCommand(args)
		if !ok {
			t.Errorf("%s: %q: no such scrutin command", c.where, c.line)
			continue
		}
		fs, _ := cmd.setup()
		fs.SetOutput(io.Discard)
		if err := fs.Parse(rest); err != nil {
			t.Errorf("%s: %q: %v", c.where, c.line, err)
			continue
		}
		if fs.NArg() > 0 && !cmd.args {
			t.Errorf("%s: %q: scrutin %s takes no argument, and %q would be refused", c.where, c.line, cmd.name, fs.Arg(0))
			continue
		}
		// Those that read only public data run, as printed, against the
		// live server.
		live := strings.Contains(c.line, eurl) || strings.Contains(c.line, "https://host/e/ID")
		public := cmd.name == "verify" || cmd.name == "trustee status"
		if !live || !public || strings.Contains(c.line, "--ceremony") {
			continue
		}
		filled, _ := splitCommand(fill.Replace(c.line + " "))
		var out bytes.Buffer
		wd, _ := os.Getwd()
		os.Chdir(cwd)
		status := run(filled[1:], &out, &out)
		os.Chdir(wd)
		ran++
		t.Logf("ran %s: exit %d", strings.Join(filled, " "), status)
		if status != exitOK {
			t.Errorf("%s: %q exits %d:\n%s", c.where, strings.Join(filled, " "), status, out.String())
		}
	}
	if ran < 5 {
		t.Errorf("only %d printed commands ran against the server", ran)
	}

	// The server's root address is not an election's: said so, with what
	// to give instead.
	var out bytes.Buffer
	if status := run([]string{"verify", base + "/"}, &out, &out); status == exitOK || !strings.Contains(out.String(), "/e/"+f.ID) {
		t.Errorf("verify on the server's root address: exit %d, %q", status, out.String())
	}
}

// witnessKey is a verifier key named name.
func witnessKey(t *testing.T, name string) string {
	_, vkey, err := note.GenerateKey(nil, name)
	if err != nil {
		t.Fatal(err)
	}
	return vkey
}

func fetch(t *testing.T, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", u, resp.Status)
	}
	return resp, string(b)
}

// pageCommands returns the scrutin command lines a page prints in code.
func pageCommands(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`(?s)<code[^>]*>(.*?)</code>`).FindAllStringSubmatch(body, -1) {
		for _, line := range strings.Split(html.UnescapeString(m[1]), "\n") {
			if line = strings.TrimSpace(line); strings.HasPrefix(line, "scrutin ") {
				out = append(out, line)
			}
		}
	}
	return out
}

// readmeScrutinCommands returns the README's scrutin command lines: in its
// code blocks (comments cut, continued lines joined) and inline code.
func readmeScrutinCommands(readme string) []string {
	var out []string
	in, cont := false, ""
	for _, line := range strings.Split(readme, "\n") {
		if strings.HasPrefix(line, "```") {
			in = !in
			continue
		}
		if !in {
			for _, m := range regexp.MustCompile("`(scrutin [^`]*)`").FindAllStringSubmatch(line, -1) {
				if !strings.Contains(m[1], "…") && !strings.HasSuffix(m[1], "-h") {
					out = append(out, m[1])
				}
			}
			continue
		}
		line = cont + line
		cont = ""
		if strings.HasSuffix(line, "\\") {
			cont = strings.TrimSuffix(line, "\\")
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "scrutin ") {
			out = append(out, line)
		}
	}
	return out
}

// findCommand finds the command that args start with (one or two words).
func findCommand(args []string) (command, []string, bool) {
	if len(args) >= 2 {
		if c, ok := lookup(args[0] + " " + args[1]); ok {
			return c, args[2:], true
		}
	}
	if len(args) >= 1 {
		if c, ok := lookup(args[0]); ok {
			return c, args[1:], true
		}
	}
	return command{}, nil, false
}

// splitCommand splits a command line as a POSIX shell would (quotes, no
// expansion but ~).
func splitCommand(line string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord, quote := false, rune(0)
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, io.ErrUnexpectedEOF
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}
