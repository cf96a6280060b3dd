package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// TouchReplica implements store.Store.
func (s *Store) TouchReplica(ctx context.Context, r store.Replica) error {
	const op = "touch replica"
	if err := s.check(op); err != nil {
		return err
	}
	store.PrepareReplica(&r, s.now())
	return s.tx(ctx, op, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO replicas (id, host, version, started_at, seen_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET host = excluded.host, version = excluded.version, seen_at = excluded.seen_at`,
			r.ID, r.Host, r.Version, r.StartedAt, r.SeenAt); err != nil {
			return s.mapErr(op, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM replicas WHERE seen_at < $1`, r.SeenAt.Add(-store.ReplicaForget)); err != nil {
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
	rows, err := s.pool.Query(ctx, `SELECT id, host, version, started_at, seen_at FROM replicas
		WHERE seen_at >= $1 ORDER BY seen_at DESC, id`, since.UTC().Truncate(time.Microsecond))
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Replica, error) {
		var rep store.Replica
		err := r.Scan(&rep.ID, &rep.Host, &rep.Version, &rep.StartedAt, &rep.SeenAt)
		rep.StartedAt, rep.SeenAt = rep.StartedAt.UTC(), rep.SeenAt.UTC()
		return rep, err
	})
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return out, nil
}
