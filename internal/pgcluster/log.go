package pgcluster

// Log keys. Never log Options.Password.
const (
	logKeyDir  = "dir"
	logKeyPort = "port"
	logKeyPID  = "pid"
	logKeyUser = "user"
)
