package app

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

// testCA issues certificates for 127.0.0.1 and localhost.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1000),
		Subject:               pkix.Name{CommonName: "scim-bridge test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a leaf certificate with the given serial, valid until
// notAfter, and its key to certFile and keyFile (each replaced by rename,
// as cert-manager's volume update does).
func (ca *testCA) issue(t *testing.T, serial int64, notAfter time.Time, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "scim.example.test"},
		DNSNames:     []string{"localhost", "scim.example.test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if certFile != "" {
		writeAtomically(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	if keyFile != "" {
		writeAtomically(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	}
}

func writeAtomically(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// servedSerial connects anew and returns the serial of the certificate
// the server presents.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) int64 {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestTLSListenersRotateWithoutDroppingConnections serves both listeners
// from one certificate pair, refuses TLS 1.1, then replaces the files while
// a keep-alive connection is open: the open connection goes on working
// with the certificate it negotiated, new connections get the new one
// once the pair is whole again, and the expiry metric follows.
func TestTLSListenersRotateWithoutDroppingConnections(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	firstExpiry := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	ca.issue(t, 1, firstExpiry, certFile, keyFile)

	cfg := testConfig(t)
	cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	cfg.AdminTLS = cfg.TLS // the same pair for both
	a, _ := startApp(t, cfg)
	if !strings.HasPrefix(a.SCIMBaseURL(), "https://") {
		t.Errorf("SCIMBaseURL = %s", a.SCIMBaseURL())
	}

	// TLS 1.1 is refused; TLS 1.2 is enough.
	if c, err := tls.Dial("tcp", a.SCIMAddr(), &tls.Config{RootCAs: ca.pool, ServerName: "localhost", MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Errorf("a TLS 1.1 handshake succeeded")
	}
	if c, err := tls.Dial("tcp", a.SCIMAddr(), &tls.Config{RootCAs: ca.pool, ServerName: "localhost", MaxVersion: tls.VersionTLS12}); err != nil {
		t.Errorf("TLS 1.2: %v", err)
	} else {
		c.Close()
	}

	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool}, MaxConnsPerHost: 1, IdleConnTimeout: time.Minute,
	}}
	defer client.CloseIdleConnections()
	// request GETs url on the kept-alive connection and returns the
	// served serial and whether the connection was reused.
	request := func(url string) (serial int64, reused bool) {
		t.Helper()
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
		})
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", url, resp.StatusCode)
		}
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), reused
	}
	scimURL := "https://" + a.SCIMAddr() + SCIMPrefix + "/Users"
	if serial, _ := request(scimURL); serial != 1 {
		t.Fatalf("serial %d, want 1", serial)
	}
	adminURL := "https://" + a.AdminAddr()
	if code, body := getTLS(t, adminURL+"/healthz", ca.pool); code != 200 || body != "ok\n" {
		t.Fatalf("admin /healthz over TLS = %d %q", code, body)
	}

	// Rotate (a half-done rotation is TestCertReloaderKeepsAWholePair's).
	secondExpiry := time.Now().Add(96 * time.Hour).Truncate(time.Second)
	ca.issue(t, 3, secondExpiry, certFile, keyFile)
	deadline := time.Now().Add(20 * time.Second)
	for servedSerial(t, a.SCIMAddr(), ca.pool) != 3 {
		if time.Now().After(deadline) {
			t.Fatal("new connections never got the rotated certificate")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for servedSerial(t, a.AdminAddr(), ca.pool) != 3 {
		if time.Now().After(deadline) {
			t.Fatal("the admin listener never got the rotated certificate")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The connection opened before the rotation is still open and works.
	serial, reused := request(scimURL)
	if !reused || serial != 1 {
		t.Errorf("after rotation: reused %v, serial %d; want the old connection with its certificate", reused, serial)
	}
	got := scrapeTLS(t, adminURL, ca.pool)
	for _, l := range []string{"scim", "admin"} {
		if v := got[`{listener="`+l+`"}`]; v != float64(secondExpiry.Unix()) {
			t.Errorf("expiry metric for %s = %v, want %d", l, v, secondExpiry.Unix())
		}
	}
}

func getTLS(t *testing.T, url string, pool *x509.CertPool) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func scrapeTLS(t *testing.T, admin string, pool *x509.CertPool) map[string]float64 {
	t.Helper()
	_, body := getTLS(t, admin+"/metrics", pool)
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, "scim_bridge_tls_certificate_expiry_timestamp_seconds")
		if !ok || rest == "" || rest[0] == '_' {
			continue
		}
		labels, value, _ := strings.Cut(rest, " ")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out[labels] = v
	}
	return out
}

// TestTLSBadPairStopsTheStart: a missing or mismatched pair is an error at
// start that names the listener, not a server that fails every handshake.
func TestTLSBadPairStopsTheStart(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, 1, time.Now().Add(time.Hour), certFile, keyFile)
	ca.issue(t, 2, time.Now().Add(time.Hour), "", filepath.Join(dir, "other.key"))
	for name, pair := range map[string]config.TLS{
		"missing key": {CertFile: certFile, KeyFile: filepath.Join(dir, "nope.key")},
		"mismatch":    {CertFile: certFile, KeyFile: filepath.Join(dir, "other.key")},
	} {
		cfg := testConfig(t)
		cfg.AdminTLS = pair
		_, err := New(t.Context(), cfg, WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))))
		if err == nil || !strings.Contains(err.Error(), "admin listener") {
			t.Errorf("%s: New = %v, want an error naming the admin listener", name, err)
		}
	}
}

// TestCheckReportsTheCertificate: `check` names what the certificate is
// valid for and when it expires, and fails on an expired one.
func TestCheckReportsTheCertificate(t *testing.T) {
	fake, err := sigmafake.Start(sigmafake.Options{Members: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	notAfter := time.Now().Add(30*24*time.Hour + time.Hour)
	ca.issue(t, 1, notAfter, certFile, keyFile)
	cfg := testConfig(t)
	PointAtEmulator(&cfg, fake)
	cfg.TLS = config.TLS{CertFile: certFile, KeyFile: keyFile}
	var out bytes.Buffer
	if err := Check(t.Context(), cfg, &out); err != nil {
		t.Fatalf("Check: %v\n%s", err, out.String())
	}
	want := "tls (SCIM listener): ok: localhost, scim.example.test, 127.0.0.1; expires " + notAfter.UTC().Format(time.RFC3339) + " (in 30 days)"
	if !strings.Contains(out.String(), want) {
		t.Errorf("check output lacks %q:\n%s", want, out.String())
	}

	expiredCert, expiredKey := filepath.Join(dir, "old.crt"), filepath.Join(dir, "old.key")
	ca.issue(t, 2, time.Now().Add(-time.Minute), expiredCert, expiredKey)
	cfg.AdminTLS = config.TLS{CertFile: expiredCert, KeyFile: expiredKey}
	out.Reset()
	err = Check(t.Context(), cfg, &out)
	if err == nil || !strings.Contains(out.String(), "tls (admin listener): FAILED: certificate "+expiredCert+" expired on") {
		t.Errorf("expired certificate: %v\n%s", err, out.String())
	}
}

// TestCertReloaderKeepsAWholePair: between the certificate and the key
// being replaced, the files do not match; the previous pair is served (and
// the problem logged once) until they do.
func TestCertReloaderKeepsAWholePair(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	ca.issue(t, 1, time.Now().Add(time.Hour), certFile, keyFile)
	var logs bytes.Buffer
	r, err := newCertReloader(config.TLS{CertFile: certFile, KeyFile: keyFile}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r.now = func() time.Time { return now }
	serial := func() int64 { return r.current().Leaf.SerialNumber.Int64() }

	ca.issue(t, 2, time.Now().Add(time.Hour), certFile, "") // the certificate only
	if s := serial(); s != 1 {
		t.Fatalf("serial %d before the recheck interval passed", s)
	}
	for range 3 {
		now = now.Add(certRecheck)
		if s := serial(); s != 1 {
			t.Fatalf("a mismatched pair was served (serial %d)", s)
		}
	}
	if n := strings.Count(logs.String(), "do not load"); n != 1 {
		t.Errorf("the mismatch was logged %d times, want once:\n%s", n, logs.String())
	}
	ca.issue(t, 3, time.Now().Add(time.Hour), certFile, keyFile) // the whole pair
	now = now.Add(certRecheck)
	if s := serial(); s != 3 {
		t.Errorf("serial %d after the pair was whole again, want 3", s)
	}
	if !strings.Contains(logs.String(), "TLS certificate reloaded") {
		t.Errorf("the reload was not logged:\n%s", logs.String())
	}
}
