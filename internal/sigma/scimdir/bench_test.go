package scimdir_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// onboard is what an Okta push costs the directory for one new user:
// the existence check, the create and the group add.
func onboard(ctx context.Context, e *env, teamID string, i int) error {
	email := fmt.Sprintf("onboard%d@example.org", i)
	if us, err := e.dir.LookupUsers(ctx, directory.AttrUserName, email); err != nil || len(us) != 0 {
		return fmt.Errorf("lookup %s: %v %v", email, us, err)
	}
	u, err := e.dir.CreateUser(ctx, directory.User{UserName: email, GivenName: "On", FamilyName: "Board", Active: true})
	if err != nil {
		return err
	}
	_, err = e.dir.ModifyGroupMembers(ctx, teamID, []string{u.ID}, nil)
	return err
}

// TestOnboardingCost pins the upstream calls of an Okta-style onboarding
// on the SCIM path: three per user (filter, POST, PATCH), as on REST.
func TestOnboardingCost(t *testing.T) {
	e := newEnv(t, envOpts{fake: sigmafake.Options{Members: 10}})
	ctx := sigmatest.ActorCtx()
	g, err := e.dir.CreateGroup(ctx, directory.Group{DisplayName: "Onboarding"})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.ResetRequests()
	const users = 5
	for i := range users {
		if err := onboard(ctx, e, g.ID, i); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.srv.Requests()); n != 3*users {
		t.Errorf("%d upstream calls for %d onboardings, want %d", n, users, 3*users)
	}
}

func BenchmarkOnboarding(b *testing.B) {
	e := newEnv(b, envOpts{fake: sigmafake.Options{Members: 1000}})
	ctx := sigmatest.ActorCtx()
	g, err := e.dir.CreateGroup(ctx, directory.Group{DisplayName: "Onboarding"})
	if err != nil {
		b.Fatal(err)
	}
	e.srv.ResetRequests()
	i := 0
	for b.Loop() {
		if err := onboard(ctx, e, g.ID, i); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(len(e.srv.Requests()))/float64(i), "upstream-calls/user")
}
