package demo

import (
	"context"
	"fmt"
	"time"

	"holdfast/examples/orders"
	"holdfast/internal/api"
	"holdfast/internal/flagstore"
)

// flagEnvironment is the demo's flag environment, watched by the route's
// error-rate alarm.
const flagEnvironment = "production"

// mockOffDoc turns the kill switch off: every request to the mock.
const mockOffDoc = `{"version": "1",
 "flags": {"orders-real": {"name": "orders-real", "description": "on: the PostgreSQL backend serves the orders API; off: the mock does"}},
 "values": {"orders-real": {"enabled": false}}}`

// flagDeploymentStep deploys a flag version that sends the traffic to a
// target answering with errors, and shows the deployment rolling itself
// back when the error-rate alarm fires.
func (r *run) flagDeploymentStep(ctx context.Context, client *api.Client, gen *traffic, mock *orders.Handler) error {
	r.say("")
	r.say("a flag deployment that goes wrong: a new version of the flag document turns %s off,", FlagName)
	r.say("sending the traffic to the mock, which now fails half of its answers")
	if err := mock.SetFaults(orders.Faults{FailRate: 0.5}); err != nil {
		return err
	}
	defer mock.SetFaults(orders.Faults{})
	v, err := client.CreateFlagVersion(ctx, []byte(mockOffDoc), "demo: orders to the mock deployment")
	if err != nil {
		return err
	}
	d, err := client.DeployFlags(ctx, flagEnvironment, api.DeployRequest{Version: v.Number, Strategy: "AllAtOnce",
		Description: "demo: watched by " + alarmName})
	if err != nil {
		return err
	}
	r.say("  deployment #%d: version %d -> %d by %s (%s)", d.Number, d.FromVersion, d.ToVersion, d.Strategy.Name, d.State)
	started := time.Now()
	deadline := started.Add(30 * time.Second)
	for {
		st, err := client.FlagEnvironment(ctx, flagEnvironment)
		if err != nil {
			return err
		}
		if l := st.Latest; l != nil && l.Number == d.Number && l.State == flagstore.RolledBack {
			r.say("  deployment #%d rolled itself back %s after it started; %s is on version %d again",
				d.Number, time.Since(started).Round(100*time.Millisecond), flagEnvironment, st.Version)
			r.say("  why: %s", l.Reason)
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("flag deployment #%d not rolled back after 30s", d.Number)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	gen.reset()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.o.Phase):
	}
	c := gen.reset()
	r.say("  after the rollback: %d requests, %d on postgres, %d on the mock, %d errors", c.total, c.byBackend["postgres"], c.byBackend["mock"], c.errors)
	changes, err := client.Changes(ctx, "flag", "holdfast/"+flagEnvironment+"/flags", 20)
	if err != nil {
		return err
	}
	r.say("  the deployment in the ledger:")
	for i := len(changes) - 1; i >= 0; i-- {
		if c := changes[i]; c.Time.After(started.Add(-time.Second)) {
			r.say("    #%d %s %s by %s: %s", c.ID, c.Time.Local().Format("15:04:05.000"), c.Action, c.Actor, c.Reason)
		}
	}
	return nil
}
