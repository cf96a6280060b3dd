package tokens

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// gate wraps a real store so that RotateToken waits until `parties` callers
// have reached it: both replicas have then read the same current token, and
// their compare-and-swaps really race. It changes no result.
type gate struct {
	store.Store
	arrive *sync.WaitGroup
}

func (g gate) RotateToken(ctx context.Context, oldID string, oldExpiresAt, now time.Time, next store.Token) error {
	g.arrive.Done()
	g.arrive.Wait()
	return g.Store.RotateToken(ctx, oldID, oldExpiresAt, now, next)
}

// TestConcurrentRotation: two replicas (two Services on two store handles)
// rotate the same token at the same moment. Exactly one wins; the other
// gets a conflict and leaves nothing behind.
func TestConcurrentRotation(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			open := b.newDB(t)
			h1, h2 := open(t), open(t)
			var arrive sync.WaitGroup
			r1, _, _ := newService(t, gate{h1, &arrive}, nil, Options{})
			r2, _, _ := newService(t, gate{h2, &arrive}, nil, Options{})
			old := mustCreate(t, r1, "okta", 0)

			for round := range 5 {
				arrive.Add(2)
				type result struct {
					secret string
					err    error
				}
				res := make([]result, 2)
				var wg sync.WaitGroup
				for i, r := range []*Service{r1, r2} {
					wg.Go(func() {
						s, _, err := r.Rotate(ctx, "okta", time.Hour)
						res[i] = result{s, err}
					})
				}
				wg.Wait()

				var winner string
				wins := 0
				for _, r := range res {
					switch {
					case r.err == nil:
						wins++
						winner = r.secret
					case errors.Is(r.err, store.ErrConflict):
						if !strings.Contains(r.err.Error(), "another rotation") {
							t.Errorf("conflict error %q does not say what happened", r.err)
						}
					default:
						t.Fatalf("round %d: unexpected error %v", round, r.err)
					}
				}
				if wins != 1 {
					t.Fatalf("round %d: %d rotations succeeded, want exactly 1", round, wins)
				}
				for _, r := range res {
					if r.err != nil && r.secret != "" {
						t.Fatalf("the losing rotation returned a secret")
					}
				}
				// Exactly one current token; the winner's secret and the
				// previous one (in its overlap) work on both replicas.
				ts, err := h1.ListTokens(ctx)
				if err != nil {
					t.Fatal(err)
				}
				current := 0
				for _, tok := range ts {
					if tok.SupersededAt.IsZero() && tok.RevokedAt.IsZero() {
						current++
					}
				}
				if current != 1 || len(ts) != round+2 {
					t.Fatalf("round %d: %d tokens, %d current; want %d tokens, 1 current", round, len(ts), current, round+2)
				}
				for _, r := range []*Service{r1, r2} {
					mustVerify(t, r, winner)
					mustVerify(t, r, old)
				}
				old = winner
			}
		})
	}
}

// TestConcurrentRotationFreeRunning lets several replicas rotate as fast as
// they can without coordination: every call either succeeds or reports a
// conflict, and the chain of successors stays a single line.
func TestConcurrentRotationFreeRunning(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			open := b.newDB(t)
			var replicas []*Service
			var handles []store.Store
			for range 4 {
				h := open(t)
				handles = append(handles, h)
				r, _, _ := newService(t, h, nil, Options{})
				replicas = append(replicas, r)
			}
			mustCreate(t, replicas[0], "okta", 0)
			var mu sync.Mutex
			wins := 0
			var wg sync.WaitGroup
			for _, r := range replicas {
				wg.Go(func() {
					for range 10 {
						_, _, err := r.Rotate(ctx, "okta", time.Hour)
						if err != nil && !errors.Is(err, store.ErrConflict) {
							t.Errorf("rotate: %v", err)
							return
						}
						if err == nil {
							mu.Lock()
							wins++
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
			ts, err := handles[0].ListTokens(ctx)
			if err != nil {
				t.Fatal(err)
			}
			current := 0
			for _, tok := range ts {
				if tok.SupersededAt.IsZero() && tok.RevokedAt.IsZero() {
					current++
				}
			}
			if wins == 0 || current != 1 || len(ts) != wins+1 {
				t.Fatalf("%d successful rotations left %d tokens, %d current; want %d tokens, 1 current", wins, len(ts), current, wins+1)
			}
		})
	}
}
