package alarm

import (
	"context"
	"time"
)

// Clock is what [Manager.Run] needs of time; tests drive it by hand.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// maxRunWait bounds how long Run sleeps, so alarms added by Update are picked
// up within a second.
const maxRunWait = time.Second

// Run evaluates due alarms until ctx is done, sleeping until the next period
// closes (plus its settle delay), at most a second at a time. It returns
// ctx's error. Evaluation errors are recorded in the alarms' history.
func (m *Manager) Run(ctx context.Context, clock Clock) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := clock.Now()
		_, _ = m.Eval(ctx, now)
		wait := maxRunWait
		if next := m.NextEvaluation(); !next.IsZero() {
			wait = min(max(next.Sub(now), 0), maxRunWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-clock.After(wait):
		}
	}
}
