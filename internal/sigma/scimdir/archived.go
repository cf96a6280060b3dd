package scimdir

import (
	"context"
	"errors"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
)

// Members deactivated through the REST path (isArchived: what the REST
// directory does for active=false) are invisible to Sigma's SCIM, which
// answers 404 for them. After a switch from REST to SCIM the IdP still
// holds their ids and will, typically, reactivate them. With a REST client
// the bridge keeps them visible for reads by id, as inactive
// (provision.Member.Archived), and applies writes to them through REST, so
// such an IdP request behaves as it did on the REST path. Lookups by
// userName and full lists still show what Sigma's SCIM shows.

// archivedMember returns, when a REST client is configured, member id if
// REST shows it deactivated (archived). A REST failure counts as "not
// there": SCIM's answer stands.
func (d *Directory) archivedMember(ctx context.Context, id string) (provision.Member, bool) {
	if d.rest == nil {
		return provision.Member{}, false
	}
	m, err := d.rest.GetMember(ctx, id)
	if err != nil {
		if !errors.Is(err, sigma.ErrNotFound) {
			d.log.DebugContext(ctx, "sigma rest read of a member sigma scim does not show failed", "id", id, "err", err)
		}
		return provision.Member{}, false
	}
	if !m.IsArchived {
		return provision.Member{}, false
	}
	pm := provision.Member{
		ID: m.MemberID, Email: m.Email, FirstName: m.FirstName, LastName: m.LastName,
		AccountType: m.MemberType, UserKind: m.UserKind, Archived: true, Created: m.CreatedAt, Modified: m.UpdatedAt,
	}
	if teams, err := d.rest.MemberTeams(ctx, id); err == nil {
		for _, t := range teams {
			pm.Groups = append(pm.Groups, directory.Ref{ID: t.TeamID, Display: t.Name})
		}
	}
	return pm, true
}

// updateArchived is Members.Update for a member only REST shows: a
// reactivation goes through REST (then Sigma's SCIM shows it again and the
// rest of the change goes there); any other change is sent through REST.
func (d *Directory) updateArchived(ctx context.Context, m provision.Member, c provision.Change) (provision.Member, error) {
	if c.Active != nil && *c.Active {
		if _, err := d.rest.ReactivateMember(ctx, m.ID); err != nil {
			return provision.Member{}, provision.UpstreamErr("reactivate member", err)
		}
		fresh, ok, err := d.getUser(ctx, m.ID)
		if err != nil {
			return provision.Member{}, err
		}
		if !ok || fresh.Archived {
			return provision.Member{}, &directory.UpstreamError{Op: "reactivate member", Retryable: true,
				Message: "Sigma's SCIM does not show the reactivated member yet"}
		}
		c.Active = nil
		if c.IsZero() {
			return fresh, nil
		}
		return d.patchUser(ctx, fresh, c)
	}
	p := sigma.MemberPatch{Email: c.Email, FirstName: c.FirstName, LastName: c.LastName, UserKind: c.UserKind}
	if c.AccountType != nil {
		p.MemberType = &c.AccountType.Name
	}
	if p == (sigma.MemberPatch{}) {
		return m, nil
	}
	if _, err := d.rest.UpdateMember(ctx, m.ID, p); err != nil {
		return provision.Member{}, provision.UpstreamErr("update member", err)
	}
	fresh, ok := d.archivedMember(ctx, m.ID)
	if !ok {
		return provision.Member{}, &directory.UpstreamError{Op: "update member", Retryable: true, Message: "the member changed state meanwhile"}
	}
	return fresh, nil
}
