package daemon

import (
	"time"

	"holdfast/internal/metrics"
	"holdfast/internal/pool"
)

// Hooks for the external tests of pooler.go and pooler_metrics.go.
var PoolerConfig = poolerConfig

func SamplePooler(st *metrics.Store) func(now time.Time, s pool.Stats) {
	return newPoolerSampler(st).sample
}
