package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// TouchReplica implements store.Store.
func (s *Store) TouchReplica(ctx context.Context, r store.Replica) error {
	const op = "touch replica"
	if err := s.check(op); err != nil {
		return err
	}
	store.PrepareReplica(&r, s.now())
	return s.tx(ctx, op, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO replicas (id, host, version, started_at, seen_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET host = excluded.host, version = excluded.version, seen_at = excluded.seen_at`,
			r.ID, r.Host, r.Version, r.StartedAt.UnixMicro(), r.SeenAt.UnixMicro()); err != nil {
			return s.mapErr(op, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM replicas WHERE seen_at < ?`, r.SeenAt.Add(-store.ReplicaForget).UnixMicro()); err != nil {
			return s.mapErr(op, err)
		}
		return nil
	})
}

// ListReplicas implements store.Store.
func (s *Store) ListReplicas(ctx context.Context, since time.Time) ([]store.Replica, error) {
	const op = "list replicas"
	if err := s.check(op); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, host, version, started_at, seen_at FROM replicas
		WHERE seen_at >= ? ORDER BY seen_at DESC, id`, since.UnixMicro())
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	var out []store.Replica
	for rows.Next() {
		var r store.Replica
		var started, seen int64
		if err := rows.Scan(&r.ID, &r.Host, &r.Version, &started, &seen); err != nil {
			return nil, s.mapErr(op, err)
		}
		r.StartedAt, r.SeenAt = time.UnixMicro(started).UTC(), time.UnixMicro(seen).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
}
