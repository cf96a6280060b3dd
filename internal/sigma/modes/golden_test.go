package modes_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/scimserver"
	"github.com/scimbridge/scim-bridge/internal/scimserver/scimtest"
	"github.com/scimbridge/scim-bridge/internal/sigma/modes"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/tokens"
)

// autoBackend serves the SCIM edge over a Selector in auto mode, probed
// once: with Sigma's SCIM on it runs on scimdir, with it off on restdir.
func autoBackend(scimOn bool, name string) scimtest.Factory {
	return func(t *testing.T) scimtest.Backend {
		e := newEnv(t, modes.ModeAuto, sigmafake.Options{SCIMDisabled: !scimOn})
		want := modes.ModeREST
		if scimOn {
			want = modes.ModeSCIM
		}
		if mode, why := e.sel.ProbeNow(context.Background()); mode != want {
			t.Fatalf("live = %s (%s), want %s", mode, why, want)
		}
		tok := tokens.New(e.st, tokens.Options{CacheTTL: -1, NegativeCacheTTL: -1}, nil, nil)
		t.Cleanup(func() { _ = tok.Close() })
		bearer, _, err := tok.Create(context.Background(), "golden", 0)
		if err != nil {
			t.Fatal(err)
		}
		h, err := scimserver.New(scimserver.Options{Directory: e.sel, Auth: tok.Middleware})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/scim/v2/", http.StripPrefix("/scim/v2", h))
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		e.srv.ResetRequests()
		return scimtest.Backend{Name: name, URL: srv.URL + "/scim/v2", Token: bearer, Fake: e.srv}
	}
}

// TestGoldenConversationsAuto replays the SCIM edge's recorded IdP
// conversations through the Selector in auto mode on both paths. On REST
// the exact upstream calls of the goldens are checked too: auto mode adds
// nothing to a request.
func TestGoldenConversationsAuto(t *testing.T) {
	const goldens = "../../scimserver/testdata"
	t.Run("scim", func(t *testing.T) { scimtest.Run(t, goldens, autoBackend(true, "auto-scim")) })
	t.Run("rest", func(t *testing.T) { scimtest.Run(t, goldens, autoBackend(false, "rest")) })
}
