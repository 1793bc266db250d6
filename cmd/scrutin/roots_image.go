//go:build fallbackroots

package main

// The container image (cmd/scrutin-image) has no operating system, so no
// CA certificates: this build carries Mozilla's roots, used only when the
// system has none, to check the SMTP server's and the witnesses'
// certificates.
import _ "golang.org/x/crypto/x509roots/fallback"
