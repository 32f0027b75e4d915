package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startFlagDaemon runs a daemon whose production flag environment is
// watched by an alarm the test sets with alarms set-state.
func startFlagDaemon(t *testing.T) (cli func(stdin string, args ...string) (string, string, int), dir string) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(up.Close)
	dir = t.TempDir()
	cfgPath := filepath.Join(dir, "holdfast.yaml")
	cfgText := fmt.Sprintf(`data_dir: %s
admin:
  listen: 127.0.0.1:0
listeners:
  - name: web
    listen: 127.0.0.1:0
upstreams:
  - name: a
    url: %s
flags:
  - name: orders-real
    description: real database behind /orders
routes:
  - name: all
    targets:
      - upstream: a
        weight: 1
    kill_switch: orders-real
    fallback:
      static: {status: 503}
alarms:
  - name: guard
    metric: {namespace: MyApp, name: Errors, stat: Sum}
    period: 60s
    evaluation_periods: 1
    comparison_operator: GreaterThanThreshold
    threshold: 1
    treat_missing_data: ignore
flag_environments:
  - name: production
    monitors: [guard]
`, filepath.Join(dir, "data"), up.URL)
	url, tok := startDaemonWith(t, cfgPath, cfgText)
	return func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return run(t, stdin, append([]string{"--admin", url, "--token", tok}, args...)...)
	}, dir
}

func TestFlagDeploymentCommands(t *testing.T) {
	cli, dir := startFlagDaemon(t)
	must := func(want string, args ...string) string {
		t.Helper()
		out, errOut, code := cli("", args...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("holdfast %s: code %d, out %q, err %q; want %q", strings.Join(args, " "), code, out, errOut, want)
		}
		return out
	}
	fails := func(wantCode int, want string, args ...string) {
		t.Helper()
		out, errOut, code := cli("", args...)
		if code != wantCode || !strings.Contains(errOut, want) {
			t.Fatalf("holdfast %s: code %d, out %q, err %q; want code %d and %q", strings.Join(args, " "), code, out, errOut, wantCode, want)
		}
	}
	must("production (the gateway's): version 1", "flags", "status")
	fails(1, "has no previous version", "flags", "revert", "--reason", "nothing before")
	must("monitors: guard; rollback window 168h0m0s; INSUFFICIENT_DATA: ignore", "flags", "status", "--env", "production")

	doc := filepath.Join(dir, "v2.json")
	os.WriteFile(doc, []byte(`{"version": "1",
	 "flags": {"orders-real": {"name": "orders-real"}, "checkout": {"name": "Checkout"}},
	 "values": {"orders-real": {"enabled": true},
	            "checkout": {"enabled": false, "_variants": [{"name": "gold", "rule": "(eq $plan \"gold\")", "enabled": true}, {"name": "Default", "enabled": false}]}}}`), 0o600)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"version": "1", "flags": {"a": {"name": "a"}}, "values": {"a": {"enabled": "yes"}}}`), 0o600)

	fails(1, "$.values.a.enabled", "flags", "create-version", "--file", bad, "--description", "broken")
	must("version 2 created: checkout for gold", "flags", "create-version", "--file", doc, "--description", "checkout for gold")
	raw, _ := os.ReadFile(doc)
	if out, errOut, code := cli(string(raw), "flags", "create-version", "--file", "-", "--description", "from stdin"); code != 0 || !strings.Contains(out, "version 3 created") {
		t.Fatalf("create-version from stdin: %d %q %q", code, out, errOut)
	}
	must("deployment #2: production version 1 -> 2 by Linear20PercentEvery6Minutes", "flags", "deploy", "--version", "2", "--strategy", "Linear20PercentEvery6Minutes")
	fails(1, "in progress", "flags", "deploy", "--strategy", "AllAtOnce")
	fails(1, "stop it instead", "flags", "revert", "--reason", "no")
	must("orders-real on (version 1, STATIC)", "flags", "evaluate", "orders-real", "--entity", "client-1")
	must("Linear20PercentEvery6Minutes  DEPLOYING", "flags", "history")

	// The monitored alarm goes off: the deployment rolls back by itself.
	must("ALARM", "alarms", "set-state", "guard", "ALARM", "--reason", "cli test")
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _, _ := cli("", "flags", "status")
		if strings.Contains(out, "ROLLED_BACK") && strings.Contains(out, "alarm guard went to ALARM: cli test") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not rolled back:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	must("OK", "alarms", "set-state", "guard", "OK", "--reason", "cli test over")

	// A custom strategy with no duration and no bake completes at once.
	must("COMPLETE at 100%", "flags", "deploy", "--version", "2", "--growth-type", "linear", "--growth-factor", "100", "--description", "now")
	must("checkout on (version 2, TARGETING_MATCH, variant gold)", "flags", "evaluate", "checkout", "--entity", "c", "--context", "plan=gold")
	must("checkout off (version 2, DEFAULT, variant Default)", "flags", "evaluate", "checkout", "--entity", "c", "--context", "plan=tin")
	fails(1, "404", "flags", "evaluate", "nope")
	must("holdfast flags set orders-real off", "flags", "runbook", "orders-real")
	must("deployment #3 REVERTED: production back on version 1", "flags", "revert", "--reason", "changed my mind")
	fails(1, "already REVERTED", "flags", "revert", "--reason", "again")
	fails(1, "no deployment in progress", "flags", "stop", "--reason", "nothing")
	fails(1, "growth factor", "flags", "deploy", "--growth-type", "LINEAR", "--growth-factor", "0", "--duration", "1m")
	fails(1, "no predefined strategy", "flags", "deploy", "--strategy", "Fast")
	fails(1, "400 Bad Request: invalid deployment strategy", "flags", "set", "orders-real", "off", "--reason", "x", "--strategy", "Nope")

	// Usage errors: exit 2 before any call.
	fails(2, "--strategy is required", "flags", "deploy")
	fails(2, "--file and --description are required", "flags", "create-version", "--file", doc)
	fails(2, "want key=value", "flags", "evaluate", "checkout", "--context", "plan")
	fails(2, "--reason is required", "flags", "stop")
}
