package tokens

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/scimbridge/scim-bridge/internal/secret"
)

func TestAuthFailureMetricsPrecreated(t *testing.T) {
	_, reg, _ := newService(t, openSQLite(t), newClock(), Options{})
	want := `
# HELP scim_bridge_auth_failures_total Bearer token authentications refused (401), by reason (missing, malformed, unknown, expired, revoked, network: a valid token from outside its networks).
# TYPE scim_bridge_auth_failures_total counter
scim_bridge_auth_failures_total{reason="expired"} 0
scim_bridge_auth_failures_total{reason="malformed"} 0
scim_bridge_auth_failures_total{reason="missing"} 0
scim_bridge_auth_failures_total{reason="network"} 0
scim_bridge_auth_failures_total{reason="revoked"} 0
scim_bridge_auth_failures_total{reason="unknown"} 0
# HELP scim_bridge_auth_forbidden_total Requests with a valid token beyond its scope (403), by reason (read_only: a write with a scim:read token; admin_only: an admin token on the SCIM API; not_admin: a SCIM token on the admin status page).
# TYPE scim_bridge_auth_forbidden_total counter
scim_bridge_auth_forbidden_total{reason="admin_only"} 0
scim_bridge_auth_forbidden_total{reason="not_admin"} 0
scim_bridge_auth_forbidden_total{reason="read_only"} 0
# HELP scim_bridge_auth_rate_limited_total Requests answered 429 because their client address failed authentication too often.
# TYPE scim_bridge_auth_rate_limited_total counter
scim_bridge_auth_rate_limited_total 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"scim_bridge_auth_failures_total", "scim_bridge_auth_forbidden_total", "scim_bridge_auth_rate_limited_total"); err != nil {
		t.Fatal(err)
	}
}

func TestTokenAgeMetric(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	svc, reg, _ := newService(t, openSQLite(t), c, Options{CacheTTL: 10 * time.Second})
	mustCreate(t, svc, "okta", 0)
	c.Add(time.Hour)
	mustCreate(t, svc, "entra", 0)
	mustCreate(t, svc, "gone", 0)
	if err := svc.Revoke(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	c.Add(2 * time.Hour)
	ages := func() string {
		return `
# HELP scim_bridge_idp_token_age_seconds Seconds since the current (newest, unrevoked) IdP bearer token of each name was issued; rotate when it grows old.
# TYPE scim_bridge_idp_token_age_seconds gauge
`
	}
	want := ages() + `scim_bridge_idp_token_age_seconds{name="entra"} 7200
scim_bridge_idp_token_age_seconds{name="okta"} 10800
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "scim_bridge_idp_token_age_seconds"); err != nil {
		t.Fatal(err)
	}
	// Rotation here resets the age at once (the cached list is dropped).
	if _, _, err := svc.Rotate(ctx, "okta", time.Hour); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	want = ages() + `scim_bridge_idp_token_age_seconds{name="entra"} 7260
scim_bridge_idp_token_age_seconds{name="okta"} 60
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "scim_bridge_idp_token_age_seconds"); err != nil {
		t.Fatal(err)
	}
}

func TestTokenAgeMetricReadsCachedList(t *testing.T) {
	c := newClock()
	st := openSQLite(t)
	svc, reg, _ := newService(t, st, c, Options{CacheTTL: 10 * time.Second})
	other, _, _ := newService(t, st, c, Options{})
	mustCreate(t, svc, "okta", 0)
	if n, _ := testutil.GatherAndCount(reg, "scim_bridge_idp_token_age_seconds"); n != 1 {
		t.Fatalf("%d series, want 1", n)
	}
	// A token made elsewhere shows up once the cached list is CacheTTL old.
	mustCreate(t, other, "entra", 0)
	if n, _ := testutil.GatherAndCount(reg, "scim_bridge_idp_token_age_seconds"); n != 1 {
		t.Fatalf("scrape within CacheTTL read the store: %d series", n)
	}
	c.Add(10 * time.Second)
	if n, _ := testutil.GatherAndCount(reg, "scim_bridge_idp_token_age_seconds"); n != 2 {
		t.Fatalf("scrape after CacheTTL: %d series, want 2", n)
	}
}

func TestRegisterSecretAge(t *testing.T) {
	reg := prometheus.NewRegistry()
	old := time.Now().Add(-80 * 24 * time.Hour)
	if err := RegisterSecretAge(reg, "sigma_scim_token", func() time.Time { return old }); err != nil {
		t.Fatal(err)
	}
	if err := RegisterSecretAge(reg, "sigma_client_secret", func() time.Time { return time.Time{} }); err != nil {
		t.Fatal(err)
	}
	if err := RegisterSecretAge(reg, "sigma_scim_token", time.Now); err == nil {
		t.Fatal("registering one source twice succeeded")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "scim_bridge_upstream_secret_age_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	if a := got["sigma_scim_token"]; a < 80*24*3600 || a > 80*24*3600+600 {
		t.Errorf("age of an 80-day-old secret = %v s", a)
	}
	if a, ok := got["sigma_client_secret"]; !ok || !math.IsNaN(a) {
		t.Errorf("age of a never-read secret = %v (present %v), want NaN", a, ok)
	}
}

// TestSecretAgeOfFile wires RegisterSecretAge to a secret.File whose file
// is replaced: the age follows the new file's modification time.
func TestSecretAgeOfFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-90 * 24 * time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	f := secret.NewFile(path)
	f.CheckEvery = 0
	reg := prometheus.NewRegistry()
	if err := RegisterSecretAge(reg, "sigma_scim_token", f.ChangedAt); err != nil {
		t.Fatal(err)
	}
	if v, err := f.Current(ctx); err != nil || v.Reveal() != "first" {
		t.Fatalf("current: %v", err)
	}
	age := func() float64 {
		mfs, _ := reg.Gather()
		return mfs[0].GetMetric()[0].GetGauge().GetValue()
	}
	if a := age(); a < 90*24*3600 {
		t.Fatalf("age %v s, want 90 days", a)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("second\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if v, err := f.Current(ctx); err != nil || v.Reveal() != "second" {
		t.Fatalf("current after replacement: %v", err)
	}
	if a := age(); a > 3600 {
		t.Fatalf("age after replacement %v s, want fresh", a)
	}
}
