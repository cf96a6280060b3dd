package tokens

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/secret"
)

// TestLoadRotationZeroFailures: 20 clients keep calling a real HTTP server
// (Middleware on 127.0.0.1) while the IdP token is rotated again and again
// — from the serving replica and from another one — and the upstream
// secret file is replaced. Clients switch to the newest secret whenever they
// next look; the old one is still in its overlap. Not one request may fail.
func TestLoadRotationZeroFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { loadRotation(t, b) })
	}
}

func loadRotation(t *testing.T, b backend) {
	ctx := context.Background()
	open := b.newDB(t)
	serving := &counting{Store: open(t)}
	svc, _, logs := newService(t, serving, nil, Options{})
	operator, _, _ := newService(t, open(t), nil, Options{}) // another replica

	// The upstream secret: a file replaced atomically (write, rename), as a
	// Kubernetes secret volume or an operator's script does.
	dir := t.TempDir()
	path := filepath.Join(dir, "sigma_scim_token")
	writeSecret := func(v string) {
		tmp := filepath.Join(dir, ".tmp")
		if err := os.WriteFile(tmp, []byte(v+"\n"), 0o600); err != nil {
			t.Error(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Error(err)
		}
	}
	writeSecret("upstream-secret-000")
	upstream := secret.NewFile(path)
	upstream.CheckEvery = 5 * time.Millisecond

	var upstreamErrs atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// What a Sigma call would do: read the current upstream secret.
		v, err := upstream.Current(r.Context())
		if err != nil || !strings.HasPrefix(v.Reveal(), "upstream-secret-") {
			upstreamErrs.Add(1)
			http.Error(w, "bad upstream secret", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, NameFrom(r.Context()))
	})
	srv := httptest.NewServer(svc.Middleware(handler))
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	t.Cleanup(client.CloseIdleConnections)

	var current atomic.Value
	current.Store(mustCreate(t, svc, "okta", 0))
	all := map[string]bool{current.Load().(string): true}

	var done atomic.Bool
	var sent, failed atomic.Int64
	var firstFailure sync.Once
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			// Bounded: stops when rotation is over, or after 5000 requests.
			for i := 0; i < 5000 && !done.Load(); i++ {
				tok := current.Load().(string)
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/scim/v2/Users", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				sent.Add(1)
				if err != nil {
					failed.Add(1)
					firstFailure.Do(func() { t.Errorf("request: %v", err) })
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(body) != "okta" {
					failed.Add(1)
					firstFailure.Do(func() { t.Errorf("status %d: %s", resp.StatusCode, body) })
				}
			}
		})
	}

	const rotations = 12
	for i := range rotations {
		time.Sleep(20 * time.Millisecond) // let traffic flow between changes
		rotator := svc
		if i%2 == 1 {
			rotator = operator
		}
		s, _, err := rotator.Rotate(ctx, "okta", time.Hour)
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		all[s] = true
		current.Store(s)

		want := fmt.Sprintf("upstream-secret-%03d", i+1)
		writeSecret(want)
		waitForSecret(t, upstream, want)
	}
	time.Sleep(20 * time.Millisecond)
	done.Store(true)
	wg.Wait()

	t.Logf("%d requests, %d failed, %d store lookups by hash, %d last-used writes",
		sent.Load(), failed.Load(), serving.byHash.Load(), serving.touches.Load())
	if failed.Load() != 0 || upstreamErrs.Load() != 0 {
		t.Fatalf("%d of %d requests failed (%d upstream secret errors), want none", failed.Load(), sent.Load(), upstreamErrs.Load())
	}
	if sent.Load() < 20*rotations {
		t.Fatalf("only %d requests were sent", sent.Load())
	}
	// Hot path: one store lookup per token (plus one per CacheTTL), not
	// one per request; last-used writes coalesced per token.
	if n := serving.byHash.Load(); n > 4*(rotations+1) {
		t.Errorf("%d store lookups for %d tokens", n, rotations+1)
	}
	if n := serving.touches.Load(); n > int64(rotations+1) {
		t.Errorf("%d last-used writes for %d tokens, want at most one each", n, rotations+1)
	}
	for s := range all {
		if strings.Contains(logs.String(), s) {
			t.Fatal("a token secret appears in the logs")
		}
	}
}

// waitForSecret waits until src yields want: a replaced file takes effect
// without a restart.
func waitForSecret(t *testing.T, src *secret.File, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := src.Current(context.Background())
		if err == nil && v.Reveal() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("secret file change not picked up (err %v)", err)
		}
		time.Sleep(time.Millisecond)
	}
}
