package telemetry

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultMaxPending is how many bytes an AsyncWriter holds before it
	// drops lines.
	DefaultMaxPending = 4 << 20
	// flushAt wakes the flusher early once this much is pending.
	flushAt = 64 << 10
	// flushEvery bounds how long a line waits when traffic is light.
	flushEvery = 200 * time.Millisecond
	// keepBuffer is the largest buffer kept for reuse after a burst.
	keepBuffer = 1 << 20
)

var (
	// ErrClosed is returned by Write after Close.
	ErrClosed = errors.New("async writer closed")
	// ErrFull is returned by Write when the line was dropped because the
	// underlying writer is behind by DefaultMaxPending (or the configured
	// size) bytes.
	ErrFull = errors.New("async writer full: line dropped")
)

// AsyncWriter lets request goroutines write log lines without waiting for the
// disk. Write copies the line into a pending buffer under a mutex and
// returns; a background goroutine hands the buffer to the underlying writer
// every 200ms, or sooner once 64 KiB are pending, while writes go on into a
// second buffer. When the underlying writer falls behind by more than the
// pending limit, lines are dropped whole and counted (Dropped): the request
// path never blocks on the log. Each Write should be one whole line.
type AsyncWriter struct {
	w          io.Writer
	maxPending int

	mu      sync.Mutex // guards buf, closed
	buf     []byte
	closed  bool
	dropped atomic.Uint64

	wmu   sync.Mutex // serialises writes to w; guards spare, err
	spare []byte
	err   error

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// NewAsyncWriter starts an AsyncWriter over w with DefaultMaxPending.
func NewAsyncWriter(w io.Writer) *AsyncWriter { return NewAsyncWriterSize(w, DefaultMaxPending) }

// NewAsyncWriterSize starts an AsyncWriter that holds at most maxPending
// bytes before dropping lines.
func NewAsyncWriterSize(w io.Writer, maxPending int) *AsyncWriter {
	if maxPending <= 0 {
		maxPending = DefaultMaxPending
	}
	a := &AsyncWriter{
		w:          w,
		maxPending: maxPending,
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	go a.loop()
	return a
}

// Write queues a copy of p. It never blocks on the underlying writer.
func (a *AsyncWriter) Write(p []byte) (int, error) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return 0, ErrClosed
	}
	if len(a.buf)+len(p) > a.maxPending {
		a.mu.Unlock()
		a.dropped.Add(1)
		return 0, ErrFull
	}
	a.buf = append(a.buf, p...)
	wake := len(a.buf) >= flushAt
	a.mu.Unlock()
	if wake {
		select {
		case a.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// Dropped is how many writes were dropped because the buffer was full.
func (a *AsyncWriter) Dropped() uint64 { return a.dropped.Load() }

// Flush writes everything pending to the underlying writer now and returns
// the first write error seen so far.
func (a *AsyncWriter) Flush() error {
	a.wmu.Lock()
	defer a.wmu.Unlock()
	a.mu.Lock()
	b := a.buf
	a.buf = a.spare[:0]
	a.mu.Unlock()
	if len(b) > 0 {
		if _, err := a.w.Write(b); err != nil && a.err == nil {
			a.err = err
		}
	}
	if cap(b) > keepBuffer {
		b = nil
	}
	a.spare = b[:0]
	return a.err
}

// Close stops the background flusher, writes what is pending and returns the
// first write error. Later writes fail with ErrClosed. Close is idempotent;
// it does not close the underlying writer.
func (a *AsyncWriter) Close() error {
	a.once.Do(func() {
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		close(a.stop)
		<-a.done
	})
	return a.Flush()
}

func (a *AsyncWriter) loop() {
	defer close(a.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
		case <-a.kick:
		}
		a.Flush()
	}
}
