// Package credauth is the credential authority's work, done offline on its
// own computer (docs/spec.md §18.4): a private credential code for every
// member of the frozen roll, written as a mail-merge file and sent by
// e-mail through a real SMTP server, and the list of public credentials,
// the only part the election's server and log receive.
package credauth

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
	"github.com/scrutin/scrutin/internal/mailer"
	"github.com/scrutin/scrutin/roll"
)

// Issued is one member's credential.
type Issued struct {
	Member roll.Member
	Code   string
	Public *crypto.PublicKey
}

// Generate makes a fresh code for every member of the roll, for the
// election with fingerprint f.
func Generate(r *roll.Roll, f crypto.Fingerprint, rnd io.Reader) ([]Issued, error) {
	out := make([]Issued, 0, len(r.Members))
	for _, m := range r.Members {
		code, err := election.NewCode(rnd)
		if err != nil {
			return nil, err
		}
		k, err := election.CredentialKey(f, code)
		if err != nil {
			return nil, err
		}
		out = append(out, Issued{Member: m, Code: code, Public: k.PublicKey()})
	}
	return out, nil
}

// MailMerge writes the private codes as CSV: member_id, name, email,
// credential_code. It is secret: whoever holds it can vote for everyone.
func MailMerge(w io.Writer, issued []Issued) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"member_id", "name", "email", "credential_code"})
	for _, is := range issued {
		cw.Write([]string{is.Member.ID, is.Member.Name, is.Member.Email, is.Code})
	}
	cw.Flush()
	return cw.Error()
}

// Entries returns the credentials entries (spec §18.4) of the public
// credentials, in batches of members of the same groups, keeping only the
// groups that the manifest's contests use (Manifest.Groups). They follow
// the roll's order within a group set, which reveals nothing: the roll's
// order is not published and the codes are random.
func Entries(issued []Issued, used []string) [][]byte {
	var sets []string
	bySet := make(map[string][]*crypto.PublicKey)
	for _, is := range issued {
		var mine []string
		for _, g := range is.Member.Groups {
			if slices.Contains(used, g) {
				mine = append(mine, g)
			}
		}
		slices.Sort(mine)
		set := strings.Join(mine, ";")
		if _, ok := bySet[set]; !ok {
			sets = append(sets, set)
		}
		bySet[set] = append(bySet[set], is.Public)
	}
	slices.Sort(sets)
	var out [][]byte
	for _, set := range sets {
		keys := bySet[set]
		var groups []string
		if set != "" {
			groups = strings.Split(set, ";")
		}
		for i := 0; i < len(keys); i += election.MaxCredentialsPerEntry {
			c := election.Credentials{Credentials: keys[i:min(len(keys), i+election.MaxCredentialsPerEntry)], Groups: groups}
			out = append(out, c.Entry())
		}
	}
	return out
}

// Letter is the text sent to each member; {name}, {code}, {election} and
// {url} are replaced. For a member without a name, " {name}" is left out
// ("Hello {name}," becomes "Hello,"); without a URL, every line holding
// {url} is left out, with the blank line after it.
type Letter struct {
	Subject  string
	Body     string
	Election string // the election's title
	URL      string // the booth's address, https://host/e/ID/vote
}

// DefaultLetter is a plain letter in English and French.
var DefaultLetter = Letter{
	Subject: "Your voting credential / Votre code de vote",
	Body: "Hello {name},\r\n\r\nYour credential for \"{election}\" is:\r\n\r\n    {code}\r\n\r\n" +
		"To vote, go to {url}\r\n\r\n" +
		"Keep it secret: it lets you vote. You may vote again; only your last ballot counts.\r\n\r\n" +
		"Bonjour {name},\r\n\r\nVotre code pour « {election} » est :\r\n\r\n    {code}\r\n\r\n" +
		"Pour voter, allez sur {url}\r\n\r\n" +
		"Gardez-le secret : il permet de voter. Vous pouvez voter à nouveau ; seul le dernier bulletin compte.\r\n",
}

// text is the letter for member is.
func (l Letter) text(is Issued) string {
	body := l.Body
	if is.Member.Name == "" {
		body = strings.ReplaceAll(body, " {name}", "")
	}
	if l.URL == "" {
		lines := strings.Split(body, "\r\n")
		kept := lines[:0]
		for i := 0; i < len(lines); i++ {
			if strings.Contains(lines[i], "{url}") {
				if i+1 < len(lines) && lines[i+1] == "" {
					i++
				}
				continue
			}
			kept = append(kept, lines[i])
		}
		body = strings.Join(kept, "\r\n")
	}
	return strings.NewReplacer("{name}", is.Member.Name, "{code}", is.Code, "{election}", l.Election, "{url}", l.URL).Replace(body)
}

// Send mails every member its code, one message each, and returns how many
// were sent; it stops at the first failure, naming the member.
func Send(ctx context.Context, cfg mailer.Config, l Letter, issued []Issued) (int, error) {
	for _, is := range issued {
		if is.Member.Email == "" {
			return 0, fmt.Errorf("member %s has no e-mail address", is.Member.ID)
		}
	}
	c, err := cfg.Dial(ctx)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, is := range issued {
		if err := c.Send(is.Member.Email, l.Subject, l.text(is)); err != nil {
			c.Close()
			return sent, fmt.Errorf("member %s (%s): %w", is.Member.ID, is.Member.Email, err)
		}
		sent++
	}
	return sent, c.Close()
}

// SignInList writes the server's sign-in list (docs/spec.md §20.2) as CSV:
// email, credential (the public credential in the text form of spec §11). It is personal data
// for the election's server alone, never published.
func SignInList(w io.Writer, issued []Issued) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"email", "credential"})
	for _, is := range issued {
		t, _ := is.Public.MarshalText()
		cw.Write([]string{is.Member.Email, string(t)})
	}
	cw.Flush()
	return cw.Error()
}

// FromManifest fills in the letter what it says of the election.
func (l *Letter) FromManifest(m *election.Manifest, f crypto.Fingerprint) error {
	return nil
}
