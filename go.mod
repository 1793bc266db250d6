module github.com/scrutin/scrutin

go 1.26.0

require (
	filippo.io/age v1.3.2
	github.com/gtank/ristretto255 v0.2.0
	golang.org/x/term v0.47.0
)

require (
	filippo.io/edwards25519 v1.2.0 // indirect
	filippo.io/hpke v0.4.0 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
