package sigma

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimbridge/scim-bridge/internal/secret"
)

// SCIM schema URNs used by the client.
const (
	SCIMUserSchema      = "urn:ietf:params:scim:schemas:core:2.0:User"
	SCIMGroupSchema     = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SCIMPatchOpSchema   = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SCIMSigmaUserSchema = "urn:sigma:scim:schemas:extension:2.0:User"
	scimContentType     = "application/scim+json"
)

// SCIMConfig configures a SCIMClient for Sigma's Enterprise SCIM endpoint.
type SCIMConfig struct {
	// BaseURL is the Directory Base URL Sigma shows when provisioning is
	// enabled (for example https://aws-api.sigmacomputing.com/scim/v2);
	// Users and Groups are addressed below it.
	BaseURL string
	// Token yields the static bearer token. After a 401 the source is
	// Refresh()ed once and the call repeated.
	Token      secret.Source
	HTTPClient *http.Client // optional; default 60 s timeout per attempt
	// MaxRetries, ReadRetryBudget, RetryBaseDelay, RetryMaxDelay: as in Config.
	MaxRetries      int
	ReadRetryBudget time.Duration
	RetryBaseDelay  time.Duration
	RetryMaxDelay   time.Duration
	// MaxConcurrent and RequestsPerSecond are the ceilings of the adaptive
	// pacing, as in Config (defaults 32 and 500).
	MaxConcurrent     int
	RequestsPerSecond float64
	Logger            *slog.Logger
}

// SCIMListResponse is a page of a filtered list of T (SCIMUser or
// SCIMGroup).
type SCIMListResponse[T any] struct {
	TotalResults int `json:"totalResults"`
	StartIndex   int `json:"startIndex"`
	ItemsPerPage int `json:"itemsPerPage"`
	Resources    []T `json:"Resources"`
}

// SCIMPatchOp is one operation of a SCIM PATCH.
type SCIMPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path,omitempty"`
	Value any    `json:"value,omitempty"`
}

type scimPatchBody struct {
	Schemas    []string      `json:"schemas"`
	Operations []SCIMPatchOp `json:"Operations"`
}

// SCIMClient calls Sigma's Enterprise SCIM API (Users and Groups). It is
// safe for concurrent use. Errors are *APIError with Code = scimType and
// Message = detail; retries and pacing work as in Client.
type SCIMClient struct {
	co *core
}

// NewSCIMClient checks cfg and registers the scim_bridge_sigma_* metrics
// (path="scim") on reg (nil: not registered). It makes no network call.
func NewSCIMClient(cfg SCIMConfig, reg prometheus.Registerer) (*SCIMClient, error) {
	base := strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("new sigma scim client: base url must be an http(s) URL without credentials or query")
	}
	if cfg.Token == nil {
		return nil, fmt.Errorf("new sigma scim client: token source is missing")
	}
	rc := withDefaults(Config{MaxConcurrent: cfg.MaxConcurrent, RequestsPerSecond: cfg.RequestsPerSecond,
		MaxRetries: cfg.MaxRetries, ReadRetryBudget: cfg.ReadRetryBudget, RetryBaseDelay: cfg.RetryBaseDelay,
		RetryMaxDelay: cfg.RetryMaxDelay, Logger: cfg.Logger, HTTPClient: cfg.HTTPClient})
	m := newMetrics(reg, PathSCIM, scimEndpoints)
	return &SCIMClient{co: newCore(base, &bearerAuth{src: cfg.Token, log: rc.Logger}, rc, m)}, nil
}

// bearerAuth sends the static token; a 401 re-reads the source once per
// rejected generation.
type bearerAuth struct {
	src secret.Source
	log *slog.Logger
	mu  sync.Mutex
	gen uint64
}

func (b *bearerAuth) authorize(ctx context.Context, req *http.Request) (uint64, error) {
	b.mu.Lock()
	gen := b.gen
	b.mu.Unlock()
	v, err := b.src.Current(ctx)
	if err != nil {
		return 0, fmt.Errorf("read sigma scim token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+v.Reveal())
	return gen, nil
}

func (b *bearerAuth) rejected(ctx context.Context, gen uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gen != gen {
		return // someone already re-read it after this credential was used
	}
	b.gen++
	if _, err := b.src.Refresh(ctx); err != nil {
		b.log.WarnContext(ctx, "sigma scim token rejected and re-reading it failed", "err", err)
	}
}

// Ping checks the endpoint and token with GET /Users?startIndex=1&count=1.
func (c *SCIMClient) Ping(ctx context.Context) error {
	_, err := c.FilterUsers(ctx, "", 1, 1)
	return wrap(err, "sigma scim ping")
}

// CreateUser POSTs a User. When the outcome is unknown the user is looked up
// by userName before anything is repeated; a 409 matches ErrDuplicate.
func (c *SCIMClient) CreateUser(ctx context.Context, u SCIMUser) (SCIMUser, error) {
	return create(ctx, c, "Users", u, func(ctx context.Context) (SCIMUser, bool, error) {
		return c.FindUserByUserName(ctx, u.UserName)
	})
}

// GetUser reads a User; a missing one matches ErrNotFound.
func (c *SCIMClient) GetUser(ctx context.Context, id string) (SCIMUser, error) {
	return get[SCIMUser](ctx, c, "Users", id)
}

// FilterUsers lists Users matching a SCIM filter ("" = all), startIndex is
// 1-based, count the page size.
func (c *SCIMClient) FilterUsers(ctx context.Context, filter string, startIndex, count int) (SCIMListResponse[SCIMUser], error) {
	return list[SCIMUser](ctx, c, "Users", filter, startIndex, count)
}

// FindUserByUserName filters with userName eq "x" (quoted and escaped).
func (c *SCIMClient) FindUserByUserName(ctx context.Context, userName string) (SCIMUser, bool, error) {
	return findOne(ctx, c, "Users", "userName", userName, func(u SCIMUser) string { return u.UserName })
}

// ReplaceUser PUTs a full User.
func (c *SCIMClient) ReplaceUser(ctx context.Context, id string, u SCIMUser) (SCIMUser, error) {
	return replace(ctx, c, "Users", id, u)
}

// PatchUser sends a PatchOp. A 204 answer gives ok false (and the zero
// user).
func (c *SCIMClient) PatchUser(ctx context.Context, id string, ops []SCIMPatchOp) (u SCIMUser, ok bool, err error) {
	return patch[SCIMUser](ctx, c, "Users", id, ops)
}

// DeleteUser deletes a User.
func (c *SCIMClient) DeleteUser(ctx context.Context, id string) error {
	return c.delete(ctx, "Users", id)
}

// CreateGroup POSTs a Group; ambiguity is resolved by displayName.
func (c *SCIMClient) CreateGroup(ctx context.Context, g SCIMGroup) (SCIMGroup, error) {
	return create(ctx, c, "Groups", g, func(ctx context.Context) (SCIMGroup, bool, error) {
		return c.FindGroupByDisplayName(ctx, g.DisplayName)
	})
}

// GetGroup reads a Group.
func (c *SCIMClient) GetGroup(ctx context.Context, id string) (SCIMGroup, error) {
	return get[SCIMGroup](ctx, c, "Groups", id)
}

// FilterGroups lists Groups matching a SCIM filter ("" = all).
func (c *SCIMClient) FilterGroups(ctx context.Context, filter string, startIndex, count int) (SCIMListResponse[SCIMGroup], error) {
	return list[SCIMGroup](ctx, c, "Groups", filter, startIndex, count)
}

// FindGroupByDisplayName filters with displayName eq "x".
func (c *SCIMClient) FindGroupByDisplayName(ctx context.Context, name string) (SCIMGroup, bool, error) {
	return findOne(ctx, c, "Groups", "displayName", name, func(g SCIMGroup) string { return g.DisplayName })
}

// ReplaceGroup PUTs a full Group.
func (c *SCIMClient) ReplaceGroup(ctx context.Context, id string, g SCIMGroup) (SCIMGroup, error) {
	return replace(ctx, c, "Groups", id, g)
}

// PatchGroup sends a PatchOp. A 204 answer gives ok false (and the zero
// group).
func (c *SCIMClient) PatchGroup(ctx context.Context, id string, ops []SCIMPatchOp) (g SCIMGroup, ok bool, err error) {
	return patch[SCIMGroup](ctx, c, "Groups", id, ops)
}

// DeleteGroup deletes a Group.
func (c *SCIMClient) DeleteGroup(ctx context.Context, id string) error {
	return c.delete(ctx, "Groups", id)
}

// SCIMFilterEq builds `attr eq "value"` with the value quoted per RFC 7644.
func SCIMFilterEq(attr, value string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return attr + ` eq "` + r.Replace(value) + `"`
}

// resource is a resource the generic calls below carry.
type resource interface{ SCIMUser | SCIMGroup }

func create[T resource](ctx context.Context, c *SCIMClient, typ string, res T, find func(context.Context) (T, bool, error)) (T, error) {
	var out T
	err := c.co.do(ctx, &call{method: http.MethodPost, endpoint: "/" + typ, path: "/" + typ,
		body: res, ctype: scimContentType, accept: scimContentType, out: &out, unsafe: true,
		resolve: func(ctx context.Context) (bool, error) {
			found, ok, err := find(ctx)
			if ok {
				out = found
			}
			return ok, err
		}})
	return out, wrap(err, "create sigma scim %s", singular(typ))
}

func get[T resource](ctx context.Context, c *SCIMClient, typ, id string) (T, error) {
	var out T
	err := c.co.do(ctx, &call{method: http.MethodGet, endpoint: "/" + typ + "/{id}",
		path: "/" + typ + "/" + url.PathEscape(id), accept: scimContentType, out: &out})
	return out, wrap(err, "get sigma scim %s %s", singular(typ), id)
}

func (c *SCIMClient) list(ctx context.Context, typ, filter string, startIndex, count int, out any) error {
	q := url.Values{}
	if filter != "" {
		q.Set("filter", filter)
	}
	if startIndex > 0 {
		q.Set("startIndex", strconv.Itoa(startIndex))
	}
	if count > 0 {
		q.Set("count", strconv.Itoa(count))
	}
	err := c.co.do(ctx, &call{method: http.MethodGet, endpoint: "/" + typ, path: "/" + typ,
		query: q, accept: scimContentType, out: out})
	return wrap(err, "list sigma scim %s", strings.ToLower(typ))
}

func list[T resource](ctx context.Context, c *SCIMClient, typ, filter string, startIndex, count int) (SCIMListResponse[T], error) {
	var out SCIMListResponse[T]
	err := c.list(ctx, typ, filter, startIndex, count, &out)
	return out, err
}

func findOne[T resource](ctx context.Context, c *SCIMClient, typ, attr, value string, key func(T) string) (T, bool, error) {
	var zero T
	lr, err := list[T](ctx, c, typ, SCIMFilterEq(attr, value), 1, 10)
	if err != nil {
		return zero, false, err
	}
	for _, r := range lr.Resources {
		if strings.EqualFold(key(r), value) {
			return r, true, nil
		}
	}
	return zero, false, nil
}

func replace[T resource](ctx context.Context, c *SCIMClient, typ, id string, res T) (T, error) {
	var out T
	err := c.co.do(ctx, &call{method: http.MethodPut, endpoint: "/" + typ + "/{id}",
		path: "/" + typ + "/" + url.PathEscape(id), body: res, ctype: scimContentType, accept: scimContentType, out: &out})
	return out, wrap(err, "replace sigma scim %s %s", singular(typ), id)
}

func patch[T resource](ctx context.Context, c *SCIMClient, typ, id string, ops []SCIMPatchOp) (T, bool, error) {
	var out *T
	err := c.co.do(ctx, &call{method: http.MethodPatch, endpoint: "/" + typ + "/{id}",
		path: "/" + typ + "/" + url.PathEscape(id), ctype: scimContentType, accept: scimContentType, out: &out,
		body: scimPatchBody{Schemas: []string{SCIMPatchOpSchema}, Operations: ops}})
	if out == nil {
		var zero T
		return zero, false, wrap(err, "patch sigma scim %s %s", singular(typ), id)
	}
	return *out, true, wrap(err, "patch sigma scim %s %s", singular(typ), id)
}

func (c *SCIMClient) delete(ctx context.Context, typ, id string) error {
	err := c.co.do(ctx, &call{method: http.MethodDelete, endpoint: "/" + typ + "/{id}",
		path: "/" + typ + "/" + url.PathEscape(id), accept: scimContentType})
	return wrap(err, "delete sigma scim %s %s", singular(typ), id)
}

func singular(typ string) string {
	return strings.ToLower(strings.TrimSuffix(typ, "s"))
}
