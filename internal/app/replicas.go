package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// replicaReportEvery is how often a bridge reports itself in the store;
// the status page lists the replicas seen within replicaShownFor.
const (
	replicaReportEvery = 30 * time.Second
	replicaShownFor    = 10 * time.Minute
)

// newReplica describes this process for the store's replica list.
func newReplica(version string, started time.Time) store.Replica {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	host, _ := os.Hostname()
	return store.Replica{ID: hex.EncodeToString(b), Host: host, Version: version, StartedAt: started}
}

// runReplicaReport reports this replica at once and then every
// replicaReportEvery until ctx ends. A failure is logged at debug level:
// the store's own health is /readyz's business.
func (a *App) runReplicaReport(ctx context.Context) error {
	t := time.NewTicker(replicaReportEvery)
	defer t.Stop()
	for {
		if err := a.store.TouchReplica(ctx, a.replica); err != nil && ctx.Err() == nil {
			a.logger.Debug("report this replica in the store", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
