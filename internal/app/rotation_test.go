package app

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
)

// TestRotationUnderLoad is issue 7's load test end to end: 20 IdP clients
// keep provisioning through the real bridge while the IdP token is rotated
// (with overlap) and Sigma's client secret is rotated through its file.
// Every request must succeed and every create must land exactly once.
func TestRotationUnderLoad(t *testing.T) {
	fake, err := sigmafake.Start(sigmafake.Options{Members: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	secretFile := filepath.Join(t.TempDir(), "sigma-client-secret")
	writeAtomic := func(v string) {
		tmp := secretFile + ".new"
		if err := os.WriteFile(tmp, []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, secretFile); err != nil {
			t.Fatal(err)
		}
	}
	writeAtomic(sigmafake.DefaultClientSecret)

	cfg := testConfig(t)
	cfg.Sigma.Mode = config.ModeREST
	cfg.Sigma.APIURL = fake.URL()
	cfg.Sigma.ClientID = sigmafake.DefaultClientID
	cfg.Sigma.ClientSecret = ""
	cfg.Sigma.ClientSecretFile = secretFile
	cfg.Sigma.RequestsPerSecond = 1000
	a, _ := startApp(t, cfg)
	if err := a.WaitReady(t.Context(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	first, _, err := a.Tokens().Create(t.Context(), "okta", 0)
	if err != nil {
		t.Fatal(err)
	}
	var current atomic.Value
	current.Store(first)

	base := a.SCIMBaseURL()
	stop := make(chan struct{})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failures []string
		created  atomic.Int64
		requests atomic.Int64
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	for c := range 20 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := current.Load().(string)
				email := fmt.Sprintf("load-%d-%d@example.com", c, i)
				code, u := scimDo(t, "POST", base+"/Users", tok,
					`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"`+email+`","name":{"givenName":"Load","familyName":"Test"}}`)
				requests.Add(1)
				if code != http.StatusCreated {
					fail("POST %s: %d %v", email, code, u)
					continue
				}
				created.Add(1)
				code, got := scimDo(t, "GET", base+"/Users/"+u["id"].(string), tok, "")
				requests.Add(1)
				if code != http.StatusOK || got["userName"] != email {
					fail("GET %s: %d %v", email, code, got)
				}
			}
		})
	}
	// Rounds are spaced wider than Sigma's token endpoint allows requests
	// (1/s): two secret rotations inside one token fetch is not a routine
	// an operator performs.
	for round := 1; round <= 3; round++ {
		time.Sleep(700 * time.Millisecond)
		next, _, err := a.Tokens().Rotate(t.Context(), "okta", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		current.Store(next)
		time.Sleep(700 * time.Millisecond)
		// The operator's routine: replace the mounted secret, then Sigma
		// starts refusing the old one (and its access tokens).
		newSecret := fmt.Sprintf("rotated-client-secret-%d", round)
		writeAtomic(newSecret)
		fake.SetClientSecret(newSecret)
		fake.ExpireTokens()
	}
	time.Sleep(1500 * time.Millisecond) // let requests run on the last secret
	close(stop)
	wg.Wait()

	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed; first: %s", len(failures), requests.Load(), failures[0])
	}
	if created.Load() < 20 {
		t.Fatalf("only %d creates went through", created.Load())
	}
	if got := len(fake.Members()); got != 5+int(created.Load()) {
		t.Errorf("emulator has %d members, want %d: a create landed twice or not at all", got, 5+created.Load())
	}
	t.Logf("%d requests, %d creates, %d token requests to Sigma", requests.Load(), created.Load(), fake.CountRequests("POST", "/v2/auth/token"))
}
