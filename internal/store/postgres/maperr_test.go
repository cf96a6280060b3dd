package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scim-bridge/internal/store"
)

func TestMapErr(t *testing.T) {
	const pw = "pa55-w0rd"
	s := &Store{secrets: dsnSecrets("postgres://u:" + pw + "@h/db")}
	cases := []struct {
		in   error
		want error
	}{
		{pgx.ErrNoRows, store.ErrNotFound},
		{fmt.Errorf("scan: %w", pgx.ErrNoRows), store.ErrNotFound},
		{&pgconn.PgError{Code: "23505", Message: "duplicate key value violates unique constraint"}, store.ErrConflict},
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, store.ErrUnavailable},
		{&pgconn.PgError{Code: "08006", Message: "connection failure"}, store.ErrUnavailable},
		{&pgconn.PgError{Code: "28P01", Message: `password authentication failed for user "u" ` + pw}, store.ErrUnavailable},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, store.ErrUnavailable},
		{io.ErrUnexpectedEOF, store.ErrUnavailable},
		{context.DeadlineExceeded, context.DeadlineExceeded},
	}
	for _, c := range cases {
		got := s.mapErr("op", c.in)
		if !errors.Is(got, c.want) {
			t.Errorf("mapErr(%v) = %v, want %v", c.in, got, c.want)
		}
		if strings.Contains(got.Error(), pw) {
			t.Errorf("mapErr(%v) leaks the password: %v", c.in, got)
		}
		if !strings.HasPrefix(got.Error(), "op: ") {
			t.Errorf("mapErr(%v) = %q: want it to start with the operation", c.in, got)
		}
	}
	// Other driver errors stay reachable for errors.As, minus secrets.
	other := &pgconn.PgError{Code: "42P01", Message: "relation " + pw + " does not exist"}
	got := s.mapErr("op", other)
	var pe *pgconn.PgError
	if !errors.As(got, &pe) || strings.Contains(got.Error(), pw) {
		t.Errorf("mapErr(other) = %v: want the PgError reachable and the password scrubbed", got)
	}
	if s.mapErr("op", nil) != nil {
		t.Errorf("mapErr(nil) != nil")
	}
}

func TestDSNSecrets(t *testing.T) {
	for dsn, want := range map[string]string{
		"postgres://u:p%40ss@h/db":           "p@ss",
		"postgres://u:p%40ss@h/db?x=1":       "p%40ss",
		"host=h password=abc dbname=x":       "abc",
		"host=h password='a b\\'c' dbname=x": "a b'c",
		"postgres://h/db?password=qq":        "qq",
	} {
		found := false
		for _, s := range dsnSecrets(dsn) {
			found = found || s == want
		}
		if !found {
			t.Errorf("dsnSecrets(%q) = %q, want it to include %q", dsn, dsnSecrets(dsn), want)
		}
	}
}
