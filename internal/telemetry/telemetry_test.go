package telemetry_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"holdfast/internal/gateway"
	"holdfast/internal/telemetry"
)

func TestTargetIsSharedAcrossCalls(t *testing.T) {
	tel := telemetry.New()
	a := tel.Target("orders", "real")
	b := tel.Target("orders", "real") // a reload asks again: no duplicate registration
	if a != b {
		t.Fatalf("Target returned different recorders for the same pair")
	}
	a.Observe(200, gateway.ErrNone, 10*time.Millisecond)
	b.Observe(200, gateway.ErrNone, 30*time.Millisecond)
	s := tel.Snapshot()
	if got, want := len(s), 1; got != want {
		t.Fatalf("%d pairs, want %d", got, want)
	}
	if got, want := s[0].Invocations, uint64(2); got != want {
		t.Errorf("invocations = %d, want %d", got, want)
	}
}

func TestObserveAndSnapshot(t *testing.T) {
	tel := telemetry.New()
	real := tel.Target("orders", "real")
	mock := tel.Target("orders", "mock")
	tel.Target("health", "real")
	observations := []struct {
		rec    gateway.TargetRecorder
		status int
		kind   gateway.ErrKind
		d      time.Duration
	}{
		{real, 200, gateway.ErrNone, 2 * time.Millisecond},
		{real, 201, gateway.ErrNone, 4 * time.Millisecond},
		{real, 404, gateway.ErrNone, 1 * time.Millisecond},
		{real, 503, gateway.ErrUpstream5xx, 20 * time.Millisecond},
		{real, 502, gateway.ErrConnect, 500 * time.Microsecond},
		{real, 504, gateway.ErrTimeout, 40 * time.Second},
		{real, 499, gateway.ErrCanceled, 3 * time.Millisecond},
		{mock, 200, gateway.ErrNone, time.Millisecond},
	}
	for _, o := range observations {
		o.rec.Observe(o.status, o.kind, o.d)
	}
	snap := tel.Snapshot()
	var got []string
	for _, s := range snap {
		got = append(got, s.Route+"/"+s.Target)
	}
	if got, want := strings.Join(got, " "), "health/real orders/mock orders/real"; got != want {
		t.Fatalf("pairs = %q, want %q (sorted)", got, want)
	}
	s := snap[2]
	want := telemetry.TargetStats{
		Route: "orders", Target: "real",
		Invocations: 7, Errors: 3, Errors5xx: 1, ErrorsConnect: 1, ErrorsTimeout: 1, Canceled: 1,
		Codes:         [6]uint64{0, 0, 2, 0, 2, 3},
		DurationSum:   2*time.Millisecond + 4*time.Millisecond + time.Millisecond + 20*time.Millisecond + 500*time.Microsecond + 40*time.Second + 3*time.Millisecond,
		DurationCount: 7,
		// bounds: 1ms 2.5ms 5ms 10ms 25ms 50ms 100ms 250ms 500ms 1s 2.5s 5s 10s 30s +Inf
		DurationBuckets: []uint64{2, 1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1},
	}
	if got := s; !equalStats(got, want) {
		t.Errorf("snapshot =\n%+v\nwant\n%+v", got, want)
	}
}

func equalStats(a, b telemetry.TargetStats) bool {
	if len(a.DurationBuckets) != len(b.DurationBuckets) {
		return false
	}
	for i := range a.DurationBuckets {
		if a.DurationBuckets[i] != b.DurationBuckets[i] {
			return false
		}
	}
	a.DurationBuckets, b.DurationBuckets = nil, nil
	return a.Route == b.Route && a.Target == b.Target && a.Invocations == b.Invocations &&
		a.Errors == b.Errors && a.Errors5xx == b.Errors5xx && a.ErrorsConnect == b.ErrorsConnect &&
		a.ErrorsTimeout == b.ErrorsTimeout && a.Canceled == b.Canceled && a.Codes == b.Codes &&
		a.DurationSum == b.DurationSum && a.DurationCount == b.DurationCount
}

func TestMetricsExposition(t *testing.T) {
	tel := telemetry.New()
	r := tel.Target("orders", "real")
	r.Observe(200, gateway.ErrNone, 3*time.Millisecond)
	r.Observe(200, gateway.ErrNone, 3*time.Millisecond)
	r.Observe(502, gateway.ErrConnect, time.Millisecond)
	tel.Target("orders", "_static").Observe(503, gateway.ErrNone, time.Microsecond)
	aw := telemetry.NewAsyncWriterSize(io.Discard, 1)
	tel.TrackAccessLog(aw)
	aw.Write([]byte("too long for one byte\n"))
	aw.Close()

	srv := httptest.NewServer(tel.Handler())
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	text := string(body)
	for _, want := range []string{
		`holdfast_gateway_requests_total{code_class="2xx",route="orders",target="real"} 2`,
		`holdfast_gateway_requests_total{code_class="5xx",route="orders",target="real"} 1`,
		`holdfast_gateway_requests_total{code_class="5xx",route="orders",target="_static"} 1`,
		`holdfast_gateway_errors_total{kind="connect",route="orders",target="real"} 1`,
		`holdfast_gateway_errors_total{kind="timeout",route="orders",target="real"} 0`,
		`holdfast_gateway_errors_total{kind="upstream_5xx",route="orders",target="real"} 0`,
		`holdfast_gateway_request_duration_seconds_bucket{route="orders",target="real",le="0.001"} 1`,
		`holdfast_gateway_request_duration_seconds_bucket{route="orders",target="real",le="0.005"} 3`,
		`holdfast_gateway_request_duration_seconds_count{route="orders",target="real"} 3`,
		`holdfast_access_log_dropped_lines_total 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want+"\n") && !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	r := telemetry.New().Target("orders", "real")
	if n := testing.AllocsPerRun(1000, func() { r.Observe(200, gateway.ErrConnect, time.Millisecond) }); n != 0 {
		t.Errorf("Observe allocates %v times, want 0", n)
	}
}

func TestConcurrentObserve(t *testing.T) {
	tel := telemetry.New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := tel.Target("orders", "real")
			for range 1000 {
				r.Observe(200, gateway.ErrNone, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if got, want := tel.Snapshot()[0].Invocations, uint64(8000); got != want {
		t.Errorf("invocations = %d, want %d", got, want)
	}
}

func BenchmarkObserve(b *testing.B) {
	r := telemetry.New().Target("orders", "real")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(200, gateway.ErrNone, 1500*time.Microsecond)
		}
	})
}
