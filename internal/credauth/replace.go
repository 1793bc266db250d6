package credauth

// spec: §18.8 replacing a lost credential, on the credential authority's
// computer.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scrutin/scrutin/crypto"
	"github.com/scrutin/scrutin/election"
)

// NewAuthority makes the credential authority's signing key (spec §18.8):
// the secret key as text, to keep with the codes, and the authority entry
// that publishes its public key.
func NewAuthority(rnd io.Reader) (secret []byte, entry []byte, err error) {
	k, err := crypto.GenerateKey(rnd)
	if err != nil {
		return nil, nil, err
	}
	return []byte(base64.RawURLEncoding.EncodeToString(k.Bytes()) + "\n"), (&election.Authority{Key: k.PublicKey()}).Entry(), nil
}

// ParseAuthority reads the secret key NewAuthority wrote.
func ParseAuthority(secret []byte) (*crypto.SecretKey, error) {
	b, err := base64.RawURLEncoding.Strict().DecodeString(strings.TrimSpace(string(secret)))
	if err != nil {
		return nil, errors.New("not a credential authority's key written by scrutin credentials generate")
	}
	k, err := crypto.NewSecretKey(b)
	if err != nil {
		return nil, errors.New("not a credential authority's key written by scrutin credentials generate")
	}
	return k, nil
}

// Replace gives member id a new credential code for the election f in
// place of the one in issued (the mail-merge file's rows), and returns the
// member's new row and the replacement entry signed by the authority's
// key, dated now. issued is updated with the new code.
func Replace(issued []Issued, id string, f crypto.Fingerprint, authority *crypto.SecretKey, rnd io.Reader, now time.Time) (Issued, []byte, error) {
	i := -1
	for k := range issued {
		if issued[k].Member.ID == id {
			if i >= 0 {
				return Issued{}, nil, fmt.Errorf("member %s is twice in the mail-merge file", id)
			}
			i = k
		}
	}
	if i < 0 {
		return Issued{}, nil, fmt.Errorf("member %q is not in the mail-merge file: check the member id on the roll", id)
	}
	old, err := election.CredentialKey(f, issued[i].Code)
	if err != nil {
		return Issued{}, nil, fmt.Errorf("member %s's code in the mail-merge file: %w", id, err)
	}
	code, err := election.NewCode(rnd)
	if err != nil {
		return Issued{}, nil, err
	}
	nk, err := election.CredentialKey(f, code)
	if err != nil {
		return Issued{}, nil, err
	}
	r, err := election.NewReplacement(rnd, f, authority, old.PublicKey(), nk.PublicKey(), now)
	if err != nil {
		return Issued{}, nil, err
	}
	issued[i].Code, issued[i].Public = code, nk.PublicKey()
	return issued[i], r.Entry(), nil
}

// ReplacementLetter is the letter that sends a member the code that
// replaces the one they lost. It has the fields of DefaultLetter.
var ReplacementLetter = Letter{
	Subject: "Your new voting code / Votre nouveau code de vote",
	Body: "Hello {name},\r\n\r\nAs you asked, here is a new voting code for \"{election}\", in place of the one you lost:\r\n\r\n    {code}\r\n\r\n" +
		"Your old code no longer works, and any ballot cast with it does not count, even one you cast yourself: if you had voted, vote again with this code. " +
		"The replacement is published in the election's public record, without your name.\r\n\r\n" +
		"Voting is open from {opens} to {closes}.\r\n\r\n" +
		"To vote, go to {url}\r\n\r\n" +
		"You sign in there with a code sent to this e-mail address, then type the voting code above. Keep it secret: whoever has it can vote in your place.\r\n\r\n" +
		"The election's fingerprint, which identifies it (the election's pages and its verifier show it; they must match):\r\n    {fingerprint}\r\n\r\n" +
		"Bonjour {name},\r\n\r\nComme vous l'avez demandé, voici un nouveau code de vote pour « {election_fr} », à la place de celui que vous avez perdu :\r\n\r\n    {code}\r\n\r\n" +
		"Votre ancien code ne fonctionne plus, et aucun bulletin déposé avec lui ne compte, même si c'est vous qui l'avez déposé : si vous aviez voté, votez à nouveau avec ce code. " +
		"Le remplacement est publié dans le registre public de l'élection, sans votre nom.\r\n\r\n" +
		"Le vote est ouvert du {opens_fr} au {closes_fr}.\r\n\r\n" +
		"Pour voter, allez sur {url}\r\n\r\n" +
		"Vous vous y connectez avec un code envoyé à cette adresse électronique, puis vous tapez le code de vote ci-dessus. Gardez-le secret : qui l'a peut voter à votre place.\r\n\r\n" +
		"L'empreinte de l'élection, qui l'identifie (les pages de l'élection et son vérificateur l'affichent ; elles doivent être identiques) :\r\n    {fingerprint}\r\n",
}
