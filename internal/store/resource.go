package store

import (
	"fmt"
	"time"
)

// The rules both backends apply to resource records, written once.

// ResourceColumns are the columns of a resource record, in the order the
// backends scan them.
const ResourceColumns = `kind, id, external_id, tombstoned, tombstone_at, version, updated_at, user_name, user_name_fold, display_name, name_formatted`

// ValidKind returns an error naming op unless k is a known kind.
func ValidKind(op string, k Kind) error {
	if k != KindUser && k != KindGroup {
		return fmt.Errorf("%s: invalid kind %q", op, k)
	}
	return nil
}

// MaxResourcesByID bounds the ids of one ResourcesByID call (a page of a
// list is at most 1,000 resources).
const MaxResourcesByID = 1000

// CheckResourceIDs checks the arguments of a ResourcesByID call by op.
func CheckResourceIDs(op string, kind Kind, ids []string) error {
	if err := ValidKind(op, kind); err != nil {
		return err
	}
	if len(ids) > MaxResourcesByID {
		return fmt.Errorf("%s: %d ids, at most %d", op, len(ids), MaxResourcesByID)
	}
	return nil
}

// PrepareResource checks a record about to be written by op (known kind,
// an id) and normalises it: UpdatedAt is now; a live record has no
// tombstone time, a tombstone without one gets now, and times are kept to
// the microsecond both databases store.
func PrepareResource(op string, r *Resource, now time.Time) error {
	if err := ValidKind(op, r.Kind); err != nil {
		return err
	}
	if r.ID == "" {
		return fmt.Errorf("%s: empty id", op)
	}
	r.UpdatedAt = now
	switch {
	case !r.Tombstoned:
		r.TombstoneAt = time.Time{}
	case r.TombstoneAt.IsZero():
		r.TombstoneAt = now
	default:
		r.TombstoneAt = r.TombstoneAt.UTC().Truncate(time.Microsecond)
	}
	return nil
}

// NextResource is the record an UpdateResource of cur by fn writes: fn
// applied to a copy, which must keep Kind and ID, then PrepareResource and
// the Version one more than cur's. An error from fn is returned as is.
func NextResource(op string, cur Resource, fn func(*Resource) error, now time.Time) (Resource, error) {
	next := cur
	if err := fn(&next); err != nil {
		return Resource{}, err
	}
	if next.Kind != cur.Kind || next.ID != cur.ID {
		return Resource{}, fmt.Errorf("%s: the update function must not change kind or id", op)
	}
	if err := PrepareResource(op, &next, now); err != nil {
		return Resource{}, err
	}
	next.Version = cur.Version + 1
	return next, nil
}
