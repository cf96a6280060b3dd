package postgres_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/postgres"
	"github.com/scimbridge/scim-bridge/internal/store/postgres/pgtest"
	"github.com/scimbridge/scim-bridge/internal/store/storetest"
)

func openAt(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	pgtest.DSN(t)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dsn := pgtest.NewSchema(t)
		return func(t *testing.T) store.Store { return openAt(t, dsn) }
	})
}

// Replicas starting at once migrate the schema exactly once.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), dsn, postgres.Options{MaxConns: 2})
			if err == nil {
				_ = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("open %d: %v", i, err)
		}
	}
	s := openAt(t, dsn)
	if v, err := s.CurrentSchemaVersion(t.Context()); err != nil || v != postgres.SchemaVersion {
		t.Errorf("schema version = %d, %v; want %d", v, err, postgres.SchemaVersion)
	}
}

// A database written by a version-1 build is upgraded when the first
// replica opens it: its records survive and userNames work on them.
func TestUpgradeFromVersion1(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version integer NOT NULL PRIMARY KEY, applied_at timestamptz NOT NULL)`)
	exec(postgres.Migrations[0])
	exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (1, now())`)
	for _, r := range storetest.V1Rows {
		var ext *string
		if r.ExternalID != "" {
			ext = &r.ExternalID
		}
		exec(`INSERT INTO resources (kind, id, external_id, tombstoned, tombstone_at, version, updated_at)
			VALUES ($1, $2, $3, $4, CASE WHEN $4 THEN now() END, $5, now())`, string(r.Kind), r.ID, ext, r.Tombstoned, r.Version)
	}
	v1t := storetest.V1Token
	exec(`INSERT INTO tokens (id, name, hash, prefix, created_at) VALUES ($1, $2, $3, $4, now())`, v1t.ID, v1t.Name, v1t.Hash, v1t.Prefix)
	v1a := storetest.V1Audit
	exec(`INSERT INTO audit (time, request_id, token_name, operation, kind, resource_id, outcome, upstream_status, detail)
		VALUES (now() - interval '1 hour', $1, $2, $3, $4, $5, $6, $7, $8)`, v1a.RequestID, v1a.TokenName, v1a.Operation,
		string(v1a.Kind), v1a.ResourceID, string(v1a.Outcome), v1a.UpstreamStatus, v1a.Detail)
	_ = conn.Close(ctx)

	// Replicas starting together: one migrates, all see the latest version.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(ctx, dsn, postgres.Options{MaxConns: 2})
			if err == nil {
				_ = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d of a version-1 database: %v", i, err)
		}
	}
	s := openAt(t, dsn)
	if v, err := s.CurrentSchemaVersion(ctx); err != nil || v != postgres.SchemaVersion {
		t.Fatalf("schema version after upgrade = %d, %v; want %d", v, err, postgres.SchemaVersion)
	}
	storetest.CheckUpgradedFromV1(t, s)
	storetest.CheckV1Token(t, s)
	storetest.CheckV1Audit(t, s)
}

func TestOpenErrorsHidePassword(t *testing.T) {
	const pw = "s3cr3t-Pa55"
	ctx, cancel := context.WithTimeout(t.Context(), 30*1e9)
	defer cancel()
	cases := []string{
		// Nothing listens on port 1.
		"postgres://bridge:" + pw + "@127.0.0.1:1/scim?sslmode=disable&connect_timeout=5",
		"host=127.0.0.1 port=1 user=bridge password=" + pw + " dbname=scim sslmode=disable connect_timeout=5",
		"host=127.0.0.1 port=1 user=bridge password='" + pw + "' dbname=scim sslmode=disable",
	}
	for _, dsn := range cases {
		_, err := postgres.Open(ctx, dsn, postgres.Options{})
		t.Logf("unreachable: %v", err)
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("open unreachable: %v, want ErrUnavailable", err)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("error leaks the password: %v", err)
		}
		if err != nil && !strings.Contains(err.Error(), "127.0.0.1:1/scim") {
			t.Errorf("error does not name the server: %v", err)
		}
	}
	for _, dsn := range []string{
		"postgres://bridge:" + pw + "@127.0.0.1:notaport/scim",
		"host=127.0.0.1 password=" + pw + " port=x",
		"postgres://bridge:" + pw + "@[::1/scim",
	} {
		_, err := postgres.Open(ctx, dsn, postgres.Options{})
		t.Logf("bad DSN: %v", err)
		if err == nil || strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "invalid DSN") {
			t.Errorf("open of a bad DSN = %v, want an 'invalid DSN' error without the password", err)
		}
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:pw@h:5432/db?sslmode=disable":     "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgresql://u@h/db":                           "postgresql://u@h/db",
		"host=h user=u password=pw dbname=db":           "host=h user=u password=xxxxx dbname=db",
		"host=h password='p w' dbname=db":               "host=h password=xxxxx dbname=db",
		"postgres://h/db?user=u&password=pw&sslmode=no": "postgres://h/db?password=xxxxx&sslmode=no&user=u",
	} {
		if got := postgres.RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

const crashDSNEnv = "SCIM_BRIDGE_TEST_POSTGRES_CRASH_DSN"

// TestCrashChild is the process TestCrashRecovery kills; on its own it
// skips.
func TestCrashChild(t *testing.T) {
	if os.Getenv(storetest.CrashEnv) == "" {
		t.Skip("runs only as the child of TestCrashRecovery")
	}
	s, err := postgres.Open(t.Context(), os.Getenv(crashDSNEnv), postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Fatal(storetest.CrashWriter(t.Context(), s, os.Stdout))
}

// A replica killed mid-transaction leaves nothing half-written: the server
// rolls the open transaction back and the next replica carries on.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(storetest.CrashEnv) != "" {
		t.Skip("not inside the crash child")
	}
	dsn := pgtest.NewSchema(t)
	last := storetest.KillMidWrite(t, "TestCrashChild", []string{crashDSNEnv + "=" + dsn}, 40)
	s := openAt(t, dsn)
	storetest.CheckAfterCrash(t, s, last)
	t.Logf("child killed after %d committed rounds", last)
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		s, err := postgres.Open(b.Context(), pgtest.NewSchema(b), postgres.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	})
}
