package store

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

type pruneRecorder struct {
	Store // nil: only PruneAudit is called
	calls chan time.Time
	err   error
}

func (p *pruneRecorder) PruneAudit(_ context.Context, before time.Time) (int64, error) {
	p.calls <- before
	return 3, p.err
}

func TestRunRetentionPrunesAtStartAndEveryTick(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rec := &pruneRecorder{calls: make(chan time.Time, 10), err: errors.New("disk on fire")}
	tick := make(chan time.Time)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		done <- runRetention(ctx, rec, 24*time.Hour, tick, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	}()
	if got := <-rec.calls; !got.Equal(now.Add(-24 * time.Hour)) {
		t.Errorf("first prune before %v, want %v", got, now.Add(-24*time.Hour))
	}
	// A failed prune is not fatal: the next tick prunes again.
	now = now.Add(time.Hour)
	tick <- now
	if got := <-rec.calls; !got.Equal(now.Add(-24 * time.Hour)) {
		t.Errorf("second prune before %v, want %v", got, now.Add(-24*time.Hour))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("runRetention after cancel = %v, want nil", err)
	}
}

func TestRunRetentionDisabled(t *testing.T) {
	rec := &pruneRecorder{calls: make(chan time.Time, 1)}
	if err := RunRetention(t.Context(), rec, 0, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) != 0 {
		t.Errorf("maxAge 0 pruned anyway")
	}
}
