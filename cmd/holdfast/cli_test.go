package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"holdfast/internal/alarm"
	"holdfast/internal/config"
	"holdfast/internal/daemon"
	"holdfast/internal/metrics"
)

// run executes the CLI with args, as main does, and returns its output and
// exit code (0, 1, or an exitError's code).
func run(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		} else {
			code = 1
		}
		errb.WriteString(err.Error())
	}
	return out.String(), errb.String(), code
}

func TestUsageErrorsExit2(t *testing.T) {
	// No admin API is running: every case must fail before the client is used.
	t.Setenv("HOLDFAST_ADMIN", "http://127.0.0.1:1")
	t.Setenv("HOLDFAST_TOKEN", "unused")
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.json")
	if err := os.WriteFile(unknown, []byte(`{"MetricDataQueries":[],"MaxDatapoints":10}`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string // in the message
	}{
		{"put value not a number", []string{"metrics", "put", "NS", "M", "abc"}, `VALUE "abc"`},
		{"put value NaN", []string{"metrics", "put", "NS", "M", "NaN"}, `VALUE "NaN"`},
		{"put negative without --", []string{"metrics", "put", "NS", "M", "-5"}, "put -- before it"},
		{"put dim without =", []string{"metrics", "put", "NS", "M", "1", "--dim", "Route"}, `--dim "Route"`},
		{"put dim empty value", []string{"metrics", "put", "NS", "M", "1", "--dim", "Route="}, `--dim "Route="`},
		{"put resolution", []string{"metrics", "put", "NS", "M", "1", "--resolution", "5"}, "--resolution 5"},
		{"put resolution not int", []string{"metrics", "put", "NS", "M", "1", "--resolution", "x"}, "--resolution"},
		{"put timestamp", []string{"metrics", "put", "NS", "M", "1", "--timestamp", "yesterday"}, `--timestamp "yesterday"`},
		{"put arg count", []string{"metrics", "put", "NS", "M"}, "accepts 3 arg(s)"},
		{"query nothing", []string{"metrics", "query"}, "--metric"},
		{"query metric without slash", []string{"metrics", "query", "--metric", "Latency"}, `--metric "Latency"`},
		{"query bad stat", []string{"metrics", "query", "--metric", "NS/M", "--stat", "Median"}, `--stat "Median"`},
		{"query bad period", []string{"metrics", "query", "--metric", "NS/M", "--period", "7s"}, "--period 7s"},
		{"query period not duration", []string{"metrics", "query", "--metric", "NS/M", "--period", "soon"}, `--period "soon"`},
		{"query since not duration", []string{"metrics", "query", "--metric", "NS/M", "--since", "soon"}, "--since"},
		{"query start and since", []string{"metrics", "query", "--metric", "NS/M", "--since", "1h", "--start", "2026-01-01T00:00:00Z"}, "--start and --since"},
		{"query start after end", []string{"metrics", "query", "--metric", "NS/M", "--start", "2026-01-02T00:00:00Z", "--end", "2026-01-01T00:00:00Z"}, "not before --end"},
		{"query bad end", []string{"metrics", "query", "--metric", "NS/M", "--end", "now"}, `--end "now"`},
		{"query dim", []string{"metrics", "query", "--metric", "NS/M", "--dim", "x"}, `--dim "x"`},
		{"query file and flags", []string{"metrics", "query", "--file", "-", "--stat", "Sum"}, "--file and --stat"},
		{"query file missing", []string{"metrics", "query", "--file", filepath.Join(dir, "none.json")}, "--file"},
		{"query file unknown field", []string{"metrics", "query", "--file", unknown}, "MaxDatapoints"},
		{"query stdin malformed", []string{"metrics", "query", "--file", "-"}, "malformed JSON"},
		{"put flag after --", []string{"metrics", "put", "NS", "M", "--", "-1", "--unit", "Count"}, "accepts 3 arg(s)"},
		{"list args", []string{"metrics", "list", "extra"}, "unknown command"},
		{"set-state bad state", []string{"alarms", "set-state", "X", "BAD", "--reason", "test"}, `state "BAD"`},
		{"set-state no reason", []string{"alarms", "set-state", "X", "ALARM"}, "--reason is required"},
		{"set-state arg count", []string{"alarms", "set-state", "X"}, "accepts 2 arg(s)"},
		{"describe no name", []string{"alarms", "describe"}, "accepts 1 arg(s)"},
		{"unknown flag", []string{"alarms", "list", "--bogus"}, "--bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := run(t, "{", tt.args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2; stderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("message %q does not name %q", stderr, tt.want)
			}
		})
	}
}

// startDaemon starts a real holdfast daemon in-process, with one listener,
// an upstream, one route and the explicit metric alarm high-latency, and
// returns its admin API URL and token.
func startDaemon(t *testing.T) (adminURL, token string) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "holdfast.yaml")
	// treat_missing_data: ignore keeps the state between the 1 s periods
	// that have no data, so ALARM does not fall back to INSUFFICIENT_DATA
	// one second after the breaching point.
	cfgText := fmt.Sprintf(`data_dir: %s
admin:
  listen: 127.0.0.1:0
listeners:
  - name: web
    listen: 127.0.0.1:0
upstreams:
  - name: a
    url: %s
routes:
  - name: all
    targets:
      - upstream: a
        weight: 1
alarms:
  - name: high-latency
    metric: {namespace: MyApp, name: Latency, dimensions: {Route: /orders}, stat: Maximum}
    period: 1s
    evaluation_periods: 1
    comparison_operator: GreaterThanThreshold
    threshold: 0.5
    treat_missing_data: ignore
`, filepath.Join(dir, "data"), up.URL)
	return startDaemonWith(t, cfgPath, cfgText)
}

// startDaemonWith writes cfgText to cfgPath, starts a daemon in-process
// with it (stopped at the end of the test) and returns its admin API URL
// and token.
func startDaemonWith(t *testing.T, cfgPath, cfgText string) (adminURL, token string) {
	t.Helper()
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	d := daemon.New(cfg, daemon.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := d.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) })
	tok, err := os.ReadFile(d.TokenFile())
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + d.AdminAddr(), strings.TrimSpace(string(tok))
}

func TestCommandsAgainstDaemon(t *testing.T) {
	url, tok := startDaemon(t)
	cli := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return run(t, stdin, append([]string{"--admin", url, "--token", tok}, args...)...)
	}
	// alarmState returns the STATE column of name's row in alarms list.
	alarmState := func(name string) string {
		t.Helper()
		out, errOut, code := cli("", "alarms", "list")
		if code != 0 {
			t.Fatalf("alarms list: code %d, err %q", code, errOut)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == name {
				return f[1]
			}
		}
		t.Fatalf("alarms list has no row for %s:\n%s", name, out)
		return ""
	}

	// Below the threshold, with an explicit recent timestamp.
	ts := time.Now().UTC().Format(time.RFC3339Nano)
	out, errOut, code := cli("", "metrics", "put", "MyApp", "Latency", "--dim", "Route=/orders", "--unit", "Seconds",
		"--resolution", "1", "--timestamp", ts, "--", "0.25")
	if code != 0 || out != "stored 1 data point(s) for MyApp/Latency{Route=/orders}\n" {
		t.Fatalf("put: code %d, out %q, err %q", code, out, errOut)
	}

	out, errOut, code = cli("", "metrics", "list", "--namespace", "MyApp")
	if code != 0 || !regexp.MustCompile(`(?m)^MyApp\s+Latency\s+Route=/orders$`).MatchString(out) {
		t.Errorf("metrics list: code %d, out %q, err %q", code, out, errOut)
	}
	out, _, code = cli("", "metrics", "list", "--namespace", "MyApp", "--name", "Nothing")
	if code != 0 || strings.Contains(out, "Latency") {
		t.Errorf("metrics list --name Nothing: code %d, out %q", code, out)
	}

	out, errOut, code = cli("", "metrics", "query", "--metric", "MyApp/Latency", "--dim", "Route=/orders",
		"--stat", "Maximum", "--period", "1s", "--since", "5m")
	if code != 0 || !regexp.MustCompile(`(?m)^TIMESTAMP\s+Latency \(m1\)$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+0\.25$`).MatchString(out) {
		t.Errorf("query: code %d, out %q, err %q", code, out, errOut)
	}

	// The metric is m1 (not returned); e1 is the expression over it.
	out, errOut, code = cli("", "metrics", "query", "--metric", "MyApp/Latency", "--dim", "Route=/orders",
		"--stat", "Maximum", "--period", "1s", "--since", "5m", "--expression", "m1 * 4")
	if code != 0 || strings.Contains(out, "(m1)") || !regexp.MustCompile(`(?m)^TIMESTAMP\s+e1$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)Z\s+1$`).MatchString(out) {
		t.Errorf("expression query: code %d, out %q, err %q", code, out, errOut)
	}

	now := time.Now().UTC()
	req := fmt.Sprintf(`{"MetricDataQueries": [{"Id": "q", "MetricStat": {"Metric": {"Namespace": "MyApp", "MetricName": "Latency",
		"Dimensions": [{"Name": "Route", "Value": "/orders"}]}, "Period": 1, "Stat": "Maximum"}}],
		"StartTime": %q, "EndTime": %q}`, now.Add(-5*time.Minute).Format(time.RFC3339), now.Add(time.Minute).Format(time.RFC3339))
	out, errOut, code = cli(req, "metrics", "query", "--file", "-", "--json")
	var got metrics.GetMetricDataOutput
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || len(got.MetricDataResults) != 1 ||
		got.MetricDataResults[0].Id != "q" || !slices.Equal(got.MetricDataResults[0].Values, []float64{0.25}) {
		t.Errorf("query --file - --json: code %d, out %q, err %q", code, out, errOut)
	}

	out, errOut, code = cli("", "alarms", "list")
	if code != 0 || !regexp.MustCompile(`(?m)^NAME\s+STATE\s+UPDATED\s+REASON$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^high-latency\s`).MatchString(out) || !regexp.MustCompile(`(?m)^all-error-rate\s`).MatchString(out) {
		t.Errorf("alarms list: code %d, out %q, err %q", code, out, errOut)
	}

	// Above the threshold, at the daemon's clock: the alarm evaluates the
	// second it falls in as soon as that second has closed.
	if out, errOut, code = cli("", "metrics", "put", "MyApp", "Latency", "--dim", "Route=/orders", "--resolution", "1", "0.9"); code != 0 {
		t.Fatalf("put 0.9: code %d, out %q, err %q", code, out, errOut)
	}
	deadline := time.Now().Add(10 * time.Second)
	for alarmState("high-latency") != "ALARM" {
		if time.Now().After(deadline) {
			out, _, _ := cli("", "alarms", "describe", "high-latency")
			t.Fatalf("high-latency not in ALARM within 10s:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}

	out, errOut, code = cli("", "alarms", "describe", "high-latency")
	if code != 0 || !regexp.MustCompile(`(?m)^State:\s+ALARM$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^Kind:\s+metric alarm$`).MatchString(out) || !strings.Contains(out, "0.9") ||
		!strings.Contains(out, "Definition:\n") || !strings.Contains(out, "GreaterThanThreshold") || !strings.Contains(out, "0.5") {
		t.Errorf("alarms describe: code %d, out %q, err %q", code, out, errOut)
	}

	out, errOut, code = cli("", "alarms", "history", "high-latency")
	if code != 0 || !regexp.MustCompile(`(?m)\s-> ALARM\s+Alarm updated from \S+ to ALARM$`).MatchString(out) {
		t.Errorf("alarms history: code %d, out %q, err %q", code, out, errOut)
	}

	out, errOut, code = cli("", "alarms", "set-state", "high-latency", "OK", "--reason", "drill")
	if code != 0 || !strings.HasPrefix(out, "high-latency is OK until its next evaluation") {
		t.Errorf("set-state: code %d, out %q, err %q", code, out, errOut)
	}
	// The next evaluation may already have put the alarm back in ALARM (the
	// 0.9 is still in its range), so look for the drill in the history, which
	// keeps it whatever came after.
	out, errOut, code = cli("", "alarms", "history", "high-latency", "--json")
	var hist []alarm.HistoryItem
	if code != 0 || json.Unmarshal([]byte(out), &hist) != nil ||
		!slices.ContainsFunc(hist, func(h alarm.HistoryItem) bool {
			tr := h.Transition
			return tr != nil && tr.From == alarm.StateAlarm && tr.To == alarm.StateOK && strings.HasPrefix(tr.Reason, "drill")
		}) {
		t.Errorf("history after set-state: code %d, out %q, err %q", code, out, errOut)
	}

	_, errOut, code = cli("", "alarms", "set-state", "nope", "OK", "--reason", "drill")
	if code != 1 || !strings.Contains(errOut, "404") || !strings.Contains(errOut, `"nope"`) {
		t.Errorf("set-state unknown: code %d, err %q", code, errOut)
	}
}
