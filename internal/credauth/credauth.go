// Package credauth is the credential authority's work, done offline on its
// own computer (docs/spec.md §18.4): a private credential code for every
// member of the frozen roll, written as a mail-merge file and sent by
// e-mail through a real SMTP server, and the list of public credentials,
// the only part the election's server and log receive.
package credauth

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

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

// Letter is the text sent to each member. In Subject and Body, {name},
// {code}, {election} and {election_fr} (the title in English and French),
// {url} (the booth), {opens}, {closes}, {opens_fr}, {closes_fr} (the
// voting window as each language writes dates) and {fingerprint} (the
// election's, in groups of four) are replaced. For a member without a
// name, " {name}" is left out ("Hello {name}," becomes "Hello,"); a line
// holding {url}, a date or {fingerprint} that the letter does not know is
// left out, with the blank line after it.
type Letter struct {
	Subject    string
	Body       string
	Election   string // the election's title in English
	ElectionFR string // in French; empty: as in English
	URL        string // the booth's address, https://host/e/ID/vote
	// Opens and Closes are the voting window (zero: not said).
	Opens, Closes time.Time
	// Fingerprint is the election's, 64 hexadecimal digits (empty: not
	// said).
	Fingerprint string
}

// FromManifest fills in what the letter says of the election: its title
// in each language, its voting window and its fingerprint f.
func (l *Letter) FromManifest(m *election.Manifest, f crypto.Fingerprint) error {
	opens, err := time.Parse(time.RFC3339, m.Window.Opens)
	if err != nil {
		return fmt.Errorf("the manifest's window: %w", err)
	}
	closes, err := time.Parse(time.RFC3339, m.Window.Closes)
	if err != nil {
		return fmt.Errorf("the manifest's window: %w", err)
	}
	l.Election, l.ElectionFR = m.Title.In("en"), m.Title.In("fr")
	l.Opens, l.Closes = opens, closes
	l.Fingerprint = hex.EncodeToString(f[:])
	return nil
}

// DefaultLetter is a plain letter in English and French. It calls the
// code a voting code, as the booth does.
var DefaultLetter = Letter{
	Subject: "Your voting code / Votre code de vote",
	Body: "Hello {name},\r\n\r\nYour voting code for \"{election}\" is:\r\n\r\n    {code}\r\n\r\n" +
		"Voting is open from {opens} to {closes}.\r\n\r\n" +
		"To vote, go to {url}\r\n\r\n" +
		"You sign in there with a code sent to this e-mail address, then type the voting code above. " +
		"Keep it secret: whoever has it can vote in your place. You may vote again until voting closes; only your last ballot counts.\r\n\r\n" +
		"The election's fingerprint, which identifies it (the election's pages and its verifier show it; they must match):\r\n    {fingerprint}\r\n\r\n" +
		"Bonjour {name},\r\n\r\nVotre code de vote pour « {election_fr} » est :\r\n\r\n    {code}\r\n\r\n" +
		"Le vote est ouvert du {opens_fr} au {closes_fr}.\r\n\r\n" +
		"Pour voter, allez sur {url}\r\n\r\n" +
		"Vous vous y connectez avec un code envoyé à cette adresse électronique, puis vous tapez le code de vote ci-dessus. " +
		"Gardez-le secret : qui l'a peut voter à votre place. Vous pouvez voter à nouveau jusqu'à la clôture ; seul le dernier bulletin compte.\r\n\r\n" +
		"L'empreinte de l'élection, qui l'identifie (les pages de l'élection et son vérificateur l'affichent ; elles doivent être identiques) :\r\n    {fingerprint}\r\n",
}

var (
	monthsEN = [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	monthsFR = [12]string{"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"}
)

// dateEN and dateFR write a time in UTC as each language does (as the
// election's pages write them).
func dateEN(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%d %s %d, %02d:%02d UTC", t.Day(), monthsEN[t.Month()-1], t.Year(), t.Hour(), t.Minute())
}

func dateFR(t time.Time) string {
	t = t.UTC()
	day := fmt.Sprint(t.Day())
	if t.Day() == 1 {
		day = "1er"
	}
	return fmt.Sprintf("%s %s %d à %d h %02d UTC", day, monthsFR[t.Month()-1], t.Year(), t.Hour(), t.Minute())
}

// groupHex writes hex digits in groups of four, for reading aloud.
func groupHex(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(len(s), i+4)])
	}
	return b.String()
}

// text is the letter for member is.
func (l Letter) text(is Issued) string {
	body := l.Body
	if is.Member.Name == "" {
		body = strings.ReplaceAll(body, " {name}", "")
	}
	values := map[string]string{"{url}": l.URL, "{fingerprint}": groupHex(l.Fingerprint)}
	for k, t := range map[string]time.Time{"opens": l.Opens, "closes": l.Closes} {
		if !t.IsZero() {
			values["{"+k+"}"], values["{"+k+"_fr}"] = dateEN(t), dateFR(t)
		} else {
			values["{"+k+"}"], values["{"+k+"_fr}"] = "", ""
		}
	}
	// Lines saying what the letter does not know are left out.
	lines := strings.Split(body, "\r\n")
	kept := lines[:0]
	for i := 0; i < len(lines); i++ {
		unknown := false
		for k, v := range values {
			unknown = unknown || v == "" && strings.Contains(lines[i], k)
		}
		if unknown {
			if i+1 < len(lines) && lines[i+1] == "" {
				i++
			}
			continue
		}
		kept = append(kept, lines[i])
	}
	body = strings.Join(kept, "\r\n")
	pairs := []string{"{name}", is.Member.Name, "{code}", is.Code, "{election}", l.Election, "{election_fr}", cmp.Or(l.ElectionFR, l.Election)}
	for k, v := range values {
		pairs = append(pairs, k, v)
	}
	return strings.NewReplacer(pairs...).Replace(body)
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
