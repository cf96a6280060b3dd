package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// migrations is the schema history; entry i brings the schema to version
// i+1. Append only. It mirrors store/sqlite's.
var migrations = []string{
	// 1: tokens, resources, audit.
	`
CREATE TABLE tokens (
	id            text        NOT NULL PRIMARY KEY,
	name          text        NOT NULL,
	hash          bytea       NOT NULL UNIQUE,
	prefix        text        NOT NULL DEFAULT '',
	created_at    timestamptz NOT NULL,
	expires_at    timestamptz,
	revoked_at    timestamptz,
	superseded_at timestamptz,
	last_used_at  timestamptz
);
-- At most one current token per name: what makes concurrent rotations by
-- several replicas end with exactly one live successor.
CREATE UNIQUE INDEX tokens_one_current ON tokens (name)
	WHERE superseded_at IS NULL AND revoked_at IS NULL;
CREATE INDEX tokens_by_name ON tokens (name, created_at);

CREATE TABLE resources (
	kind         text        NOT NULL CHECK (kind IN ('user', 'group')),
	id           text        NOT NULL,
	external_id  text,
	tombstoned   boolean     NOT NULL DEFAULT false,
	tombstone_at timestamptz,
	version      bigint      NOT NULL,
	updated_at   timestamptz NOT NULL,
	PRIMARY KEY (kind, id)
);
-- An externalId names one live resource per kind; tombstones keep theirs
-- so a revived user can be matched, but do not block a new holder.
CREATE UNIQUE INDEX resources_live_external_id ON resources (kind, external_id)
	WHERE external_id IS NOT NULL AND NOT tombstoned;

CREATE TABLE audit (
	id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	time            timestamptz NOT NULL,
	request_id      text        NOT NULL DEFAULT '',
	token_name      text        NOT NULL DEFAULT '',
	operation       text        NOT NULL DEFAULT '',
	kind            text        NOT NULL DEFAULT '',
	resource_id     text        NOT NULL DEFAULT '',
	outcome         text        NOT NULL DEFAULT '',
	upstream_status integer     NOT NULL DEFAULT 0,
	detail          text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_time ON audit (time, id);
CREATE INDEX audit_by_resource ON audit (kind, resource_id, time);
`,
	// 2: the userName the IdP sent when it is not the member's email.
	// user_name keeps it as sent; user_name_fold (store.FoldUserName of it)
	// is what uniqueness and lookups compare, computed in Go so that
	// PostgreSQL and SQLite fold alike whatever the database's locale.
	// Adding nullable columns without a default rewrites nothing; existing
	// rows read back as "no alias".
	`
ALTER TABLE resources ADD COLUMN user_name text, ADD COLUMN user_name_fold text;
-- Like externalIds: one live holder per kind; tombstones keep theirs.
CREATE UNIQUE INDEX resources_live_user_name ON resources (kind, user_name_fold)
	WHERE user_name_fold IS NOT NULL AND NOT tombstoned;
`,
	// 3: token scopes, as in store/sqlite. A constant default adds the
	// columns without rewriting the table.
	`
ALTER TABLE tokens ADD COLUMN scope text NOT NULL DEFAULT '', ADD COLUMN networks text NOT NULL DEFAULT '';
`,
	// 4: externalId is a lookup key, not unique (RFC 7643 gives it no
	// uniqueness; IdPs send one for several resources): the unique index
	// becomes a plain one. A user's displayName and name.formatted as the
	// IdP sent them; existing rows read back as "none sent".
	`
DROP INDEX resources_live_external_id;
CREATE INDEX resources_by_external_id ON resources (kind, external_id)
	WHERE external_id IS NOT NULL AND NOT tombstoned;
ALTER TABLE resources ADD COLUMN display_name text, ADD COLUMN name_formatted text;
`,
	// 5: the bridge processes using the store (the status page's
	// replicas), each reporting itself every minute.
	`
CREATE TABLE replicas (
	id         text        NOT NULL PRIMARY KEY,
	host       text        NOT NULL DEFAULT '',
	version    text        NOT NULL DEFAULT '',
	started_at timestamptz NOT NULL,
	seen_at    timestamptz NOT NULL
);
CREATE INDEX replicas_by_seen ON replicas (seen_at);
`,
	// 6: each audit entry's target, as in store/sqlite: target_name NULL
	// marks the entries written before (Legacy). Nullable columns without
	// a default rewrite nothing; the indexes are built once, at upgrade.
	`
ALTER TABLE audit ADD COLUMN target_name text, ADD COLUMN target_name_fold text,
	ADD COLUMN target_user_name text, ADD COLUMN target_user_name_fold text;
CREATE INDEX audit_by_target_name ON audit (target_name_fold) WHERE target_name_fold IS NOT NULL;
CREATE INDEX audit_by_target_user_name ON audit (target_user_name_fold) WHERE target_user_name_fold IS NOT NULL;
`,
}

// SchemaVersion is the schema version this build writes.
const SchemaVersion = 6

// Advisory lock keys (two-int4 form). lockClass tags them as the bridge's
// so they do not collide with another application's locks.
const (
	lockClass   = 0x5c1b // "scib"
	lockMigrate = 1
)

// migrate brings the schema up to SchemaVersion. A session advisory lock
// makes replicas that start together take turns: the first migrates, the
// others find nothing left to do.
func (s *Store) migrate(ctx context.Context) error {
	op := "migrate postgres store " + s.where
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.mapErr(op, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockClass, lockMigrate); err != nil {
		return s.mapErr(op, err)
	}
	defer func() {
		// A fresh context: the lock must go even when ctx is done. If the
		// unlock fails the connection is broken, and the server drops a
		// broken session's locks anyway.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, lockClass, lockMigrate); err != nil {
			conn.Conn().Close(ctx)
		}
	}()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer     NOT NULL PRIMARY KEY,
	applied_at timestamptz NOT NULL
)`); err != nil {
		return s.mapErr(op, err)
	}
	var current int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return s.mapErr(op, err)
	}
	if current > len(migrations) {
		return fmt.Errorf("%s: schema version %d is newer than this build supports (%d)", op, current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v-1]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, v, s.now())
			return err
		})
		if err != nil {
			return fmt.Errorf("%s: version %d: %w", op, v, s.mapErr(op, err))
		}
		s.opts.Logger.InfoContext(ctx, "store schema migrated", "store", "postgres", "version", v)
	}
	return nil
}

// CurrentSchemaVersion returns the highest migration recorded in the
// database.
func (s *Store) CurrentSchemaVersion(ctx context.Context) (int, error) {
	const op = "postgres schema version"
	if err := s.check(op); err != nil {
		return 0, err
	}
	var v int
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, s.mapErr(op, err)
	}
	return v, nil
}
