package scimdir

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
)

// The provision ports over Sigma's SCIM Users and Groups (REST, when
// configured, for archived members and document hand-over).

type members struct{ d *Directory }

var _ provision.Members = members{}

func (members) CheckUser(u directory.User) error { return checkUserKind(u.UserKind) }

// Known: this path keeps no index; Sigma's 409 on create sends a known
// email down the existing-member path.
func (members) Known(context.Context, string) (provision.Member, bool, error) {
	return provision.Member{}, false, nil
}

func (p members) Get(ctx context.Context, id string) (provision.Member, bool, error) {
	return p.d.getUser(ctx, id)
}

func (p members) FindByEmail(ctx context.Context, email string) (provision.Member, bool, error) {
	return p.d.findUser(ctx, email)
}

// Create POSTs the user Sigma's SCIM documents. Sigma's POST of a deleted
// (deactivated) member's email reactivates that member itself.
func (p members) Create(ctx context.Context, nm provision.NewMember) (provision.Member, error) {
	d := p.d
	body := sigma.SCIMUser{
		Schemas:  []string{sigma.SCIMUserSchema, sigma.SCIMSigmaUserSchema},
		UserName: nm.Email,
		Name:     sigma.SCIMName{GivenName: nm.FirstName, FamilyName: nm.LastName},
		Emails:   []sigma.SCIMEmail{{Value: nm.Email, Type: "work", Primary: true}},
		Active:   nm.Active,
		UserType: nm.AccountType.SCIM,
	}
	if nm.UserKind != "" {
		body.Sigma = &sigma.SCIMSigmaUser{UserKind: nm.UserKind}
	}
	u, err := d.scim.CreateUser(ctx, body)
	if errors.Is(err, sigma.ErrDuplicate) {
		d.observe(nil)
		return provision.Member{}, fmt.Errorf("userName is taken in Sigma: %w", directory.ErrConflict)
	}
	if err != nil {
		return provision.Member{}, d.userWriteErr(ctx, "create user", err, nm.AccountType.Name)
	}
	d.observe(nil)
	return d.memberOf(ctx, u), nil
}

// Update sends one PATCH of replace operations (REST for an archived
// member). A rename onto a userName another user holds is a conflict,
// found before anything is written.
func (p members) Update(ctx context.Context, m provision.Member, c provision.Change) (provision.Member, error) {
	d := p.d
	if c.Email != nil {
		other, taken, err := d.findUser(ctx, *c.Email)
		if err != nil {
			return provision.Member{}, err
		}
		if taken && other.ID != m.ID {
			return provision.Member{}, fmt.Errorf("userName %s is taken by user %s: %w", *c.Email, other.ID, directory.ErrConflict)
		}
	}
	if m.Archived && d.rest != nil {
		return d.updateArchived(ctx, m, c)
	}
	return d.patchUser(ctx, m, c)
}

func (d *Directory) patchUser(ctx context.Context, m provision.Member, c provision.Change) (provision.Member, error) {
	var ops []sigma.SCIMPatchOp
	add := func(path string, v any) { ops = append(ops, sigma.SCIMPatchOp{Op: "replace", Path: path, Value: v}) }
	if c.Email != nil {
		add("userName", *c.Email)
	}
	if c.FirstName != nil {
		add("name.givenName", *c.FirstName)
	}
	if c.LastName != nil {
		add("name.familyName", *c.LastName)
	}
	if c.AccountType != nil {
		add("userType", c.AccountType.SCIM)
	}
	if c.UserKind != nil {
		add(sigma.SCIMSigmaUserSchema+":userKind", *c.UserKind)
	}
	if c.Active != nil {
		add("active", *c.Active)
	}
	sent := ""
	if c.AccountType != nil {
		sent = c.AccountType.Name
	}
	u, ok, err := d.scim.PatchUser(ctx, m.ID, ops)
	if err != nil {
		return provision.Member{}, d.userWriteErr(ctx, "update user", err, sent)
	}
	d.observe(nil)
	if ok && u.ID != "" {
		return d.memberOf(ctx, u), nil
	}
	// Sigma answered 204: read it back.
	fresh, found, err := d.getUser(ctx, m.ID)
	if err == nil && !found {
		err = fmt.Errorf("read user %s back: %w", m.ID, directory.ErrNotFound)
	}
	return fresh, err
}

// Deprovision is Sigma's SCIM DELETE (which Sigma answers by deactivating)
// or, with a REST client and Options.DeprovisionOwnerID, a REST
// deactivation that hands the documents over. A user Sigma's SCIM no
// longer shows after the attempt is deprovisioned.
func (p members) Deprovision(ctx context.Context, m provision.Member) error {
	d := p.d
	if d.rest != nil && d.opts.DeprovisionOwnerID != "" {
		if _, err := d.rest.DeactivateMember(ctx, m.ID, sigma.DeactivateOptions{NewOwnerID: d.opts.DeprovisionOwnerID}); err != nil {
			return provision.UpstreamErr("deactivate member", err)
		}
		return nil
	}
	if err := d.scim.DeleteUser(ctx, m.ID); err != nil {
		if err = d.missing(ctx, "delete user", err); !errors.Is(err, directory.ErrNotFound) {
			return err
		}
		return nil // already gone for Sigma's SCIM
	}
	d.observe(nil)
	return nil
}

// userWriteErr classifies a failed user write: Sigma refusing the userType
// becomes an *InvalidValueError naming what was sent.
func (d *Directory) userWriteErr(ctx context.Context, op string, err error, sent string) error {
	if ae, ok := badRequest(err); ok && strings.Contains(strings.ToLower(ae.Message), "usertype") {
		d.observe(nil)
		return &directory.InvalidValueError{Attribute: "userType", Value: sent, Reason: "Sigma refused the account type: " + provision.Truncate(ae.Message, provision.MaxMessage)}
	}
	return d.missing(ctx, op, err)
}

type teams struct{ d *Directory }

var _ provision.Teams = teams{}

func (p teams) Get(ctx context.Context, id string) (provision.Team, bool, error) {
	g, ok, err := p.d.getGroup(ctx, id)
	if err != nil || !ok {
		return provision.Team{}, ok, err
	}
	t, err := p.d.teamOf(ctx, g)
	return t, err == nil, err
}

// Taken leaves a taken name to Sigma's own 409.
func (teams) Taken(context.Context, string, bool) (string, error) { return "", nil }

func (p teams) Find(ctx context.Context, name string) (string, bool, error) {
	g, ok, err := p.d.scim.FindGroupByDisplayName(ctx, strings.TrimSpace(name))
	if err != nil {
		return "", false, p.d.check("find group by displayName", err, true)
	}
	p.d.observe(nil)
	return g.ID, ok, nil
}

// Prepare leaves ids Sigma does not know to Sigma (groupWriteErr names
// the one it refused).
func (teams) Prepare(_ context.Context, _ string, _, remove []string, _ bool) ([]string, error) {
	return remove, nil
}

func (p teams) Create(ctx context.Context, name string, members []string) (provision.Team, error) {
	d := p.d
	g, err := d.scim.CreateGroup(ctx, sigma.SCIMGroup{Schemas: []string{sigma.SCIMGroupSchema}, DisplayName: name, Members: memberRefs(members)})
	if errors.Is(err, sigma.ErrDuplicate) {
		d.observe(nil)
		return provision.Team{}, fmt.Errorf("displayName %q is taken: %w", name, directory.ErrConflict)
	}
	if err != nil {
		return provision.Team{}, d.groupWriteErr(ctx, "create group", err, members)
	}
	d.observe(nil)
	return toTeam(g, nil), nil
}

// Update sends the rename and the membership delta as one PATCH, which
// Sigma applies atomically.
func (p teams) Update(ctx context.Context, id string, rename *string, add, remove []string) (provision.Team, error) {
	d := p.d
	var ops []sigma.SCIMPatchOp
	if rename != nil {
		ops = append(ops, sigma.SCIMPatchOp{Op: "replace", Path: "displayName", Value: *rename})
	}
	if len(add) > 0 {
		ops = append(ops, sigma.SCIMPatchOp{Op: "add", Path: "members", Value: memberRefs(add)})
	}
	for _, m := range remove {
		ops = append(ops, sigma.SCIMPatchOp{Op: "remove", Path: "members[value eq " + quote(m) + "]"})
	}
	g, ok, err := d.scim.PatchGroup(ctx, id, ops)
	if errors.Is(err, sigma.ErrDuplicate) {
		d.observe(nil)
		return provision.Team{}, fmt.Errorf("displayName is taken: %w", directory.ErrConflict)
	}
	if err != nil {
		return provision.Team{}, d.groupWriteErr(ctx, "update group", err, add)
	}
	d.observe(nil)
	if !ok || g.ID == "" {
		// Sigma answered 204: read it back.
		var found bool
		if g, found, err = d.getGroup(ctx, id); err == nil && !found {
			err = fmt.Errorf("read group %s back: %w", id, directory.ErrNotFound)
		}
		if err != nil {
			return provision.Team{}, err
		}
	}
	return d.teamOf(ctx, g)
}

func (p teams) Delete(ctx context.Context, id string) error {
	d := p.d
	if err := d.scim.DeleteGroup(ctx, id); err != nil {
		return d.missing(ctx, "delete group", err)
	}
	d.observe(nil)
	return nil
}

// groupWriteErr classifies a failed group write. Sigma answers a member id
// it cannot add with a 400; the offending id is found with one GET per
// added id, so the IdP learns which one it was.
func (d *Directory) groupWriteErr(ctx context.Context, op string, err error, added []string) error {
	ae, bad := badRequest(err)
	if !bad {
		return d.missing(ctx, op, err)
	}
	d.observe(nil)
	for _, id := range added {
		m, ok, gerr := d.getUser(ctx, id)
		if gerr != nil {
			return gerr
		}
		if !ok {
			return &directory.InvalidValueError{Attribute: "members", Value: id, Reason: "no such user"}
		}
		if !m.Active {
			return &directory.InvalidValueError{Attribute: "members", Value: id, Reason: "the user is deactivated, and Sigma does not add deactivated users to teams"}
		}
	}
	return &directory.InvalidValueError{Attribute: "members", Reason: "Sigma refused the change: " + provision.Truncate(ae.Message, provision.MaxMessage)}
}

func memberRefs(ids []string) []sigma.SCIMRef {
	out := make([]sigma.SCIMRef, len(ids))
	for i, id := range ids {
		out[i] = sigma.SCIMRef{Value: id}
	}
	return out
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
