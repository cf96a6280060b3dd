package restdir

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/scimbridge/scim-bridge/internal/directory"
	"github.com/scimbridge/scim-bridge/internal/sigma"
	"github.com/scimbridge/scim-bridge/internal/sigma/provision"
)

// TestStaleMarkGenerations: a refresh clears only the mark it saw, and a
// load clears only the marks made before it began.
func TestStaleMarkGenerations(t *testing.T) {
	ix := newIndex()
	ix.markStale([]string{"m1"}, []string{"t1"})
	g := ix.staleGen(userKey("m1"))
	if g == 0 || ix.staleGen(teamKey("t1")) == 0 || ix.staleGen(userKey("t1")) != 0 {
		t.Fatalf("marks: m1=%d t1=%d", g, ix.staleGen(teamKey("t1")))
	}
	// Marked again while a refresh of the first mark was reading Sigma.
	ix.markStale([]string{"m1"}, nil)
	ix.clearStale(userKey("m1"), g)
	if ix.staleGen(userKey("m1")) == 0 {
		t.Error("a refresh cleared a mark made after its read began")
	}
	ix.clearStale(userKey("m1"), ix.staleGen(userKey("m1")))
	if ix.staleGen(userKey("m1")) != 0 {
		t.Error("a refresh did not clear the mark it saw")
	}

	ix.markStale([]string{"before"}, nil)
	ix.beginLoad()
	ix.markStale([]string{"during"}, nil)
	ix.commitLoad(newIndexData())
	if ix.staleGen(userKey("before")) != 0 || ix.staleGen(teamKey("t1")) != 0 {
		t.Error("a load kept marks made before it began")
	}
	if ix.staleGen(userKey("during")) == 0 {
		t.Error("a load cleared a mark made while it was fetching")
	}
	if n := ix.staleCount(); n != 1 {
		t.Errorf("staleCount = %d, want 1", n)
	}
	ix.beginLoad()
	ix.abortLoad()
	if ix.staleGen(userKey("during")) == 0 {
		t.Error("a failed load cleared a mark")
	}
}

// TestTeamDigestsFollowEveryChange: after any sequence of index changes,
// each team's digest is the digest of the member list teamOf shows.
func TestTeamDigestsFollowEveryChange(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	x := newIndexData()
	mid := func() string { return fmt.Sprintf("m%d", rnd.IntN(30)) }
	tid := func() string { return fmt.Sprintf("t%d", rnd.IntN(4)) }
	for step := range 3000 {
		switch rnd.IntN(8) {
		case 0, 1:
			id := mid()
			x.putMember(sigma.Member{MemberID: id, Email: fmt.Sprintf("%s.%d@x", id, rnd.IntN(3)), IsArchived: rnd.IntN(4) == 0, IsInactive: rnd.IntN(6) == 0})
		case 2:
			x.dropMember(mid())
		case 3:
			x.putTeam(sigma.Team{TeamID: tid(), Name: "n"})
		case 4:
			if rnd.IntN(5) == 0 {
				x.dropTeam(tid())
			}
		case 5:
			x.addMembers(tid(), []string{mid(), mid(), mid()})
		case 6:
			x.removeMembers(tid(), []string{mid(), mid()})
		case 7:
			x.setMembers(tid(), []string{mid(), mid(), mid(), mid()})
		}
		for team := range x.teamMembers {
			var shown []directory.Ref
			for id := range x.teamMembers[team] {
				if r, ok := x.shown(id); ok {
					shown = append(shown, r)
				}
			}
			if got, want := x.digests[team], provision.DigestOf(shown); got != want {
				t.Fatalf("step %d: team %s digest %v, its %d shown members give %v", step, team, got, len(shown), want)
			}
		}
	}
}
