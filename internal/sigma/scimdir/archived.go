package scimdir

import (
	"context"
	"errors"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/dirkit"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// Members deactivated through the REST path (isArchived: what the REST
// directory does for active=false) are invisible to Sigma's SCIM, which
// answers 404 for them. After a switch from REST to SCIM the IdP still
// holds their ids and will, typically, reactivate them. With a REST client
// the bridge keeps them visible for reads by id, as inactive, and applies
// writes to them through REST, so such an IdP request behaves as it did on
// the REST path. Lookups by userName and full lists still show what
// Sigma's SCIM shows.

// archivedKey marks a user resource built from a REST member that Sigma's
// SCIM does not show. It is not a SCIM attribute and never leaves the
// package.
const archivedKey = "\x00archived"

func isArchived(res sigma.SCIMResource) bool {
	b, _ := res[archivedKey].(bool)
	return b
}

// archivedMember returns, when a REST client is configured, the member id
// as a user resource if REST shows it deactivated (archived). A REST
// failure counts as "not there": SCIM's answer stands.
func (d *Directory) archivedMember(ctx context.Context, id string) (sigma.SCIMResource, bool) {
	if d.rest == nil {
		return nil, false
	}
	m, err := d.rest.GetMember(ctx, id)
	if err != nil {
		if !errors.Is(err, sigma.ErrNotFound) {
			d.log.DebugContext(ctx, "sigma rest read of a member sigma scim does not show failed", "id", id, "err", err)
		}
		return nil, false
	}
	if !m.IsArchived {
		return nil, false
	}
	var groups []any
	if teams, err := d.rest.MemberTeams(ctx, id); err == nil {
		for _, t := range teams {
			groups = append(groups, map[string]any{"value": t.TeamID, "display": t.Name})
		}
	}
	return sigma.SCIMResource{
		archivedKey: true,
		"id":        m.MemberID,
		"userName":  m.Email,
		"name":      map[string]any{"givenName": m.FirstName, "familyName": m.LastName},
		"active":    false,
		"userType":  m.MemberType, // the REST name; canonical() maps it
		"groups":    groups,
		"meta": map[string]any{
			"created":      m.CreatedAt.UTC().Format(time.RFC3339Nano),
			"lastModified": m.UpdatedAt.UTC().Format(time.RFC3339Nano),
		},
		sigma.SCIMSigmaUserSchema: map[string]any{"userKind": m.UserKind},
	}, true
}

// replaceArchived is ReplaceUser for a member only REST shows: active=true
// reactivates it through REST (then Sigma's SCIM shows it again and the
// rest of the change goes there); otherwise the change is sent through
// REST. It returns the user's resource afterwards and what changed.
func (d *Directory) replaceArchived(ctx context.Context, res sigma.SCIMResource, u directory.User, canonical, scimType string) (sigma.SCIMResource, []string, error) {
	id := str(res, "id")
	if u.Active {
		if _, err := d.rest.ReactivateMember(ctx, id); err != nil {
			return nil, nil, dirkit.UpstreamErr("reactivate member", err)
		}
		fresh, ok, err := d.getUser(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if !ok || isArchived(fresh) {
			return nil, nil, &directory.UpstreamError{Op: "reactivate member", Retryable: true,
				Message: "Sigma's SCIM does not show the reactivated member yet"}
		}
		ops, changed := userOps(stateOf(fresh), u, scimType)
		changed = append([]string{"reactivated (REST)"}, changed...)
		if len(ops) == 0 {
			return fresh, changed, nil
		}
		out, err := d.scim.PatchUser(ctx, id, ops)
		if err != nil {
			return nil, nil, d.userWriteErr(ctx, "update user", err, u.AccountType)
		}
		res, err = d.afterPatch(ctx, store.KindUser, id, out)
		return res, changed, err
	}
	cur := stateOf(res)
	p, fields := dirkit.MemberPatch(sigma.Member{Email: cur.userName, FirstName: cur.given, LastName: cur.family,
		MemberType: cur.userType, UserKind: cur.userKind}, u, canonical)
	var changed []string
	for _, f := range fields {
		changed = append(changed, scimAttr[f])
	}
	if len(changed) == 0 {
		return res, nil, nil
	}
	if _, err := d.rest.UpdateMember(ctx, id, p); err != nil {
		return nil, nil, dirkit.UpstreamErr("update member", err)
	}
	fresh, ok := d.archivedMember(ctx, id)
	if !ok {
		return nil, nil, &directory.UpstreamError{Op: "update member", Retryable: true, Message: "the member changed state meanwhile"}
	}
	return fresh, append(changed, "(REST, deactivated member)"), nil
}

// scimAttr names the REST member fields of dirkit.MemberPatch as the SCIM
// path's audit trail names them.
var scimAttr = map[string]string{
	"email": "userName", "firstName": "givenName", "lastName": "familyName", "memberType": "userType", "userKind": "userKind",
}
