package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/secret"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

var restEnv = map[string]string{
	"SCIM_BRIDGE_SIGMA_API_URL":       "https://aws-api.sigmacomputing.com",
	"SCIM_BRIDGE_SIGMA_CLIENT_ID":     "cid",
	"SCIM_BRIDGE_SIGMA_CLIENT_SECRET": "s3cret-value",
}

func TestLoadDefaultsAndEnv(t *testing.T) {
	cfg, err := Load("", env(restEnv))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != ":8080" || cfg.AdminListen != ":9090" || cfg.Store != "sqlite:scim-bridge.db" ||
		cfg.Sigma.Mode != ModeAuto || cfg.Log.Format != "json" || cfg.Log.Level != "info" {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if cfg.Sigma.ClientSecret.Reveal() != "s3cret-value" {
		t.Errorf("client secret not read from the environment")
	}
	if !*cfg.Provisioning.UserNameFromEmail {
		t.Errorf("user_name_from_email should default to true")
	}
}

func TestEnvOverridesFile(t *testing.T) {
	p := writeFile(t, `
listen: 127.0.0.1:7000
store: sqlite:/tmp/x.db
log: {format: text, level: debug}
sigma:
  mode: rest
  api_url: https://api.eu.aws.sigmacomputing.com
  client_id: from-file
  client_secret_file: /run/secrets/sigma
  account_type_aliases: {Viewer: View}
provisioning:
  default_account_type: View
  group_rules:
    - {group: Sigma Admins, account_type: Admin}
  resync_interval: 10m
http:
  shutdown_timeout: 5s
`)
	e := map[string]string{"SCIM_BRIDGE_SIGMA_CLIENT_ID": "from-env", "SCIM_BRIDGE_LISTEN": "127.0.0.1:7001"}
	cfg, err := Load(p, env(e))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Sigma.ClientID != "from-env" || cfg.Listen != "127.0.0.1:7001" {
		t.Errorf("environment did not override the file: %+v", cfg)
	}
	if cfg.Sigma.ClientSecretFile != "/run/secrets/sigma" || cfg.Log.Format != "text" ||
		cfg.Provisioning.ResyncInterval.D() != 10*time.Minute || cfg.HTTP.ShutdownTimeout.D() != 5*time.Second ||
		len(cfg.Provisioning.GroupRules) != 1 || cfg.Sigma.AccountTypeAliases["Viewer"] != "View" {
		t.Errorf("file values lost: %+v", cfg)
	}
}

func TestExampleConfigIsValid(t *testing.T) {
	// The documented example must load as it is.
	if _, err := Load("../../scim-bridge.example.yml", env(nil)); err != nil {
		t.Fatalf("scim-bridge.example.yml: %v", err)
	}
}

func TestBadConfigs(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		want string
	}{
		{
			name: "unknown key",
			file: "listen: :8080\nlisten_adress: :1\n",
			want: "config file CONFIG: yaml: unmarshal errors:\n  line 2: field listen_adress not found in type config.Config",
		},
		{
			name: "nothing configured for sigma",
			want: "invalid configuration:\n  - sigma: no connection configured; set the REST API credentials (SCIM_BRIDGE_SIGMA_API_URL, _CLIENT_ID, _CLIENT_SECRET) and/or the Enterprise SCIM endpoint (SCIM_BRIDGE_SIGMA_SCIM_URL, _SCIM_TOKEN)",
		},
		{
			name: "scim mode without url, secret and file both, bad url",
			env: map[string]string{
				"SCIM_BRIDGE_SIGMA_MODE":               "scim",
				"SCIM_BRIDGE_SIGMA_API_URL":            "ftp//nope",
				"SCIM_BRIDGE_SIGMA_CLIENT_ID":          "cid",
				"SCIM_BRIDGE_SIGMA_CLIENT_SECRET":      "v",
				"SCIM_BRIDGE_SIGMA_CLIENT_SECRET_FILE": "/f",
			},
			want: "invalid configuration:\n" +
				"  - sigma.api_url (SCIM_BRIDGE_SIGMA_API_URL): \"ftp//nope\" is not a URL; want a Sigma API host such as https://aws-api.sigmacomputing.com, or a region name such as aws-us-west or aws-eu\n" +
				"  - sigma.client_secret (SCIM_BRIDGE_SIGMA_CLIENT_SECRET): set both as a value and as a file (client_secret_file); choose one\n" +
				"  - sigma.mode (SCIM_BRIDGE_SIGMA_MODE): scim needs sigma.scim_token or scim_token_file (SCIM_BRIDGE_SIGMA_SCIM_TOKEN[_FILE]), sigma.scim_url (SCIM_BRIDGE_SIGMA_SCIM_URL)",
		},
		{
			name: "every simple field wrong",
			env: map[string]string{
				"SCIM_BRIDGE_LISTEN":        "8080",
				"SCIM_BRIDGE_ADMIN_LISTEN":  ":9090",
				"SCIM_BRIDGE_STORE":         "mysql://u:pw@h/db",
				"SCIM_BRIDGE_LOG_FORMAT":    "xml",
				"SCIM_BRIDGE_LOG_LEVEL":     "loud",
				"SCIM_BRIDGE_SIGMA_MODE":    "both",
				"SCIM_BRIDGE_SIGMA_API_URL": "https://aws-api.sigmacomputing.com/v2",
			},
			want: "invalid configuration:\n" +
				"  - listen (SCIM_BRIDGE_LISTEN): \"8080\" is not a host:port address such as :8080 or 127.0.0.1:8080\n" +
				"  - store (SCIM_BRIDGE_STORE): \"mysql://u:redacted@h/db\" is neither sqlite:PATH nor a postgres:// URL\n" +
				"  - log.format (SCIM_BRIDGE_LOG_FORMAT): \"xml\" is not json or text\n" +
				"  - log.level (SCIM_BRIDGE_LOG_LEVEL): \"loud\" is not debug, info, warn or error\n" +
				"  - sigma.api_url (SCIM_BRIDGE_SIGMA_API_URL): give the host without /v2 (https://aws-api.sigmacomputing.com)\n" +
				"  - sigma.mode (SCIM_BRIDGE_SIGMA_MODE): \"both\" is not auto, scim or rest",
		},
		{
			name: "auto with half of each path",
			env: map[string]string{
				"SCIM_BRIDGE_SIGMA_CLIENT_ID":  "cid",
				"SCIM_BRIDGE_SIGMA_SCIM_TOKEN": "tok",
			},
			want: "invalid configuration:\n" +
				"  - sigma: REST API configuration is incomplete: missing sigma.api_url (SCIM_BRIDGE_SIGMA_API_URL), sigma.client_secret or client_secret_file (SCIM_BRIDGE_SIGMA_CLIENT_SECRET[_FILE])\n" +
				"  - sigma: Enterprise SCIM configuration is incomplete: missing sigma.scim_url (SCIM_BRIDGE_SIGMA_SCIM_URL)",
		},
		{
			name: "file problems",
			file: `
store: "sqlite:"
public_url: scim.example.com
sigma:
  scim_url: https://u:p@example.com/scim
  scim_token: t
  scim_token_file: /t
  max_concurrent: 0
  account_type_aliases: {"": View}
provisioning:
  group_rules: [{group: "", account_type: Admin}, {group: Ops}]
http:
  max_body_bytes: 10
  write_timeout: 0s
`,
			want: "invalid configuration:\n" +
				"  - store (SCIM_BRIDGE_STORE): sqlite needs a file path, e.g. sqlite:/var/lib/scim-bridge/state.db\n" +
				"  - public_url (SCIM_BRIDGE_PUBLIC_URL): \"scim.example.com\" is not a URL; want the SCIM base URL the IdP uses, e.g. https://scim.example.com/scim/v2\n" +
				"  - sigma.scim_url (SCIM_BRIDGE_SIGMA_SCIM_URL): must not carry credentials in the URL; use the secret settings\n" +
				"  - sigma.scim_token (SCIM_BRIDGE_SIGMA_SCIM_TOKEN): set both as a value and as a file (scim_token_file); choose one\n" +
				"  - sigma.max_concurrent: must be at least 1, got 0\n" +
				"  - sigma.account_type_aliases: \"\": \"View\": alias and account type must both be non-empty\n" +
				"  - provisioning.group_rules[0].group: must name an IdP group (displayName)\n" +
				"  - provisioning.group_rules[1].account_type: must name a Sigma account type\n" +
				"  - http.write_timeout: must be above 0, got 0s\n" +
				"  - http.max_body_bytes: must be at least 1024, got 10",
		},
		{
			name: "bad env values",
			env: map[string]string{
				"SCIM_BRIDGE_DRY_RUN":          "maybe",
				"SCIM_BRIDGE_SHUTDOWN_TIMEOUT": "ten",
			},
			want: "invalid configuration:\n" +
				"  - SCIM_BRIDGE_DRY_RUN: want true or false, got \"maybe\"\n" +
				"  - SCIM_BRIDGE_SHUTDOWN_TIMEOUT: invalid duration \"ten\" (use e.g. 30s, 5m, 24h)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ""
			if tt.file != "" {
				path = writeFile(t, tt.file)
			}
			_, err := Load(path, env(tt.env))
			if err == nil {
				t.Fatal("Load accepted a bad configuration")
			}
			got := err.Error()
			if path != "" {
				got = strings.ReplaceAll(got, path, "CONFIG")
			}
			if got != tt.want {
				t.Errorf("message mismatch\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestSecretsNeverPrint(t *testing.T) {
	cfg, err := Load("", env(restEnv))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg.Sigma.ClientSecret)} {
		if strings.Contains(s, "s3cret-value") {
			t.Fatalf("secret printed: %s", s)
		}
	}
	if got := fmt.Sprintf("%s|%q|%x", cfg.Sigma.ClientSecret, cfg.Sigma.ClientSecret, cfg.Sigma.ClientSecret); got != "<redacted>|<redacted>|<redacted>" {
		t.Errorf("got %s", got)
	}
	var _ = secret.Redacted
}

func TestLoadForStoreNeedsOnlyTheStore(t *testing.T) {
	cfg, err := LoadForStore("", env(map[string]string{"SCIM_BRIDGE_STORE": "sqlite:/tmp/t.db"}))
	if err != nil || cfg.Store != "sqlite:/tmp/t.db" {
		t.Fatalf("LoadForStore = %v, %v", cfg.Store, err)
	}
	_, err = LoadForStore("", env(map[string]string{"SCIM_BRIDGE_STORE": "redis://x", "SCIM_BRIDGE_SIGMA_MODE": "nope"}))
	want := "invalid configuration:\n  - store (SCIM_BRIDGE_STORE): \"redis://x\" is neither sqlite:PATH nor a postgres:// URL"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestPeerPollInterval(t *testing.T) {
	p := writeFile(t, "provisioning: {peer_poll_interval: 10ms}\n")
	_, err := Load(p, env(restEnv))
	want := "invalid configuration:\n  - provisioning.peer_poll_interval: must be 0s (off) or between 100ms and resync_interval, got 10ms"
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	p = writeFile(t, "provisioning: {peer_poll_interval: 0s}\n")
	if cfg, err := Load(p, env(restEnv)); err != nil || cfg.Provisioning.PeerPollInterval != 0 {
		t.Errorf("0s (off): %v, %v", cfg.Provisioning.PeerPollInterval, err)
	}
}

func TestTLSSettings(t *testing.T) {
	e := map[string]string{
		"SCIM_BRIDGE_TLS_CERT_FILE":       "/tls/tls.crt",
		"SCIM_BRIDGE_TLS_KEY_FILE":        "/tls/tls.key",
		"SCIM_BRIDGE_ADMIN_TLS_CERT_FILE": "/tls/tls.crt",
	}
	for k, v := range restEnv {
		e[k] = v
	}
	_, err := Load("", env(e))
	if err == nil || !strings.Contains(err.Error(), "admin_tls (SCIM_BRIDGE_ADMIN_TLS_CERT_FILE, SCIM_BRIDGE_ADMIN_TLS_KEY_FILE): set both") ||
		strings.Contains(err.Error(), "- tls (") {
		t.Fatalf("half a pair: %v", err)
	}
	e["SCIM_BRIDGE_ADMIN_TLS_KEY_FILE"] = "/tls/tls.key"
	cfg, err := Load("", env(e))
	if err != nil {
		t.Fatal(err)
	}
	if want := (TLS{CertFile: "/tls/tls.crt", KeyFile: "/tls/tls.key"}); cfg.TLS != want || cfg.AdminTLS != want {
		t.Errorf("tls = %+v, admin_tls = %+v", cfg.TLS, cfg.AdminTLS)
	}
	cfg, err = Load(writeFile(t, "tls:\n  cert_file: /a.crt\n  key_file: /a.key\n"), env(restEnv))
	if err != nil || cfg.TLS.CertFile != "/a.crt" || cfg.TLS.KeyFile != "/a.key" || cfg.AdminTLS.Enabled() {
		t.Errorf("YAML tls: %+v, %v", cfg.TLS, err)
	}
}

func TestSeatLimits(t *testing.T) {
	p := writeFile(t, "seats:\n  total: 500\n  by_account_type: {Pro: 50, Analyst Creator: 20}\n")
	cfg, err := Load(p, env(restEnv))
	if err != nil || cfg.Seats.Total != 500 || len(cfg.Seats.ByAccountType) != 2 || cfg.Seats.ByAccountType["Analyst Creator"] != 20 || !cfg.Seats.Configured() {
		t.Fatalf("file: %+v, %v", cfg.Seats, err)
	}
	if cfg, _ := Load("", env(restEnv)); cfg.Seats.Configured() {
		t.Errorf("no seat setting is configured: %+v", cfg.Seats)
	}

	// The environment replaces the file's map.
	e := map[string]string{"SCIM_BRIDGE_SEATS_TOTAL": "300", "SCIM_BRIDGE_SEATS_BY_ACCOUNT_TYPE": "View=250, Analyst Creator = 40"}
	for k, v := range restEnv {
		e[k] = v
	}
	cfg, err = Load(p, env(e))
	if err != nil || cfg.Seats.Total != 300 || fmt.Sprint(cfg.Seats.ByAccountType) != "map[Analyst Creator:40 View:250]" {
		t.Fatalf("env: %+v, %v", cfg.Seats, err)
	}

	for _, tc := range []struct{ name, file, total, byType, want string }{
		{name: "bad env number", total: "lots", want: "invalid configuration:\n  - SCIM_BRIDGE_SEATS_TOTAL: want a whole number, got \"lots\""},
		{name: "bad env list", byType: "Pro:50", want: "invalid configuration:\n  - SCIM_BRIDGE_SEATS_BY_ACCOUNT_TYPE: want ACCOUNT_TYPE=SEATS[,ACCOUNT_TYPE=SEATS…] such as Pro=50,View=450, got \"Pro:50\""},
		{
			name: "every seat problem",
			file: "seats:\n  total: -1\n  by_account_type: {pro: 5, Pro: 6, View: 0, \" \": 3}\n",
			want: "invalid configuration:\n" +
				"  - seats.total (SCIM_BRIDGE_SEATS_TOTAL): must be a number of seats, or 0 for no total limit; got -1\n" +
				"  - seats.by_account_type (SCIM_BRIDGE_SEATS_BY_ACCOUNT_TYPE): an account type name is empty\n" +
				"  - seats.by_account_type (SCIM_BRIDGE_SEATS_BY_ACCOUNT_TYPE): \"View\": must be at least 1 seat, got 0; remove the account type for no limit\n" +
				"  - seats.by_account_type (SCIM_BRIDGE_SEATS_BY_ACCOUNT_TYPE): \"Pro\" and \"pro\" are the same account type (names are compared without regard to case); keep one",
		},
		{
			name: "type above total",
			file: "seats: {total: 10, by_account_type: {Pro: 11}}\n",
			want: "invalid configuration:\n  - seats.by_account_type (SCIM_BRIDGE_SEATS_BY_ACCOUNT_TYPE): \"Pro\": 11 seats is more than seats.total (10)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := map[string]string{"SCIM_BRIDGE_SEATS_TOTAL": tc.total, "SCIM_BRIDGE_SEATS_BY_ACCOUNT_TYPE": tc.byType}
			for k, v := range restEnv {
				e[k] = v
			}
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			_, err := Load(path, env(e))
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}
