// Package telemetry records what the gateway does: per-target counters and
// durations, exposed in the Prometheus text format on the daemon's own
// registry and readable in process through Snapshot (the feed of the metrics
// store); and an asynchronous writer for the access log.
package telemetry

import (
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"holdfast/internal/gateway"
)

// DurationBuckets are the upper bounds, in seconds, of the request duration
// histogram, both in /metrics and in Snapshot.
var DurationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// codeClasses are the code_class label values, indexed by status/100.
var codeClasses = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// errKinds are the error kinds counted in holdfast_gateway_errors_total.
var errKinds = [...]gateway.ErrKind{gateway.ErrUpstream5xx, gateway.ErrConnect, gateway.ErrTimeout}

// Telemetry implements gateway.Recorder on its own Prometheus registry.
type Telemetry struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	alog     atomic.Pointer[AsyncWriter]

	mu      sync.Mutex
	targets map[pair]*TargetCounters
	sink    MetricSink
}

type pair struct{ route, target string }

var _ gateway.Recorder = (*Telemetry)(nil)

// New returns a Telemetry with its metrics registered on a fresh registry
// (with the Go runtime and process collectors).
func New() *Telemetry {
	t := &Telemetry{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "holdfast", Subsystem: "gateway", Name: "requests_total",
			Help: "Upstream attempts by route, target and response code class (retries count as attempts).",
		}, []string{"route", "target", "code_class"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "holdfast", Subsystem: "gateway", Name: "errors_total",
			Help: "Failed upstream attempts by route, target and kind (upstream_5xx, connect, timeout).",
		}, []string{"route", "target", "kind"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "holdfast", Subsystem: "gateway", Name: "request_duration_seconds",
			Help:    "Duration of upstream attempts, response body included.",
			Buckets: DurationBuckets,
		}, []string{"route", "target"}),
		targets: map[pair]*TargetCounters{},
	}
	t.reg.MustRegister(t.requests, t.errors, t.duration,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "holdfast", Subsystem: "access_log", Name: "dropped_lines_total",
			Help: "Access log lines dropped because the writer fell behind.",
		}, func() float64 {
			if a := t.alog.Load(); a != nil {
				return float64(a.Dropped())
			}
			return 0
		}),
	)
	return t
}

// Registry is the registry the metrics live on, for other components that
// want to add theirs.
func (t *Telemetry) Registry() *prometheus.Registry { return t.reg }

// Handler serves the registry in the Prometheus exposition format.
func (t *Telemetry) Handler() http.Handler {
	return promhttp.HandlerFor(t.reg, promhttp.HandlerOpts{Registry: t.reg})
}

// TrackAccessLog exports a's dropped-line count as
// holdfast_access_log_dropped_lines_total.
func (t *Telemetry) TrackAccessLog(a *AsyncWriter) { t.alog.Store(a) }

// Target returns the recorder for a (route, target) pair, creating it on first
// use. Asking again for the same pair returns the same counters, so a reload
// keeps counting where the previous gateway stopped.
func (t *Telemetry) Target(route, target string) gateway.TargetRecorder {
	return t.target(route, target)
}

func (t *Telemetry) target(route, target string) *TargetCounters {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := pair{route, target}
	if x, ok := t.targets[k]; ok {
		return x
	}
	x := &TargetCounters{route: route, target: target, buckets: make([]atomic.Uint64, len(DurationBuckets)+1)}
	if t.sink != nil {
		x.store = newStoreHandles(t.sink, route, target)
	}
	for i, c := range codeClasses {
		x.promCodes[i] = t.requests.WithLabelValues(route, target, c)
	}
	for _, k := range errKinds {
		x.promErrs[k] = t.errors.WithLabelValues(route, target, k.String())
	}
	x.promDur = t.duration.WithLabelValues(route, target)
	t.targets[k] = x
	return x
}

// TargetCounters records one (route, target) pair. Its Prometheus children are
// resolved when it is created, so Observe hashes no label and allocates
// nothing.
type TargetCounters struct {
	route, target string

	promCodes [len(codeClasses)]prometheus.Counter
	promErrs  [gateway.ErrCanceled + 1]prometheus.Counter
	promDur   prometheus.Observer

	invocations atomic.Uint64
	codes       [len(codeClasses)]atomic.Uint64
	errs        [gateway.ErrCanceled + 1]atomic.Uint64
	durSum      atomic.Int64 // nanoseconds
	buckets     []atomic.Uint64

	store *storeHandles // nil when no metrics store is attached
}

var _ gateway.TargetRecorder = (*TargetCounters)(nil)

// Observe records one upstream attempt.
func (x *TargetCounters) Observe(status int, kind gateway.ErrKind, d time.Duration) {
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	x.invocations.Add(1)
	x.codes[class].Add(1)
	x.promCodes[class].Inc()
	if kind <= gateway.ErrCanceled && kind != gateway.ErrNone {
		x.errs[kind].Add(1)
		if c := x.promErrs[kind]; c != nil {
			c.Inc()
		}
	}
	x.durSum.Add(int64(d))
	x.buckets[bucketOf(d.Seconds())].Add(1)
	x.promDur.Observe(d.Seconds())
	if x.store != nil {
		x.store.observe(kind, d)
	}
}

// bucketOf is the index of the first bucket whose bound is ≥ s, or
// len(DurationBuckets) for +Inf.
func bucketOf(s float64) int {
	lo, hi := 0, len(DurationBuckets)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if DurationBuckets[m] < s {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// TargetStats are one (route, target) pair's counters since the process
// started. They only grow: a consumer that wants per-period statistics (the
// metrics store: Invocations, Errors, Duration per period) keeps the previous
// snapshot and subtracts.
type TargetStats struct {
	Route  string `json:"route"`
	Target string `json:"target"`
	// Invocations counts upstream attempts (retries included).
	Invocations uint64 `json:"invocations"`
	// Errors is Errors5xx + ErrorsConnect + ErrorsTimeout.
	Errors        uint64 `json:"errors"`
	Errors5xx     uint64 `json:"errors_5xx"`
	ErrorsConnect uint64 `json:"errors_connect"`
	ErrorsTimeout uint64 `json:"errors_timeout"`
	// Canceled counts attempts the client abandoned; not errors.
	Canceled uint64 `json:"canceled"`
	// Codes counts by class: Codes[2] is 2xx … Codes[5] is 5xx; Codes[0] is
	// anything outside 100–599.
	Codes [6]uint64 `json:"codes"`
	// DurationSum and DurationCount give the mean; DurationCount equals
	// Invocations.
	DurationSum   time.Duration `json:"duration_sum_ns"`
	DurationCount uint64        `json:"duration_count"`
	// DurationBuckets[i] counts attempts no longer than DurationBuckets[i]
	// seconds (package variable) and longer than the bound before it; the
	// last element counts the rest. Not cumulative.
	DurationBuckets []uint64 `json:"duration_buckets"`
}

// Snapshot returns every pair's counters, sorted by route then target. The
// fields of one pair are read one by one while traffic flows, so they may be
// a request apart.
func (t *Telemetry) Snapshot() []TargetStats {
	t.mu.Lock()
	list := make([]*TargetCounters, 0, len(t.targets))
	for _, x := range t.targets {
		list = append(list, x)
	}
	t.mu.Unlock()
	sort.Slice(list, func(i, j int) bool {
		if list[i].route != list[j].route {
			return list[i].route < list[j].route
		}
		return list[i].target < list[j].target
	})
	out := make([]TargetStats, len(list))
	for i, x := range list {
		s := TargetStats{
			Route:         x.route,
			Target:        x.target,
			Invocations:   x.invocations.Load(),
			Errors5xx:     x.errs[gateway.ErrUpstream5xx].Load(),
			ErrorsConnect: x.errs[gateway.ErrConnect].Load(),
			ErrorsTimeout: x.errs[gateway.ErrTimeout].Load(),
			Canceled:      x.errs[gateway.ErrCanceled].Load(),
			DurationSum:   time.Duration(x.durSum.Load()),
		}
		s.Errors = s.Errors5xx + s.ErrorsConnect + s.ErrorsTimeout
		s.DurationCount = s.Invocations
		for c := range x.codes {
			s.Codes[c] = x.codes[c].Load()
		}
		s.DurationBuckets = make([]uint64, len(x.buckets))
		for b := range x.buckets {
			s.DurationBuckets[b] = x.buckets[b].Load()
		}
		out[i] = s
	}
	return out
}
