package provision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// Records reads and writes what Sigma cannot hold about a user or group:
// its store record (externalId, the IdP's own userName, tombstone). Both
// paths write the record whole, so neither erases what the other wrote.
type Records struct {
	Store store.Store
	// Now stamps tombstones.
	Now func() time.Time
}

// UserRecord is the store record a write of u leaves for user id: its
// externalId and the IdP's own userName (held only while live).
func UserRecord(id string, u directory.User) store.Resource {
	return store.Resource{Kind: store.KindUser, ID: id, ExternalID: u.ExternalID, UserName: u.IdPUserName}
}

// Get returns the store's record of (kind, id); found is false (and r the
// zero record for id) when there is none.
func (s Records) Get(ctx context.Context, kind store.Kind, id string) (r store.Resource, found bool, err error) {
	r, err = s.Store.GetResource(ctx, kind, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Resource{Kind: kind, ID: id}, false, nil
	}
	if err != nil {
		return store.Resource{}, false, fmt.Errorf("read %s %s from store: %w", kind, id, err)
	}
	return r, true, nil
}

// All maps id to the store's record for every resource of kind
// (tombstoned ones included).
func (s Records) All(ctx context.Context, kind store.Kind) (map[string]store.Resource, error) {
	rs, err := s.Store.ListResources(ctx, kind)
	if err != nil {
		return nil, fmt.Errorf("list %s records from store: %w", kind, err)
	}
	out := make(map[string]store.Resource, len(rs))
	for _, r := range rs {
		out[r.ID] = r
	}
	return out, nil
}

// CheckExternalID returns directory.ErrConflict when ext is held by a live
// resource of kind other than id.
func (s Records) CheckExternalID(ctx context.Context, kind store.Kind, id, ext string) error {
	if ext == "" {
		return nil
	}
	r, err := s.Store.ResourceByExternalID(ctx, kind, ext)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("look up externalId in store: %w", err)
	case r.ID != id:
		return fmt.Errorf("externalId %q is taken by %s %s: %w", ext, kind, r.ID, directory.ErrConflict)
	}
	return nil
}

// IDByExternalID returns the id of the live resource of kind whose
// externalId is ext, "" if none.
func (s Records) IDByExternalID(ctx context.Context, kind store.Kind, ext string) (string, error) {
	r, err := s.Store.ResourceByExternalID(ctx, kind, ext)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("look up %s by externalId: %w", kind, err)
	}
	return r.ID, nil
}

// UserNameHolder returns the id of the live user whose IdP userName is
// name (case-insensitively), "" if none.
func (s Records) UserNameHolder(ctx context.Context, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	r, err := s.Store.ResourceByUserName(ctx, store.KindUser, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("look up userName in store: %w", err)
	}
	return r.ID, nil
}

// CheckUserName returns directory.ErrConflict when the IdP userName name
// is held by a live user other than id; any other error is the store's.
func (s Records) CheckUserName(ctx context.Context, id, name string) error {
	holder, err := s.UserNameHolder(ctx, name)
	if err != nil {
		return err
	}
	if holder != "" && holder != id {
		return fmt.Errorf("userName %q is taken by user %s: %w", name, holder, directory.ErrConflict)
	}
	return nil
}

// PutRecord writes the store record of (kind, id) with ext and the
// tombstone state, keeping nothing else of the old record (for groups,
// which have nothing else).
func (s Records) PutRecord(ctx context.Context, kind store.Kind, id, ext string, tombstoned bool) error {
	return s.Put(ctx, store.Resource{Kind: kind, ID: id, ExternalID: ext, Tombstoned: tombstoned})
}

// Put writes r (Kind, ID, ExternalID, UserName, Tombstoned) as the whole
// store record, stamping a tombstone with Now, even when ctx has ended
// (Sigma has changed by then). A clash of its externalId or userName with
// another live record is directory.ErrConflict.
func (s Records) Put(ctx context.Context, r store.Resource) error {
	r = store.Resource{Kind: r.Kind, ID: r.ID, ExternalID: r.ExternalID, UserName: r.UserName, Tombstoned: r.Tombstoned}
	if r.Tombstoned {
		r.TombstoneAt = s.Now()
	}
	_, err := s.Store.PutResource(context.WithoutCancel(ctx), r)
	if errors.Is(err, store.ErrConflict) {
		what := fmt.Sprintf("externalId %q", r.ExternalID)
		if r.UserName != "" {
			what += fmt.Sprintf(" or userName %q", r.UserName)
		}
		return fmt.Errorf("store %s of %s %s: %w", what, r.Kind, r.ID, directory.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store %s %s: %w", r.Kind, r.ID, err)
	}
	return nil
}
