package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAccessLogRotatesAndReopens drives a real daemon: its access log rotates
// by size and keeps max_files, and SIGUSR1 starts a fresh file after an
// external rotator moved the old one away. No line is lost or split.
func TestAccessLogRotatesAndReopens(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	mock := startOrders(t, "mock")
	cfg := filepath.Join(dir, "holdfast.yaml")
	writeFile(t, cfg, `data_dir: `+dataDir+`
admin:
  listen: 127.0.0.1:0
access_log:
  max_size_mb: 1
  max_files: 2
listeners:
  - name: public
    listen: 127.0.0.1:0
upstreams:
  - name: mock
    url: `+mock+`
routes:
  - name: all
    targets:
      - upstream: mock
        weight: 1
`)
	d := startDaemon(t, cfg, dataDir)
	logPath := filepath.Join(dataDir, "access.log")

	get := func(n int, path string) {
		t.Helper()
		for i := 0; i < n; i++ {
			resp, err := http.Get(d.gateway + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	// countLines polls until the async writer has flushed want lines with
	// this marker across the log files.
	countLines := func(marker string, want int) int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := 0
			files, _ := filepath.Glob(logPath + "*")
			for _, f := range files {
				b, _ := os.ReadFile(f)
				got += strings.Count(string(b), marker)
			}
			if got >= want || time.Now().After(deadline) {
				return got
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// SIGUSR1 after a rename: new lines go to a fresh access.log.
	get(3, "/before-move")
	if got := countLines("/before-move", 3); got != 3 {
		t.Fatalf("%d lines for /before-move, want 3", got)
	}
	moved := filepath.Join(dir, "moved.log")
	if err := os.Rename(logPath, moved); err != nil {
		t.Fatal(err)
	}
	d.cmd.Process.Signal(syscall.SIGUSR1)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(logPath); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("access.log was not reopened after SIGUSR1; output:\n%s", d.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	get(2, "/after-move")
	if got := countLines("/after-move", 2); got != 2 {
		t.Fatalf("%d lines for /after-move, want 2", got)
	}
	if b, _ := os.ReadFile(moved); strings.Contains(string(b), "/after-move") {
		t.Fatal("a line written after SIGUSR1 went to the moved file")
	}

	// Size rotation: over 1 MiB of lines rotates, and only 2 old files stay.
	long := "/" + strings.Repeat("r", 3000)
	const n = 1500 // ~3.1 KB per line: about 4.5 MiB in all, more than 3 files hold
	get(n, long)
	get(1, "/flushed") // logged after every long line: once it is on disk, all are
	if countLines("/flushed", 1) != 1 {
		t.Fatal("the last line never reached the log")
	}
	got := countLines(long, 0)
	files, _ := filepath.Glob(logPath + "*")
	want := map[string]bool{logPath: true, logPath + ".1": true, logPath + ".2": true}
	if len(files) != 3 {
		t.Fatalf("log files %v; want access.log, .1 and .2", files)
	}
	for _, f := range files {
		if !want[f] {
			t.Fatalf("unexpected log file %s", f)
		}
		b, _ := os.ReadFile(f)
		if len(b) > 1<<20 {
			t.Errorf("%s is %d bytes, over max_size_mb", filepath.Base(f), len(b))
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s ends mid-line", filepath.Base(f))
		}
	}
	// The oldest lines were dropped with the file that fell off the end;
	// the kept files hold the most recent ones, whole.
	if got >= n || got < n/2 {
		t.Fatalf("%d of %d long lines kept; want the newest ~3 MiB worth", got, n)
	}

	// Reload may not change access_log: it needs a restart, and says so.
	raw, _ := os.ReadFile(cfg)
	writeFile(t, cfg, strings.Replace(string(raw), "max_files: 2", "max_files: 3", 1))
	out, code := d.cli(t, "reload")
	if code == 0 || !strings.Contains(out, "access_log") {
		t.Fatalf("reload changing access_log: exit %d, output %q; want a refusal naming access_log", code, out)
	}
}
