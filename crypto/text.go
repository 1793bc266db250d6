package crypto

// spec: §11 text form: unpadded, strict base64url

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

var textEncoding = base64.RawURLEncoding.Strict()

func marshalText(b []byte) []byte {
	out := make([]byte, textEncoding.EncodedLen(len(b)))
	textEncoding.Encode(out, b)
	return out
}

// unmarshalText decodes the text form and requires exactly size bytes (or,
// with size 0, any length). Non-canonical text (padding, other alphabets,
// non-zero trailing bits) is rejected.
func unmarshalText(text []byte, size int) ([]byte, error) {
	if size > 0 && len(text) != textEncoding.EncodedLen(size) {
		return nil, fmt.Errorf("%w: text form must be %d characters, got %d", ErrEncoding, textEncoding.EncodedLen(size), len(text))
	}
	// The decoder skips CR and LF even in strict mode; the text form has none.
	if bytes.ContainsAny(text, "\r\n") {
		return nil, fmt.Errorf("%w: text form contains a line break", ErrEncoding)
	}
	out := make([]byte, textEncoding.DecodedLen(len(text)))
	n, err := textEncoding.Decode(out, text)
	if err != nil {
		return nil, fmt.Errorf("%w: text form is not canonical unpadded base64url", ErrEncoding)
	}
	if size > 0 && n != size {
		return nil, fmt.Errorf("%w: text form must encode %d bytes", ErrEncoding, size)
	}
	return out[:n], nil
}
