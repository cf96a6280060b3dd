package restdir

import "testing"

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
