package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

type scanner interface{ Scan(dest ...any) error }

func scanResource(sc scanner) (store.Resource, error) {
	var r store.Resource
	var ext, userName, fold, display, formatted sql.NullString
	var tombAt, updated sql.NullInt64
	var kind string
	err := sc.Scan(&kind, &r.ID, &ext, &r.Tombstoned, &tombAt, &r.Version, &updated, &userName, &fold, &display, &formatted)
	r.Kind, r.ExternalID, r.UserName = store.Kind(kind), ext.String, userName.String
	r.DisplayName, r.NameFormatted = display.String, formatted.String
	r.TombstoneAt, r.UpdatedAt = goTime(tombAt), goTime(updated)
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
	err := s.w.QueryRowContext(ctx, `INSERT INTO resources (`+store.ResourceColumns+`) VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, id) DO UPDATE SET
			external_id = excluded.external_id, tombstoned = excluded.tombstoned,
			tombstone_at = excluded.tombstone_at, version = resources.version + 1,
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
	r, err := scanResource(s.hot.resource.QueryRowContext(ctx, string(kind), id))
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
		WHERE kind = ? AND external_id = ? AND tombstoned = 0 ORDER BY id`, string(kind), externalID)
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
	args := make([]any, 0, len(ids)+1)
	args = append(args, string(kind))
	for _, id := range ids {
		args = append(args, id)
	}
	return s.listResources(ctx, op, `SELECT `+store.ResourceColumns+` FROM resources
		WHERE kind = ? AND id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY id`, args...)
}

// TombstonedIDs implements store.Store.
func (s *Store) TombstonedIDs(ctx context.Context, kind store.Kind) ([]string, error) {
	const op = "tombstoned ids"
	if err := s.check(op); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM resources WHERE kind = ? AND tombstoned = 1 ORDER BY id`, string(kind))
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, s.mapErr(op, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
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
	r, err := scanResource(s.hot.resourceByUserName.QueryRowContext(ctx, string(kind), store.FoldUserName(userName)))
	if err != nil {
		return store.Resource{}, s.mapErr(op, err)
	}
	return r, nil
}

// ListResources implements store.Store. Records come ordered by ID.
func (s *Store) ListResources(ctx context.Context, kind store.Kind) ([]store.Resource, error) {
	return s.listResources(ctx, "list resources", `SELECT `+store.ResourceColumns+` FROM resources WHERE kind = ? ORDER BY id`, string(kind))
}

func (s *Store) listResources(ctx context.Context, op, query string, args ...any) ([]store.Resource, error) {
	if err := s.check(op); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	var out []store.Resource
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, s.mapErr(op, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
}

// UpdateResource implements store.Store. The read and the write share one
// immediate transaction on the single writer connection, so no other
// writer can slip between them and fn runs exactly once per call here; the
// version check in the UPDATE is kept as a guard.
func (s *Store) UpdateResource(ctx context.Context, kind store.Kind, id string, fn func(*store.Resource) error) (store.Resource, error) {
	const op = "update resource"
	var out store.Resource
	err := s.tx(ctx, op, func(tx *sql.Tx) error {
		cur, err := scanResource(tx.QueryRowContext(ctx, `SELECT `+store.ResourceColumns+` FROM resources WHERE kind = ? AND id = ?`, string(kind), id))
		if err != nil {
			return s.mapErr(op, err)
		}
		next, err := store.NextResource(op, cur, fn, s.now())
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE resources SET external_id = ?, tombstoned = ?, tombstone_at = ?,
			version = ?, updated_at = ?, user_name = ?, user_name_fold = ?, display_name = ?, name_formatted = ?
			WHERE kind = ? AND id = ? AND version = ?`,
			nullString(next.ExternalID), next.Tombstoned, dbTime(next.TombstoneAt), next.Version,
			dbTime(next.UpdatedAt), nullString(next.UserName), nullString(store.FoldUserName(next.UserName)),
			nullString(next.DisplayName), nullString(next.NameFormatted), string(kind), id, cur.Version)
		if err != nil {
			return s.mapErr(op, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%s: %w: record changed during the update", op, store.ErrConflict)
		}
		out = next
		return nil
	})
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
	res, err := s.w.ExecContext(ctx, `DELETE FROM resources WHERE kind = ? AND id = ?`, string(kind), id)
	if err != nil {
		return s.mapErr(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
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
	err := s.w.QueryRowContext(ctx, `INSERT INTO audit (`+store.AuditInsertColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, store.AuditValues(e, e.Time.UnixMicro())...).Scan(&e.ID)
	if err != nil {
		return store.AuditEntry{}, s.mapErr(op, err)
	}
	return e, nil
}

// auditQuery is SQLite's dialect of the ListAudit query.
var auditQuery = store.AuditQuery{
	Arg:  func(args *[]any, v any) string { *args = append(*args, v); return "?" },
	Time: func(t time.Time) any { return t.UnixMicro() },
	AnyID: func(args *[]any, ids []string) string {
		for _, id := range ids {
			*args = append(*args, id)
		}
		return "resource_id IN (?" + strings.Repeat(", ?", len(ids)-1) + ")"
	},
	Mention: func(args *[]any, m string) string {
		*args = append(*args, asciiLower(m))
		return "instr(lower(detail), ?) > 0"
	},
}

// ListAudit implements store.Store: newest first (by Time, then ID).
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	const op = "list audit"
	if err := s.check(op); err != nil {
		return nil, err
	}
	q, args := auditQuery.Build(f)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	var out []store.AuditEntry
	for rows.Next() {
		var e store.AuditEntry
		var at int64
		var kind, outcome string
		var target, targetUser *string
		if err := rows.Scan(&e.ID, &at, &e.RequestID, &e.TokenName, &e.Operation, &kind, &e.ResourceID,
			&outcome, &e.UpstreamStatus, &e.Detail, &target, &targetUser); err != nil {
			return nil, s.mapErr(op, err)
		}
		e.Time, e.Kind, e.Outcome = time.UnixMicro(at).UTC(), store.Kind(kind), store.Outcome(outcome)
		store.ScanTarget(&e, target, targetUser)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
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
	res, err := s.w.ExecContext(ctx, `DELETE FROM audit WHERE time < ?`, before.UnixMicro())
	if err != nil {
		return 0, s.mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.mapErr(op, err)
	}
	return n, nil
}

// asciiLower lowers ASCII letters only, as SQLite's lower() does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
