package flagstore

// FNV-1a, 64 bit, written out so hashing a string does not allocate.
const (
	fnvOffset uint64 = 14695981039346656037
	fnvPrime  uint64 = 1099511628211
)

func fnvByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

func fnvBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// bucketOf maps a hash to [0,100) in steps of 0.0001. The hash is mixed
// first (FNV's low bits are weak for short, similar inputs).
func bucketOf(h uint64) float64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return float64(h%1_000_000) / 10_000
}

// Bucket is where entity falls in [0,100) for the deployment with the given
// key: it sees the new version once the deployment's percentage is above it.
func Bucket(deploymentKey, entity string) float64 {
	h := fnvString(fnvOffset, deploymentKey)
	h = fnvByte(h, 0)
	return bucketOf(fnvString(h, entity))
}
