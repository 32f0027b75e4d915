package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"holdfast/internal/state"
)

// flagDeployConfig: the kill switch on sends /orders to "good"; off, to
// "other". The route's 1-second error-rate alarm watches the production
// flag environment.
const flagDeployConfig = `data_dir: %s
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
upstreams:
  - name: good
    url: %s
  - name: other
    url: %s
flags:
  - name: orders-real
    description: orders served by the good deployment
routes:
  - name: orders
    targets:
      - upstream: good
        weight: 1
    kill_switch: orders-real
    fallback:
      upstream: other
error_rate_alarm:
  period: 1s
  evaluation_periods: 3
  datapoints_to_alarm: 2
flag_environments:
  - name: production
    monitors: [orders-error-rate]
    rollback_window: 1h
`

const killSwitchOffDoc = `{"version": "1",
 "flags": {"orders-real": {"name": "orders-real", "description": "orders served by the good deployment"}},
 "values": {"orders-real": {"enabled": false}}}`

// flagDeployment starts two orders services (other with failRate), the
// daemon and traffic, and waits until the error-rate alarm is OK.
func flagDeployment(t *testing.T, otherFailRate float64) (*daemon, *traffic, string) {
	t.Helper()
	good := startOrders(t, "mock")
	other := startOrders(t, "mock", "--fail-rate", fmt.Sprint(otherFailRate))
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "holdfast.yaml")
	writeFile(t, cfg, fmt.Sprintf(flagDeployConfig, dataDir, good, other))
	writeFile(t, filepath.Join(dir, "off.json"), killSwitchOffDoc)
	d := startDaemon(t, cfg, dataDir)
	tr := startTraffic(d.gateway, 2)
	t.Cleanup(func() { tr.finish() })
	tr.waitRequests(t, 100)
	waitCLI(t, d, regexp.MustCompile(`orders-error-rate\s+OK`), 15*time.Second, "alarms", "list")
	return d, tr, other
}

// waitCLI runs a command until its output matches re.
func waitCLI(t *testing.T, d *daemon, re *regexp.Regexp, within time.Duration, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, code := d.cli(t, args...)
		if code == 0 && re.MatchString(out) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("holdfast %s: no match for %q within %s; last output (exit %d):\n%s", strings.Join(args, " "), re, within, code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// statusesAfter counts the answers of requests started after at.
func statusesAfter(tr *traffic, at time.Time) (ok, failed int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, r := range tr.results {
		if r.start.Before(at) || r.err != nil {
			continue
		}
		if r.status == 200 {
			ok++
		} else {
			failed++
		}
	}
	return ok, failed
}

func flagLedger(t *testing.T, d *daemon) []state.Change {
	t.Helper()
	out, code := d.cli(t, "changes", "--kind", "flag", "--limit", "200", "--json")
	if code != 0 {
		t.Fatalf("changes: exit %d: %s", code, out)
	}
	var cs []state.Change
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatalf("changes --json: %v\n%s", err, out)
	}
	return cs
}

// TestFlagDeploymentRollsBackOnAlarm: a version that turns the kill switch
// to a target answering with errors is deployed; the error-rate alarm
// fires; the deployment rolls back by itself; traffic returns to the good
// target; the ledger tells the whole story.
func TestFlagDeploymentRollsBackOnAlarm(t *testing.T) {
	d, tr, _ := flagDeployment(t, 1.0)
	dir := filepath.Dir(d.dataDir)
	out, code := d.cli(t, "flags", "create-version", "--file", filepath.Join(dir, "off.json"), "--description", "e2e: move orders to the other deployment")
	if code != 0 || !strings.Contains(out, "version 2 created") {
		t.Fatalf("create-version: exit %d: %s", code, out)
	}
	deployed := time.Now()
	if out, code := d.cli(t, "flags", "deploy", "--strategy", "AllAtOnce", "--description", "e2e rollout"); code != 0 || !strings.Contains(out, "BAKING") {
		t.Fatalf("deploy: exit %d: %s", code, out)
	}
	status := waitCLI(t, d, regexp.MustCompile(`ROLLED_BACK`), 20*time.Second, "flags", "status")
	rolledBack := time.Now()
	t.Logf("rolled back %s after the deployment:\n%s", rolledBack.Sub(deployed).Round(100*time.Millisecond), status)
	if !strings.Contains(status, "production (the gateway's): version 1") || !strings.Contains(status, "alarm orders-error-rate went to ALARM") {
		t.Errorf("status after the rollback:\n%s", status)
	}
	// The other target answered errors while the version was deployed …
	if _, failed := statusesAfter(tr, deployed.Add(500*time.Millisecond)); failed == 0 {
		t.Error("no request failed while the bad version was deployed")
	}
	// … and once rolled back, traffic is on the good target again.
	tr.waitRequests(t, 200)
	if ok, failed := statusesAfter(tr, rolledBack); ok < 100 || failed != 0 {
		t.Errorf("after the rollback: %d ok, %d failed; want only good answers", ok, failed)
	}
	if out, _ := d.cli(t, "flags", "get", "orders-real"); !strings.Contains(out, "orders-real on (version 1") {
		t.Errorf("flags get after the rollback: %s", out)
	}

	// The ledger: version, deployment, steps, and the rollback naming the alarm.
	cs := flagLedger(t, d)
	var story []string
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		if c.Subject == "holdfast/*/flags" || c.Subject == "holdfast/production/flags" {
			story = append(story, c.Action+" by "+c.Actor+": "+c.Reason)
		}
	}
	joined := strings.Join(story, "\n")
	for _, want := range []string{
		"create-version by ", "e2e: move orders to the other deployment",
		"deploy by ", "version 1 → 2 by AllAtOnce", "e2e rollout",
		"step by flagstore: deployment #2 at 100%: baking until",
		"rollback by alarm/orders-error-rate: deployment #2 rolled back to version 1 at 100%: alarm orders-error-rate went to ALARM: Threshold Crossed",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("ledger lacks %q; story:\n%s", want, joined)
		}
	}
	if out, _ := d.cli(t, "changes", "--kind", "flag"); !strings.Contains(out, "alarm/orders-error-rate") {
		t.Errorf("holdfast changes does not show the rollback:\n%s", out)
	}
}

// TestFlagRevertInsideRollbackWindow: a deployment completes (a short
// bake with no alarm); errors start afterwards, inside the rollback
// window; the alarm reverts it to the previous version.
func TestFlagRevertInsideRollbackWindow(t *testing.T) {
	d, tr, other := flagDeployment(t, 0)
	dir := filepath.Dir(d.dataDir)
	if out, code := d.cli(t, "flags", "create-version", "--file", filepath.Join(dir, "off.json"), "--description", "e2e: other deployment"); code != 0 {
		t.Fatalf("create-version: exit %d: %s", code, out)
	}
	out, code := d.cli(t, "flags", "deploy", "--growth-type", "LINEAR", "--growth-factor", "100", "--bake", "2s", "--description", "short bake")
	if code != 0 {
		t.Fatalf("deploy: exit %d: %s", code, out)
	}
	status := waitCLI(t, d, regexp.MustCompile(`COMPLETE`), 15*time.Second, "flags", "status")
	if !strings.Contains(status, "version 2") || !strings.Contains(status, "an ALARM reverts it until") {
		t.Fatalf("status after COMPLETE:\n%s", status)
	}
	tr.waitRequests(t, 100)
	completed := time.Now()
	if ok, failed := statusesAfter(tr, completed.Add(-time.Second)); ok == 0 || failed != 0 {
		t.Fatalf("the other deployment before the faults: %d ok %d failed", ok, failed)
	}

	setFaults(t, other, 1.0)
	status = waitCLI(t, d, regexp.MustCompile(`REVERTED`), 20*time.Second, "flags", "status")
	reverted := time.Now()
	if !strings.Contains(status, "version 1") {
		t.Errorf("status after the revert:\n%s", status)
	}
	tr.waitRequests(t, 200)
	if ok, failed := statusesAfter(tr, reverted); ok < 100 || failed != 0 {
		t.Errorf("after the revert: %d ok, %d failed; want only good answers", ok, failed)
	}
	var revert *state.Change
	for _, c := range flagLedger(t, d) {
		if c.Action == "revert" {
			revert = &c
			break
		}
	}
	if revert == nil || revert.Actor != "alarm/orders-error-rate" || !strings.Contains(revert.Reason, "inside the rollback window") ||
		!strings.Contains(revert.Reason, "went to ALARM") {
		t.Errorf("revert ledger entry = %+v", revert)
	}
	// Nothing left to revert: a clear error, nothing changes.
	if out, code := d.cli(t, "flags", "revert", "--reason", "again"); code == 0 || !strings.Contains(out, "already REVERTED") {
		t.Errorf("second revert: exit %d: %s", code, out)
	}
}
