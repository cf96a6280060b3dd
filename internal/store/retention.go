package store

import (
	"context"
	"log/slog"
	"time"
)

// RunRetention prunes audit entries older than maxAge from s once at start
// and then every interval, until ctx is done; it then returns nil. A
// failed prune is logged and retried at the next tick, never fatal: an
// audit trail a little longer than configured is better than a bridge that
// stops. maxAge <= 0 disables pruning (RunRetention returns at once);
// every <= 0 means one hour. Several replicas may run it at once: pruning
// is idempotent.
func RunRetention(ctx context.Context, s Store, maxAge, every time.Duration, logger *slog.Logger) error {
	if maxAge <= 0 {
		return nil
	}
	if every <= 0 {
		every = time.Hour
	}
	t := time.NewTicker(every)
	defer t.Stop()
	return runRetention(ctx, s, maxAge, t.C, time.Now, logger)
}

// runRetention is RunRetention with the ticker and clock injected so tests
// drive it without sleeping.
func runRetention(ctx context.Context, s Store, maxAge time.Duration, tick <-chan time.Time, now func() time.Time, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for {
		before := now().Add(-maxAge)
		n, err := s.PruneAudit(ctx, before)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			logger.WarnContext(ctx, "audit retention: prune failed", "err", err)
		case n > 0:
			logger.InfoContext(ctx, "audit retention: pruned entries", "deleted", n, "before", before)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
		}
	}
}
