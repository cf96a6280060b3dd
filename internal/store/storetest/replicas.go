package storetest

import (
	"testing"
	"time"

	"github.com/scimbridge/scim-bridge/internal/store"
)

// testReplicas: a replica's report is kept by id (a second touch moves
// SeenAt and keeps StartedAt), listed newest first from since, and
// forgotten once unseen for ReplicaForget.
func testReplicas(t *testing.T, open Opener) {
	ctx, s := ctxFor(t), open(t)
	started := at(-time.Hour)
	must(t, "touch a", s.TouchReplica(ctx, store.Replica{ID: "a", Host: "pod-a", Version: "v1", StartedAt: started, SeenAt: at(0)}))
	must(t, "touch b", s.TouchReplica(ctx, store.Replica{ID: "b", Host: "pod-b", Version: "v2", SeenAt: at(time.Minute)}))
	must(t, "touch a again", s.TouchReplica(ctx, store.Replica{ID: "a", Host: "pod-a", Version: "v1", StartedAt: started, SeenAt: at(2 * time.Minute)}))

	list, err := s.ListReplicas(ctx, at(0))
	must(t, "list", err)
	if len(list) != 2 || list[0].ID != "a" || list[1].ID != "b" {
		t.Fatalf("list = %+v; want a (seen last) then b", list)
	}
	if a := list[0]; a.Host != "pod-a" || a.Version != "v1" || !a.StartedAt.Equal(us(started)) || !a.SeenAt.Equal(us(at(2*time.Minute))) {
		t.Errorf("a = %+v; want its report with SeenAt moved and StartedAt kept", a)
	}
	if b := list[1]; !b.StartedAt.Equal(us(at(time.Minute))) {
		t.Errorf("b.StartedAt = %v; want its first SeenAt when none is given", b.StartedAt)
	}
	list, err = s.ListReplicas(ctx, at(90*time.Second))
	must(t, "list since", err)
	if len(list) != 1 || list[0].ID != "a" {
		t.Errorf("list since 1m30s = %+v; want only a", list)
	}

	must(t, "touch c", s.TouchReplica(ctx, store.Replica{ID: "c", SeenAt: at(2*time.Minute + store.ReplicaForget + time.Second)}))
	list, err = s.ListReplicas(ctx, at(-24*time.Hour))
	must(t, "list all", err)
	if len(list) != 1 || list[0].ID != "c" {
		t.Errorf("after ReplicaForget: %+v; want only c", list)
	}
}
