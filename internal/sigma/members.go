package sigma

import (
	"context"
	"iter"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Member is a Sigma org member as the REST API returns it.
type Member struct {
	MemberID       string    `json:"memberId"`
	Email          string    `json:"email"`
	FirstName      string    `json:"firstName"`
	LastName       string    `json:"lastName"`
	MemberType     string    `json:"memberType"` // account type name
	UserKind       string    `json:"userKind"`   // internal, guest or embed
	OrganizationID string    `json:"organizationId"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
	CreatedBy      string    `json:"createdBy,omitempty"`
	UpdatedBy      string    `json:"updatedBy,omitempty"`
	HomeFolderID   string    `json:"homeFolderId,omitempty"`
	ProfileImgURL  string    `json:"profileImgUrl,omitempty"` // null on the wire reads as ""
	IsArchived     bool      `json:"isArchived,omitempty"`    // deactivated
	IsInactive     bool      `json:"isInactive,omitempty"`    // SCIM active=false
}

// ListMembersOptions narrows Members.
type ListMembersOptions struct {
	// Limit is the page size (default and maximum 1000).
	Limit int
	// IncludeArchived and IncludeInactive show members Sigma hides by default.
	IncludeArchived, IncludeInactive bool
	// Email filters by exact address.
	Email string
}

// page is one page of a cursor-paginated list (/v2/members, /v2/teams,
// /v2/teams/{teamId}/members, /v2/members/{memberId}/teams).
type page[T any] struct {
	Entries  []T     `json:"entries"`
	NextPage *string `json:"nextPage"`
}

// pages iterates every entry of a cursor-paginated list, one page in
// memory at a time: q must carry limit=; the cursor goes in page=. On
// failure it yields one zero T with the error (wrapped with what) and
// stops.
func pages[T any](ctx context.Context, c *Client, endpoint, path string, q url.Values, what string) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		q := maps.Clone(q)
		for {
			var p page[T]
			if err := c.co.do(ctx, &call{method: http.MethodGet, endpoint: endpoint, path: path, query: q, out: &p}); err != nil {
				var zero T
				yield(zero, wrap(err, "%s", what))
				return
			}
			for i := range p.Entries {
				if !yield(p.Entries[i], nil) {
					return
				}
			}
			if p.NextPage == nil || *p.NextPage == "" {
				return
			}
			q.Set("page", *p.NextPage)
		}
	}
}

// pageLimit clamps a requested page size to (0, 1000].
func pageLimit(n int) int {
	if n <= 0 || n > DefaultPageSize {
		return DefaultPageSize
	}
	return n
}

// Members iterates the org's members page by page (always with limit=, so
// Sigma answers the paginated shape; cursor in page=). Only one page is held
// in memory. On failure it yields one zero Member with the error and stops.
func (c *Client) Members(ctx context.Context, opts ListMembersOptions) iter.Seq2[Member, error] {
	q := url.Values{}
	q.Set("limit", strconv.Itoa(pageLimit(opts.Limit)))
	if opts.IncludeArchived {
		q.Set("includeArchived", "true")
	}
	if opts.IncludeInactive {
		q.Set("includeInactive", "true")
	}
	if opts.Email != "" {
		q.Set("email", opts.Email)
	}
	return pages[Member](ctx, c, "/v2/members", "/v2/members", q, "list sigma members")
}

// GetMember reads one member (archived and inactive ones too).
// A missing member gives an error matching ErrNotFound.
func (c *Client) GetMember(ctx context.Context, id string) (Member, error) {
	var m Member
	err := c.co.do(ctx, &call{method: http.MethodGet, endpoint: "/v2/members/{memberId}",
		path: "/v2/members/" + url.PathEscape(id), out: &m})
	return m, wrap(err, "get sigma member %s", id)
}

// FindMemberByEmail looks a member up by exact email (case-insensitive),
// including archived and inactive members.
func (c *Client) FindMemberByEmail(ctx context.Context, email string) (Member, bool, error) {
	q := url.Values{}
	q.Set("email", email)
	q.Set("limit", strconv.Itoa(DefaultPageSize))
	q.Set("includeArchived", "true")
	q.Set("includeInactive", "true")
	var p page[Member]
	err := c.co.do(ctx, &call{method: http.MethodGet, endpoint: "/v2/members", path: "/v2/members", query: q, out: &p})
	if err != nil {
		return Member{}, false, wrap(err, "find sigma member by email")
	}
	for _, m := range p.Entries {
		if strings.EqualFold(m.Email, email) {
			return m, true, nil
		}
	}
	return Member{}, false, nil
}

// TeamAssignment puts a new member into a team.
type TeamAssignment struct {
	TeamID      string `json:"teamId"`
	IsTeamAdmin bool   `json:"isTeamAdmin,omitempty"`
}

// NewMember is the body of CreateMember. Email, FirstName and LastName are
// required; MemberType empty means the org's default account type.
type NewMember struct {
	Email      string           `json:"email"`
	FirstName  string           `json:"firstName"`
	LastName   string           `json:"lastName"`
	MemberType string           `json:"memberType,omitempty"`
	UserKind   string           `json:"userKind,omitempty"`
	AddToTeams []TeamAssignment `json:"addToTeams,omitempty"`
}

// CreateMember creates a member (sendInvite per Config.SendInvite).
//
// Sigma has no idempotency keys, so when an attempt's outcome is unknown (the
// connection dropped after sending, or a 5xx) the member is looked up by
// email before anything is repeated; if it exists, that member is returned.
// An email already in use gives an *APIError with Status 409 matching
// ErrDuplicate; an unknown MemberType one matching ErrUnknownMemberType.
func (c *Client) CreateMember(ctx context.Context, m NewMember) (Member, error) {
	var out Member
	q := url.Values{}
	q.Set("sendInvite", strconv.FormatBool(c.invite))
	err := c.co.do(ctx, &call{method: http.MethodPost, endpoint: "/v2/members", path: "/v2/members",
		query: q, body: m, out: &out, unsafe: true,
		resolve: func(ctx context.Context) (bool, error) {
			found, ok, err := c.FindMemberByEmail(ctx, m.Email)
			if ok {
				out = found
			}
			return ok, err
		}})
	return out, wrap(err, "create sigma member")
}

// MemberPatch lists the fields to change; nil fields are not sent.
type MemberPatch struct {
	Email      *string `json:"email,omitempty"`
	FirstName  *string `json:"firstName,omitempty"`
	LastName   *string `json:"lastName,omitempty"`
	MemberType *string `json:"memberType,omitempty"`
	UserKind   *string `json:"userKind,omitempty"`
}

func (p MemberPatch) empty() bool {
	return p.Email == nil && p.FirstName == nil && p.LastName == nil && p.MemberType == nil && p.UserKind == nil
}

// UpdateMember patches only the non-nil fields of p. An empty patch sends
// nothing and returns the member as it is.
func (c *Client) UpdateMember(ctx context.Context, id string, p MemberPatch) (Member, error) {
	if p.empty() {
		return c.GetMember(ctx, id)
	}
	return c.patchMember(ctx, id, p, "update sigma member %s")
}

func (c *Client) patchMember(ctx context.Context, id string, body any, op string) (Member, error) {
	var m Member
	err := c.co.do(ctx, &call{method: http.MethodPatch, endpoint: "/v2/members/{memberId}",
		path: "/v2/members/" + url.PathEscape(id), body: body, out: &m})
	return m, wrap(err, op, id)
}

// DeactivateOptions says how a member is deactivated.
type DeactivateOptions struct {
	// NewOwnerID receives the member's documents (optional).
	NewOwnerID string
	// ArchiveDocuments archives the member's documents instead.
	ArchiveDocuments bool
	// Inactive sets isInactive (SCIM active=false) instead of isArchived.
	Inactive bool
}

type deactivateBody struct {
	IsArchived       *bool  `json:"isArchived,omitempty"`
	IsInactive       *bool  `json:"isInactive,omitempty"`
	NewOwnerID       string `json:"newOwnerId,omitempty"`
	ArchiveDocuments bool   `json:"archiveDocuments,omitempty"`
}

// DeactivateMember sets isArchived (or isInactive with o.Inactive), handing
// documents to o.NewOwnerID or archiving them when asked.
func (c *Client) DeactivateMember(ctx context.Context, id string, o DeactivateOptions) (Member, error) {
	t := true
	b := deactivateBody{NewOwnerID: o.NewOwnerID, ArchiveDocuments: o.ArchiveDocuments}
	if o.Inactive {
		b.IsInactive = &t
	} else {
		b.IsArchived = &t
	}
	return c.patchMember(ctx, id, b, "deactivate sigma member %s")
}

// ReactivateMember clears both isArchived and isInactive.
func (c *Client) ReactivateMember(ctx context.Context, id string) (Member, error) {
	f := false
	return c.patchMember(ctx, id, deactivateBody{IsArchived: &f, IsInactive: &f}, "reactivate sigma member %s")
}

// DeleteMember calls DELETE /v2/members/{id}, which Sigma treats as a
// deactivation (members are never fully deleted). Sigma advises against it
// for SCIM-provisioned members; prefer DeactivateMember.
func (c *Client) DeleteMember(ctx context.Context, id string) error {
	err := c.co.do(ctx, &call{method: http.MethodDelete, endpoint: "/v2/members/{memberId}",
		path: "/v2/members/" + url.PathEscape(id)})
	return wrap(err, "delete sigma member %s", id)
}

// MemberTeams lists the teams a member belongs to (all pages).
func (c *Client) MemberTeams(ctx context.Context, id string) ([]Team, error) {
	var teams []Team
	q := url.Values{"limit": {strconv.Itoa(DefaultPageSize)}}
	for t, err := range pages[Team](ctx, c, "/v2/members/{memberId}/teams", "/v2/members/"+url.PathEscape(id)+"/teams", q,
		"list teams of sigma member "+id) {
		if err != nil {
			return nil, err
		}
		teams = append(teams, t)
	}
	return teams, nil
}
