//go:build unix && !linux

package pgcluster

import "syscall"

// sysProcAttr puts the server in its own process group so Stop can sweep
// every backend with one signal. There is no parent-death signal outside
// Linux: a parent that crashes leaves the server running.
func sysProcAttr(acct *account) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setpgid:    true,
		Credential: acct.credential(),
	}
}
