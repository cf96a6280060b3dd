package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fuzzEnv reads "NAME=value" lines into an environment (at most 64).
func fuzzEnv(text string) map[string]string {
	m := make(map[string]string)
	for i, line := range strings.Split(text, "\n") {
		if i == 64 {
			break
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = v
		}
	}
	return m
}

// leaks reports whether out contains secret although nothing else the
// configuration was given does (a secret that is also, say, the client id
// may rightly appear as the client id).
func leaks(out, secret string, yml []byte, env map[string]string, secretVar string) bool {
	if len(secret) < 8 || !strings.Contains(out, secret) || strings.Contains(string(yml), secret) {
		return false
	}
	for k, v := range env {
		if k != secretVar && strings.Contains(v, secret) {
			return false
		}
	}
	return true
}

// FuzzLoad feeds Load arbitrary YAML and environment variables (issue 10
// deliver 3). It must never panic or hang; the same input gives the same
// answer; what it accepts passes Validate again; no secret given through
// the environment appears in an error; and the store spec as logged never
// holds the PostgreSQL password. The seed corpus (testdata/fuzz/FuzzLoad)
// holds the deep, huge and alias-bomb cases.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../../scim-bridge.example.yml")
	if err != nil {
		f.Fatal(err)
	}
	rest := "SCIM_BRIDGE_SIGMA_API_URL=aws-us-west\nSCIM_BRIDGE_SIGMA_CLIENT_ID=id\nSCIM_BRIDGE_SIGMA_CLIENT_SECRET=fuzz-secret-value"
	f.Add(example, "")
	f.Add(example, rest+"\nSCIM_BRIDGE_STORE=postgres://bridge:pg-password-1@db:5432/scim")
	f.Add([]byte{}, rest)
	f.Add([]byte("sigma: {mode: scim, scim_url: 'https://x/scim/v2', scim_token: tok-secret-123}\n"), "SCIM_BRIDGE_SHUTDOWN_TIMEOUT=forever")
	f.Add([]byte("http: {max_body_bytes: -1, read_timeout: -5s}\ntokens: {cache_ttl: 1h}\n"), rest+"\nSCIM_BRIDGE_DRY_RUN=maybe")
	f.Add([]byte("sigma:\n  account_type_aliases: {a: b, c: d}\nprovisioning:\n  group_rules: [{group: '', account_type: Pro}]\n"), rest)
	f.Add([]byte("unknown_key: 1\n"), "")
	f.Add([]byte("listen: [1, 2]\n"), "SCIM_BRIDGE_LISTEN=\x00")
	dir := f.TempDir() // one file per fuzzing process, rewritten each run
	f.Fuzz(func(t *testing.T, yml []byte, envText string) {
		env := fuzzEnv(envText)
		getenv := func(k string) string { return env[k] }
		path := ""
		if len(yml) > 0 {
			path = filepath.Join(dir, "c.yml")
			if err := os.WriteFile(path, yml, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		cfg, err := Load(path, getenv)
		cfg2, err2 := Load(path, getenv)
		if fmt.Sprint(err) != fmt.Sprint(err2) || !reflect.DeepEqual(cfg, cfg2) {
			t.Fatalf("Load is not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			for _, v := range []string{"SCIM_BRIDGE_SIGMA_CLIENT_SECRET", "SCIM_BRIDGE_SIGMA_SCIM_TOKEN"} {
				if leaks(err.Error(), env[v], yml, env, v) {
					t.Fatalf("the error shows %s: %v", v, err)
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a configuration Validate refuses: %v", err)
		}
		if fmt.Sprint(cfg.Sigma.ClientSecret) != "<redacted>" && cfg.Sigma.ClientSecret != "" {
			t.Fatalf("the client secret prints as %q", fmt.Sprint(cfg.Sigma.ClientSecret))
		}
		if u, err := url.Parse(cfg.Store); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok && len(pw) >= 8 && !strings.Contains(strings.Replace(cfg.Store, pw, "", 1), pw) &&
				strings.Contains(cfg.RedactedStore(), pw) {
				t.Fatalf("RedactedStore() = %q shows the password", cfg.RedactedStore())
			}
		}
	})
}
