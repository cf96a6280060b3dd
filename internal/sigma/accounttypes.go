package sigma

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AccountType is one of the org's account types (Sigma's memberType names).
type AccountType struct {
	ID          string `json:"accountTypeId"`
	Name        string `json:"accountTypeName"`
	Description string `json:"description"`
	IsCustom    bool   `json:"isCustom"`
}

type accountTypePage struct {
	Entries       []AccountType `json:"entries"`
	NextPageToken *string       `json:"nextPageToken"`
}

// accountTypeRecheck is how soon after a load a miss in ResolveAccountType
// may trigger a reload (a custom type created meanwhile).
const accountTypeRecheck = 30 * time.Second

// AccountTypes lists the org's account types (pageSize/pageToken paging),
// cached for Config.AccountTypeTTL; concurrent loads are coalesced. The
// returned slice is a copy.
func (c *Client) AccountTypes(ctx context.Context) ([]AccountType, error) {
	list, _, err := c.accountTypes(ctx, false)
	return slices.Clone(list), err
}

func (c *Client) accountTypes(ctx context.Context, force bool) ([]AccountType, time.Time, error) {
	c.atMu.Lock()
	list, loaded := c.atList, c.atLoaded
	c.atMu.Unlock()
	if list != nil && !force && c.now().Sub(loaded) < c.atTTL {
		return list, loaded, nil
	}
	ch := c.atSF.DoChan("at", func() (any, error) {
		// Detached: one caller giving up must not fail the others waiting.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		var all []AccountType
		q := url.Values{}
		q.Set("pageSize", strconv.Itoa(DefaultPageSize))
		for {
			var p accountTypePage
			err := c.co.do(ctx, &call{method: http.MethodGet, endpoint: "/v2/accountTypes", path: "/v2/accountTypes", query: q, out: &p})
			if err != nil {
				return nil, wrap(err, "list sigma account types")
			}
			all = append(all, p.Entries...)
			if p.NextPageToken == nil || *p.NextPageToken == "" {
				break
			}
			q.Set("pageToken", *p.NextPageToken)
		}
		if all == nil {
			all = []AccountType{}
		}
		now := c.now()
		c.atMu.Lock()
		c.atList, c.atLoaded = all, now
		c.atMu.Unlock()
		return all, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, time.Time{}, r.Err
		}
		c.atMu.Lock()
		defer c.atMu.Unlock()
		return c.atList, c.atLoaded, nil
	case <-ctx.Done():
		return nil, time.Time{}, fmt.Errorf("list sigma account types: %w", ctx.Err())
	}
}

// ResolveAccountType maps an incoming account type name to the org's
// canonical name: configured aliases first (keys case-insensitive), then a
// case-insensitive match against the org's account types. A name that
// matches nothing gives *UnknownAccountTypeError listing the valid names
// (after one reload of the list, in case the type was created recently).
func (c *Client) ResolveAccountType(ctx context.Context, name string) (string, error) {
	want := strings.TrimSpace(name)
	if t, ok := c.aliases[strings.ToLower(want)]; ok {
		want = t
	}
	list, loaded, err := c.accountTypes(ctx, false)
	if err != nil {
		return "", fmt.Errorf("resolve account type %q: %w", name, err)
	}
	if n, ok := matchAccountType(list, want); ok {
		return n, nil
	}
	if c.now().Sub(loaded) >= accountTypeRecheck {
		if list, _, err = c.accountTypes(ctx, true); err != nil {
			return "", fmt.Errorf("resolve account type %q: %w", name, err)
		}
		if n, ok := matchAccountType(list, want); ok {
			return n, nil
		}
	}
	valid := make([]string, len(list))
	for i, at := range list {
		valid[i] = at.Name
	}
	slices.Sort(valid)
	return "", &UnknownAccountTypeError{Name: name, Valid: valid}
}

func matchAccountType(list []AccountType, want string) (string, bool) {
	for _, at := range list {
		if at.Name == want {
			return at.Name, true
		}
	}
	for _, at := range list {
		if strings.EqualFold(at.Name, want) {
			return at.Name, true
		}
	}
	return "", false
}
