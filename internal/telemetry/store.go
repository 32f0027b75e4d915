package telemetry

import (
	"time"

	"holdfast/internal/gateway"
	"holdfast/internal/metrics"
)

// Namespace is the metrics-store namespace of the gateway's own metrics.
const Namespace = "holdfast/Gateway"

// Dimension names of the gateway's metrics.
const (
	DimRoute  = "Route"
	DimTarget = "Target"
	DimKind   = "Kind"
)

// Every series exists per Route and Target and, summed over the targets,
// per Route alone.
//
// Metric names, in CloudWatch's Lambda vocabulary: Invocations (1 per
// upstream attempt), Errors (0 or 1 per attempt, so Sum is the count and
// Average the error rate; with a Kind dimension only the failures of that
// kind) and Duration in milliseconds.
const (
	MetricInvocations = "Invocations"
	MetricErrors      = "Errors"
	MetricDuration    = "Duration"
)

// MetricSink is what telemetry needs of the metrics store.
type MetricSink interface {
	Handle(id metrics.MetricID, storageResolution int) (*metrics.Handle, error)
}

var _ MetricSink = (*metrics.Store)(nil)

// AttachStore makes every (route, target) pair created from now on also
// record into the metrics store, at 1-second resolution. Call it before the
// first Target call.
func (t *Telemetry) AttachStore(s MetricSink) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sink = s
}

// storeHandles are one pair's metric-store handles, resolved once. A handle
// the store refused (its series cap) is nil and skipped.
type storeHandles struct {
	invocations, errors, duration *metrics.Handle
	byKind                        [gateway.ErrCanceled + 1]*metrics.Handle
	// The route's own series (Route dimension only), shared by its
	// targets: what the built-in error-rate alarm reads.
	routeInvocations, routeErrors, routeDuration *metrics.Handle
}

func newStoreHandles(s MetricSink, route, target string) *storeHandles {
	dims := []metrics.Dimension{{Name: DimRoute, Value: route}, {Name: DimTarget, Value: target}}
	h := func(name string, extra ...metrics.Dimension) *metrics.Handle {
		id := metrics.MetricID{Namespace: Namespace, Name: name, Dimensions: append(append([]metrics.Dimension(nil), dims...), extra...)}
		hd, err := s.Handle(id, 1)
		if err != nil {
			return nil
		}
		return hd
	}
	sh := &storeHandles{invocations: h(MetricInvocations), errors: h(MetricErrors), duration: h(MetricDuration)}
	routeOnly := func(name string) *metrics.Handle {
		hd, err := s.Handle(metrics.MetricID{Namespace: Namespace, Name: name, Dimensions: dims[:1]}, 1)
		if err != nil {
			return nil
		}
		return hd
	}
	sh.routeInvocations, sh.routeErrors, sh.routeDuration = routeOnly(MetricInvocations), routeOnly(MetricErrors), routeOnly(MetricDuration)
	for _, k := range errKinds {
		sh.byKind[k] = h(MetricErrors, metrics.Dimension{Name: DimKind, Value: k.String()})
	}
	return sh
}

func (s *storeHandles) observe(kind gateway.ErrKind, d time.Duration) {
	now := time.Now()
	add := func(h *metrics.Handle, v float64) {
		if h != nil {
			h.Add(now, v) // a refused point (too old, store closed) is dropped
		}
	}
	add(s.invocations, 1)
	add(s.routeInvocations, 1)
	failed := 0.0
	if kind.IsError() {
		failed = 1
		if kind <= gateway.ErrCanceled {
			add(s.byKind[kind], 1)
		}
	}
	add(s.errors, failed)
	add(s.routeErrors, failed)
	ms := float64(d) / float64(time.Millisecond)
	add(s.duration, ms)
	add(s.routeDuration, ms)
}
