package directory

import (
	"context"
	"sort"
)

// UserPager is implemented by a Directory that can answer one page of
// ListUsers without building the others: the users at positions
// [start, start+count) of ListUsers' order (0-based; fewer at the end,
// none past it) and how many live users there are in all. The SCIM edge
// uses it for unfiltered, unsorted GET /Users (an IdP import), so that a
// page costs in proportion to the page, not to the org.
type UserPager interface {
	PageUsers(ctx context.Context, start, count int) ([]User, int, error)
}

// PageUsers answers from d's UserPager when it has one, else from ListUsers
// (sorted by ID, as ListUsers promises, and cut to the page).
func PageUsers(ctx context.Context, d Directory, start, count int) ([]User, int, error) {
	if p, ok := d.(UserPager); ok {
		return p.PageUsers(ctx, start, count)
	}
	all, err := d.ListUsers(ctx)
	if err != nil {
		return nil, 0, err
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	start = min(max(start, 0), len(all))
	end := min(start+max(count, 0), len(all))
	return all[start:end], len(all), nil
}
