package alarm

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for an event
	}
}

func newTestManager(t *testing.T, src Source) *Manager {
	t.Helper()
	m := NewManager(src, ManagerOptions{})
	t.Cleanup(func() { m.Close() })
	return m
}

// recorder is an in-process Action that records what it is given.
type recorder struct {
	mu  sync.Mutex
	got []Transition
}

func (r *recorder) Fire(_ context.Context, t Transition) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, t)
	return nil
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, t := range r.got {
		out = append(out, t.Alarm+":"+string(t.From)+"->"+string(t.To))
	}
	return out
}

func TestManagerCompositeAndActions(t *testing.T) {
	src := newMapSource()
	m := newTestManager(t, src)
	err := m.Update(t0,
		[]Definition{metricDef("cpu"), metricDef("disk"), metricDef("deploying")},
		[]CompositeDefinition{
			{Name: "page", AlarmRule: `ALARM(busy) AND NOT ALARM("deploying")`},
			{Name: "busy", AlarmRule: "ALARM(cpu) OR ALARM(disk)"},
		})
	if err != nil {
		t.Fatal(err)
	}
	all, pager := &recorder{}, &recorder{}
	if err := m.Subscribe("all", all); err != nil {
		t.Fatal(err)
	}
	if err := m.Subscribe("pager", pager, "page"); err != nil {
		t.Fatal(err)
	}
	if err := m.Subscribe("pager", pager); err == nil {
		t.Error("a second action with the same name was accepted")
	}
	ctx := context.Background()
	put := func(minute int, cpu, disk, deploying float64) {
		ts := t0.Add(time.Duration(minute) * time.Minute)
		src.put("cpu", ts, cpu, 1)
		src.put("disk", ts, disk, 1)
		src.put("deploying", ts, deploying, 1)
	}
	eval := func(minute int) {
		t.Helper()
		if _, err := m.Eval(ctx, t0.Add(time.Duration(minute)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	put(0, 0, 0, 0)
	eval(1) // everything OK
	put(1, 5, 0, 0)
	eval(2) // cpu ALARM -> busy ALARM -> page ALARM
	put(2, 5, 5, 0)
	eval(3) // disk ALARM too: no composite change
	put(3, 5, 5, 5)
	eval(4) // deploying: page OK
	eval(4) // not due again: nothing

	wantPager := []string{"page:INSUFFICIENT_DATA->OK", "page:OK->ALARM", "page:ALARM->OK"}
	waitFor(t, "pager notifications", func() bool { return len(pager.list()) == len(wantPager) })
	if got := strings.Join(pager.list(), " "); got != strings.Join(wantPager, " ") {
		t.Errorf("pager got %s\nwant %s", got, strings.Join(wantPager, " "))
	}
	wantAll := 5 /* first evaluation */ + 3 /* cpu, busy, page */ + 1 /* disk */ + 2 /* deploying, page */
	waitFor(t, "all notifications", func() bool { return len(all.list()) == wantAll })
	if st, _ := m.ActionStats("all"); st.Delivered != uint64(wantAll) || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("stats = %+v", st)
	}
	st, err := m.Status("page")
	if err != nil || st.State != StateOK || !st.Composite || !strings.Contains(st.Reason, "evaluated to FALSE") {
		t.Errorf("status = %+v, %v", st, err)
	}
	if _, err := m.Status("nope"); !errors.Is(err, ErrUnknownAlarm) {
		t.Errorf("Status(nope) = %v", err)
	}
	if got := len(m.List()); got != 5 {
		t.Errorf("List has %d alarms, want 5", got)
	}

	// SetState on a child recomputes composites at once; the next evaluation
	// of the child puts it back.
	if err := m.SetState("deploying", StateOK, "test", t0.Add(4*time.Minute+time.Second)); err != nil {
		t.Fatal(err)
	}
	if st, _ := m.Status("page"); st.State != StateAlarm {
		t.Errorf("page after SetState = %s, want ALARM", st.State)
	}
	if err := m.SetState("nope", StateOK, "x", t0); !errors.Is(err, ErrUnknownAlarm) {
		t.Errorf("SetState(nope) = %v", err)
	}
	h, err := m.History("page")
	if err != nil || len(h) != 4 || h[0].Transition.To != StateAlarm {
		t.Errorf("history = %+v, %v", h, err)
	}
}

func TestManagerUpdateRejects(t *testing.T) {
	m := newTestManager(t, newMapSource())
	bad := metricDef("bad")
	bad.Period = 7 * time.Second
	tests := []struct {
		name    string
		metrics []Definition
		comps   []CompositeDefinition
		want    []string
	}{
		{"unknown name with column", []Definition{metricDef("a")},
			[]CompositeDefinition{{Name: "c", AlarmRule: "ALARM(a) OR OK(missing)"}},
			[]string{`alarm "c": alarm_rule: column 16: unknown alarm "missing"`}},
		{"cycle", []Definition{metricDef("a")},
			[]CompositeDefinition{
				{Name: "x", AlarmRule: "ALARM(a) AND ALARM(y)"},
				{Name: "y", AlarmRule: "ALARM(z)"},
				{Name: "z", AlarmRule: "OK(x)"},
			},
			[]string{"cycle: x -> y -> z -> x"}},
		{"self reference", nil,
			[]CompositeDefinition{{Name: "s", AlarmRule: "ALARM(s)"}},
			[]string{"cycle: s -> s"}},
		{"every problem at once", []Definition{bad, metricDef("a"), metricDef("a")},
			[]CompositeDefinition{{Name: "p", AlarmRule: "ALARM(a) AND"}},
			[]string{`alarm "bad": period`, `alarm "a": name: defined more than once`, `alarm "p": alarm_rule: alarm rule: column 13`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Update(t0, tt.metrics, tt.comps)
			if err == nil {
				t.Fatal("Update accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if len(m.List()) != 0 {
				t.Error("a rejected update changed the alarms")
			}
		})
	}
}

func TestManagerUpdateKeepsState(t *testing.T) {
	src := newMapSource()
	m := newTestManager(t, src)
	d := metricDef("a")
	if err := m.Update(t0, []Definition{d}, nil); err != nil {
		t.Fatal(err)
	}
	src.put("a", t0, 9, 1)
	if _, err := m.Eval(context.Background(), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	next := m.NextEvaluation()
	if want := t0.Add(2 * time.Minute); !next.Equal(want) {
		t.Errorf("NextEvaluation = %v, want %v", next, want)
	}
	// Unchanged: same schedule and state.
	if err := m.Update(t0, []Definition{d}, nil); err != nil {
		t.Fatal(err)
	}
	if !m.NextEvaluation().Equal(next) {
		t.Error("an unchanged alarm lost its schedule")
	}
	// Changed: state and history kept, due at once.
	d.Threshold = 100
	if err := m.Update(t0, []Definition{d}, nil); err != nil {
		t.Fatal(err)
	}
	st, _ := m.Status("a")
	h, _ := m.History("a")
	if st.State != StateAlarm || len(h) != 1 || !m.NextEvaluation().IsZero() {
		t.Errorf("after redefinition: %+v, history %d, next %v", st, len(h), m.NextEvaluation())
	}
}

// blockingAction blocks until released, to fill its queue.
type blockingAction struct {
	release chan struct{}
	fired   chan struct{}
}

func (b *blockingAction) Fire(ctx context.Context, _ Transition) error {
	b.fired <- struct{}{}
	select {
	case <-b.release:
		return errors.New("receiver said no")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestActionsNeverBlockEvaluation: a stuck action fills its bounded queue,
// further transitions are dropped and counted, evaluation goes on, and
// errors are counted.
func TestActionsNeverBlockEvaluation(t *testing.T) {
	src := newMapSource()
	m := NewManager(src, ManagerOptions{QueueSize: 1})
	defer m.Close()
	if err := m.Update(t0, []Definition{metricDef("a")}, nil); err != nil {
		t.Fatal(err)
	}
	b := &blockingAction{release: make(chan struct{}), fired: make(chan struct{}, 10)}
	if err := m.Subscribe("stuck", b); err != nil {
		t.Fatal(err)
	}
	states := []State{StateOK, StateAlarm, StateOK, StateAlarm}
	for i, s := range states {
		if err := m.SetState("a", s, "flip", t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-b.fired // the worker holds the first; the queue (1) takes the second
		}
	}
	st, _ := m.ActionStats("stuck")
	if st.Dropped != 2 {
		t.Errorf("dropped = %d, want 2", st.Dropped)
	}
	close(b.release)
	waitFor(t, "failures counted", func() bool { st, _ := m.ActionStats("stuck"); return st.Failed == 2 })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal("Close is not idempotent:", err)
	}
	if err := m.Subscribe("late", b); !errors.Is(err, ErrClosed) {
		t.Errorf("Subscribe after Close = %v", err)
	}
}

func TestManagerSourceErrorDoesNotStopOthers(t *testing.T) {
	good := newMapSource()
	good.put("ok", t0, 0, 1)
	src := SourceFunc(func(ctx context.Context, a *Definition, start, end time.Time) ([]Datapoint, error) {
		if a.Name == "broken" {
			return nil, errors.New("no such metric")
		}
		return good.Datapoints(ctx, a, start, end)
	})
	m := newTestManager(t, src)
	if err := m.Update(t0, []Definition{metricDef("broken"), metricDef("ok")}, nil); err != nil {
		t.Fatal(err)
	}
	ts, err := m.Eval(context.Background(), t0.Add(time.Minute))
	if err == nil || !strings.Contains(err.Error(), "alarm broken") {
		t.Errorf("err = %v", err)
	}
	if len(ts) != 1 || ts[0].Alarm != "ok" {
		t.Errorf("transitions = %+v", ts)
	}
}
