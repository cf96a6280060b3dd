package tokens

import (
	"context"
	"os"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/postgres"
	"github.com/scimbridge/scim-bridge/internal/store/postgres/pgtest"
)

// postgresBackend runs the replica tests on PostgreSQL when
// SCIM_BRIDGE_TEST_POSTGRES holds a DSN: each test gets its own schema, and
// each handle is its own connection pool (a replica).
func postgresBackend() (backend, bool) {
	if os.Getenv(pgtest.EnvDSN) == "" {
		return backend{}, false
	}
	return backend{name: "postgres", newDB: func(t testing.TB) func(t testing.TB) store.Store {
		dsn := pgtest.NewSchema(t)
		return func(t testing.TB) store.Store {
			st, err := postgres.Open(context.Background(), dsn, postgres.Options{})
			if err != nil {
				t.Fatalf("open postgres: %v", err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return st
		}
	}}, true
}
