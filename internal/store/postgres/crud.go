package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scim-bridge/internal/store"
)

const tokenColumns = `id, name, hash, prefix, created_at, expires_at, revoked_at, superseded_at, last_used_at`

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	var created time.Time
	var expires, revoked, superseded, lastUsed *time.Time
	err := row.Scan(&t.ID, &t.Name, &t.Hash, &t.Prefix, &created, &expires, &revoked, &superseded, &lastUsed)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = created.UTC(), goTime(expires), goTime(revoked)
	t.SupersededAt, t.LastUsedAt = goTime(superseded), goTime(lastUsed)
	return t, err
}

func validToken(op string, t store.Token) error {
	switch {
	case t.ID == "":
		return fmt.Errorf("%s: empty id", op)
	case t.Name == "":
		return fmt.Errorf("%s: empty name", op)
	case len(t.Hash) == 0:
		return fmt.Errorf("%s: empty hash", op)
	}
	return nil
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertToken(ctx context.Context, ex execer, t store.Token) error {
	_, err := ex.Exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		t.ID, t.Name, t.Hash, t.Prefix, dbTime(t.CreatedAt), dbTime(t.ExpiresAt),
		dbTime(t.RevokedAt), dbTime(t.SupersededAt), dbTime(t.LastUsedAt))
	return err
}

// lockName serialises, across replicas, the transactions that change the
// set of current tokens of one name. Without it a revocation whose
// statement snapshot predates a concurrent rotation's commit would miss the
// new token.
func lockName(ctx context.Context, tx pgx.Tx, name string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockClass+1, name)
	return err
}

// CreateToken implements store.Store.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	const op = "create token"
	if err := s.check(op); err != nil {
		return err
	}
	if err := validToken(op, t); err != nil {
		return err
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = s.now()
	}
	return s.mapErr(op, insertToken(ctx, s.pool, t))
}

// TokenByHash implements store.Store.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	const op = "token by hash"
	if err := s.check(op); err != nil {
		return store.Token{}, err
	}
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, hash))
	if err != nil {
		return store.Token{}, s.mapErr(op, err)
	}
	return t, nil
}

// ListTokens implements store.Store.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	const op = "list tokens"
	if err := s.check(op); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY name COLLATE "C", created_at, id COLLATE "C"`)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
}

// RotateToken implements store.Store.
func (s *Store) RotateToken(ctx context.Context, oldID string, oldExpiresAt, now time.Time, next store.Token) error {
	const op = "rotate token"
	if err := validToken(op, next); err != nil {
		return err
	}
	if !next.SupersededAt.IsZero() || !next.RevokedAt.IsZero() {
		return fmt.Errorf("%s: successor must be current (not superseded, not revoked)", op)
	}
	if now.IsZero() {
		now = s.now()
	}
	if next.CreatedAt.IsZero() {
		next.CreatedAt = now
	}
	return s.tx(ctx, op, func(tx pgx.Tx) error {
		if err := lockName(ctx, tx, next.Name); err != nil {
			return err
		}
		var name string
		var expires, superseded, revoked *time.Time
		err := tx.QueryRow(ctx, `SELECT name, expires_at, superseded_at, revoked_at FROM tokens WHERE id = $1 FOR UPDATE`, oldID).
			Scan(&name, &expires, &superseded, &revoked)
		if err != nil {
			return err
		}
		if name != next.Name || superseded != nil || revoked != nil {
			return s.mapErr(op, fmt.Errorf("%w: token is no longer the current one of its name", store.ErrConflict))
		}
		exp := goTime(expires)
		if !oldExpiresAt.IsZero() && (exp.IsZero() || oldExpiresAt.Before(exp)) {
			exp = oldExpiresAt
		}
		if _, err := tx.Exec(ctx, `UPDATE tokens SET superseded_at = $1, expires_at = $2 WHERE id = $3`,
			dbTime(now), dbTime(exp), oldID); err != nil {
			return err
		}
		return insertToken(ctx, tx, next)
	})
}

// RevokeToken implements store.Store.
func (s *Store) RevokeToken(ctx context.Context, name string, now time.Time) error {
	const op = "revoke token"
	if now.IsZero() {
		now = s.now()
	}
	return s.tx(ctx, op, func(tx pgx.Tx) error {
		if err := lockName(ctx, tx, name); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM tokens WHERE name = $1`, name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return s.mapErr(op, fmt.Errorf("no token named so: %w", store.ErrNotFound))
		}
		_, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL`, dbTime(now), name)
		return err
	})
}

// TouchToken implements store.Store. It only moves LastUsedAt forward.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	const op = "touch token"
	if err := s.check(op); err != nil {
		return err
	}
	if at.IsZero() {
		at = s.now()
	}
	// One statement that both reports existence and skips the write when
	// a later use is already recorded.
	var found bool
	err := s.pool.QueryRow(ctx, `WITH t AS (SELECT id FROM tokens WHERE id = $1),
		u AS (UPDATE tokens SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2))
		SELECT EXISTS (SELECT 1 FROM t)`, id, dbTime(at)).Scan(&found)
	if err != nil {
		return s.mapErr(op, err)
	}
	if !found {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

const resourceColumns = `kind, id, external_id, tombstoned, tombstone_at, version, updated_at, user_name, user_name_fold`

func scanResource(row pgx.Row) (store.Resource, error) {
	var r store.Resource
	var kind string
	var ext, userName, fold *string
	var tombAt *time.Time
	var updated time.Time
	err := row.Scan(&kind, &r.ID, &ext, &r.Tombstoned, &tombAt, &r.Version, &updated, &userName, &fold)
	r.Kind, r.TombstoneAt, r.UpdatedAt = store.Kind(kind), goTime(tombAt), updated.UTC()
	if ext != nil {
		r.ExternalID = *ext
	}
	if userName != nil {
		r.UserName = *userName
	}
	return r, err
}

func validKind(op string, k store.Kind) error {
	if k != store.KindUser && k != store.KindGroup {
		return fmt.Errorf("%s: invalid kind %q", op, k)
	}
	return nil
}

// normalize applies the store's rules to a record about to be written.
func (s *Store) normalize(r *store.Resource) {
	now := s.now()
	r.UpdatedAt = now
	switch {
	case !r.Tombstoned:
		r.TombstoneAt = time.Time{}
	case r.TombstoneAt.IsZero():
		r.TombstoneAt = now
	default:
		r.TombstoneAt = r.TombstoneAt.UTC().Truncate(time.Microsecond)
	}
}

// PutResource implements store.Store. The written Version is one more than
// the stored record's (1 for a new record); r.Version is ignored.
func (s *Store) PutResource(ctx context.Context, r store.Resource) (store.Resource, error) {
	const op = "put resource"
	if err := s.check(op); err != nil {
		return store.Resource{}, err
	}
	if err := validKind(op, r.Kind); err != nil {
		return store.Resource{}, err
	}
	if r.ID == "" {
		return store.Resource{}, fmt.Errorf("%s: empty id", op)
	}
	s.normalize(&r)
	err := s.pool.QueryRow(ctx, `INSERT INTO resources AS r (`+resourceColumns+`) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8)
		ON CONFLICT (kind, id) DO UPDATE SET
			external_id = excluded.external_id, tombstoned = excluded.tombstoned,
			tombstone_at = excluded.tombstone_at, version = r.version + 1,
			updated_at = excluded.updated_at, user_name = excluded.user_name,
			user_name_fold = excluded.user_name_fold
		RETURNING version`,
		string(r.Kind), r.ID, nullString(r.ExternalID), r.Tombstoned, dbTime(r.TombstoneAt), dbTime(r.UpdatedAt),
		nullString(r.UserName), nullString(store.FoldUserName(r.UserName))).
		Scan(&r.Version)
	if err != nil {
		return store.Resource{}, s.mapErr(op, err)
	}
	return r, nil
}

// GetResource implements store.Store.
func (s *Store) GetResource(ctx context.Context, kind store.Kind, id string) (store.Resource, error) {
	const op = "get resource"
	if err := s.check(op); err != nil {
		return store.Resource{}, err
	}
	r, err := scanResource(s.pool.QueryRow(ctx, `SELECT `+resourceColumns+` FROM resources WHERE kind = $1 AND id = $2`, string(kind), id))
	if err != nil {
		return store.Resource{}, s.mapErr(op, err)
	}
	return r, nil
}

// ResourceByExternalID implements store.Store.
func (s *Store) ResourceByExternalID(ctx context.Context, kind store.Kind, externalID string) (store.Resource, error) {
	const op = "resource by externalId"
	if err := s.check(op); err != nil {
		return store.Resource{}, err
	}
	if externalID == "" {
		return store.Resource{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	r, err := scanResource(s.pool.QueryRow(ctx, `SELECT `+resourceColumns+` FROM resources
		WHERE kind = $1 AND external_id = $2 AND NOT tombstoned`, string(kind), externalID))
	if err != nil {
		return store.Resource{}, s.mapErr(op, err)
	}
	return r, nil
}

// ResourceByUserName implements store.Store.
func (s *Store) ResourceByUserName(ctx context.Context, kind store.Kind, userName string) (store.Resource, error) {
	const op = "resource by userName"
	if err := s.check(op); err != nil {
		return store.Resource{}, err
	}
	if userName == "" {
		return store.Resource{}, fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	r, err := scanResource(s.pool.QueryRow(ctx, `SELECT `+resourceColumns+` FROM resources
		WHERE kind = $1 AND user_name_fold = $2 AND NOT tombstoned`, string(kind), store.FoldUserName(userName)))
	if err != nil {
		return store.Resource{}, s.mapErr(op, err)
	}
	return r, nil
}

// ListResources implements store.Store. Records come ordered by ID.
func (s *Store) ListResources(ctx context.Context, kind store.Kind) ([]store.Resource, error) {
	const op = "list resources"
	if err := s.check(op); err != nil {
		return nil, err
	}
	// COLLATE "C": the same byte order as SQLite, whatever the database's
	// locale.
	rows, err := s.pool.Query(ctx, `SELECT `+resourceColumns+` FROM resources WHERE kind = $1 ORDER BY id COLLATE "C"`, string(kind))
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Resource, error) { return scanResource(r) })
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
}

// UpdateResource implements store.Store. The row is read FOR UPDATE, so a
// concurrent writer on any replica waits for this transaction instead of
// being overwritten; fn runs again only when PostgreSQL aborts the
// transaction to break a deadlock.
func (s *Store) UpdateResource(ctx context.Context, kind store.Kind, id string, fn func(*store.Resource) error) (store.Resource, error) {
	const op = "update resource"
	var out store.Resource
	var fnErr error
	err := s.tx(ctx, op, func(tx pgx.Tx) error {
		cur, err := scanResource(tx.QueryRow(ctx, `SELECT `+resourceColumns+` FROM resources
			WHERE kind = $1 AND id = $2 FOR UPDATE`, string(kind), id))
		if err != nil {
			return err
		}
		next := cur
		if fnErr = fn(&next); fnErr != nil {
			return fnErr
		}
		if next.Kind != cur.Kind || next.ID != cur.ID {
			fnErr = fmt.Errorf("%s: the update function must not change kind or id", op)
			return fnErr
		}
		s.normalize(&next)
		next.Version = cur.Version + 1
		tag, err := tx.Exec(ctx, `UPDATE resources SET external_id = $1, tombstoned = $2, tombstone_at = $3,
			version = $4, updated_at = $5, user_name = $6, user_name_fold = $7
			WHERE kind = $8 AND id = $9 AND version = $10`,
			nullString(next.ExternalID), next.Tombstoned, dbTime(next.TombstoneAt), next.Version,
			dbTime(next.UpdatedAt), nullString(next.UserName), nullString(store.FoldUserName(next.UserName)),
			string(kind), id, cur.Version)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return s.mapErr(op, fmt.Errorf("%w: record changed during the update", store.ErrConflict))
		}
		out = next
		return nil
	})
	if fnErr != nil {
		return store.Resource{}, fnErr
	}
	if err != nil {
		return store.Resource{}, err
	}
	return out, nil
}

// DeleteResource implements store.Store.
func (s *Store) DeleteResource(ctx context.Context, kind store.Kind, id string) error {
	const op = "delete resource"
	if err := s.check(op); err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM resources WHERE kind = $1 AND id = $2`, string(kind), id)
	if err != nil {
		return s.mapErr(op, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}

// AppendAudit implements store.Store.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	const op = "append audit"
	if err := s.check(op); err != nil {
		return store.AuditEntry{}, err
	}
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	err := s.pool.QueryRow(ctx, `INSERT INTO audit (time, request_id, token_name, operation, kind,
		resource_id, outcome, upstream_status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		e.Time, e.RequestID, e.TokenName, e.Operation, string(e.Kind), e.ResourceID,
		string(e.Outcome), e.UpstreamStatus, e.Detail).Scan(&e.ID)
	if err != nil {
		return store.AuditEntry{}, s.mapErr(op, err)
	}
	return e, nil
}

// ListAudit implements store.Store: newest first (by Time, then ID).
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	const op = "list audit"
	if err := s.check(op); err != nil {
		return nil, err
	}
	var where []string
	var args []any
	add := func(col string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf("%s $%d", col, len(args)))
	}
	if f.Kind != "" {
		add("kind =", string(f.Kind))
	}
	if f.ResourceID != "" {
		add("resource_id =", f.ResourceID)
	}
	if f.Operation != "" {
		add("operation =", f.Operation)
	}
	if f.Outcome != "" {
		add("outcome =", string(f.Outcome))
	}
	if !f.Since.IsZero() {
		add("time >=", f.Since.UTC().Truncate(time.Microsecond))
	}
	q := `SELECT id, time, request_id, token_name, operation, kind, resource_id, outcome, upstream_status, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	q += fmt.Sprintf(" ORDER BY time DESC, id DESC LIMIT $%d", len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditEntry, error) {
		var e store.AuditEntry
		var kind, outcome string
		err := r.Scan(&e.ID, &e.Time, &e.RequestID, &e.TokenName, &e.Operation, &kind, &e.ResourceID,
			&outcome, &e.UpstreamStatus, &e.Detail)
		e.Time, e.Kind, e.Outcome = e.Time.UTC(), store.Kind(kind), store.Outcome(outcome)
		return e, err
	})
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
}

// PruneAudit implements store.Store.
func (s *Store) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	const op = "prune audit"
	if err := s.check(op); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM audit WHERE time < $1`, before.UTC().Truncate(time.Microsecond))
	if err != nil {
		return 0, s.mapErr(op, err)
	}
	return tag.RowsAffected(), nil
}
