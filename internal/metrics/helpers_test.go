package metrics

import (
	"log/slog"
	"sync"
	"testing"
	"time"
)

// clock is a stepped clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openTest(t *testing.T, dir string, c *clock, opts Options) *Store {
	t.Helper()
	opts.Now = c.Now
	opts.FlushInterval = -1
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func f64(v float64) *float64 { return &v }

var testID = MetricID{Namespace: "holdfast/gateway", Name: "Duration",
	Dimensions: []Dimension{{"target", "blue"}, {"route", "orders"}}}

func mustQuery(t *testing.T, st *Store, q MetricStatQuery) []Point {
	t.Helper()
	s, err := st.Query(q)
	if err != nil {
		t.Fatalf("Query(%s %v): %v", q.Stat, q.Period, err)
	}
	return s.Points
}
