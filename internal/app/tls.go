package app

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/config"
)

// certRecheck bounds how often the certificate files are read again: at
// most once per interval, on a handshake or a scrape after it passed.
const certRecheck = time.Second

// certReloader serves a certificate pair from two PEM files and picks up
// new files (a cert-manager renewal, a manual rotation) on the next
// handshake after they change. Open connections keep the certificate they
// negotiated; nothing is dropped. A pair that does not load (the
// certificate written but not yet its key) is logged and the previous pair
// stays in use until the files agree again.
type certReloader struct {
	certFile, keyFile string
	logger            *slog.Logger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	certPEM   []byte
	keyPEM    []byte
	checkedAt time.Time
	lastErr   string // the last reload problem logged, so it is logged once
}

// newCertReloader loads the pair once; an error here stops the start.
func newCertReloader(t config.TLS, logger *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: t.CertFile, keyFile: t.KeyFile, logger: logger, now: time.Now}
	certPEM, keyPEM, cert, err := loadPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, err
	}
	r.cert, r.certPEM, r.keyPEM, r.checkedAt = cert, certPEM, keyPEM, r.now()
	return r, nil
}

// loadPair reads and parses a certificate chain and its key.
func loadPair(certFile, keyFile string) (certPEM, keyPEM []byte, cert *tls.Certificate, err error) {
	if certPEM, err = os.ReadFile(certFile); err != nil {
		return nil, nil, nil, fmt.Errorf("read TLS certificate: %w", err)
	}
	if keyPEM, err = os.ReadFile(keyFile); err != nil {
		return nil, nil, nil, fmt.Errorf("read TLS key: %w", err)
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return certPEM, keyPEM, &c, nil
}

// current returns the pair in use, re-reading the files first when the
// last look is older than certRecheck.
func (r *certReloader) current() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.now().Sub(r.checkedAt) < certRecheck {
		return r.cert
	}
	r.checkedAt = r.now()
	certPEM, keyPEM, cert, err := loadPair(r.certFile, r.keyFile)
	switch {
	case err != nil:
		if msg := err.Error(); msg != r.lastErr {
			r.lastErr = msg
			r.logger.Warn("TLS certificate files do not load; still serving the previous certificate", "err", err)
		}
	case !bytes.Equal(certPEM, r.certPEM) || !bytes.Equal(keyPEM, r.keyPEM):
		r.cert, r.certPEM, r.keyPEM, r.lastErr = cert, certPEM, keyPEM, ""
		r.logger.Info("TLS certificate reloaded", "cert_file", r.certFile, "names", strings.Join(certNames(cert.Leaf), ","),
			"not_after", cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	default:
		r.lastErr = ""
	}
	return r.cert
}

// GetCertificate implements tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.current(), nil
}

// tlsConfig is the listeners' TLS configuration: TLS 1.2 or later (Entra
// requires it; older versions are refused), HTTP/2 and HTTP/1.1.
func tlsConfig(r *certReloader) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// certNames is what a certificate is valid for: its DNS and IP SANs, or its
// common name when it has none.
func certNames(c *x509.Certificate) []string {
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	return names
}

// listenTLS wraps ln in TLS when t is configured, and exports the served
// certificate's expiry as
// scim_bridge_tls_certificate_expiry_timestamp_seconds{listener}.
func (a *App) listenTLS(name string, t config.TLS, ln net.Listener) (net.Listener, error) {
	if !t.Enabled() {
		return ln, nil
	}
	r, err := newCertReloader(t, a.logger.With("listener", name))
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", name, err)
	}
	err = a.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "scim_bridge_tls_certificate_expiry_timestamp_seconds",
		Help:        "When the certificate the listener serves expires (Unix seconds); re-read when the files change.",
		ConstLabels: prometheus.Labels{"listener": name},
	}, func() float64 { return float64(r.current().Leaf.NotAfter.Unix()) }))
	if err != nil {
		return nil, fmt.Errorf("register %s certificate expiry metric: %w", name, err)
	}
	return tls.NewListener(ln, tlsConfig(r)), nil
}

// CertificateReport is what `check` says about a configured pair: the names
// it is valid for and when it expires, or why it does not load.
func CertificateReport(t config.TLS, now time.Time) (string, error) {
	_, _, cert, err := loadPair(t.CertFile, t.KeyFile)
	if err != nil {
		return "", err
	}
	leaf := cert.Leaf
	left := leaf.NotAfter.Sub(now)
	if left <= 0 {
		return "", fmt.Errorf("certificate %s expired on %s", t.CertFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return "", fmt.Errorf("certificate %s is not valid before %s", t.CertFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	names := certNames(leaf)
	if len(names) == 0 {
		return "", errors.New("certificate names no host (no DNS or IP SAN, no common name)")
	}
	return fmt.Sprintf("%s; expires %s (in %d days)", strings.Join(names, ", "),
		leaf.NotAfter.UTC().Format(time.RFC3339), int(left.Hours()/24)), nil
}
