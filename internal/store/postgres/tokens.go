package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimbridge/scim-bridge/internal/store"
)

const tokenColumns = `id, name, hash, prefix, created_at, expires_at, revoked_at, superseded_at, last_used_at, scope, networks`

func scanToken(row pgx.Row) (store.Token, error) {
	var t store.Token
	var created time.Time
	var expires, revoked, superseded, lastUsed *time.Time
	var networks string
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &t.Prefix, &created, &expires, &revoked, &superseded, &lastUsed, &t.Scope, &networks); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = created.UTC(), goTime(expires), goTime(revoked)
	t.SupersededAt, t.LastUsedAt = goTime(superseded), goTime(lastUsed)
	var err error
	if t.Networks, err = store.ParseNetworks(networks); err != nil {
		return store.Token{}, fmt.Errorf("token %s: %w", t.ID, err)
	}
	return t, nil
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func insertToken(ctx context.Context, ex execer, t store.Token) error {
	_, err := ex.Exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		t.ID, t.Name, t.Hash, t.Prefix, dbTime(t.CreatedAt), dbTime(t.ExpiresAt),
		dbTime(t.RevokedAt), dbTime(t.SupersededAt), dbTime(t.LastUsedAt), t.Scope, store.FormatNetworks(t.Networks))
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
	if err := store.PrepareToken(op, &t, s.now()); err != nil {
		return err
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
	if now.IsZero() {
		now = s.now()
	}
	if err := store.PrepareSuccessor(op, &next, now); err != nil {
		return err
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
