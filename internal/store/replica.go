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
