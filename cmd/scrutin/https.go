package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// acmeCacheDir is the folder in DIR where the ACME account key and the
// certificates are kept (mode 0700, files 0600).
const acmeCacheDir = "acme"

// letsEncryptURL is the default ACME server.
const letsEncryptURL = acme.LetsEncryptURL

// acmeManager obtains and renews the certificates of cfg.Domains: on the
// first TLS handshake for a name (warmCertificates makes one at start),
// then 30 days before they expire, while the server runs. Giving --domain
// accepts the ACME server's terms of service.
func acmeManager(cfg *serveConfig) (*autocert.Manager, error) {
	hc := &http.Client{Timeout: time.Minute}
	if cfg.ACMECAFile != "" {
		b, err := os.ReadFile(cfg.ACMECAFile)
		if err != nil {
			return nil, fmt.Errorf("--acme-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("--acme-ca-file: %s holds no PEM certificate", cfg.ACMECAFile)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
		hc.Transport = tr
	}
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(filepath.Join(cfg.Dir, acmeCacheDir)),
		HostPolicy: hostPolicy(cfg.Domains),
		Email:      cfg.ACMEEmail,
		Client:     &acme.Client{DirectoryURL: cmpOr(cfg.ACMEDirectory, letsEncryptURL), HTTPClient: hc, UserAgent: "scrutin"},
	}, nil
}

// hostPolicy allows the domains, with or without a port: the http-01
// handler checks the Host header, which names the port when it is not 80.
func hostPolicy(domains []string) autocert.HostPolicy {
	allow := autocert.HostWhitelist(domains...)
	return func(ctx context.Context, host string) error {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return allow(ctx, host)
	}
}

// redirectToHTTPS answers plain HTTP requests other than ACME's challenges:
// GET and HEAD are sent to the same path over HTTPS (on the server's HTTPS
// port); anything else is refused, so that nothing is ever sent in clear by
// mistake twice.
func redirectToHTTPS(cfg *serveConfig) http.Handler {
	_, port, _ := net.SplitHostPort(cfg.addr())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "use HTTPS", http.StatusBadRequest)
			return
		}
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if !contains(cfg.Domains, host) {
			host = cfg.Domains[0]
		}
		if port != "" && port != "443" {
			host = net.JoinHostPort(host, port)
		}
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}

// warmCertificates obtains (or loads from the cache) each domain's
// certificate at start, so that a failure (DNS not pointing here, port 80
// or 443 closed, the CA's rate limits) is reported at once, not to the
// first voter.
func warmCertificates(ctx context.Context, m *autocert.Manager, domains []string, stdout io.Writer, logger *slog.Logger) {
	for _, d := range domains {
		// A client that takes ECDSA certificates, as every current
		// browser does.
		hello := &tls.ClientHelloInfo{
			ServerName:        d,
			CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
			SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
			SupportedCurves:   []tls.CurveID{tls.CurveP256},
			SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
		}
		c, err := m.GetCertificate(hello)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintf(stdout, "no certificate for %s yet: %v (is the name's DNS pointing to this server, and are ports 80 and 443 open to the internet?)\n", d, err)
			logger.Error("no certificate", "domain", d, "err", err)
			continue
		}
		if c.Leaf == nil {
			continue
		}
		fmt.Fprintf(stdout, "certificate for %s, valid until %s\n", d, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
		logger.Info("certificate", "domain", d, "not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
}
