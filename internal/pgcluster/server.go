package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// portAttempts is how often launch picks a new port when another process
// grabbed the free one between our probe and the server's bind.
const portAttempts = 3

// server is the postmaster child process.
type server struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait returned
	// waitErr is cmd.Wait's result; read it only after exited is closed.
	waitErr error
}

func (s *server) pid() int { return s.cmd.Process.Pid }

// launch picks a free port, writes the configuration and starts the server,
// then waits until it accepts connections.
func (c *Cluster) launch(ctx context.Context) error {
	var err error
	for attempt := 1; attempt <= portAttempts; attempt++ {
		if c.port, err = freePort(); err != nil {
			return err
		}
		if err = writeConf(c.dataDir, settings(c.port, c.opts.MaxConnections, c.opts.Settings), c.acct); err != nil {
			return err
		}
		if c.server, err = c.spawn(); err != nil {
			return err
		}
		err = c.waitReady(ctx)
		if err == nil {
			return nil
		}
		if serr := c.server.stop(c.opts.StopTimeout); serr != nil {
			return errors.Join(err, serr)
		}
		c.server = nil
		if !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

// spawn starts postgres with its stdout and stderr appended to the log file.
func (c *Cluster) spawn() (*server, error) {
	logf, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open server log: %w", err)
	}
	defer logf.Close() // the child keeps its own copy
	cmd := exec.Command(c.opts.Binaries.Postgres, "-D", c.dataDir)
	cmd.Dir = c.dir
	cmd.Env = serverEnv()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr(c.acct)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.opts.Binaries.Postgres, err)
	}
	s := &server{cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	return s, nil
}

// errPortTaken marks a start that failed because the port was taken.
var errPortTaken = errors.New("port already in use")

// waitReady polls until the server accepts an authenticated connection,
// the server exits, or ctx ends. Errors carry the log's tail.
func (c *Cluster) waitReady(ctx context.Context) error {
	delay := 10 * time.Millisecond
	var last error
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := c.connect(pctx, maintenanceDB)
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		last = err
		timer := time.NewTimer(delay)
		select {
		case <-c.server.exited:
			timer.Stop()
			log := c.logTail(30)
			err := fmt.Errorf("postgres exited during start (%v); end of its log:\n%s", c.server.waitErr, log)
			if strings.Contains(log, "could not bind") || strings.Contains(log, "could not create any TCP/IP sockets") {
				return fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return err
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("postgres did not accept connections on port %d before the start deadline (%v, Options.StartTimeout %v; last error: %v); end of its log:\n%s",
				c.port, ctx.Err(), c.opts.StartTimeout, last, c.logTail(30))
		case <-timer.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// stop asks for a fast shutdown (SIGINT) and, if the server has not exited
// after timeout, SIGKILLs its whole process group. It returns once no
// process of the group is left.
func (s *server) stop(timeout time.Duration) error {
	pid := s.pid()
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal postgres (pid %d): %w", pid, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-s.exited:
	case <-timer.C:
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.exited
	}
	// The postmaster waits for its backends on a fast shutdown; after a
	// SIGKILL (or a crash) orphans may remain. Sweep them.
	return sweepGroup(pid, timeout)
}

// sweepGroup SIGKILLs process group pgid and waits until it is empty.
func sweepGroup(pgid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := syscall.Kill(-pgid, syscall.SIGKILL); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres processes of group %d still present after %v", pgid, timeout)
		}
		time.Sleep(10 * time.Millisecond) // polling the kernel; nothing to wait on
	}
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last n lines of the server log.
func (c *Cluster) logTail(n int) string {
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	return tail(string(b), n)
}
