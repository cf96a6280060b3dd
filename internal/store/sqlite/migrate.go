package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations is the schema history. Entry i brings the schema to version
// i+1. Append only: never edit an entry that has been released.
//
// The schema mirrors store/postgres: uniqueness lives in (partial) unique
// indexes so that it holds whatever the Go code does.
var migrations = []string{
	// 1: tokens, resources, audit.
	`
CREATE TABLE tokens (
	id            TEXT    NOT NULL PRIMARY KEY,
	name          TEXT    NOT NULL,
	hash          BLOB    NOT NULL UNIQUE,
	prefix        TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	expires_at    INTEGER,
	revoked_at    INTEGER,
	superseded_at INTEGER,
	last_used_at  INTEGER
) STRICT;
-- At most one current token per name: what makes concurrent rotations
-- end with exactly one live successor.
CREATE UNIQUE INDEX tokens_one_current ON tokens (name)
	WHERE superseded_at IS NULL AND revoked_at IS NULL;
CREATE INDEX tokens_by_name ON tokens (name, created_at);

CREATE TABLE resources (
	kind         TEXT    NOT NULL CHECK (kind IN ('user', 'group')),
	id           TEXT    NOT NULL,
	external_id  TEXT,
	tombstoned   INTEGER NOT NULL DEFAULT 0,
	tombstone_at INTEGER,
	version      INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	PRIMARY KEY (kind, id)
) STRICT;
-- An externalId names one live resource per kind; tombstones keep theirs
-- so a revived user can be matched, but do not block a new holder.
CREATE UNIQUE INDEX resources_live_external_id ON resources (kind, external_id)
	WHERE external_id IS NOT NULL AND tombstoned = 0;

CREATE TABLE audit (
	id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	time            INTEGER NOT NULL,
	request_id      TEXT    NOT NULL DEFAULT '',
	token_name      TEXT    NOT NULL DEFAULT '',
	operation       TEXT    NOT NULL DEFAULT '',
	kind            TEXT    NOT NULL DEFAULT '',
	resource_id     TEXT    NOT NULL DEFAULT '',
	outcome         TEXT    NOT NULL DEFAULT '',
	upstream_status INTEGER NOT NULL DEFAULT 0,
	detail          TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_by_time ON audit (time, id);
CREATE INDEX audit_by_resource ON audit (kind, resource_id, time);
`,
	// 2: the userName the IdP sent when it is not the member's email.
	// user_name keeps it as sent; user_name_fold (store.FoldUserName of it)
	// is what uniqueness and lookups compare, computed in Go so that SQLite
	// and PostgreSQL fold alike. Existing rows get NULLs: no alias.
	`
ALTER TABLE resources ADD COLUMN user_name TEXT;
ALTER TABLE resources ADD COLUMN user_name_fold TEXT;
-- Like externalIds: one live holder per kind; tombstones keep theirs.
CREATE UNIQUE INDEX resources_live_user_name ON resources (kind, user_name_fold)
	WHERE user_name_fold IS NOT NULL AND tombstoned = 0;
`,
	// 3: token scopes. scope is what the token may do ('' for tokens
	// issued before: SCIM read and write), networks the comma-separated
	// CIDRs it is accepted from ('' for any).
	`
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN networks TEXT NOT NULL DEFAULT '';
`,
	// 4: externalId is a lookup key, not unique (RFC 7643 gives it no
	// uniqueness; IdPs send one for several resources): the unique index
	// becomes a plain one. A user's displayName and name.formatted as the
	// IdP sent them; existing rows read back as "none sent".
	`
DROP INDEX resources_live_external_id;
CREATE INDEX resources_by_external_id ON resources (kind, external_id)
	WHERE external_id IS NOT NULL AND tombstoned = 0;
ALTER TABLE resources ADD COLUMN display_name TEXT;
ALTER TABLE resources ADD COLUMN name_formatted TEXT;
`,
	// 5: the bridge processes using the store (the status page's
	// replicas), each reporting itself every minute.
	`
CREATE TABLE replicas (
	id         TEXT    NOT NULL PRIMARY KEY,
	host       TEXT    NOT NULL DEFAULT '',
	version    TEXT    NOT NULL DEFAULT '',
	started_at INTEGER NOT NULL,
	seen_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX replicas_by_seen ON replicas (seen_at);
`,
	// 6: each audit entry's target, the user or group as the IdP names it
	// (store.Target): target_name is the email or displayName ('' when not
	// known) and NULL on the entries written before, which read back as
	// Legacy; the _fold columns (store.FoldUserName, computed in Go) are
	// what `audit --user/--group` compares.
	`
ALTER TABLE audit ADD COLUMN target_name TEXT;
ALTER TABLE audit ADD COLUMN target_name_fold TEXT;
ALTER TABLE audit ADD COLUMN target_user_name TEXT;
ALTER TABLE audit ADD COLUMN target_user_name_fold TEXT;
CREATE INDEX audit_by_target_name ON audit (target_name_fold) WHERE target_name_fold IS NOT NULL;
CREATE INDEX audit_by_target_user_name ON audit (target_user_name_fold) WHERE target_user_name_fold IS NOT NULL;
`,
}

// SchemaVersion is the schema version this build writes.
const SchemaVersion = 6

// migrate brings the schema up to SchemaVersion in one write transaction,
// so a second process opening the same file at the same moment waits and
// then finds nothing left to do.
func (s *Store) migrate(ctx context.Context) error {
	const op = "migrate sqlite store"
	return s.tx(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	applied_at INTEGER NOT NULL
) STRICT`); err != nil {
			return s.mapErr(op, err)
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return s.mapErr(op, err)
		}
		if current > len(migrations) {
			return fmt.Errorf("%s %q: schema version %d is newer than this build supports (%d)", op, s.path, current, len(migrations))
		}
		for v := current + 1; v <= len(migrations); v++ {
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("%s: version %d: %w", op, v, s.mapErr(op, err))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, s.now().UnixMicro()); err != nil {
				return s.mapErr(op, err)
			}
			s.opts.Logger.InfoContext(ctx, "store schema migrated", "store", "sqlite", "version", v)
		}
		return nil
	})
}

// CurrentSchemaVersion returns the highest migration recorded in the file.
func (s *Store) CurrentSchemaVersion(ctx context.Context) (int, error) {
	const op = "sqlite schema version"
	if err := s.check(op); err != nil {
		return 0, err
	}
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, s.mapErr(op, err)
	}
	return v, nil
}
