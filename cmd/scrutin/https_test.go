package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/scrutin/scrutin/internal/mailer/mailtest"
)

// pebbleVersion is the ACME test server .ci/run installs.
const pebbleVersion = "v2.10.3"

// findPebble returns the path of Pebble (github.com/letsencrypt/pebble),
// from $SCRUTIN_PEBBLE or the PATH; without it the test is skipped, unless
// SCRUTIN_REQUIRE_TOOLS is set (as .ci/run sets it).
func findPebble(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SCRUTIN_PEBBLE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	msg := "pebble, the ACME test server, is missing: GOBIN=$(mktemp -d) go install github.com/letsencrypt/pebble/v2/cmd/pebble@" + pebbleVersion + " and set SCRUTIN_PEBBLE to it"
	if os.Getenv("SCRUTIN_REQUIRE_TOOLS") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// freePort returns a TCP port free on loopback a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// loopbackDNS answers every A question with 127.0.0.1 and every other
// question with no record, over UDP and TCP (Pebble's resolver asks over
// TCP): Pebble's resolver, so that the names it validates lead to the
// server under test.
func loopbackDNS(t *testing.T) string {
	t.Helper()
	var pc net.PacketConn
	var tl net.Listener
	for range 20 {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if tl, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no port free for both UDP and TCP")
	}
	t.Cleanup(func() { pc.Close(); tl.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := dnsAnswer(buf[:n]); out != nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				for {
					var l [2]byte
					if _, err := io.ReadFull(c, l[:]); err != nil {
						return
					}
					q := make([]byte, int(l[0])<<8|int(l[1]))
					if _, err := io.ReadFull(c, q); err != nil {
						return
					}
					out := dnsAnswer(q)
					if out == nil {
						return
					}
					c.Write(append([]byte{byte(len(out) >> 8), byte(len(out))}, out...))
				}
			}()
		}
	}()
	return pc.LocalAddr().String()
}

// dnsAnswer answers one DNS query: A 127.0.0.1, or no record.
func dnsAnswer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired})
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	if q.Type == dnsmessage.TypeA {
		b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{127, 0, 0, 1}})
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble under test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// startPebble starts an ACME server on loopback that validates challenges
// on the given ports of 127.0.0.1, and returns its directory URL, the file
// of the root its own HTTPS is under, and the root it issues under.
func startPebble(t *testing.T, httpPort, tlsPort int) (directory, caFile string, issuer *x509.CertPool, issuerPEM []byte, logFile string) {
	t.Helper()
	bin := findPebble(t)
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	listen, mgmt := freePort(t), freePort(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress": "127.0.0.1:" + strconv.Itoa(mgmt),
		"certificate":             certFile, "privateKey": keyFile,
		"httpPort": httpPort, "tlsPort": tlsPort,
		"externalAccountBindingRequired": false,
	}}
	b, _ := json.Marshal(conf)
	os.WriteFile(filepath.Join(dir, "pebble.json"), b, 0o644)
	cmd := exec.Command(bin, "-config", filepath.Join(dir, "pebble.json"), "-dnsserver", loopbackDNS(t))
	// No random wait before validating, no nonce refused on purpose.
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	logf, _ := os.Create(filepath.Join(dir, "pebble.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "pebble.log"))
			t.Logf("pebble's log:\n%s", b)
		}
	})
	pool := x509.NewCertPool()
	pb, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pb)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	directory = "https://127.0.0.1:" + strconv.Itoa(listen) + "/dir"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(directory)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The root Pebble issues under, from its management API.
	resp, err := c.Get("https://127.0.0.1:" + strconv.Itoa(mgmt) + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	root, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	issuer = x509.NewCertPool()
	if !issuer.AppendCertsFromPEM(root) {
		t.Fatalf("pebble's root: %q", root)
	}
	return directory, certFile, issuer, root, filepath.Join(dir, "pebble.log")
}

// TestServeHTTPSWithACME (issue 23, item 1): "scrutin serve" given a domain
// name (here in its configuration file) obtains a certificate from an ACME
// server (Pebble, validating the challenge on loopback), serves the
// election's pages over HTTPS under it with HSTS, redirects plain HTTP to
// HTTPS, and keeps its ACME account and certificate readable by its owner
// only.
//
// The challenge is tls-alpn-01 (tried first); with Pebble validating it on a
// closed port, autocert falls back to http-01, answered on --http-addr (whose
// Host header names a port).
func TestServeHTTPSWithACME(t *testing.T) {
	for _, challenge := range []string{"tls-alpn-01", "http-01"} {
		t.Run(challenge, func(t *testing.T) {
			if challenge == "http-01" && testing.Short() {
				t.Skip("-short")
			}
			testServeHTTPSWithACME(t, challenge)
		})
	}
}

func testServeHTTPSWithACME(t *testing.T, challenge string) {
	httpsPort, httpPort := freePort(t), freePort(t)
	tlsPort := httpsPort
	if challenge == "http-01" {
		tlsPort = freePort(t) // nothing listens there
	}
	directory, caFile, issuer, issuerPEM, pebbleLog := startPebble(t, httpPort, tlsPort)
	smtp := mailtest.New(t)
	bin := buildScrutin(t)
	dir := filepath.Join(t.TempDir(), "data")
	if r := runScrutin(t, bin, "demo", "--voters", "3", "--no-vote", "--dir", dir); r.status != 0 {
		t.Fatalf("demo: %s", r.stderr)
	}
	const domain = "vote.scrutin.test"
	conf := map[string]any{
		"dir": dir, "sign_in": "off",
		"domains": []string{domain}, "addr": "127.0.0.1:" + strconv.Itoa(httpsPort), "http_addr": "127.0.0.1:" + strconv.Itoa(httpPort),
		"acme_directory": directory, "acme_ca_file": caFile, "acme_email": "operator@example.org",
		"smtp": smtp.Addr(), "smtp_from": "Elections <elections@example.org>", "smtp_tls": "none",
	}
	b, _ := json.Marshal(conf)
	cf := filepath.Join(t.TempDir(), "scrutin.json")
	os.WriteFile(cf, b, 0o600)
	if r := runScrutin(t, bin, "serve", "--config", cf, "--check-config"); r.status != 0 {
		t.Fatalf("--check-config: %s %s", r.stdout, r.stderr)
	}
	p := startServeWith(t, bin, "serve", "--config", cf)
	if !strings.HasPrefix(p.url, "https://") {
		t.Fatalf("serving %s", p.url)
	}

	// A browser that trusts Pebble's root, and finds the domain on
	// loopback.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(httpsPort))
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: issuer}}}
	page := "https://" + domain + ":" + strconv.Itoa(httpsPort) + "/e/demo/"
	var resp *http.Response
	var err error
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err = client.Get(page)
		if err == nil && resp.StatusCode == http.StatusOK {
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS page under a Pebble certificate: %v; serve's log:\n%s", err, p.errors())
		}
		time.Sleep(250 * time.Millisecond)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	leaf := resp.TLS.PeerCertificates[0]
	if leaf.VerifyHostname(domain) != nil || !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Errorf("certificate for %v from %q", leaf.DNSNames, leaf.Issuer.CommonName)
	}
	if !strings.Contains(string(body), "demo") || !strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("the election page over HTTPS: HSTS %q, %.200s", resp.Header.Get("Strict-Transport-Security"), body)
	}
	t.Logf("GET %s: %d, %s, certificate for %v issued by %q until %s", page, resp.StatusCode, tls.VersionName(resp.TLS.Version), leaf.DNSNames, leaf.Issuer.CommonName, leaf.NotAfter.Format(time.DateOnly))

	// Plain HTTP: redirected to the same page over HTTPS; a POST is
	// refused rather than redirected.
	plain := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/e/demo/?x=1", nil)
	req.Host = domain
	resp, err = plain.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != page+"?x=1" {
		t.Errorf("plain HTTP: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	req, _ = http.NewRequest(http.MethodPost, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/api/e/demo/ballots", strings.NewReader("{}"))
	req.Host = domain
	if resp, err = plain.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a POST over plain HTTP: %v %v", resp.StatusCode, err)
	}
	if open := othersCanRead(t, dir); len(open) > 0 {
		t.Errorf("open to other users: %v", open)
	}
	if _, err := os.Stat(filepath.Join(dir, acmeCacheDir, domain)); err != nil {
		t.Errorf("the certificate is not kept: %v", err)
	}

	// The challenge was the one meant.
	plog, _ := os.ReadFile(pebbleLog)
	if byHTTP := strings.Contains(string(plog), "Attempting to validate w/ HTTP"); byHTTP != (challenge == "http-01") {
		t.Errorf("%s: Pebble validated over HTTP: %v", challenge, byHTTP)
	}
	if challenge != "tls-alpn-01" {
		return
	}
	// The pre-flight check passes on this server (item 7), trusting
	// Pebble's roots (its own HTTPS for the clock, and the issuer's), the
	// name reaching the server through /etc/hosts-less resolution: the
	// check runs against 127.0.0.1 under the domain's name.
	ca, _ := os.ReadFile(caFile)
	roots := filepath.Join(t.TempDir(), "roots.pem")
	os.WriteFile(roots, append(ca, issuerPEM...), 0o644)
	doctorDial = dial
	defer func() { doctorDial = nil }()
	var out, errs strings.Builder
	status := run([]string{"doctor", "--config", cf, "--roots", roots, "--mail-to", "operator@example.org"}, &out, &errs)
	t.Logf("scrutin doctor:\n%s", out.String())
	if status != exitOK || strings.Contains(out.String(), "FAIL") {
		t.Errorf("doctor on a working server: %d\n%s%s", status, out.String(), errs.String())
	}
	if letter := smtp.Wait("operator@example.org", 1, 10*time.Second); !strings.Contains(letter, "scrutin doctor") {
		t.Errorf("the test message: %q", letter)
	}
}
