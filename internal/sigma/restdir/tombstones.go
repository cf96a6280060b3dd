package restdir

import (
	"context"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// Tombstones.
//
// The store tombstones a user the IdP deleted (Sigma only deactivates the
// member); pages of users must leave them out without reading every record
// (PageUsers). The index keeps the tombstone state of users
// (indexData.tombs): read in full at each load (store.TombstonedIDs), then
// kept by this Directory's own record writes (recordStore), by the peer
// poll, which re-reads the records of the users other writers changed, and
// by each page, whose records are read anyway. A delete made through
// another replica thus leaves the pages at the next poll (at once if it
// falls on the page read); a revive elsewhere shows at the next poll.

// recordStore is the store as provision.Records sees it: every user record
// this Directory writes updates the index's tombstone state.
type recordStore struct {
	store.Store
	d *Directory
}

func (s recordStore) PutResource(ctx context.Context, r store.Resource) (store.Resource, error) {
	out, err := s.Store.PutResource(ctx, r)
	if err == nil && out.Kind == store.KindUser {
		s.d.idx.recordWritten(out, false)
	}
	return out, err
}

func (s recordStore) UpdateResource(ctx context.Context, kind store.Kind, id string, fn func(*store.Resource) error) (store.Resource, error) {
	out, err := s.Store.UpdateResource(ctx, kind, id, fn)
	if err == nil && kind == store.KindUser {
		s.d.idx.recordWritten(out, false)
	}
	return out, err
}

func (s recordStore) DeleteResource(ctx context.Context, kind store.Kind, id string) error {
	err := s.Store.DeleteResource(ctx, kind, id)
	if err == nil && kind == store.KindUser {
		s.d.idx.recordWritten(store.Resource{Kind: kind, ID: id}, true)
	}
	return err
}

// loadTombstones reads every tombstoned user into x (a picture being
// loaded: version 0, older than any record read later).
func (d *Directory) loadTombstones(ctx context.Context, x *indexData) error {
	ids, err := d.store.TombstonedIDs(ctx, store.KindUser)
	if err != nil {
		return err
	}
	for _, id := range ids {
		x.setTombstoned(id, true, 0, false)
	}
	return nil
}

// refreshTombstones re-reads the store records of users (other writers
// changed them) into the index's tombstone state.
func (d *Directory) refreshTombstones(ctx context.Context, users []string) error {
	if len(users) == 0 {
		return nil
	}
	recs, err := d.records(ctx, store.KindUser, users)
	if err != nil {
		return err
	}
	d.idx.recordsRead(users, recs)
	return nil
}
