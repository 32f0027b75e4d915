package metrics

import (
	"testing"
	"time"
)

// BenchmarkHandleAdd is the gateway's hot path: one point on a resolved
// handle, the clock advancing one period every 1,000 points.
func BenchmarkHandleAdd(b *testing.B) {
	c := newClock()
	st, _ := Open("", Options{Now: c.Now, FlushInterval: -1})
	defer st.Close()
	h, err := st.Handle(testID, 1)
	if err != nil {
		b.Fatal(err)
	}
	t0 := c.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%1000 == 999 {
			c.Advance(time.Second)
		}
		if err := h.Add(t0.Add(time.Duration(i/1000)*time.Second), float64(i%500)+0.5); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHandleAddParallel: all goroutines on one handle (worst case).
func BenchmarkHandleAddParallel(b *testing.B) {
	c := newClock()
	st, _ := Open("", Options{Now: c.Now, FlushInterval: -1})
	defer st.Close()
	h, _ := st.Handle(testID, 1)
	t0 := c.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			h.Add(t0, float64(i%500)+0.5)
			i++
		}
	})
}

// BenchmarkHandleAddParallelSeries: goroutines on distinct series.
func BenchmarkHandleAddParallelSeries(b *testing.B) {
	c := newClock()
	st, _ := Open("", Options{Now: c.Now, FlushInterval: -1})
	defer st.Close()
	t0 := c.Now()
	b.ReportAllocs()
	var n int
	b.RunParallel(func(pb *testing.PB) {
		st.mu.Lock()
		n++
		id := MetricID{Namespace: "n", Name: "m", Dimensions: []Dimension{{"g", string(rune('a' + n))}}}
		st.mu.Unlock()
		h, _ := st.Handle(id, 1)
		i := 0
		for pb.Next() {
			h.Add(t0, float64(i%500)+0.5)
			i++
		}
	})
}
