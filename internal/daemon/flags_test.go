package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"holdfast/internal/api"
	"holdfast/internal/flags"
	"holdfast/internal/flagstore"
)

const flagsConfig = `data_dir: DATADIR
admin:
  listen: 127.0.0.1:0
listeners:
  - name: web
    listen: 127.0.0.1:0
upstreams:
  - name: a
    url: %s
  - name: b
    url: %s
flags:
  - name: orders-real
routes:
  - name: all
    targets:
      - upstream: a
        weight: 1
    kill_switch: orders-real
    fallback:
      upstream: b
alarms:
  - name: guard
    metric: {namespace: MyApp, name: Errors, stat: Sum}
    period: 60s
    evaluation_periods: 1
    comparison_operator: GreaterThanThreshold
    threshold: 1
    treat_missing_data: ignore
flag_environments:
  - name: %s
    monitors: [%s]
`

// TestFlagMonitorsFollowReload: a reload that adds a monitor to the
// gateway's flag environment makes that alarm roll a deployment back; a
// reload that moves the gateway to another environment is refused.
func TestFlagMonitorsFollowReload(t *testing.T) {
	a, b := upstream(t, "a"), upstream(t, "b")
	e := start(t, fmt.Sprintf(flagsConfig, a.URL, b.URL, "production", ""))
	ctx := context.Background()
	tok, err := os.ReadFile(e.d.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	c := &api.Client{BaseURL: "http://" + e.d.AdminAddr(), Token: strings.TrimSpace(string(tok)), Actor: "test"}
	gw := "http://" + e.d.ListenerAddrs()["web"]
	served := func() string {
		t.Helper()
		resp, err := http.Get(gw + "/")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if got := served(); got != "a" {
		t.Fatalf("before the deployment: %q", got)
	}
	v, err := c.CreateFlagVersion(ctx, []byte(`{"version":"1","flags":{"orders-real":{"name":"orders-real"}},"values":{"orders-real":{"enabled":false}}}`), "to b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeployFlags(ctx, "production", api.DeployRequest{Version: v.Number, Strategy: "AllAtOnce"}); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != "b" {
		t.Fatalf("right after the deployment: %q, want b", got)
	}

	e.write(t, fmt.Sprintf(flagsConfig, a.URL, b.URL, "production", "guard"))
	if err := e.d.Reload(ctx, "test", "watch guard"); err != nil {
		t.Fatal(err)
	}
	if st, err := c.FlagEnvironment(ctx, "production"); err != nil || len(st.Environment.Monitors) != 1 {
		t.Fatalf("after the reload: %+v, %v", st, err)
	}
	if _, err := c.SetAlarmState(ctx, "guard", "ALARM", "test breach"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for served() != "a" {
		if time.Now().After(deadline) {
			t.Fatal("the newly monitored alarm did not roll the deployment back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for { // ROLLING_BACK ends at the next evaluation tick
		st, err := c.FlagEnvironment(ctx, "production")
		if err != nil {
			t.Fatal(err)
		}
		if st.Latest.State == flagstore.RolledBack && strings.Contains(st.Latest.Reason, "alarm guard went to ALARM") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("latest = %+v", st.Latest)
		}
		time.Sleep(20 * time.Millisecond)
	}

	e.write(t, fmt.Sprintf(flagsConfig, a.URL, b.URL, "staging", "guard"))
	if err := e.d.Reload(ctx, "test", "move"); !errors.Is(err, flags.ErrNeedsRestart) {
		t.Fatalf("moving the gateway's environment: %v, want a restart error", err)
	}
	if _, err := c.FlagEnvironment(ctx, "staging"); err == nil {
		t.Error("a refused reload created the staging environment")
	}
}
