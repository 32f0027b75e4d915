package clients_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pgbouncerBinary finds Debian's pgbouncer (scripts/test.sh installs it).
func pgbouncerBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("pgbouncer"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/pgbouncer"); err == nil {
		return "/usr/sbin/pgbouncer"
	}
	t.Fatal("pgbouncer is not installed; run `apt-get install -y pgbouncer` (scripts/test.sh does)")
	return ""
}

// startPgBouncer runs PgBouncer in transaction mode in front of
// host:port/dbname, logging in to the server as serverUser, with one
// client login user/password. It returns PgBouncer's port.
func startPgBouncer(t *testing.T, host string, port int, dbname, serverUser, serverPassword, user, password string, poolSize int) int {
	t.Helper()
	bin := pgbouncerBinary(t)
	dir := t.TempDir()
	var args []string
	if os.Geteuid() == 0 {
		// PgBouncer refuses to run as root; it switches to postgres (made
		// by the postgresql package), which must read its files.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		args = append(args, "-u", "postgres")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bport := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%d dbname=%s user=%s password=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = scram-sha-256
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 500
ignore_startup_parameters = extra_float_digits,options
server_login_retry = 1
`, dbname, host, port, dbname, serverUser, serverPassword, bport, filepath.Join(dir, "userlist.txt"), poolSize)
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("pgbouncer.ini", ini)
	write("userlist.txt", fmt.Sprintf("%q %q\n", user, password))
	cmd := exec.Command(bin, append(args, filepath.Join(dir, "pgbouncer.ini"))...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pgbouncer: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("pgbouncer output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", bport), time.Second)
		if err == nil {
			c.Close()
			return bport
		}
		select {
		case err := <-exited:
			t.Fatalf("pgbouncer exited: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbouncer did not listen within 20s:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}
