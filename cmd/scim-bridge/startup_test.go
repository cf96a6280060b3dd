package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// serveEnv is a complete configuration for `serve` on loopback with a
// fresh SQLite store; a test changes the one setting it is about.
func serveEnv(t *testing.T) map[string]string {
	return map[string]string{
		"SCIM_BRIDGE_LISTEN":              "127.0.0.1:0",
		"SCIM_BRIDGE_ADMIN_LISTEN":        "127.0.0.1:0",
		"SCIM_BRIDGE_STORE":               "sqlite:" + filepath.Join(t.TempDir(), "s.db"),
		"SCIM_BRIDGE_SIGMA_API_URL":       "http://127.0.0.1:1",
		"SCIM_BRIDGE_SIGMA_CLIENT_ID":     "id",
		"SCIM_BRIDGE_SIGMA_CLIENT_SECRET": "very-secret-value",
		"SCIM_BRIDGE_LOG_FORMAT":          "text",
	}
}

// listenLoopback listens on a free loopback port until the test ends.
func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// busyPort returns a loopback address something already listens on.
func busyPort(t *testing.T) string { return listenLoopback(t).Addr().String() }

// fakePostgres answers every connection as a PostgreSQL server that asks
// for a password and refuses it, as a real one does for a wrong password.
func fakePostgres(t *testing.T) string {
	t.Helper()
	ln := listenLoopback(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				be := pgproto3.NewBackend(c, c)
				if _, err := be.ReceiveStartupMessage(); err != nil {
					return
				}
				be.Send(&pgproto3.AuthenticationCleartextPassword{})
				if err := be.Flush(); err != nil {
					return
				}
				be.SetAuthType(pgproto3.AuthTypeCleartextPassword)
				if _, err := be.Receive(); err != nil {
					return
				}
				be.Send(&pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: `password authentication failed for user "bridge"`})
				_ = be.Flush()
			}()
		}
	}()
	return ln.Addr().String()
}

// TestStartupErrorsSayWhy pins issue 10.2: every start-up failure used to
// end in a nil-pointer panic in app.New's cleanup, hiding its cause. Each
// must print the cause, exit 2 and leave nothing open.
func TestStartupErrorsSayWhy(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not-a-db")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not an SQLite database\n", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(dir, "a-file")
	if err := os.WriteFile(aFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(dir, "read-only")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	unwritable := "sqlite:" + filepath.Join(readOnly, "s.db")
	if os.Geteuid() == 0 {
		// Permissions do not stop root; a pseudo file system does.
		unwritable = "sqlite:/sys/scim-bridge-test.db"
	}
	pgFake := fakePostgres(t)
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string // all in stderr; "a|b" is a or b
	}{
		{"SCIM port busy", map[string]string{"SCIM_BRIDGE_LISTEN": busyPort(t)}, nil,
			[]string{"listen for SCIM on 127.0.0.1:", "address already in use"}},
		{"admin port busy", map[string]string{"SCIM_BRIDGE_ADMIN_LISTEN": busyPort(t)}, nil,
			[]string{"listen for admin on 127.0.0.1:", "address already in use"}},
		{"bad listen address", map[string]string{"SCIM_BRIDGE_LISTEN": "127.0.0.1:99999"}, nil,
			[]string{"listen for SCIM on 127.0.0.1:99999", "invalid port"}},
		{"SQLite directory missing", map[string]string{"SCIM_BRIDGE_STORE": "sqlite:" + filepath.Join(dir, "missing", "s.db")}, nil,
			[]string{"open store sqlite:" + filepath.Join(dir, "missing", "s.db")}},
		{"SQLite directory is a file", map[string]string{"SCIM_BRIDGE_STORE": "sqlite:" + filepath.Join(aFile, "s.db")}, nil,
			[]string{"open store sqlite:" + filepath.Join(aFile, "s.db")}},
		{"SQLite directory unwritable", map[string]string{"SCIM_BRIDGE_STORE": unwritable}, nil,
			[]string{"open store " + unwritable, "permission denied|read-only file system"}},
		{"SQLite file not a database", map[string]string{"SCIM_BRIDGE_STORE": "sqlite:" + notDB}, nil,
			[]string{"open store sqlite:" + notDB, "not a database"}},
		{"PostgreSQL refused", map[string]string{"SCIM_BRIDGE_STORE": "postgres://bridge:pg-secret-pw@127.0.0.1:1/scim?sslmode=disable&connect_timeout=5"}, nil,
			[]string{"open store postgres://bridge:redacted@127.0.0.1:1/scim", "connection refused"}},
		{"PostgreSQL wrong password", map[string]string{"SCIM_BRIDGE_STORE": "postgres://bridge:pg-secret-pw@" + pgFake + "/scim?sslmode=disable&connect_timeout=5"}, nil,
			[]string{"open store postgres://bridge:redacted@" + pgFake, "password authentication failed", "28P01"}},
		{"unknown region", map[string]string{"SCIM_BRIDGE_SIGMA_API_URL": "mars-north"}, nil,
			[]string{"sigma.api_url (SCIM_BRIDGE_SIGMA_API_URL)", "mars-north", "is neither a URL nor a region"}},
		{"demo on a busy port", nil, []string{"demo", "--listen", busyPort(t), "--admin-listen", "127.0.0.1:0"},
			[]string{"listen for SCIM on 127.0.0.1:", "address already in use", "--listen"}},
		{"demo on a busy admin port", nil, []string{"demo", "--listen", "127.0.0.1:0", "--admin-listen", busyPort(t)},
			[]string{"listen for admin on 127.0.0.1:", "address already in use"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			envm := serveEnv(t)
			for k, v := range tc.env {
				envm[k] = v
			}
			args := tc.args
			if args == nil {
				args = []string{"serve"}
			}
			code, stdout, stderr := runCLI(t, envm, args...)
			t.Logf("stderr: %s", stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			for _, w := range tc.want {
				if !slices.ContainsFunc(strings.Split(w, "|"), func(alt string) bool { return strings.Contains(stderr, alt) }) {
					t.Errorf("stderr lacks %q", w)
				}
			}
			for _, bad := range []string{"panic", "goroutine ", "very-secret-value", "pg-secret-pw"} {
				if strings.Contains(stderr+stdout, bad) {
					t.Errorf("output contains %q", bad)
				}
			}
			if !strings.Contains(stderr, "cannot start") {
				t.Errorf("stderr does not say the bridge cannot start")
			}
		})
	}
}
