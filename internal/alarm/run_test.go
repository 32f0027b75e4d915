package alarm

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// virtualClock advances by exactly what Run asks to wait, so Run steps
// through virtual time without sleeping; it cancels the run at stopAt and
// puts each second's datapoint in the source as the second begins.
type virtualClock struct {
	mu     sync.Mutex
	now    time.Time
	stopAt time.Time
	cancel context.CancelFunc
	onTick func(now time.Time)
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	if c.onTick != nil {
		c.onTick(c.now)
	}
	if !c.now.Before(c.stopAt) {
		c.cancel()
	}
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// TestRunOneSecondAlarm: Run evaluates a 1-second alarm 100 ms after each
// second closes, so it goes OK → ALARM → OK within a second of the data.
func TestRunOneSecondAlarm(t *testing.T) {
	src := newMapSource()
	values := []float64{0, 0, 9, 9, 0, 0} // seconds 0…5 after t0
	d := metricDef("fast")
	d.Period = time.Second
	d.SettleDelay = 0
	m := newTestManager(t, src)
	if err := m.Update(t0, []Definition{d}, nil); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := m.Subscribe("rec", rec); err != nil {
		t.Fatal(err)
	}
	for i, v := range values {
		src.put("fast", t0.Add(time.Duration(i)*time.Second), v, 1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := &virtualClock{now: t0.Add(time.Second + 100*time.Millisecond), stopAt: t0.Add(7 * time.Second), cancel: cancel}
	if err := m.Run(ctx, clock); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	var got []string
	h, _ := m.History("fast")
	for i := len(h) - 1; i >= 0; i-- {
		got = append(got, h[i].Time.Sub(t0).String()+" "+string(h[i].Transition.To))
	}
	want := "1.1s OK 3.1s ALARM 5.1s OK"
	if strings.Join(got, " ") != want {
		t.Errorf("history %q, want %q", strings.Join(got, " "), want)
	}
	waitFor(t, "three actions", func() bool { return len(rec.list()) == 3 })
}
