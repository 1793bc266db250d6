package accounts

// Staff passwords: at least 12 characters, not common or breached, stored
// with argon2id. A password is only the first factor: every staff account
// must also pass a second one (TOTP, a passkey, or a recovery code).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// MinPasswordLength is the shortest password accepted, in characters.
const MinPasswordLength = 12

// MaxPasswordLength bounds the work one password costs to check.
const MaxPasswordLength = 256

// ErrWeakPassword is returned for a password the policy refuses.
var ErrWeakPassword = errors.New("this password is too weak")

//go:embed common-passwords.txt.gz
var commonGz []byte

var (
	commonOnce sync.Once
	common     map[string]bool
)

func commonPasswords() map[string]bool {
	commonOnce.Do(func() {
		common = make(map[string]bool, 50000)
		zr, err := gzip.NewReader(bytes.NewReader(commonGz))
		if err != nil {
			panic("accounts: the embedded password list is damaged: " + err.Error())
		}
		sc := bufio.NewScanner(zr)
		for sc.Scan() {
			common[sc.Text()] = true
		}
	})
	return common
}

// CheckPassword applies the password policy; context holds words the
// password must not be built on (the account's e-mail address and name).
func CheckPassword(pw string, context ...string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: it is not valid text", ErrWeakPassword)
	case n < MinPasswordLength:
		return fmt.Errorf("%w: use at least %d characters (a few unrelated words make a good one)", ErrWeakPassword, MinPasswordLength)
	case len(pw) > MaxPasswordLength:
		return fmt.Errorf("%w: use at most %d bytes", ErrWeakPassword, MaxPasswordLength)
	}
	lower := strings.ToLower(pw)
	list := commonPasswords()
	// The password itself, and its core without the digits and symbols
	// people add around a common word ("Password2027!"), when what is
	// added would not be a password alone (shorter than the minimum).
	core := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	added := n - utf8.RuneCountInString(core)
	if list[lower] || (utf8.RuneCountInString(core) >= 4 && added < MinPasswordLength && list[core]) {
		return fmt.Errorf("%w: it is on the list of common and breached passwords", ErrWeakPassword)
	}
	// One short piece repeated ("abcabcabcabc", "passwordpassword").
	for size := 1; size <= n/2; size++ {
		if n%size == 0 && strings.Repeat(string([]rune(lower)[:size]), n/size) == lower {
			return fmt.Errorf("%w: it repeats %q", ErrWeakPassword, string([]rune(pw)[:size]))
		}
	}
	for _, c := range context {
		for _, w := range strings.FieldsFunc(strings.ToLower(c), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			if utf8.RuneCountInString(w) >= 4 && strings.Contains(lower, w) {
				return fmt.Errorf("%w: it contains %q, from your name or address", ErrWeakPassword, w)
			}
		}
	}
	return nil
}

// argon2id parameters (RFC 9106's second recommended option, with 64 MiB).
const (
	argonTime    = 3
	argonMemory  = 64 << 10 // KiB
	argonThreads = 2
	argonKeyLen  = 32
)

// argonSlots bounds concurrent hashes: each takes 64 MiB.
var argonSlots = make(chan struct{}, 4)

// HashPassword returns the password's argon2id hash in the PHC string format.
func HashPassword(pw string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	argonSlots <- struct{}{}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	<-argonSlots
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// dummyHash is checked against when there is no account, so that a wrong
// address takes as long as a wrong password.
var dummyHash = HashPassword("no account has this password, ever")

// VerifyPassword reports whether pw matches the PHC-format argon2id hash.
func VerifyPassword(hash, pw string) bool {
	if len(pw) > MaxPasswordLength {
		return false
	}
	var version, m, t int
	var p uint8
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m < 8 || m > 1<<21 || t < 1 || t > 16 || p < 1 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) < 16 {
		return false
	}
	argonSlots <- struct{}{}
	got := argon2.IDKey([]byte(pw), salt, uint32(t), uint32(m), p, uint32(len(want)))
	<-argonSlots
	return subtle.ConstantTimeCompare(got, want) == 1
}
