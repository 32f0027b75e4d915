package gateway

import (
	"math"
	"sync"
)

// pickSet says which of a route's targets a pick may choose.
type pickSet struct {
	now    int64  // unix nanoseconds, for passive ejection
	tried  uint64 // bit i set: target i was already tried for this request
	health bool   // skip targets that are unhealthy or ejected
}

// eligible reports whether target i may be picked. Zero-weight targets never
// are. Only the first 64 targets are remembered as tried.
func (ps pickSet) eligible(i int, t *target) bool {
	if t.weight <= 0 {
		return false
	}
	if i < 64 && ps.tried&(1<<uint(i)) != 0 {
		return false
	}
	return !ps.health || t.up.available(ps.now)
}

// selector picks one of a route's targets, or returns -1 when none is
// eligible. key is the request's hash key ("" when it has none).
type selector interface {
	Select(targets []*target, key string, ps pickSet) int
}

var (
	_ selector = (*smoothWRR)(nil)
	_ selector = rendezvous{}
)

// smoothWRR is nginx's smooth weighted round robin: every pick adds each
// eligible target's weight to its current weight, takes the largest (the
// first on a tie) and subtracts the sum of eligible weights from it. The
// sequence is deterministic and interleaved: weights 5,1,1 give a a b a c a a.
// Ineligible targets are skipped without gaining weight, as nginx does.
type smoothWRR struct {
	mu  sync.Mutex
	cur []int64
}

// newSmoothWRR returns a balancer for n targets.
func newSmoothWRR(n int) *smoothWRR { return &smoothWRR{cur: make([]int64, n)} }

// Select implements selector; key is ignored.
func (s *smoothWRR) Select(targets []*target, _ string, ps pickSet) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	best := -1
	for i, t := range targets {
		if !ps.eligible(i, t) {
			continue
		}
		w := int64(t.weight)
		s.cur[i] += w
		total += w
		if best < 0 || s.cur[i] > s.cur[best] {
			best = i
		}
	}
	if best >= 0 {
		s.cur[best] -= total
	}
	return best
}

// rendezvous is weighted highest-random-weight hashing: each eligible target
// scores -weight/ln(u), u a uniform (0,1) hash of (key, target), and the
// highest score wins. A key always lands on the same target while the set is
// unchanged; a target's share is proportional to its weight; removing a
// target (or taking it out of rotation) moves only the keys it held.
type rendezvous struct{}

// Select implements selector; key must not be empty.
func (rendezvous) Select(targets []*target, key string, ps pickSet) int {
	kh := hashString(key)
	best := -1
	var bestScore float64
	for i, t := range targets {
		if !ps.eligible(i, t) {
			continue
		}
		x := mix64(kh ^ t.seed)
		u := (float64(x>>11) + 0.5) * (1.0 / (1 << 53)) // in (0,1)
		score := -float64(t.weight) / math.Log(u)
		if best < 0 || score > bestScore {
			best, bestScore = i, score
		}
	}
	return best
}

// hashString is 64-bit FNV-1a.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finalizer: it spreads every input bit over the
// output so nearby keys get unrelated scores.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
