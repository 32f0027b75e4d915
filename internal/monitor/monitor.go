// Package monitor connects the metrics store to the alarm evaluator: it turns
// the config's alarms (and the built-in error-rate alarm of every route) into
// alarm definitions, answers their data queries from the store (Metric Math
// included), and delivers state changes to the configured webhooks with the
// changes in flight from the change ledger.
package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"holdfast/internal/alarm"
	"holdfast/internal/config"
	"holdfast/internal/metrics"
	"holdfast/internal/state"
)

// Ledger is what the monitor needs of the change ledger.
type Ledger interface {
	Changes(ctx context.Context, q state.ChangeQuery) ([]state.Change, error)
}

// InFlightWindow is how far back a notification looks for changes in flight.
const InFlightWindow = time.Hour

// Monitor runs the alarms of a config against a metrics store.
type Monitor struct {
	store  *metrics.Store
	ledger Ledger
	log    *slog.Logger
	mgr    *alarm.Manager

	exprs   atomic.Pointer[map[string][]metrics.MetricDataQuery] // alarm name -> its queries
	hooks   atomic.Pointer[hookTable]
	defs    atomic.Pointer[map[string]json.RawMessage] // alarm name -> definition as configured
	sem     chan struct{}                              // bounds concurrent webhook deliveries
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Once
}

type hookTable struct {
	byAlarm map[string][]*alarm.Webhook
}

// New returns a monitor; call Update with a config, then Start.
func New(store *metrics.Store, ledger Ledger, log *slog.Logger) *Monitor {
	if log == nil {
		log = slog.Default()
	}
	m := &Monitor{store: store, ledger: ledger, log: log.With("component", "monitor"), sem: make(chan struct{}, 16)}
	// The queue takes a burst of transitions (every alarm leaving
	// INSUFFICIENT_DATA at start, say); notify itself never blocks long.
	m.mgr = alarm.NewManager(alarm.SourceFunc(m.datapoints), alarm.ManagerOptions{Logger: log, QueueSize: 8192})
	empty := map[string][]metrics.MetricDataQuery{}
	m.exprs.Store(&empty)
	m.hooks.Store(&hookTable{byAlarm: map[string][]*alarm.Webhook{}})
	emptyDefs := map[string]json.RawMessage{}
	m.defs.Store(&emptyDefs)
	m.mgr.Subscribe("webhooks", alarm.ActionFunc(m.notify))
	return m
}

// Manager is the alarm manager, for the API and for in-process actions
// (flag deployments and rollouts subscribe to it).
func (m *Monitor) Manager() *alarm.Manager { return m.mgr }

// Definition returns an alarm's definition as configured (JSON).
func (m *Monitor) Definition(name string) (json.RawMessage, bool) {
	d, ok := (*m.defs.Load())[name]
	return d, ok
}

// Update builds every alarm of cfg and swaps them in; on error nothing
// changes. Alarms that keep their name keep their state and history.
func (m *Monitor) Update(now time.Time, cfg *config.Config) error {
	all := append(cfg.ErrorRateAlarms(), cfg.Alarms...)
	defs := make([]alarm.Definition, 0, len(all))
	exprs := map[string][]metrics.MetricDataQuery{}
	raw := map[string]json.RawMessage{}
	for _, a := range all {
		d, qs := definition(a)
		defs = append(defs, d)
		if qs != nil {
			exprs[a.Name] = qs
		}
		raw[a.Name], _ = json.Marshal(a)
	}
	comps := make([]alarm.CompositeDefinition, 0, len(cfg.CompositeAlarms))
	for _, c := range cfg.CompositeAlarms {
		comps = append(comps, alarm.CompositeDefinition{Name: c.Name, Description: c.Description, AlarmRule: c.Rule})
		raw[c.Name], _ = json.Marshal(c)
	}
	hooks := &hookTable{byAlarm: map[string][]*alarm.Webhook{}}
	byName := map[string]*alarm.Webhook{}
	for _, w := range cfg.Webhooks {
		h := http.Header{}
		for k, v := range w.Headers {
			h.Set(k, v)
		}
		timeout := w.Timeout.D()
		if timeout <= 0 {
			timeout = 10 * time.Second
		}
		byName[w.Name] = &alarm.Webhook{URL: w.URL, Header: h, MaxAttempts: w.MaxAttempts,
			Client: &http.Client{Timeout: timeout}, Changes: changeLister{m.ledger}}
	}
	addHooks := func(alarmName string, actions []string) {
		for _, a := range actions {
			if w := byName[a]; w != nil {
				hooks.byAlarm[alarmName] = append(hooks.byAlarm[alarmName], w)
			}
		}
	}
	for _, a := range all {
		addHooks(a.Name, a.Actions)
	}
	for _, c := range cfg.CompositeAlarms {
		addHooks(c.Name, c.Actions)
	}
	// Queries first, so the first evaluation of a new alarm finds them.
	old := m.exprs.Load()
	merged := map[string][]metrics.MetricDataQuery{}
	for k, v := range *old {
		merged[k] = v
	}
	for k, v := range exprs {
		merged[k] = v
	}
	m.exprs.Store(&merged)
	if err := m.mgr.Update(now, defs, comps); err != nil {
		m.exprs.Store(old)
		return fmt.Errorf("alarms: %w", err)
	}
	m.exprs.Store(&exprs)
	m.hooks.Store(hooks)
	m.defs.Store(&raw)
	return nil
}

// definition turns a configured alarm into the evaluator's definition and,
// for an expression alarm, the GetMetricData queries it evaluates.
func definition(a config.Alarm) (alarm.Definition, []metrics.MetricDataQuery) {
	d := alarm.Definition{
		Name: a.Name, Description: a.Description, Expression: a.Expression,
		Period: a.Period.D(), EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm,
		ComparisonOperator:               alarm.ComparisonOperator(a.ComparisonOperator),
		TreatMissingData:                 alarm.TreatMissingData(a.TreatMissingData),
		EvaluateLowSampleCountPercentile: a.EvaluateLowSampleCountPercentile,
	}
	if a.Threshold != nil {
		d.Threshold = *a.Threshold
	}
	if a.Metric != nil {
		d.Metric = &alarm.MetricStat{Namespace: a.Metric.Namespace, MetricName: a.Metric.Name,
			Dimensions: a.Metric.Dimensions, Statistic: a.Metric.Stat}
		return d, nil
	}
	period := int(a.Period.D() / time.Second)
	no := false
	qs := make([]metrics.MetricDataQuery, 0, len(a.Metrics)+1)
	for _, q := range a.Metrics {
		qs = append(qs, metrics.MetricDataQuery{Id: q.ID, ReturnData: &no, MetricStat: &metrics.MetricStatJSON{
			Metric: metrics.MetricJSON{Namespace: q.Namespace, MetricName: q.Name, Dimensions: dimensions(q.Dimensions)},
			Period: period, Stat: q.Stat}})
	}
	qs = append(qs, metrics.MetricDataQuery{Id: "alarm_expression", Expression: a.Expression, Period: period})
	return d, qs
}

func dimensions(m map[string]string) []metrics.Dimension {
	out := make([]metrics.Dimension, 0, len(m))
	for k, v := range m {
		out = append(out, metrics.Dimension{Name: k, Value: v})
	}
	return out
}

// datapoints answers the evaluator's data queries from the store.
func (m *Monitor) datapoints(ctx context.Context, a *alarm.Definition, start, end time.Time) ([]alarm.Datapoint, error) {
	if a.Metric != nil {
		id := metrics.MetricID{Namespace: a.Metric.Namespace, Name: a.Metric.MetricName, Dimensions: dimensions(a.Metric.Dimensions)}
		vals, err := m.store.Query(metrics.MetricStatQuery{Metric: id, Period: a.Period, Stat: a.Metric.Statistic, Start: start, End: end})
		if err != nil {
			return nil, err
		}
		counts, err := m.store.Query(metrics.MetricStatQuery{Metric: id, Period: a.Period, Stat: "SampleCount", Start: start, End: end})
		if err != nil {
			return nil, err
		}
		n := map[time.Time]float64{}
		for _, p := range counts.Points {
			n[p.T] = p.V
		}
		out := make([]alarm.Datapoint, len(vals.Points))
		for i, p := range vals.Points {
			out[i] = alarm.Datapoint{Timestamp: p.T, Value: p.V, SampleCount: n[p.T]}
		}
		return out, nil
	}
	qs, ok := (*m.exprs.Load())[a.Name]
	if !ok {
		return nil, fmt.Errorf("alarm %s: no queries for its expression", a.Name)
	}
	res, err := m.store.GetMetricData(metrics.GetMetricDataInput{MetricDataQueries: qs, StartTime: start, EndTime: end, ScanBy: "TimestampAscending"})
	if err != nil {
		return nil, err
	}
	if len(res.MetricDataResults) != 1 {
		return nil, fmt.Errorf("alarm %s: its expression gives %d series; an alarm needs exactly one", a.Name, len(res.MetricDataResults))
	}
	r := res.MetricDataResults[0]
	out := make([]alarm.Datapoint, len(r.Values))
	for i := range r.Values {
		out[i] = alarm.Datapoint{Timestamp: r.Timestamps[i], Value: r.Values[i]}
	}
	return out, nil
}

// notify hands a transition to the webhooks of its alarm, each delivery in
// its own goroutine (bounded), so a slow receiver delays no other.
func (m *Monitor) notify(ctx context.Context, t alarm.Transition) error {
	for _, w := range m.hooks.Load().byAlarm[t.Alarm] {
		select {
		case m.sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		m.wg.Add(1)
		go func(w *alarm.Webhook) {
			defer func() { <-m.sem; m.wg.Done() }()
			if err := w.Fire(ctx, t); err != nil {
				m.log.Warn("webhook delivery failed", "alarm", t.Alarm, "state", string(t.To), "url", w.URL, "err", err)
			}
		}(w)
	}
	return nil
}

// Start runs the evaluator with the real clock until Close.
func (m *Monitor) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.mgr.Run(ctx, realClock{})
	}()
}

// Close stops evaluation and waits for deliveries in progress. Idempotent.
func (m *Monitor) Close() error {
	m.closeMu.Do(func() {
		if m.cancel != nil {
			m.cancel()
		}
		m.mgr.Close()
		m.wg.Wait()
	})
	return nil
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// changeLister reports the ledger's changes of the hour before a transition.
type changeLister struct{ l Ledger }

func (c changeLister) InFlight(ctx context.Context, at time.Time) ([]json.RawMessage, error) {
	if c.l == nil {
		return nil, nil
	}
	list, err := c.l.Changes(ctx, state.ChangeQuery{Since: at.Add(-InFlightWindow), Limit: 20})
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(list))
	for _, ch := range list {
		if ch.Time.After(at) {
			continue
		}
		b, err := json.Marshal(ch)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
