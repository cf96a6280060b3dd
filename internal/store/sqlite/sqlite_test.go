package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/sqlite"
	"github.com/scimbridge/scim-bridge/internal/store/storetest"
)

func openAt(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "state.db")
		return func(t *testing.T) store.Store { return openAt(t, path) }
	})
}

func TestOpenRecordsSchemaVersionAndWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path)
	if err := s.IntegrityCheck(t.Context()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode %v, want 0600", perm)
	}
	if _, err := s.AppendAudit(t.Context(), store.AuditEntry{Operation: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Errorf("WAL mode: %v", err)
		} else if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s: mode %v, want 0600 (token hashes, audit)", filepath.Base(f), perm)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopening applies nothing new and keeps the version.
	s = openAt(t, path)
	if got, err := s.CurrentSchemaVersion(t.Context()); err != nil || got != sqlite.SchemaVersion {
		t.Errorf("schema version = %d, %v; want %d", got, err, sqlite.SchemaVersion)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"":                                  "empty path",
		filepath.Join(dir, "a?b"):           "plain file name",
		":memory:":                          "plain file name",
		filepath.Join(dir, "missing", "db"): "no such file or directory",
	}
	for path, want := range cases {
		_, err := sqlite.Open(t.Context(), path, sqlite.Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", path, err, want)
		}
	}
	// A file that is not a database is unavailable, not a panic.
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(t.Context(), junk, sqlite.Options{})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open(junk) = %v, want ErrUnavailable", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := openAt(t, path)
	_ = s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), `INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	_, err = sqlite.Open(t.Context(), path, sqlite.Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Errorf("open of a newer schema = %v, want refusal", err)
	}
}

// A file written by a version-1 build is upgraded when opened: its records
// survive and the new userName column works on them.
func TestUpgradeFromVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// What Open did in version 1, by hand: the bookkeeping table, the first
	// migration, its record.
	exec(`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`)
	exec(sqlite.Migrations[0])
	exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)`)
	for _, r := range storetest.V1Rows {
		var ext any
		if r.ExternalID != "" {
			ext = r.ExternalID
		}
		var tombAt any
		if r.Tombstoned {
			tombAt = int64(1)
		}
		exec(`INSERT INTO resources (kind, id, external_id, tombstoned, tombstone_at, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1)`,
			string(r.Kind), r.ID, ext, r.Tombstoned, tombAt, r.Version)
	}
	v1t := storetest.V1Token
	exec(`INSERT INTO tokens (id, name, hash, prefix, created_at) VALUES (?, ?, ?, ?, 1)`, v1t.ID, v1t.Name, v1t.Hash, v1t.Prefix)
	v1a := storetest.V1Audit
	exec(`INSERT INTO audit (time, request_id, token_name, operation, kind, resource_id, outcome, upstream_status, detail)
		VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)`, v1a.RequestID, v1a.TokenName, v1a.Operation, string(v1a.Kind), v1a.ResourceID,
		string(v1a.Outcome), v1a.UpstreamStatus, v1a.Detail)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openAt(t, path)
	if got, err := s.CurrentSchemaVersion(ctx); err != nil || got != sqlite.SchemaVersion {
		t.Fatalf("schema version after upgrade = %d, %v; want %d", got, err, sqlite.SchemaVersion)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	storetest.CheckUpgradedFromV1(t, s)
	storetest.CheckV1Token(t, s)
	storetest.CheckV1Audit(t, s)
	// Opening again applies nothing more.
	_ = s.Close()
	s = openAt(t, path)
	if got, err := s.CurrentSchemaVersion(ctx); err != nil || got != sqlite.SchemaVersion {
		t.Errorf("schema version after reopen = %d, %v; want %d", got, err, sqlite.SchemaVersion)
	}
}

const crashPathEnv = "SCIM_BRIDGE_TEST_SQLITE_CRASH_PATH"

// TestCrashChild is the process TestCrashRecovery kills; on its own it
// skips.
func TestCrashChild(t *testing.T) {
	if os.Getenv(storetest.CrashEnv) == "" {
		t.Skip("runs only as the child of TestCrashRecovery")
	}
	s, err := sqlite.Open(t.Context(), os.Getenv(crashPathEnv), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Fatal(storetest.CrashWriter(t.Context(), s, os.Stdout))
}

func TestCrashRecovery(t *testing.T) {
	if os.Getenv(storetest.CrashEnv) != "" {
		t.Skip("not inside the crash child")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	last := storetest.KillMidWrite(t, "TestCrashChild", []string{crashPathEnv + "=" + path}, 40)
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no WAL left behind by the killed writer (was it killed mid-write?): %v", err)
	}
	s := openAt(t, path)
	if err := s.IntegrityCheck(t.Context()); err != nil {
		t.Fatalf("after SIGKILL at round %d: %v", last, err)
	}
	storetest.CheckAfterCrash(t, s, last)
	if err := s.IntegrityCheck(t.Context()); err != nil {
		t.Fatalf("after writes following the crash: %v", err)
	}
	t.Logf("child killed after %d committed rounds", last)
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		s, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "state.db"), sqlite.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	})
}
