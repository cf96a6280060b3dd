package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

const tokenColumns = `id, name, hash, prefix, created_at, expires_at, revoked_at, superseded_at, last_used_at, scope, networks`

func scanToken(sc scanner) (store.Token, error) {
	var t store.Token
	var created, expires, revoked, superseded, lastUsed sql.NullInt64
	var networks string
	if err := sc.Scan(&t.ID, &t.Name, &t.Hash, &t.Prefix, &created, &expires, &revoked, &superseded, &lastUsed, &t.Scope, &networks); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = goTime(created), goTime(expires), goTime(revoked)
	t.SupersededAt, t.LastUsedAt = goTime(superseded), goTime(lastUsed)
	var err error
	if t.Networks, err = store.ParseNetworks(networks); err != nil {
		return store.Token{}, fmt.Errorf("token %s: %w", t.ID, err)
	}
	return t, nil
}

func insertToken(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, t store.Token) error {
	_, err := ex.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Name, t.Hash, t.Prefix, dbTime(t.CreatedAt), dbTime(t.ExpiresAt),
		dbTime(t.RevokedAt), dbTime(t.SupersededAt), dbTime(t.LastUsedAt), t.Scope, store.FormatNetworks(t.Networks))
	return err
}

// CreateToken implements store.Store.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	const op = "create token"
	if err := s.check(op); err != nil {
		return err
	}
	if err := store.PrepareToken(op, &t, s.now()); err != nil {
		return err
	}
	return s.mapErr(op, insertToken(ctx, s.w, t))
}

// TokenByHash implements store.Store.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	const op = "token by hash"
	if err := s.check(op); err != nil {
		return store.Token{}, err
	}
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
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
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY name, created_at, id`)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.mapErr(op, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
}

// RotateToken implements store.Store.
func (s *Store) RotateToken(ctx context.Context, oldID string, oldExpiresAt, now time.Time, next store.Token) error {
	const op = "rotate token"
	if now.IsZero() {
		now = s.now()
	}
	if err := store.PrepareSuccessor(op, &next, now); err != nil {
		return err
	}
	return s.tx(ctx, op, func(tx *sql.Tx) error {
		var name string
		var expires, superseded, revoked sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT name, expires_at, superseded_at, revoked_at FROM tokens WHERE id = ?`, oldID).
			Scan(&name, &expires, &superseded, &revoked)
		if err != nil {
			return s.mapErr(op, err)
		}
		if name != next.Name || superseded.Valid || revoked.Valid {
			return fmt.Errorf("%s: %w: token is no longer the current one of its name", op, store.ErrConflict)
		}
		exp := goTime(expires)
		if !oldExpiresAt.IsZero() && (exp.IsZero() || oldExpiresAt.Before(exp)) {
			exp = oldExpiresAt
		}
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET superseded_at = ?, expires_at = ?
			WHERE id = ? AND superseded_at IS NULL AND revoked_at IS NULL`, dbTime(now), dbTime(exp), oldID)
		if err != nil {
			return s.mapErr(op, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%s: %w", op, store.ErrConflict)
		}
		return s.mapErr(op, insertToken(ctx, tx, next))
	})
}

// RevokeToken implements store.Store.
func (s *Store) RevokeToken(ctx context.Context, name string, now time.Time) error {
	const op = "revoke token"
	if now.IsZero() {
		now = s.now()
	}
	return s.tx(ctx, op, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tokens WHERE name = ?`, name).Scan(&n); err != nil {
			return s.mapErr(op, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: %w", op, store.ErrNotFound)
		}
		_, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL`, dbTime(now), name)
		return s.mapErr(op, err)
	})
}

// TouchToken implements store.Store. It only moves LastUsedAt forward, so
// touches arriving out of order keep the latest.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	const op = "touch token"
	if err := s.check(op); err != nil {
		return err
	}
	if at.IsZero() {
		at = s.now()
	}
	res, err := s.w.ExecContext(ctx, `UPDATE tokens SET last_used_at = ?
		WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`, dbTime(at), id, dbTime(at))
	if err != nil {
		return s.mapErr(op, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		if err := s.r.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE id = ?`, id).Scan(&one); err != nil {
			return s.mapErr(op, err)
		}
	}
	return nil
}
