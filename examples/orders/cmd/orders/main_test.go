package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"holdfast/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// readyPrefix starts the line the binary prints once it serves.
const readyPrefix = "orders: listening on "

// build compiles the binary into a temp dir.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "orders")
	out, err := exec.Command("go", "build", "-o", bin, "holdfast/examples/orders/cmd/orders").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is a running orders binary.
type process struct {
	cmd    *exec.Cmd
	addr   string
	rest   string // the ready line after the address
	stderr *bytes.Buffer
	done   chan struct{} // closed when cmd.Wait returned
	err    error         // cmd.Wait's result, once done is closed
}

// start runs the binary and waits for its ready line. env is added to ours.
func start(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		line, _ := r.ReadString('\n')
		lines <- line
		io.Copy(io.Discard, r)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case line := <-lines:
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), readyPrefix)
		if !ok {
			<-p.done
			t.Fatalf("first line %q, want %q...; stderr:\n%s", line, readyPrefix, p.stderr)
		}
		p.addr, p.rest, _ = strings.Cut(rest, " ")
	case <-time.After(30 * time.Second):
		t.Fatal("no ready line within 30s")
	}
	return p
}

// stop sends sig and returns the exit code.
func (p *process) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after %v", sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

func getJSON(t *testing.T, url string, v any) *http.Response {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return res
}

func TestBinary(t *testing.T) {
	t.Parallel()
	bin := build(t)
	db := pgtest.Shared(t)

	tests := []struct {
		name        string
		env         []string
		args        []string
		wantBackend string
		wantStatus  int // of GET /orders
		signal      os.Signal
	}{
		{"mock", nil, []string{"--listen", "127.0.0.1:0"}, "mock", 200, syscall.SIGTERM},
		{"postgres from DATABASE_URL", []string{"DATABASE_URL=" + db.DSN()},
			[]string{"--listen", "127.0.0.1:0", "--backend", "postgres"}, "postgres", 200, syscall.SIGINT},
		{"postgres from flag", nil,
			[]string{"--listen=127.0.0.1:0", "--backend=postgres", "--database-url", db.DSN()}, "postgres", 200, syscall.SIGTERM},
		{"faults", nil, []string{"--listen", "127.0.0.1:0", "--fail-rate", "1", "--extra-latency", "10ms"}, "mock", 500, syscall.SIGTERM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, bin, tt.env, tt.args...)
			if got, want := p.rest, "backend="+tt.wantBackend; got != want {
				t.Errorf("ready line ends %q, want %q", got, want)
			}
			if strings.HasSuffix(p.addr, ":0") {
				t.Errorf("ready line shows %s, want the port actually bound", p.addr)
			}
			var health map[string]string
			res := getJSON(t, "http://"+p.addr+"/healthz", &health)
			if tt.wantStatus == 200 && (res.StatusCode != 200 || health["backend"] != tt.wantBackend) {
				t.Errorf("/healthz = %d %v, want 200 backend %s", res.StatusCode, health, tt.wantBackend)
			}
			var list map[string]any
			res = getJSON(t, "http://"+p.addr+"/orders", &list)
			if res.StatusCode != tt.wantStatus || res.Header.Get("X-Backend") != tt.wantBackend {
				t.Errorf("GET /orders = %d X-Backend %q, want %d %q: %v", res.StatusCode, res.Header.Get("X-Backend"), tt.wantStatus, tt.wantBackend, list)
			}
			if code := p.stop(t, tt.signal); code != 0 {
				t.Errorf("exit code after %v = %d, want 0; stderr:\n%s", tt.signal, code, p.stderr)
			}
		})
	}
}

func TestBinaryRejectsBadFlags(t *testing.T) {
	t.Parallel()
	bin := build(t)
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"unknown backend", []string{"--backend", "oracle"}, `"oracle"`},
		{"postgres without URL", []string{"--backend", "postgres"}, "give --database-url or set DATABASE_URL"},
		{"postgres unreachable", []string{"--backend", "postgres", "--database-url", "postgres://u:pw@127.0.0.1:1/x?connect_timeout=5"}, "reach the database"},
		{"fail rate above 1", []string{"--listen", "127.0.0.1:0", "--fail-rate", "2"}, "--fail-rate: 2; must be between 0.0 and 1.0"},
		{"latency too long", []string{"--extra-latency", "1h"}, "--extra-latency: 1h0m0s; must be between"},
		{"bad latency", []string{"--extra-latency", "soon"}, "extra-latency"},
		{"bad listen address", []string{"--listen", "nowhere"}, "--listen nowhere"},
		{"stray argument", []string{"serve"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(os.Environ(), "DATABASE_URL=")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit = %v, want code 2; stderr:\n%s", err, &stderr)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr %q does not mention %q", &stderr, tt.want)
			}
		})
	}
}
