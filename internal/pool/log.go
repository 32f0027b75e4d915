package pool

// Log keys.
const (
	logKeyAddr     = "addr"
	logKeyDatabase = "database"
	logKeyUser     = "user"
	logKeyError    = "err"
	logKeyRemote   = "remote"
)
