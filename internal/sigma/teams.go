package sigma

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Team is a Sigma team.
type Team struct {
	TeamID      string    `json:"teamId"`
	Name        string    `json:"name"`
	Description string    `json:"description,omitempty"`
	Visibility  string    `json:"visibility,omitempty"` // public or private
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	CreatedBy   string    `json:"createdBy,omitempty"`
	UpdatedBy   string    `json:"updatedBy,omitempty"`
	IsArchived  bool      `json:"isArchived,omitempty"`
	// Members holds member ids; only GetTeam and CreateTeam fill it.
	Members []string `json:"members,omitempty"`
}

// Teams iterates the org's teams, filtered by name when name is not empty
// (Sigma's name= filter; callers wanting an exact match compare Name).
// On failure it yields one zero Team with the error and stops.
func (c *Client) Teams(ctx context.Context, name string) iter.Seq2[Team, error] {
	q := url.Values{}
	q.Set("limit", strconv.Itoa(DefaultPageSize))
	if name != "" {
		q.Set("name", name)
	}
	return pages[Team](ctx, c, "/v2/teams", "/v2/teams", q, "list sigma teams")
}

// GetTeam reads one team with its member ids.
func (c *Client) GetTeam(ctx context.Context, id string) (Team, error) {
	var t Team
	err := c.co.do(ctx, &call{method: http.MethodGet, endpoint: "/v2/teams/{teamId}",
		path: "/v2/teams/" + url.PathEscape(id), out: &t})
	return t, wrap(err, "get sigma team %s", id)
}

// NewTeam is the body of CreateTeam. Members are member ids.
type NewTeam struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Visibility  string   `json:"visibility,omitempty"`
	Members     []string `json:"members,omitempty"`
}

// CreateTeam creates a team. When an attempt's outcome is unknown the team
// is looked up by exact name before anything is repeated.
func (c *Client) CreateTeam(ctx context.Context, t NewTeam) (Team, error) {
	var out Team
	err := c.co.do(ctx, &call{method: http.MethodPost, endpoint: "/v2/teams", path: "/v2/teams",
		body: t, out: &out, unsafe: true,
		resolve: func(ctx context.Context) (bool, error) {
			for tm, err := range c.Teams(ctx, t.Name) {
				if err != nil {
					return false, err
				}
				if tm.Name == t.Name {
					out = tm
					return true, nil
				}
			}
			return false, nil
		}})
	return out, wrap(err, "create sigma team")
}

// TeamPatch lists the fields to change; nil fields are not sent. The
// official description documents name and visibility for this PATCH;
// description is sent too when set (SIGMA.md lists it as a team field).
type TeamPatch struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	Visibility  *string `json:"visibility,omitempty"`
}

// UpdateTeam patches only the non-nil fields of p (an empty patch sends
// nothing and returns the team as it is).
func (c *Client) UpdateTeam(ctx context.Context, id string, p TeamPatch) (Team, error) {
	if p.Name == nil && p.Description == nil && p.Visibility == nil {
		return c.GetTeam(ctx, id)
	}
	var t Team
	err := c.co.do(ctx, &call{method: http.MethodPatch, endpoint: "/v2/teams/{teamId}",
		path: "/v2/teams/" + url.PathEscape(id), body: p, out: &t})
	return t, wrap(err, "update sigma team %s", id)
}

// DeleteTeam deletes a team.
func (c *Client) DeleteTeam(ctx context.Context, id string) error {
	err := c.co.do(ctx, &call{method: http.MethodDelete, endpoint: "/v2/teams/{teamId}",
		path: "/v2/teams/" + url.PathEscape(id)})
	return wrap(err, "delete sigma team %s", id)
}

// TeamMember is one entry of a team's member list.
type TeamMember struct {
	UserID      string `json:"userId"` // a memberId
	IsTeamAdmin bool   `json:"isTeamAdmin"`
	AddedBy     string `json:"addedBy"`
}

// TeamMembers iterates a team's members page by page.
func (c *Client) TeamMembers(ctx context.Context, id string) iter.Seq2[TeamMember, error] {
	q := url.Values{"limit": {strconv.Itoa(DefaultPageSize)}}
	return pages[TeamMember](ctx, c, "/v2/teams/{teamId}/members", "/v2/teams/"+url.PathEscape(id)+"/members", q,
		"list members of sigma team "+id)
}

type teamMembersBody struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// ModifyTeamMembers adds and removes members with
// PATCH /v2/teams/{teamId}/members {add, remove}, in batches of at most
// TeamMembersBatchSize ids (adds first, removes filling the remainder).
// Batches are sent in order and the first failure stops; earlier batches
// stay applied (re-running the same change is harmless). Sigma refuses to
// add or remove archived or inactive members.
func (c *Client) ModifyTeamMembers(ctx context.Context, id string, add, remove []string) error {
	for len(add) > 0 || len(remove) > 0 {
		var b teamMembersBody
		n := min(len(add), TeamMembersBatchSize)
		b.Add, add = add[:n], add[n:]
		m := min(len(remove), TeamMembersBatchSize-n)
		b.Remove, remove = remove[:m], remove[m:]
		err := c.co.do(ctx, &call{method: http.MethodPatch, endpoint: "/v2/teams/{teamId}/members",
			path: "/v2/teams/" + url.PathEscape(id) + "/members", body: b})
		if err != nil {
			return wrap(err, "change members of sigma team %s", id)
		}
	}
	return nil
}
