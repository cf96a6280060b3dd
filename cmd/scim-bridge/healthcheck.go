package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
)

// runHealthcheck asks the running bridge's admin listener whether it is
// alive (/healthz) or, with --ready, ready (/readyz). It is the command a
// distroless container's HEALTHCHECK and Kubernetes exec probes run, so
// every failure — bad flags and configuration included — exits 1, never
// 2 (Docker reserves 2).
func runHealthcheck(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "healthcheck", "healthcheck [--config FILE] [--url URL] [--ready] [--timeout DUR]\n\n"+
		"Exits 0 when the running bridge's admin listener answers /healthz (or, with --ready, /readyz) with 200,\n"+
		"1 otherwise. Without --url the address is admin_listen (SCIM_BRIDGE_ADMIN_LISTEN, default :9090) on\n"+
		"loopback, over HTTPS when admin_tls is configured (the certificate must be the configured one);\n"+
		"SCIM_BRIDGE_HEALTHCHECK_URL overrides it.")
	cfgPath := fs.String("config", "", "YAML configuration `file` (only admin_listen is used)")
	target := fs.String("url", "", "admin listener base `URL`, e.g. http://127.0.0.1:9090 (default from the configuration)")
	ready := fs.Bool("ready", false, "check /readyz (the store and the live Sigma path) instead of /healthz")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this `duration`")
	if code := parse(fs, e, args); code >= 0 {
		if code == exitUsage {
			return exitFailure
		}
		return code
	}
	base := *target
	if base == "" {
		base = e.getenv("SCIM_BRIDGE_HEALTHCHECK_URL")
	}
	client := &http.Client{}
	if base == "" {
		cfg, err := config.LoadForStore(*cfgPath, e.getenv)
		if err == nil {
			base, client, err = adminClient(cfg)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "scim-bridge healthcheck: %v\n", err)
			return exitFailure
		}
	}
	path := "/healthz"
	if *ready {
		path = "/readyz"
	}
	url := strings.TrimRight(base, "/") + path
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge healthcheck: %v\n", err)
		return exitFailure
	}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(e.stderr, "scim-bridge healthcheck: %s: %v\n", url, err)
		return exitFailure
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(e.stderr, "scim-bridge healthcheck: %s answered %s%s\n", url, resp.Status, notReady(body))
		return exitFailure
	}
	fmt.Fprintf(e.stdout, "ok: %s\n", url)
	return exitOK
}

// adminClient returns the URL of the configured admin listener on this
// host and a client for it. With admin_tls the client accepts exactly the
// configured certificate (the name in it need not be the loopback
// address this connects to).
func adminClient(cfg config.Config) (string, *http.Client, error) {
	host, port, err := net.SplitHostPort(cfg.AdminListen)
	if err != nil {
		return "", nil, fmt.Errorf("admin_listen %q: %w", cfg.AdminListen, err)
	}
	switch host {
	case "", "0.0.0.0", "::":
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, port)
	if cfg.AdminTLS.CertFile == "" {
		return "http://" + addr, &http.Client{}, nil
	}
	pair, err := tls.LoadX509KeyPair(cfg.AdminTLS.CertFile, cfg.AdminTLS.KeyFile)
	if err != nil {
		return "", nil, fmt.Errorf("admin_tls: %w", err)
	}
	want := pair.Certificate[0]
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verified below: the peer must present the configured certificate.
		InsecureSkipVerify: true, //nolint:gosec // pinned by VerifyPeerCertificate
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || !bytes.Equal(raw[0], want) {
				return errors.New("the admin listener presented a certificate other than admin_tls.cert_file")
			}
			return nil
		},
	}
	return "https://" + addr, &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}, nil
}

// notReady names the failed required checks of a /readyz report.
func notReady(body []byte) string {
	var rep struct {
		Checks []struct {
			Name, State, Error string
			Required           bool
		}
	}
	if json.Unmarshal(body, &rep) != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range rep.Checks {
		if c.Required && c.State != "ok" {
			fmt.Fprintf(&b, "; %s %s: %s", c.Name, c.State, c.Error)
		}
	}
	return b.String()
}
