package store

import "time"

// Replica is one bridge process using the store, as it last reported
// itself (the status page lists the replicas sharing a PostgreSQL store).
type Replica struct {
	ID        string // random, new at every start
	Host      string // the host name it runs on (a pod name in Kubernetes)
	Version   string
	StartedAt time.Time
	SeenAt    time.Time // the last TouchReplica
}

// ReplicaForget is how long a replica that stopped reporting is kept.
const ReplicaForget = 7 * 24 * time.Hour

// PrepareReplica fills in what TouchReplica takes from the store's clock
// (now): SeenAt, and StartedAt when zero; both in UTC microseconds.
func PrepareReplica(r *Replica, now time.Time) {
	if r.SeenAt.IsZero() {
		r.SeenAt = now
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = r.SeenAt
	}
	r.SeenAt = r.SeenAt.UTC().Truncate(time.Microsecond)
	r.StartedAt = r.StartedAt.UTC().Truncate(time.Microsecond)
}
