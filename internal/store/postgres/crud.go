package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scim-bridge/internal/store"
)

func scanResource(row pgx.Row) (store.Resource, error) {
	var r store.Resource
	var kind string
	var ext, userName, fold, display, formatted *string
	var tombAt *time.Time
	var updated time.Time
	err := row.Scan(&kind, &r.ID, &ext, &r.Tombstoned, &tombAt, &r.Version, &updated, &userName, &fold, &display, &formatted)
	r.Kind, r.TombstoneAt, r.UpdatedAt = store.Kind(kind), goTime(tombAt), updated.UTC()
	for _, f := range []struct {
		src *string
		dst *string
	}{{ext, &r.ExternalID}, {userName, &r.UserName}, {display, &r.DisplayName}, {formatted, &r.NameFormatted}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	return r, err
}

// PutResource implements store.Store. The written Version is one more than
// the stored record's (1 for a new record); r.Version is ignored.
func (s *Store) PutResource(ctx context.Context, r store.Resource) (store.Resource, error) {
	const op = "put resource"
	if err := s.check(op); err != nil {
		return store.Resource{}, err
	}
	if err := store.PrepareResource(op, &r, s.now()); err != nil {
		return store.Resource{}, err
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO resources AS r (`+store.ResourceColumns+`) VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10)
		ON CONFLICT (kind, id) DO UPDATE SET
			external_id = excluded.external_id, tombstoned = excluded.tombstoned,
			tombstone_at = excluded.tombstone_at, version = r.version + 1,
			updated_at = excluded.updated_at, user_name = excluded.user_name,
			user_name_fold = excluded.user_name_fold, display_name = excluded.display_name,
			name_formatted = excluded.name_formatted
		RETURNING version`,
		string(r.Kind), r.ID, nullString(r.ExternalID), r.Tombstoned, dbTime(r.TombstoneAt), dbTime(r.UpdatedAt),
		nullString(r.UserName), nullString(store.FoldUserName(r.UserName)), nullString(r.DisplayName), nullString(r.NameFormatted)).
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
	r, err := scanResource(s.pool.QueryRow(ctx, `SELECT `+store.ResourceColumns+` FROM resources WHERE kind = $1 AND id = $2`, string(kind), id))
	if err != nil {
		return store.Resource{}, s.mapErr(op, err)
	}
	return r, nil
}

// ResourcesByExternalID implements store.Store.
func (s *Store) ResourcesByExternalID(ctx context.Context, kind store.Kind, externalID string) ([]store.Resource, error) {
	if externalID == "" {
		return nil, nil
	}
	return s.listResources(ctx, "resources by externalId", `SELECT `+store.ResourceColumns+` FROM resources
		WHERE kind = $1 AND external_id = $2 AND NOT tombstoned ORDER BY id COLLATE "C"`, string(kind), externalID)
}

// ResourcesByID implements store.Store.
func (s *Store) ResourcesByID(ctx context.Context, kind store.Kind, ids []string) ([]store.Resource, error) {
	const op = "resources by id"
	if err := store.CheckResourceIDs(op, kind, ids); err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, s.check(op)
	}
	return s.listResources(ctx, op, `SELECT `+store.ResourceColumns+` FROM resources
		WHERE kind = $1 AND id = ANY($2) ORDER BY id COLLATE "C"`, string(kind), ids)
}

// TombstonedIDs implements store.Store.
func (s *Store) TombstonedIDs(ctx context.Context, kind store.Kind) ([]string, error) {
	const op = "tombstoned ids"
	if err := s.check(op); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT id FROM resources WHERE kind = $1 AND tombstoned ORDER BY id COLLATE "C"`, string(kind))
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
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
	r, err := scanResource(s.pool.QueryRow(ctx, `SELECT `+store.ResourceColumns+` FROM resources
		WHERE kind = $1 AND user_name_fold = $2 AND NOT tombstoned`, string(kind), store.FoldUserName(userName)))
	if err != nil {
		return store.Resource{}, s.mapErr(op, err)
	}
	return r, nil
}

// ListResources implements store.Store. Records come ordered by ID.
func (s *Store) ListResources(ctx context.Context, kind store.Kind) ([]store.Resource, error) {
	return s.listResources(ctx, "list resources", `SELECT `+store.ResourceColumns+` FROM resources WHERE kind = $1 ORDER BY id COLLATE "C"`, string(kind))
}

// listResources runs a query of resource records. Callers order by id
// COLLATE "C": the same byte order as SQLite, whatever the database's
// locale.
func (s *Store) listResources(ctx context.Context, op, query string, args ...any) ([]store.Resource, error) {
	if err := s.check(op); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, query, args...)
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
		cur, err := scanResource(tx.QueryRow(ctx, `SELECT `+store.ResourceColumns+` FROM resources
			WHERE kind = $1 AND id = $2 FOR UPDATE`, string(kind), id))
		if err != nil {
			return err
		}
		next, nerr := store.NextResource(op, cur, fn, s.now())
		if nerr != nil {
			fnErr = nerr
			return fnErr
		}
		tag, err := tx.Exec(ctx, `UPDATE resources SET external_id = $1, tombstoned = $2, tombstone_at = $3,
			version = $4, updated_at = $5, user_name = $6, user_name_fold = $7, display_name = $8, name_formatted = $9
			WHERE kind = $10 AND id = $11 AND version = $12`,
			nullString(next.ExternalID), next.Tombstoned, dbTime(next.TombstoneAt), next.Version,
			dbTime(next.UpdatedAt), nullString(next.UserName), nullString(store.FoldUserName(next.UserName)),
			nullString(next.DisplayName), nullString(next.NameFormatted), string(kind), id, cur.Version)
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
	store.PrepareAudit(&e, s.now())
	err := s.pool.QueryRow(ctx, `INSERT INTO audit (`+store.AuditInsertColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`, store.AuditValues(e, e.Time)...).Scan(&e.ID)
	if err != nil {
		return store.AuditEntry{}, s.mapErr(op, err)
	}
	return e, nil
}

// auditQuery is PostgreSQL's dialect of the ListAudit query.
var auditQuery = store.AuditQuery{
	Arg: func(args *[]any, v any) string {
		*args = append(*args, v)
		return fmt.Sprintf("$%d", len(*args))
	},
	Time: func(t time.Time) any { return t },
	AnyID: func(args *[]any, ids []string) string {
		*args = append(*args, ids)
		return fmt.Sprintf("resource_id = ANY($%d)", len(*args))
	},
	// translate() lowers ASCII only, whatever the database's locale, as
	// the SQLite store does.
	Mention: func(args *[]any, m string) string {
		*args = append(*args, m)
		return fmt.Sprintf("strpos(translate(detail, '%[1]s', '%[2]s'), translate($%[3]d, '%[1]s', '%[2]s')) > 0",
			asciiUpper, asciiLowerLetters, len(*args))
	},
}

// ListAudit implements store.Store: newest first (by Time, then ID).
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	const op = "list audit"
	if err := s.check(op); err != nil {
		return nil, err
	}
	q, args := auditQuery.Build(f)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditEntry, error) {
		var e store.AuditEntry
		var kind, outcome string
		var target, targetUser *string
		err := r.Scan(&e.ID, &e.Time, &e.RequestID, &e.TokenName, &e.Operation, &kind, &e.ResourceID,
			&outcome, &e.UpstreamStatus, &e.Detail, &target, &targetUser)
		e.Time, e.Kind, e.Outcome = e.Time.UTC(), store.Kind(kind), store.Outcome(outcome)
		store.ScanTarget(&e, target, targetUser)
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

const (
	asciiUpper        = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	asciiLowerLetters = "abcdefghijklmnopqrstuvwxyz"
)
