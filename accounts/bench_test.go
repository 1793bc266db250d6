package accounts

import "testing"

// BenchmarkHashPassword is the cost of one argon2id hash (64 MiB, 3
// passes, 2 lanes): what each sign-in attempt costs the server, and an
// offline guesser per guess.
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		HashPassword("correct horse battery staple")
	}
}

// BenchmarkCheckPassword is the policy check (list lookups, repetition,
// context words), without hashing.
func BenchmarkCheckPassword(b *testing.B) {
	commonPasswords()
	for b.Loop() {
		CheckPassword("correct horse battery staple", "alice@example.org", "Alice Martin")
	}
}
