package telemetry

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRotatingFileRotatesBySizeAndKeepsN(t *testing.T) {
	p := filepath.Join(t.TempDir(), "access.log")
	r, err := OpenRotatingFile(p, 20, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lines := []string{"aaaaaaaaa\n", "bbbbbbbbb\n", "ccccccccc\n", "ddddddddd\n", "eeeeeeeee\n", "fffffffff\n", "ggggggggg\n"}
	for _, l := range lines {
		if _, err := r.Write([]byte(l)); err != nil {
			t.Fatalf("write %q: %v", l, err)
		}
	}
	// 20 bytes hold two 10-byte lines: a+b, c+d, e+f, g. Keep 2 rotated files.
	for _, c := range []struct{ file, want string }{
		{p, "ggggggggg\n"},
		{p + ".1", "eeeeeeeee\nfffffffff\n"},
		{p + ".2", "ccccccccc\nddddddddd\n"},
	} {
		if got := readFile(t, c.file); got != c.want {
			t.Errorf("%s = %q, want %q", filepath.Base(c.file), got, c.want)
		}
	}
	if _, err := os.Stat(p + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 exists (err %v); only 2 rotated files should be kept", filepath.Base(p), err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}

func TestRotatingFileNeverSplitsALongLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "access.log")
	r, err := OpenRotatingFile(p, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	long := strings.Repeat("x", 30) + "\n"
	for _, l := range []string{"ab\n", long, "cd\n"} {
		if _, err := r.Write([]byte(l)); err != nil {
			t.Fatal(err)
		}
	}
	if got := readFile(t, p+".1"); got != long {
		t.Errorf("the long line was split or misplaced: .1 = %q", got)
	}
	if got := readFile(t, p); got != "cd\n" {
		t.Errorf("current = %q", got)
	}
}

func TestRotatingFileAppendsToExistingAndCountsItsSize(t *testing.T) {
	p := filepath.Join(t.TempDir(), "access.log")
	if err := os.WriteFile(p, []byte("0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRotatingFile(p, 15, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Write([]byte("next\n")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, p+".1"); got != "0123456789\n" {
		t.Errorf(".1 = %q; the existing 11 bytes plus 5 exceed 15 and should have rotated", got)
	}
}

func TestRotatingFileReopenAfterExternalRename(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "access.log")
	r, err := OpenRotatingFile(p, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Write([]byte("before\n"))
	moved := filepath.Join(dir, "access.log.old")
	if err := os.Rename(p, moved); err != nil {
		t.Fatal(err)
	}
	r.Write([]byte("still old\n")) // the open handle follows the rename
	if err := r.Reopen(); err != nil {
		t.Fatal(err)
	}
	r.Write([]byte("after\n"))
	if got := readFile(t, moved); got != "before\nstill old\n" {
		t.Errorf("moved file = %q", got)
	}
	if got := readFile(t, p); got != "after\n" {
		t.Errorf("reopened file = %q", got)
	}
}

func TestRotatingFileUnderAsyncWriter(t *testing.T) {
	p := filepath.Join(t.TempDir(), "access.log")
	r, err := OpenRotatingFile(p, 1000, 50)
	if err != nil {
		t.Fatal(err)
	}
	w := NewAsyncWriter(r)
	line := []byte(strings.Repeat("z", 99) + "\n")
	for i := 0; i < 100; i++ {
		if _, err := w.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r.Close()
	var all []byte
	matches, _ := filepath.Glob(p + "*")
	for _, m := range matches {
		b := []byte(readFile(t, m))
		if len(b)%100 != 0 {
			t.Errorf("%s holds %d bytes: a line was split", filepath.Base(m), len(b))
		}
		all = append(all, b...)
	}
	if got := bytes.Count(all, []byte("\n")); got != 100 {
		t.Errorf("%d lines across %d files, want 100", got, len(matches))
	}
	if len(matches) < 2 {
		t.Errorf("no rotation happened: %v", matches)
	}
	if _, err := r.Write(line); err != ErrClosed {
		t.Errorf("write after close: %v, want ErrClosed", err)
	}
}

// A log path that is not a regular file (here a named pipe; /dev/null is
// the common case) is written to and never rotated: renaming it away would
// put a regular file in its place.
func TestRotatingFileNeverRotatesAPipe(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 1)
	go func() { // the pipe's reader, as a log collector would be
		f, err := os.Open(path)
		if err != nil {
			got <- -1
			return
		}
		defer f.Close()
		n, _ := io.Copy(io.Discard, f)
		got <- n
	}()
	r, err := OpenRotatingFile(path, 100, 2)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("x", 39) + "\n")
	for range 10 { // 400 bytes through a 100-byte limit
		if _, err := r.Write(line); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	r.Close()
	if n := <-got; n != 400 {
		t.Errorf("the reader got %d bytes, want 400", n)
	}
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("%s is no longer a named pipe: %v %v", path, st.Mode(), err)
	}
	if _, err := os.Stat(path + ".1"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s.1 exists (%v): the pipe was rotated", path, err)
	}
}
