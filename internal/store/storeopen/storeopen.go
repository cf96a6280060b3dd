// Package storeopen opens the store a configuration names, so that the app
// and the command line pick an implementation in one place.
package storeopen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/store"
	"github.com/scimbridge/scim-bridge/internal/store/postgres"
	"github.com/scimbridge/scim-bridge/internal/store/sqlite"
)

// Open opens the store named by spec:
//
//	sqlite:PATH                       an SQLite file (created if missing)
//	postgres://... or postgresql://...  a PostgreSQL database (pgx DSN)
//
// Errors say what is wrong with spec without repeating a password in it.
// logger (nil: discard) receives one line naming the store opened.
func Open(ctx context.Context, spec string, logger *slog.Logger) (store.Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case spec == "":
		return nil, errors.New("open store: empty store spec (want sqlite:PATH or postgres://...)")
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, errors.New("open store: sqlite: needs a file path, e.g. sqlite:/var/lib/scim-bridge/state.db")
		}
		s, err := sqlite.Open(ctx, path, sqlite.Options{Logger: logger})
		if err != nil {
			return nil, err
		}
		logger.InfoContext(ctx, "store opened", "store", "sqlite", "path", path)
		return s, nil
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		s, err := postgres.Open(ctx, spec, postgres.Options{Logger: logger})
		if err != nil {
			return nil, err
		}
		logger.InfoContext(ctx, "store opened", "store", "postgres", "dsn", postgres.RedactDSN(spec))
		return s, nil
	}
	scheme, _, found := strings.Cut(spec, ":")
	if !found || strings.ContainsAny(scheme, "/@ =") {
		// No recognisable scheme: the spec may be a bare DSN or path with
		// a password in it, so name none of it.
		return nil, errors.New("open store: store spec has no known scheme (want sqlite:PATH or postgres://...)")
	}
	return nil, fmt.Errorf("open store: unknown store scheme %q (want sqlite:PATH or postgres://...)", scheme)
}
