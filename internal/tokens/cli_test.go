package tokens

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

type cliRun struct {
	code           int
	stdout, stderr string
}

func runCLI(svc *Service, args ...string) cliRun {
	var out, errb bytes.Buffer
	code := RunCLI(context.Background(), svc, args, &out, &errb)
	return cliRun{code, out.String(), errb.String()}
}

// secretLine returns the last line of stdout and checks that it is a secret
// alone on its line, and that no other line of stdout or stderr holds it.
func secretLine(t *testing.T, r cliRun) string {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	s := lines[len(lines)-1]
	if !wellFormed(DefaultPrefix, s) {
		t.Fatalf("last line of stdout %q is not a bare token", s)
	}
	if !strings.HasSuffix(r.stdout, "\n") {
		t.Fatalf("stdout does not end with a newline")
	}
	before := strings.Join(lines[:len(lines)-1], "\n")
	if strings.Contains(before, s) || strings.Contains(before, s[len(DefaultPrefix)+displayLen:]) ||
		strings.Contains(r.stderr, s[len(DefaultPrefix)+displayLen:]) {
		t.Fatalf("secret appears outside the last line of stdout")
	}
	return s
}

func TestCLI(t *testing.T) {
	c := newClock()
	svc, _, logs := newService(t, openSQLite(t), c, Options{})
	var secrets []string
	noSecret := func(t *testing.T, what string, r cliRun) {
		t.Helper()
		for _, s := range secrets {
			body := s[len(DefaultPrefix)+displayLen:] // the display prefix is not secret
			if strings.Contains(r.stdout, body) || strings.Contains(r.stderr, body) {
				t.Fatalf("%s prints a secret:\nstdout:\n%s\nstderr:\n%s", what, r.stdout, r.stderr)
			}
		}
	}

	r := runCLI(svc, "create", "--name", "okta-prod", "--ttl", "90d")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("create: exit %d, stderr %q", r.code, r.stderr)
	}
	first := secretLine(t, r)
	secrets = append(secrets, first)
	if !strings.Contains(r.stdout, `Created token "okta-prod"`) || !strings.Contains(r.stdout, "expires 2026-05-30T12:00:00Z") {
		t.Errorf("create output does not say what was created:\n%s", r.stdout)
	}
	if tok, err := svc.Verify(context.Background(), first, testAddr); err != nil || tok.Name != "okta-prod" {
		t.Fatalf("printed secret does not verify: %v", err)
	}

	r = runCLI(svc, "create", "--name=entra")
	if r.code != 0 {
		t.Fatalf("create without ttl: exit %d: %s", r.code, r.stderr)
	}
	secrets = append(secrets, secretLine(t, r))

	// A duplicate is a runtime failure that says what to do.
	r = runCLI(svc, "create", "--name", "okta-prod")
	if r.code != 1 || !strings.Contains(r.stderr, "token rotate okta-prod") || r.stdout != "" {
		t.Fatalf("duplicate create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	noSecret(t, "failed create", r)

	c.Add(time.Hour)
	r = runCLI(svc, "rotate", "okta-prod", "--overlap", "2h")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("rotate: exit %d, stderr %q", r.code, r.stderr)
	}
	second := secretLine(t, r)
	noSecret(t, "rotate (old secrets)", cliRun{stdout: strings.TrimSuffix(r.stdout, second+"\n")})
	secrets = append(secrets, second)
	if !strings.Contains(r.stdout, "works until 2026-03-01T15:00:00Z") {
		t.Errorf("rotate output does not say until when the old token works:\n%s", r.stdout)
	}
	mustVerify(t, svc, first)
	mustVerify(t, svc, second)

	r = runCLI(svc, "list")
	if r.code != 0 {
		t.Fatalf("list: exit %d: %s", r.code, r.stderr)
	}
	noSecret(t, "list", r)
	want := [][]string{
		{"NAME", "PREFIX", "SCOPE", "FROM", "STATE", "CREATED", "EXPIRES", "LAST", "USED"},
		{"entra", secrets[1][:10], "scim", "any", "active", "2026-03-01T12:00:00Z", "never", "never"},
		{"okta-prod", first[:10], "scim", "any", "overlap", "2026-03-01T12:00:00Z", "2026-03-01T15:00:00Z", "2026-03-01T13:00:00Z"},
		{"okta-prod", second[:10], "scim", "any", "active", "2026-03-01T13:00:00Z", "2026-05-30T13:00:00Z", "2026-03-01T13:00:00Z"},
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("list:\n%s", r.stdout)
	}
	for i, l := range lines {
		if got := strings.Fields(l); strings.Join(got, " ") != strings.Join(want[i], " ") {
			t.Errorf("list line %d = %q, want %q", i, got, want[i])
		}
	}

	r = runCLI(svc, "revoke", "okta-prod")
	if r.code != 0 || !strings.Contains(r.stdout, `Revoked every token called "okta-prod"`) {
		t.Fatalf("revoke: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	noSecret(t, "revoke", r)
	r = runCLI(svc, "revoke", "okta-prod")
	if r.code != 0 {
		t.Fatalf("revoking again is harmless: exit %d: %s", r.code, r.stderr)
	}
	r = runCLI(svc, "revoke", "nobody")
	if r.code != 1 || !strings.Contains(r.stderr, "no token has that name") {
		t.Fatalf("revoke unknown: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(svc, "rotate", "okta-prod")
	if r.code != 1 || !strings.Contains(r.stderr, "token create --name okta-prod") {
		t.Fatalf("rotate revoked: exit %d, stderr %q", r.code, r.stderr)
	}
	noSecret(t, "failed rotate", r)

	r = runCLI(svc, "list")
	noSecret(t, "list after revoke", r)
	if strings.Count(r.stdout, "revoked") != 2 {
		t.Errorf("list after revoke:\n%s", r.stdout)
	}
	for _, s := range secrets {
		if strings.Contains(logs.String(), s[len(DefaultPrefix)+displayLen:]) {
			t.Fatalf("a secret appears in the logs:\n%s", logs)
		}
	}
}

func TestCLIUsage(t *testing.T) {
	svc, _, _ := newService(t, openSQLite(t), newClock(), Options{})
	tests := []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{nil, 2, "", "Usage: scim-bridge token COMMAND"},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"help"}, 0, "Commands:", ""},
		{[]string{"create"}, 2, "", "--name is required"},
		{[]string{"create", "--name", "bad name"}, 2, "", "token name must be"},
		{[]string{"create", "--name", "x", "--ttl", "soon"}, 2, "", `invalid duration "soon"`},
		{[]string{"create", "--name", "x", "--ttl", "-1h"}, 2, "", "invalid duration"},
		{[]string{"create", "--name", "x", "extra"}, 2, "", `unexpected argument "extra"`},
		{[]string{"create", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{[]string{"create", "--help"}, 0, "Usage: scim-bridge token create --name NAME [--ttl DUR]", ""},
		{[]string{"create", "--name", "x", "--read-only", "--admin"}, 2, "", "--read-only and --admin exclude each other"},
		{[]string{"create", "--name", "x", "--network", "10.0.0.0/33"}, 2, "", `invalid network "10.0.0.0/33"`},
		{[]string{"create", "--name", "x", "--network", "okta.com"}, 2, "", `invalid network "okta.com"`},
		{[]string{"create", "--name", "x", "--network", ""}, 2, "", `invalid network ""`},
		{[]string{"create", "--help"}, 0, "-network CIDR", ""},
		{[]string{"list", "--help"}, 0, "Usage: scim-bridge token list", ""},
		{[]string{"list", "x"}, 2, "", "unexpected argument"},
		{[]string{"revoke"}, 2, "", "expected exactly one NAME"},
		{[]string{"revoke", "a", "b"}, 2, "", "expected exactly one NAME"},
		{[]string{"revoke", "-h"}, 0, "Usage: scim-bridge token revoke NAME", ""},
		{[]string{"rotate"}, 2, "", "expected exactly one NAME"},
		{[]string{"rotate", "x", "--overlap", "1y"}, 2, "", "invalid duration"},
		{[]string{"rotate", "--help"}, 0, "-overlap", ""},
		{[]string{"list"}, 0, "No tokens.", ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := runCLI(svc, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.inStdout) || !strings.Contains(r.stderr, tc.inStderr) ||
				(tc.inStderr == "" && r.stderr != "") || (tc.inStdout == "" && r.stdout != "") {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "0": 0, "36h": 36 * time.Hour, "1h30m": 90 * time.Minute, "0d": 0} {
		if got, err := parseDuration(in); err != nil || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "1.5d", "x", "-5m", "99999d"} {
		if _, err := parseDuration(in); err == nil {
			t.Errorf("parseDuration(%q) accepted", in)
		}
	}
}

// TestCLIScopes: create's --read-only, --admin and --network land on the
// token, list shows them, and a rotation's successor keeps them.
func TestCLIScopes(t *testing.T) {
	c := newClock()
	svc, _, _ := newService(t, openSQLite(t), c, Options{})
	r := runCLI(svc, "create", "--name", "audit", "--read-only", "--network", "10.20.3.4/16,192.0.2.7", "--network", "2001:db8::/48")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("create read-only: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "scope scim:read, from 10.20.0.0/16,192.0.2.7/32,2001:db8::/48") {
		t.Errorf("create output does not state the limits:\n%s", r.stdout)
	}
	secretLine(t, r)
	r = runCLI(svc, "create", "--name", "ops", "--admin")
	if r.code != 0 || !strings.Contains(r.stdout, "scope admin, from any") || !strings.Contains(r.stdout, "admin status page") {
		t.Fatalf("create admin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	secretLine(t, r)
	c.Add(time.Minute)
	if r = runCLI(svc, "rotate", "audit"); r.code != 0 {
		t.Fatalf("rotate: %d %s", r.code, r.stderr)
	}
	r = runCLI(svc, "list")
	want := []string{
		"NAME PREFIX SCOPE FROM STATE",
		"audit scim:read 10.20.0.0/16,192.0.2.7/32,2001:db8::/48 overlap",
		"audit scim:read 10.20.0.0/16,192.0.2.7/32,2001:db8::/48 active",
		"ops admin any active",
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != len(want) {
		t.Fatalf("list:\n%s", r.stdout)
	}
	for i, l := range lines {
		f := strings.Fields(l)
		if got := strings.Join(append(f[:1:1], f[2:5]...), " "); i > 0 && got != want[i] {
			t.Errorf("list line %d = %q, want %q", i, got, want[i])
		}
		if got := strings.Join(f[:5], " "); i == 0 && got != want[0] {
			t.Errorf("list header = %q, want %q", got, want[0])
		}
	}
}
