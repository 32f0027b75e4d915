package demo

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"holdfast/examples/orders"
	"holdfast/internal/api"
	"holdfast/internal/rollout"
)

// rolloutStrategy is short so the demo stays short; a real one would be
// Canary10Percent5Minutes or the like.
const rolloutStrategy = "steps:20%:10s,50%:10s"

// rolloutBadVersion rolls out a version of the orders service that fails
// 40% of its requests once it takes traffic, with many clients sending
// requests, and shows the rollout put everything back on stable by itself.
func (r *run) rolloutBadVersion(ctx context.Context, c *api.Client, gw string) error {
	url, h, err := r.serveOrders(orders.NewMock(nil))
	if err != nil {
		return err
	}
	r.say("")
	r.say("rolling out a bad version: orders v2 on %s with %s;", url, rolloutStrategy)
	r.say("v2 passes its health check, then fails 40%% of the requests it gets")
	load := startKeyedLoad(gw, 4, 50)
	defer load.stop()
	st, err := c.StartRollout(ctx, "orders", api.RolloutStartRequest{Candidate: url, Strategy: rolloutStrategy, Reason: "demo: ship orders v2"})
	if err != nil {
		return err
	}
	if err := h.SetFaults(orders.Faults{FailRate: 0.4}); err != nil {
		return err
	}
	last := ""
	deadline := time.Now().Add(40 * time.Second)
	for !st.State.Terminal() {
		if time.Now().After(deadline) {
			return fmt.Errorf("rollout %s still %s after 40s", st.ID, st.State)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if st, err = c.Rollout(ctx, "orders"); err != nil {
			return err
		}
		if line := rollout.Line(st); line[9:] != last { // without the clock
			r.say("  %s", line)
			last = line[9:]
		}
	}
	ok, bad := load.stop()
	r.say("")
	r.say("%s", rollout.Render(st, 100))
	r.say("%d requests during the rollout, %d answered 500 by v2 before the rollback", ok+bad, bad)
	hist, err := c.RolloutHistory(ctx, "orders", 20)
	if err != nil {
		return err
	}
	r.say("the rollout in the change ledger (holdfast rollout history orders):")
	for i := len(hist) - 1; i >= 0; i-- {
		e := hist[i]
		r.say("  #%d %s %-8s by %s: %s", e.ID, e.Time.Local().Format("15:04:05.000"), e.Action, e.Actor, e.Reason)
	}
	return nil
}

// keyedLoad sends GETs as many clients (X-Client-Id), so a rollout's split
// has clients to move; bounded by time.
type keyedLoad struct {
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	ok, bad int
	once    sync.Once
}

func startKeyedLoad(base string, workers, clients int) *keyedLoad {
	l := &keyedLoad{done: make(chan struct{})}
	hc := &http.Client{Timeout: 5 * time.Second}
	until := time.Now().Add(60 * time.Second)
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; time.Now().Before(until); i++ {
				select {
				case <-l.done:
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, base+"/orders?limit=5", nil)
				req.Header.Set("X-Client-Id", fmt.Sprintf("client-%d", (w*clients/workers+i)%clients))
				resp, err := hc.Do(req)
				good := err == nil && resp.StatusCode < 500
				if err == nil {
					resp.Body.Close()
				}
				l.mu.Lock()
				if good {
					l.ok++
				} else {
					l.bad++
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// stop ends the load and returns the good and bad answers.
func (l *keyedLoad) stop() (ok, bad int) {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.bad
}
