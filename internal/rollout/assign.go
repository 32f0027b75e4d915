package rollout

// Bucket places a client in [0, 100) for one rollout: a consistent hash of
// the rollout id and the client key. The same pair always gets the same
// bucket; different rollouts shuffle clients independently.
func Bucket(clientKey, rolloutID string) float64 {
	h := uint64(14695981039346656037) // FNV-1a over id, a separator, key
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
	}
	add(rolloutID)
	h ^= 0xff // no byte of a valid UTF-8 string is 0xff: "ab"+"c" ≠ "a"+"bc"
	h *= 1099511628211
	add(clientKey)
	// splitmix64 finalizer: FNV-1a alone leaves nearby keys close together.
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return float64(h>>11) * (100.0 / (1 << 53))
}

// Assign reports whether the client with clientKey gets the candidate while
// the candidate has candidatePercent of the traffic: its bucket is below
// the percentage. A client on the candidate stays there as the percentage
// grows; when it shrinks, the clients with the highest buckets (those that
// moved last) go back first, and at 0 % nobody is on the candidate.
func Assign(clientKey, rolloutID string, candidatePercent float64) bool {
	if candidatePercent >= 100 {
		return true
	}
	if !(candidatePercent > 0) {
		return false
	}
	return Bucket(clientKey, rolloutID) < candidatePercent
}
