package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"
)

// Alarm is the state machine of one metric alarm. It is safe for concurrent
// use. It never reads the clock: every method that needs the time takes it.
type Alarm struct {
	def Definition
	src Source

	mu         sync.Mutex
	state      State
	reason     string
	reasonData json.RawMessage
	updated    time.Time
	lastEval   time.Time
	next       time.Time // zero: due now
	lastErr    string
	skipped    string
	hist       history
}

// NewAlarm validates def and returns an alarm in INSUFFICIENT_DATA that is
// due immediately. historyLimit ≤ 0 means [DefaultHistoryLimit].
func NewAlarm(def Definition, src Source, now time.Time, historyLimit int) (*Alarm, error) {
	if err := def.Validate(); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, errors.New("alarm: nil Source")
	}
	if def.Metric != nil { // own a copy so callers cannot mutate it
		m := *def.Metric
		def.Metric = &m
	}
	return &Alarm{
		def:     def,
		src:     src,
		state:   StateInsufficientData,
		reason:  "Unchecked: Initial alarm creation",
		updated: now,
		hist:    history{limit: historyLimit},
	}, nil
}

// Name returns the alarm's name.
func (a *Alarm) Name() string { return a.def.Name }

// Definition returns a copy of the alarm's definition.
func (a *Alarm) Definition() Definition {
	d := a.def
	if d.Metric != nil {
		m := *d.Metric
		d.Metric = &m
	}
	return d
}

// alignDown returns the start of the period containing t, periods being
// aligned to the Unix epoch.
func alignDown(t time.Time, p time.Duration) time.Time {
	ns := t.UnixNano()
	r := ns % int64(p)
	if r < 0 {
		r += int64(p)
	}
	return time.Unix(0, ns-r).UTC()
}

// NextEvaluation returns when the alarm is next due: the close of the period
// after the last one evaluated, plus the settle delay. It is the zero time
// when the alarm has never been evaluated (due now).
func (a *Alarm) NextEvaluation() time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.next
}

// Due reports whether a period has closed (and settled) since the last
// evaluation.
func (a *Alarm) Due(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.next.IsZero() || !now.Before(a.next)
}

// window returns the evaluation range [start, end) for an evaluation at now:
// end is the close of the newest period that has settled.
func (a *Alarm) window(now time.Time) (start, end time.Time) {
	p := a.def.Period
	end = alignDown(now.Add(-a.def.settleDelay()), p)
	start = end.Add(-time.Duration(a.def.evaluationRange()) * p)
	return start, end
}

// Eval evaluates the alarm at now, whether due or not, and returns the
// transition if the state changed. A Source error leaves the state unchanged,
// is returned, and is recorded in the history unless it repeats the previous
// evaluation's error. NaN and infinite values count as missing datapoints; a
// datapoint belongs to the period its timestamp falls in.
func (a *Alarm) Eval(ctx context.Context, now time.Time) (*Transition, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	start, end := a.window(now)
	a.lastEval = now
	a.next = end.Add(a.def.Period + a.def.settleDelay())

	pts, err := a.src.Datapoints(ctx, &a.def, start, end)
	if err != nil {
		err = fmt.Errorf("alarm %s: fetch datapoints [%s, %s): %w", a.def.Name, start.Format(time.RFC3339), end.Format(time.RFC3339), err)
		if err.Error() != a.lastErr { // a failure repeated every period is recorded once
			a.hist.add(HistoryItem{Time: now, Kind: HistoryError, Summary: err.Error()})
		}
		a.lastErr = err.Error()
		return nil, err
	}
	a.lastErr = ""
	r := a.def.evaluationRange()
	slots := make([]point, r)
	vals := make([]Datapoint, r)
	p := a.def.Period
	for _, dp := range pts {
		if math.IsNaN(dp.Value) || math.IsInf(dp.Value, 0) || dp.Timestamp.Before(start) || !dp.Timestamp.Before(end) {
			continue
		}
		i := int(dp.Timestamp.Sub(start) / p)
		vals[i] = dp
		slots[i] = pointOK
		if a.def.ComparisonOperator.Breaches(dp.Value, a.def.Threshold) {
			slots[i] = pointBreaching
		}
	}
	if minimum := a.def.lowSampleMinimum(); minimum > 0 {
		var samples float64
		for i := max(0, r-a.def.n()); i < r; i++ {
			if slots[i] != pointMissing {
				samples += vals[i].SampleCount
			}
		}
		if samples < minimum {
			a.skipped = fmt.Sprintf("not evaluated: %g samples in the last %d periods, fewer than the %g a %s alarm needs (EvaluateLowSampleCountPercentile=ignore)",
				samples, a.def.n(), math.Ceil(minimum), a.def.Metric.Statistic)
			return nil, nil
		}
	}
	a.skipped = ""
	dec := decide(slots, a.def.n(), a.def.m(), a.def.treat())
	if dec.state == "" {
		a.skipped = "state kept: TreatMissingData=ignore and the available datapoints do not decide the state"
		return nil, nil
	}
	if dec.state == a.state {
		return nil, nil
	}
	reason := a.reasonText(dec, slots, vals, a.state)
	data := a.buildReasonData(dec, slots, vals, start, end, now)
	return a.transition(dec.state, reason, data, now), nil
}

// transition moves to state and records it; the caller holds a.mu.
func (a *Alarm) transition(to State, reason string, data json.RawMessage, now time.Time) *Transition {
	t := &Transition{Alarm: a.def.Name, From: a.state, To: to, Reason: reason, ReasonData: data, Time: now}
	a.state, a.reason, a.reasonData, a.updated = to, reason, data, now
	a.hist.add(HistoryItem{
		Time:       now,
		Kind:       HistoryStateUpdate,
		Summary:    fmt.Sprintf("Alarm updated from %s to %s", t.From, t.To),
		Transition: t,
	})
	return t
}

// SetState sets the state temporarily, as CloudWatch's SetAlarmState: the
// next evaluation recomputes it. It returns the transition, or nil when the
// alarm already was in that state.
func (a *Alarm) SetState(s State, reason string, now time.Time) (*Transition, error) {
	if _, err := ParseState(string(s)); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s == a.state {
		return nil, nil
	}
	data, _ := json.Marshal(map[string]string{"version": "1.0", "setBy": "SetState"})
	return a.transition(s, reason, data, now), nil
}

// Status returns a snapshot of the alarm.
func (a *Alarm) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Status{
		Name:            a.def.Name,
		State:           a.state,
		Reason:          a.reason,
		ReasonData:      a.reasonData,
		StateUpdated:    a.updated,
		LastEvaluated:   a.lastEval,
		NextEvaluation:  a.next,
		LastError:       a.lastErr,
		LastEvalSkipped: a.skipped,
	}
}

// History returns the alarm's history, newest first.
func (a *Alarm) History() []HistoryItem {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hist.list()
}

// restore copies state and history from a previous instance (config reload).
func (a *Alarm) restore(old *Alarm) {
	old.mu.Lock()
	defer old.mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	a.state, a.reason, a.reasonData, a.updated = old.state, old.reason, old.reasonData, old.updated
	a.hist.items = append([]HistoryItem(nil), old.hist.items...)
}
