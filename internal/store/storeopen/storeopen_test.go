package storeopen_test

import (
	"bytes"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/postgres"
	"github.com/scimbridge/scim-bridge/internal/store/postgres/pgtest"
	"github.com/scimbridge/scim-bridge/internal/store/sqlite"
	"github.com/scimbridge/scim-bridge/internal/store/storeopen"
)

func TestOpenSQLite(t *testing.T) {
	var logs bytes.Buffer
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := storeopen.Open(t.Context(), "sqlite:"+path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*sqlite.Store); !ok {
		t.Errorf("sqlite: spec opened a %T", s)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Error(err)
	}
	if !strings.Contains(logs.String(), "store=sqlite") {
		t.Errorf("no log line naming the store: %q", logs.String())
	}
}

func TestOpenPostgres(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	var logs bytes.Buffer
	s, err := storeopen.Open(t.Context(), dsn, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*postgres.Store); !ok {
		t.Errorf("postgres DSN opened a %T", s)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestOpenErrors(t *testing.T) {
	const pw = "hunter2-secret"
	cases := map[string]string{
		"":                       "empty store spec",
		"sqlite:":                "needs a file path",
		"mysql://u:" + pw + "@h": `unknown store scheme "mysql"`,
		"u:" + pw + "@h/db":      `unknown store scheme "u"`,
		"/var/lib/state.db":      "no known scheme",
		"postgres://u:" + pw + "@127.0.0.1:1/db?connect_timeout=5": "127.0.0.1:1/db",
		"sqlite:" + filepath.Join(t.TempDir(), "missing", "x.db"):  "no such file or directory",
	}
	for spec, want := range cases {
		s, err := storeopen.Open(t.Context(), spec, nil)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", spec)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want it to contain %q", spec, err, want)
		}
		if strings.Contains(err.Error(), pw) {
			t.Errorf("Open(%q) leaks the password: %v", spec, err)
		}
	}
	_, err := storeopen.Open(t.Context(), "postgresql://u:"+pw+"@127.0.0.1:1/db?connect_timeout=5", nil)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("unreachable postgres: %v, want ErrUnavailable", err)
	}
}
