package flags_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"holdfast/internal/alarm"
	"holdfast/internal/config"
	"holdfast/internal/flags"
	"holdfast/internal/flagstore"
	"holdfast/internal/state"
)

func openStore(t *testing.T) *state.Store {
	t.Helper()
	st, err := state.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func ledger(t *testing.T, st *state.Store, q state.ChangeQuery) []state.Change {
	t.Helper()
	q.Limit = 1000
	cs, err := st.Changes(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestUpgradeKeepsStoredValues: a store from before versioned flags keeps
// its kill-switch values in the first version of the document.
func TestUpgradeKeepsStoredValues(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if _, err := st.EnsureFlag(ctx, "orders-real", "", true, "config"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.SetFlag(ctx, "orders-real", false, "bob", "failover"); err != nil {
		t.Fatal(err)
	}
	svc := flags.New(st, nil)
	if err := svc.Sync(ctx, []config.Flag{{Name: "orders-real"}, {Name: "search-new"}}); err != nil {
		t.Fatal(err)
	}
	if v, k := svc.Bool("orders-real", "c"); v || !k {
		t.Errorf("orders-real = %v,%v; want the stored off", v, k)
	}
	if v, k := svc.Bool("search-new", "c"); !v || !k {
		t.Errorf("search-new = %v,%v; want the default on", v, k)
	}
}

// TestConfigureEnvironments: environments follow the config; a new
// declared flag arrives in a new version and keeps the others' values;
// configuring twice changes nothing; the gateway's environment is fixed.
func TestConfigureEnvironments(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	svc := flags.New(st, nil)
	off := false
	cfg := &config.Config{
		Flags: []config.Flag{{Name: "orders-real", Description: "real database"}},
		FlagEnvironments: []config.FlagEnvironment{
			{Name: "production", Monitors: []string{"orders-error-rate"}, OnInsufficientData: "rollback"},
			{Name: "staging", RollbackWindow: durationPtr(0), OnInsufficientData: "ignore"},
		},
	}
	if err := svc.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got := svc.Environment(); got != "production" {
		t.Errorf("gateway environment = %s", got)
	}
	fs := svc.Store()
	prod, _ := fs.Status("production")
	if prod.Version != 1 || prod.Environment.Window() != flagstore.DefaultRollbackWindow ||
		prod.Environment.OnInsufficientData != flagstore.RollbackOnInsufficientData || prod.Environment.Monitors[0] != "orders-error-rate" {
		t.Errorf("production = %+v", prod)
	}
	stg, _ := fs.Status("staging")
	if stg.Version != 1 || stg.Environment.Window() != 0 {
		t.Errorf("staging = %+v (want version 1, revert window off)", stg)
	}
	if _, _, err := svc.Set(ctx, "orders-real", false, "bob", "drill"); err != nil {
		t.Fatal(err)
	}
	n := len(ledger(t, st, state.ChangeQuery{}))
	if err := svc.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got := len(ledger(t, st, state.ChangeQuery{})); got != n {
		t.Errorf("configuring the same config again added %d ledger entries", got-n)
	}
	cfg.Flags = append(cfg.Flags, config.Flag{Name: "search-new", Default: &off})
	if err := svc.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if v, k := svc.Bool("search-new", "c"); v || !k {
		t.Errorf("search-new = %v,%v; want its default off", v, k)
	}
	if v, _ := svc.Bool("orders-real", "c"); v {
		t.Error("adding a flag undid the flip: the store must win over the config")
	}
	creates := ledger(t, st, state.ChangeQuery{Subject: "search-new", Action: "create"})
	// One entry per environment: production and staging serve different
	// versions (the flip), so each gets its own new version.
	if len(creates) != 2 || creates[0].Reason != "declared in config" ||
		!strings.Contains(string(creates[0].Detail), `"environment":"staging"`) || !strings.Contains(string(creates[1].Detail), `"environment":"production"`) {
		t.Errorf("search-new ledger = %+v", creates)
	}
	cfg.FlagEnvironments = cfg.FlagEnvironments[1:]
	if err := svc.Configure(ctx, cfg); !errors.Is(err, flags.ErrEnvironmentChanged) {
		t.Errorf("moving the gateway to staging: %v, want ErrEnvironmentChanged", err)
	}
}

func durationPtr(d time.Duration) *config.Duration {
	c := config.Duration(d)
	return &c
}

// TestAlarmRollsBackMonitoredFlipOnly: with a real alarm manager, a flip
// deployed by a strategy is rolled back when a monitored alarm fires; the
// operator's instant flip is not.
func TestAlarmRollsBackMonitoredFlipOnly(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	svc := flags.New(st, nil)
	cfg := &config.Config{Flags: []config.Flag{{Name: "orders-real"}},
		FlagEnvironments: []config.FlagEnvironment{{Name: "production", Monitors: []string{"errors"}}}}
	if err := svc.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	mgr := alarm.NewManager(alarm.SourceFunc(func(context.Context, *alarm.Definition, time.Time, time.Time) ([]alarm.Datapoint, error) {
		return nil, nil
	}), alarm.ManagerOptions{})
	t.Cleanup(func() { mgr.Close() })
	if err := mgr.Update(time.Now(), []alarm.Definition{{Name: "errors", Metric: &alarm.MetricStat{Namespace: "n", MetricName: "m", Statistic: "Sum"},
		Period: time.Second, EvaluationPeriods: 1, ComparisonOperator: alarm.GreaterThanThreshold, Threshold: 1}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.Watch(mgr); err != nil {
		t.Fatal(err)
	}

	// The operator's flip: the alarm does not undo it.
	if _, _, err := svc.Set(ctx, "orders-real", false, "oncall", "db down"); err != nil {
		t.Fatal(err)
	}
	if err := mgr.SetState("errors", alarm.StateAlarm, "errors up", time.Now()); err != nil {
		t.Fatal(err)
	}
	waitActed(t, mgr)
	if v, _ := svc.Bool("orders-real", "c"); v {
		t.Fatal("an alarm undid the operator's flip")
	}
	mgr.SetState("errors", alarm.StateOK, "fine", time.Now())

	// A watched flip: the alarm rolls it back.
	strat := flagstore.AllAtOnce
	res, err := svc.SetFlag(ctx, flags.SetRequest{Name: "orders-real", Enabled: true, Actor: "dev", Reason: "db back", Strategy: &strat})
	if err != nil {
		t.Fatal(err)
	}
	if res.Deployment.State != flagstore.Baking {
		t.Fatalf("watched flip is %s, want BAKING", res.Deployment.State)
	}
	if v, _ := svc.Bool("orders-real", "c"); !v {
		t.Fatal("watched flip not applied")
	}
	if err := mgr.SetState("errors", alarm.StateAlarm, "errors up again", time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, _ := svc.Bool("orders-real", "c"); !v {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the alarm did not roll the watched flip back")
		}
		time.Sleep(10 * time.Millisecond)
	}
	rb := ledger(t, st, state.ChangeQuery{Action: flagstore.ActionRollback})
	if len(rb) != 1 || rb[0].Actor != "alarm/errors" || !strings.Contains(rb[0].Reason, "errors up again") {
		t.Errorf("rollback ledger = %+v", rb)
	}
}

// waitActed waits until the manager's subscription has handled every
// transition it was given.
func waitActed(t *testing.T, mgr *alarm.Manager) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if s, ok := mgr.ActionStats("flag-deployments"); ok && s.Delivered+s.Failed > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("the flag store was not told of the transition")
}

// TestContextKeys: with flag_context_keys, a version whose rule uses
// another attribute is refused; changing the keys needs a restart; a
// restart with narrower keys still loads the versions stored before.
func TestContextKeys(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	svc := flags.New(st, nil)
	cfg := &config.Config{Flags: []config.Flag{{Name: "orders-real"}}, FlagContextKeys: []string{"plan"}}
	if err := svc.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	doc := func(attr string) []byte {
		return []byte(`{"version":"1","flags":{"a":{"name":"a"}},"values":{"a":{"enabled":false,
		  "_variants":[{"name":"v","rule":"(eq $` + attr + ` \"x\")","enabled":true},{"name":"Default","enabled":false}]}}}`)
	}
	if _, err := svc.Store().CreateVersion(ctx, doc("country"), "uses country", "t", time.Now()); err == nil ||
		!strings.Contains(err.Error(), "unknown context attribute $country; known: plan") {
		t.Fatalf("CreateVersion with an unknown attribute: %v", err)
	}
	if _, err := svc.Store().CreateVersion(ctx, doc("plan"), "uses plan", "t", time.Now()); err != nil {
		t.Fatal(err)
	}
	cfg.FlagContextKeys = []string{"country"}
	if err := svc.Configure(ctx, cfg); !errors.Is(err, flags.ErrNeedsRestart) {
		t.Fatalf("changing the keys on reload: %v, want ErrNeedsRestart", err)
	}
	restarted := flags.New(st, nil)
	if err := restarted.Configure(ctx, cfg); err != nil {
		t.Fatalf("restart with narrower keys: %v", err)
	}
	if n := len(restarted.Store().Versions()); n != 2 {
		t.Errorf("%d versions after the restart, want 2", n)
	}
}

// TestDeclaredFlagWaitsForDeployment: a flag declared while a deployment
// runs arrives once it ends, without another reload.
func TestDeclaredFlagWaitsForDeployment(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openStore(t)
	svc := flags.New(st, nil)
	cfg := &config.Config{Flags: []config.Flag{{Name: "orders-real"}}}
	if err := svc.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	go svc.Run(ctx, 10*time.Millisecond)
	strat := flagstore.Linear20PercentEvery6Minutes
	if _, err := svc.SetFlag(ctx, flags.SetRequest{Name: "orders-real", Enabled: false, Actor: "dev", Reason: "slowly", Strategy: &strat}); err != nil {
		t.Fatal(err)
	}
	cfg.Flags = append(cfg.Flags, config.Flag{Name: "search-new"})
	if err := svc.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, known := svc.Bool("search-new", "c"); known {
		t.Fatal("search-new deployed in the middle of another deployment")
	}
	if _, err := svc.Store().Stop(ctx, config.DefaultFlagEnvironment, "dev", "enough", time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, known := svc.Bool("search-new", "c"); known && v {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("search-new never arrived after the deployment ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if v, _ := svc.Bool("orders-real", "c"); !v {
		t.Error("orders-real should be back on after the stop")
	}
}
