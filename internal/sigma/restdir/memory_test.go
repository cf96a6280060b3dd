package restdir_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/sigma/restdir"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmafake"
	"github.com/scimbridge/scim-bridge/internal/sigma/sigmatest"
)

// indexBytesPerMember bounds the live heap the index of a loaded org holds
// per member (its team memberships included). At 20,000 members it was
// about 1,000 bytes before the index kept a compact entry per member and a
// slice of team ids, and is about 600 now (460 at 100,000, where the maps
// fill better): the bound catches a return to a copy of sigma.Member or a
// map per member, not small changes.
const indexBytesPerMember = 800

// TestIndexMemoryPerMember: the heap a full load leaves live, measured
// after a GC (no timing), is at most indexBytesPerMember per member.
func TestIndexMemoryPerMember(t *testing.T) {
	const members = 20000
	srv := sigmatest.Fake(t, sigmafake.Options{Members: members, Teams: 5, Seed: 1})
	st := sigmatest.OpenStore(t)
	client := newClient(t, srv, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := restdir.New(client, st, restdir.Options{}, nil, nil)
	if err := d.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	live := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	per := live / members
	t.Logf("index of %d members: %d KB live, %d bytes per member", members, live>>10, per)
	if per > indexBytesPerMember {
		t.Errorf("the index holds %d bytes per member, more than %d", per, indexBytesPerMember)
	}
	runtime.KeepAlive(d)
}
