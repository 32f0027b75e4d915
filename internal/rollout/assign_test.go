package rollout

import (
	"fmt"
	"math"
	"testing"
)

func TestAssignSticksAndRollsBackLastInFirstOut(t *testing.T) {
	const id, n = "api-1", 20000
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("client-%d", i)
	}
	on := make([]bool, n)
	for _, p := range []float64{0, 1, 5, 10, 10, 20, 50, 80, 100} { // growing: nobody leaves
		count := 0
		for i, k := range keys {
			got := Assign(k, id, p)
			if on[i] && !got {
				t.Fatalf("client %s left the candidate when the share grew to %v%%", k, p)
			}
			on[i] = got
			if got {
				count++
			}
		}
		if frac := float64(count) / n * 100; math.Abs(frac-p) > 1.5 {
			t.Errorf("at %v%%, %.2f%% of clients are on the candidate", p, frac)
		}
	}
	// Shrinking: those that leave are always the highest buckets, i.e. the
	// ones that moved last.
	for _, p := range []float64{80, 30, 5, 0} {
		for _, k := range keys {
			b := Bucket(k, id)
			if got, want := Assign(k, id, p), b < p; got != want {
				t.Fatalf("Assign(%s, %v%%) = %v with bucket %v", k, p, got, b)
			}
		}
	}
}

func TestBucketIsConsistentAndPerRollout(t *testing.T) {
	if Bucket("alice", "r1") != Bucket("alice", "r1") {
		t.Fatal("bucket changed between calls")
	}
	same := 0
	for i := range 1000 {
		k := fmt.Sprintf("k%d", i)
		b := Bucket(k, "r1")
		if b < 0 || b >= 100 {
			t.Fatalf("bucket %v outside [0,100)", b)
		}
		if Assign(k, "r1", 10) == Assign(k, "r2", 10) {
			same++
		}
	}
	// Independent shuffles agree on ~82% of clients at 10% (0.9²+0.1²).
	if same > 900 || same < 740 {
		t.Errorf("rollouts r1 and r2 agree on %d/1000 clients; want them shuffled independently", same)
	}
	if Bucket("ab", "c") == Bucket("a", "bc") {
		t.Error("id and key are not separated in the hash")
	}
}
