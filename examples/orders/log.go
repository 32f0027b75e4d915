package orders

// Log keys.
const (
	logKeyBackend      = "backend"
	logKeyError        = "err"
	logKeyMethod       = "method"
	logKeyPath         = "path"
	logKeyFailRate     = "fail_rate"
	logKeyExtraLatency = "extra_latency"
)
