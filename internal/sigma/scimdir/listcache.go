package scimdir

import (
	"context"
	"sync"
	"time"
)

// listCache holds the last full list of one kind read from Sigma. Its mu
// is held while a list is read, so concurrent list requests share one read.
type listCache[T any] struct {
	mu     sync.Mutex
	valid  bool
	writes uint64 // Directory.writes when the read started
	at     time.Time
	list   []T
}

// cachedList returns the cached list when no write happened since it was
// read and it is younger than ListCacheTTL; otherwise it reads a new one.
func cachedList[T any](ctx context.Context, d *Directory, c *listCache[T], load func(context.Context) ([]T, error)) ([]T, error) {
	if d.opts.ListCacheTTL < 0 {
		return load(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	w := d.writes.Load()
	if c.valid && c.writes == w && d.opts.Now().Sub(c.at) < d.opts.ListCacheTTL {
		return c.list, nil
	}
	list, err := load(ctx)
	if err != nil {
		c.valid = false
		return nil, err
	}
	c.valid, c.writes, c.at, c.list = true, w, d.opts.Now(), list
	return list, nil
}
