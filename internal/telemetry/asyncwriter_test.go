package telemetry_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"holdfast/internal/telemetry"
)

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateWriter blocks every write until released: a disk that stalls.
type gateWriter struct {
	syncBuffer
	entered chan struct{}
	release chan struct{}
}

func (g *gateWriter) Write(p []byte) (int, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	<-g.release
	return g.syncBuffer.Write(p)
}

func TestAsyncWriterKeepsEveryLineInOrderPerWriter(t *testing.T) {
	var sink syncBuffer
	aw := telemetry.NewAsyncWriter(&sink)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if _, err := fmt.Fprintf(aw, "w%d %d\n", w, i); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(sink.String()), "\n")
	if got, want := len(lines), 2000; got != want {
		t.Fatalf("%d lines, want %d", got, want)
	}
	next := map[string]int{}
	for _, l := range lines {
		var w string
		var i int
		if _, err := fmt.Sscanf(l, "%s %d", &w, &i); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if i != next[w] {
			t.Fatalf("writer %s: line %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
	if got := aw.Dropped(); got != 0 {
		t.Errorf("dropped %d lines, want 0", got)
	}
}

func TestAsyncWriterFlushesInTheBackground(t *testing.T) {
	var sink syncBuffer
	aw := telemetry.NewAsyncWriter(&sink)
	t.Cleanup(func() { aw.Close() })
	aw.Write([]byte("hello\n"))
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for sink.String() != "hello\n" {
		if time.Now().After(deadline) {
			t.Fatalf("line not flushed without Flush or Close; sink has %q", sink.String())
		}
		<-tick.C
	}
}

func TestAsyncWriterDropsWhenTheDiskStalls(t *testing.T) {
	gw := &gateWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
	aw := telemetry.NewAsyncWriterSize(gw, 100)
	line := []byte(strings.Repeat("x", 49) + "\n")
	aw.Write(line)
	go aw.Flush() // takes the pending line to the stalled writer
	<-gw.entered
	// The flusher holds one line; two more fit, the rest are dropped.
	var dropped int
	for range 5 {
		if _, err := aw.Write(line); errors.Is(err, telemetry.ErrFull) {
			dropped++
		}
	}
	if got, want := dropped, 3; got != want {
		t.Errorf("dropped %d writes, want %d", got, want)
	}
	if got, want := aw.Dropped(), uint64(3); got != want {
		t.Errorf("Dropped() = %d, want %d", got, want)
	}
	close(gw.release)
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Count(gw.String(), "\n"), 3; got != want {
		t.Errorf("%d lines written, want %d", got, want)
	}
	if _, err := aw.Write(line); !errors.Is(err, telemetry.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if err := aw.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestAsyncWriterReportsWriteErrors(t *testing.T) {
	aw := telemetry.NewAsyncWriter(failWriter{})
	aw.Write([]byte("x\n"))
	if err := aw.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Close = %v, want the write error", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func BenchmarkAsyncWriterWrite(b *testing.B) {
	aw := telemetry.NewAsyncWriter(discard{})
	b.Cleanup(func() { aw.Close() })
	line := []byte(`{"time":"2026-01-02T15:04:05.123456789Z","route":"orders","target":"real","status":200,"duration_ms":1.234}` + "\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			aw.Write(line)
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
