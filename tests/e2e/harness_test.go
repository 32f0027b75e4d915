// Package e2e runs the built binaries as processes: holdfast serve in front
// of the orders service (mock and postgres backends, the latter on a real
// PostgreSQL), driven by the holdfast CLI and real HTTP clients.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var bins struct {
	dir      string
	holdfast string
	orders   string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "holdfast-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.dir = dir
	bins.holdfast = filepath.Join(dir, "holdfast")
	bins.orders = filepath.Join(dir, "orders")
	for pkg, out := range map[string]string{"holdfast/cmd/holdfast": bins.holdfast, "holdfast/examples/orders/cmd/orders": bins.orders} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n", pkg, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a child process whose output lines are watched.
type proc struct {
	t     *testing.T
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	added chan struct{}
	done  chan struct{}
	err   error
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, cmd: exec.Command(name, args...), added: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.added <- struct{}{}:
			default:
			}
		}
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", filepath.Base(name), p.output())
		}
	})
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitLine waits for an output line matching re and returns its submatches.
func (p *proc) waitLine(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		lines := p.lines[seen:]
		seen = len(p.lines)
		p.mu.Unlock()
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		}
		select {
		case <-p.added:
		case <-p.done:
			p.mu.Lock()
			n := len(p.lines)
			p.mu.Unlock()
			if n == seen {
				p.t.Fatalf("process exited (%v) before printing %q; output:\n%s", p.err, re, p.output())
			}
		case <-deadline:
			p.t.Fatalf("no line matching %q within %s; output:\n%s", re, timeout, p.output())
		}
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("process did not exit within %s", timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

var ordersRE = regexp.MustCompile(`orders: listening on (\S+)`)

// startOrders runs the sample service with a backend and returns its base URL.
func startOrders(t *testing.T, backend string, args ...string) string {
	t.Helper()
	p := start(t, bins.orders, append([]string{"--listen", "127.0.0.1:0", "--backend", backend}, args...)...)
	m := p.waitLine(ordersRE, 30*time.Second)
	return "http://" + m[1]
}

var (
	listenerRE = regexp.MustCompile(`gateway listener (\S+) on (https?)://(\S+)`)
	adminRE    = regexp.MustCompile(`admin API on (http://\S+)`)
	readyRE    = regexp.MustCompile(`holdfast: ready`)
)

// daemon is a running holdfast serve.
type daemon struct {
	*proc
	gateway string // http://addr of the first listener
	admin   string
	dataDir string
}

func startDaemon(t *testing.T, cfgPath, dataDir string) *daemon {
	t.Helper()
	p := start(t, bins.holdfast, "serve", "--config", cfgPath)
	m := p.waitLine(listenerRE, 30*time.Second)
	a := p.waitLine(adminRE, 30*time.Second)
	p.waitLine(readyRE, 30*time.Second)
	return &daemon{proc: p, gateway: m[2] + "://" + m[3], admin: a[1], dataDir: dataDir}
}

// cli runs a holdfast admin command against d and returns its output and
// exit code.
func (d *daemon) cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"--admin", d.admin, "--data-dir", d.dataDir}, args...)
	out, err := exec.CommandContext(ctx, bins.holdfast, full...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("holdfast %v: %v", args, err)
	}
	return string(out), code
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
