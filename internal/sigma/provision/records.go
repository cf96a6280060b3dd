package provision

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/store"
)

// Records reads and writes what Sigma cannot hold about a user or group:
// its store record (externalId, the IdP's own userName, displayName and
// name.formatted, tombstone). Both
// paths write the record whole, so neither erases what the other wrote.
type Records struct {
	Store store.Store
	// Now stamps tombstones.
	Now func() time.Time
}

// UserRecord is the store record a write of u leaves for user id: its
// externalId, the IdP's own userName (held only while live) and the
// displayName and name.formatted the IdP sent.
//
// Names equal to what the bridge derives from first and last name are not
// kept: a user read and written back unchanged changes nothing.
func UserRecord(id string, u directory.User) store.Resource {
	r := store.Resource{Kind: store.KindUser, ID: id, ExternalID: u.ExternalID, UserName: u.IdPUserName,
		DisplayName: strings.TrimSpace(u.DisplayName), NameFormatted: strings.TrimSpace(u.NameFormatted)}
	if r.DisplayName == DisplayName(strings.TrimSpace(u.GivenName), strings.TrimSpace(u.FamilyName), strings.TrimSpace(u.UserName)) {
		r.DisplayName = ""
	}
	if r.NameFormatted == strings.TrimSpace(strings.TrimSpace(u.GivenName)+" "+strings.TrimSpace(u.FamilyName)) {
		r.NameFormatted = ""
	}
	return r
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

// IDsByExternalID returns the ids of the live resources of kind whose
// externalId is ext, ordered (externalIds are not unique).
func (s Records) IDsByExternalID(ctx context.Context, kind store.Kind, ext string) ([]string, error) {
	rs, err := s.Store.ResourcesByExternalID(ctx, kind, ext)
	if err != nil {
		return nil, fmt.Errorf("look up %s by externalId: %w", kind, err)
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids, nil
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

// Put writes r (Kind, ID, ExternalID, UserName, DisplayName,
// NameFormatted, Tombstoned) as the whole store record, stamping a
// tombstone with Now, even when ctx has ended (Sigma has changed by then).
// A clash of its userName with another live record (another writer took
// it since CheckUserName) is directory.ErrConflict.
func (s Records) Put(ctx context.Context, r store.Resource) error {
	r = store.Resource{Kind: r.Kind, ID: r.ID, ExternalID: r.ExternalID, UserName: r.UserName,
		DisplayName: r.DisplayName, NameFormatted: r.NameFormatted, Tombstoned: r.Tombstoned}
	if r.Tombstoned {
		r.TombstoneAt = s.Now()
	}
	_, err := s.Store.PutResource(context.WithoutCancel(ctx), r)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("userName %q is taken by another user: %w", r.UserName, directory.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("store %s %s: %w", r.Kind, r.ID, err)
	}
	return nil
}
