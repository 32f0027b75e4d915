package pgcluster

import "syscall"

// sysProcAttr puts the server in its own process group (so Stop can sweep
// every backend with one signal) and has the kernel SIGKILL it if the thread
// that started it dies, so a crashed parent leaves no server behind.
func sysProcAttr(acct *account) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  syscall.SIGKILL,
		Credential: acct.credential(),
	}
}
