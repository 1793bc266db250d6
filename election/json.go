package election

// spec: §18.2 canonical JSON

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrEntry wraps every reason an entry is invalid.
var ErrEntry = errors.New("invalid entry")

// The kinds of invalid entries that the record's test vectors name (spec
// §12): ErrMalformed, an entry that does not decode as its type (§18.2,
// §11, §13.2, §14.1); ErrOrder, an entry of a type not allowed where it is
// (§18.1). Both wrap ErrEntry; any other invalid entry decodes and is in
// order but breaks a rule of its content.
var (
	ErrMalformed = fmt.Errorf("%w: malformed", ErrEntry)
	ErrOrder     = fmt.Errorf("%w: out of order", ErrEntry)
)

// Reasons a ballot is refused that a server reports distinctly; both also
// wrap ErrEntry.
var (
	ErrNotOpen           = errors.New("voting is not open")
	ErrUnknownCredential = errors.New("the credential is not on the published list")
	// ErrReplay: the ballot's code is that of an earlier ballot in the log
	// (spec §18.5), as when its entry is posted again.
	ErrReplay = errors.New("the ballot is a replay of an earlier ballot")
	// ErrMessageReplay: a trustee's message (a ceremony message, decryption
	// shares) byte for byte equal to one in an earlier entry (spec §18.1).
	ErrMessageReplay = errors.New("the message is already in the log")
	// ErrEligibility: the ballot answers a contest its credential may not
	// answer, or leaves out one it may (spec §18.5).
	ErrEligibility = errors.New("the ballot does not answer exactly the contests its credential may answer")
)

// marshal encodes v canonically (spec §18.2): Go's encoder with HTML
// escaping off gives RFC 8785 for our types, whose fields are declared in
// name order and whose strings are checked by checkText.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("election: internal error: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// unmarshal decodes a canonical JSON payload strictly: unknown members are
// refused, and the text must be exactly the canonical encoding of what it
// decodes to (which refuses missing and duplicate members, other orders,
// whitespace and other escapes). No value of an entry is null (spec §18.2).
func unmarshal(data []byte, v any) error {
	if err := unmarshalNullable(data, v); err != nil {
		return err
	}
	if hasNull(data) {
		return fmt.Errorf("%w: null is not a value of any entry (spec §18.2)", ErrMalformed)
	}
	return nil
}

// unmarshalNullable is unmarshal for a text whose values may be null (an
// audit record's choices, spec §21.3).
func unmarshalNullable(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON value", ErrMalformed)
	}
	if !bytes.Equal(marshal(v), data) {
		return fmt.Errorf("%w: not canonical JSON (spec §18.2)", ErrMalformed)
	}
	if err := checkScalars(data); err != nil {
		return fmt.Errorf("%w: %v (spec §18.2)", ErrMalformed, err)
	}
	return nil
}

// maxInteger is the largest integer of canonical JSON (spec §18.2), 2^53 − 1:
// every implementation reads it exactly.
const maxInteger = 1<<53 - 1

// checkScalars refuses, in a text that Go's encoder writes the same way,
// what Go accepts but canonical JSON (spec §18.2) does not: a negative
// number or one above 2^53 − 1, which Go's integer types hold; an escape
// other than \" and \\ (Go writes a control character as \n or \u0001,
// and U+2028 and U+2029 as \u2028 and \u2029); and U+007F, which Go does
// not escape. Outside strings, such a text's numbers are runs of digits, and
// - is a sign.
func checkScalars(data []byte) error {
	in := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == 0x7f:
			return errors.New("a control character (U+007F) in a string")
		case in && c == '\\':
			if i+1 < len(data) && data[i+1] != '"' && data[i+1] != '\\' {
				return errors.New("an escape other than \\\" and \\\\ in a string: a control character, U+2028 or U+2029")
			}
			i++
		case c == '"':
			in = !in
		case in:
		case c == '-':
			return errors.New("a negative number; integers are 0 to 2^53 − 1")
		case '0' <= c && c <= '9':
			n := uint64(0)
			for ; i < len(data) && '0' <= data[i] && data[i] <= '9'; i++ {
				if n = n*10 + uint64(data[i]-'0'); n > maxInteger {
					return errors.New("a number above 2^53 − 1")
				}
			}
			i--
		}
	}
	return nil
}

// hasNull reports whether a canonical JSON text holds a null: outside
// strings, the only token that starts with n. In canonical text the only
// escapes are \" and \\.
func hasNull(data []byte) bool {
	in := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in && c == 'n':
			return true
		}
	}
	return false
}

// checkText refuses strings that canonical JSON would escape differently
// across implementations (spec §18.2).
func checkText(what, s string, maxLen int) error {
	if s == "" || len(s) > maxLen {
		return fmt.Errorf("%s must be 1 to %d bytes", what, maxLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not UTF-8", what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 {
			return fmt.Errorf("%s contains a control character (U+%04X)", what, r)
		}
	}
	return nil
}

// Bytes is a byte string written as unpadded base64url (spec §11).
type Bytes []byte

var b64 = base64.RawURLEncoding.Strict()

func (b Bytes) MarshalText() ([]byte, error) { return []byte(b64.EncodeToString(b)), nil }

func (b *Bytes) UnmarshalText(t []byte) error {
	if bytes.ContainsAny(t, "\r\n") {
		return errors.New("line break in base64")
	}
	out, err := b64.DecodeString(string(t))
	if err != nil {
		return fmt.Errorf("not unpadded base64url: %w", err)
	}
	*b = out
	return nil
}

// validID reports whether s is an id: 1–64 characters of [a-z0-9-].
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
}
