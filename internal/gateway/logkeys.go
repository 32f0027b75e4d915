package gateway

// Log keys, in one place so every message spells them the same way.
const (
	logKeyRoute    = "route"
	logKeyUpstream = "upstream"
	logKeyFlag     = "flag"
	logKeyErr      = "err"
	logKeyFails    = "fails"
	logKeyUntil    = "until"
	logKeyProbes   = "probes"
)
