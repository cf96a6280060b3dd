package app

import (
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/config"
)

// sqlGoroutines counts the goroutines open database handles run
// (database/sql keeps one per handle until it is closed).
func sqlGoroutines() int {
	buf := make([]byte, 1<<22)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "database/sql.(*DB).connectionOpener")
}

// TestNewClosesWhatItOpened pins issue 10.2: a failing New returns a
// *StartError naming the cause (it used to panic on a nil *App in its
// cleanup) and closes the store and the listener it had already opened.
func TestNewClosesWhatItOpened(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	scimAddr := free.Addr().String()
	free.Close()

	cases := []struct {
		name, want string
		edit       func(cfg *config.Config)
	}{
		{"admin port busy after the SCIM listener and the store opened", "listen for admin on " + busy.Addr().String(),
			func(cfg *config.Config) { cfg.Listen, cfg.AdminListen = scimAddr, busy.Addr().String() }},
		{"unknown region after the store opened", `"mars-north" is neither a URL nor a region`,
			func(cfg *config.Config) { cfg.Sigma.APIURL = "mars-north" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := sqlGoroutines()
			cfg := testConfig(t)
			tc.edit(&cfg)
			a, err := New(t.Context(), cfg)
			var se *StartError
			if a != nil || !errors.As(err, &se) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, %v; want nil and a *StartError saying %q", a, err, tc.want)
			}
			ln, err := net.Listen("tcp", scimAddr)
			if err != nil {
				t.Fatalf("the SCIM listener was left open: %v", err)
			}
			ln.Close()
			deadline := time.Now().Add(5 * time.Second)
			for sqlGoroutines() > before {
				if time.Now().After(deadline) {
					t.Fatalf("the store was left open: %d database handles, %d before New", sqlGoroutines(), before)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
