package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"holdfast/internal/rollout"
	"holdfast/internal/state"
)

// rolloutConfig: a route "orders" with a short custom strategy, a
// 1-second error-rate alarm, and the given analysis; a second route whose
// pre-traffic hook does not answer.
const rolloutConfig = `data_dir: %s
admin:
  listen: 127.0.0.1:0
listeners:
  - name: public
    listen: 127.0.0.1:0
upstreams:
  - name: v1
    url: %s
    timeout: 5s
routes:
  - name: hooked
    match: {path_prefix: /hooked}
    targets: [{upstream: v1, weight: 1}]
    rollout:
      pre_traffic_hook: {url: "%s/hook"}
  - name: orders
    targets: [{upstream: v1, weight: 100}]
    rollout:
      strategy: "%s"
      client_key: header:X-Client-Id
      health_check: {path: %s}
      analysis: %s
%serror_rate_alarm:
  period: 1s
  evaluation_periods: 3
  datapoints_to_alarm: 2
`

type rolloutEnv struct {
	d       *daemon
	cfg     string
	dataDir string
	v1      *proc
	load    *clientLoad
}

func newRolloutEnv(t *testing.T, strategy, analysis string) *rolloutEnv {
	return newRolloutEnvHealth(t, strategy, analysis, "/healthz", "")
}

// newRolloutEnvHealth: health is the candidate's health check path, extra
// more lines of the orders route's rollout block.
func newRolloutEnvHealth(t *testing.T, strategy, analysis, health, extra string) *rolloutEnv {
	t.Helper()
	v1 := start(t, bins.orders, "--listen", "127.0.0.1:0", "--backend", "mock")
	v1URL := "http://" + v1.waitLine(ordersRE, 30*time.Second)[1]
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "holdfast.yaml")
	writeFile(t, cfg, fmt.Sprintf(rolloutConfig, dataDir, v1URL, deadHTTP(t), strategy, health, analysis, extra))
	e := &rolloutEnv{d: startDaemon(t, cfg, dataDir), cfg: cfg, dataDir: dataDir, v1: v1}
	return e
}

// deadHTTP is an http URL on 127.0.0.1 where nothing listens.
func deadHTTP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func (e *rolloutEnv) cliOK(t *testing.T, args ...string) string {
	t.Helper()
	out, code := e.d.cli(t, args...)
	if code != 0 {
		t.Fatalf("holdfast %s: exit %d:\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

func (e *rolloutEnv) status(t *testing.T) rollout.Status {
	t.Helper()
	var st rollout.Status
	if err := json.Unmarshal([]byte(e.cliOK(t, "rollout", "status", "orders", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *rolloutEnv) waitState(t *testing.T, within time.Duration, states ...rollout.State) rollout.Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := e.status(t)
		for _, s := range states {
			if st.State == s {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout still %s after %s (want %v): %s\n%s", st.State, within, states, st.Reason, rollout.Render(st, 120))
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// ledger returns the rollout entries of route orders, oldest first.
func (e *rolloutEnv) ledger(t *testing.T) []state.Change {
	t.Helper()
	var list []state.Change
	if err := json.Unmarshal([]byte(e.cliOK(t, "rollout", "history", "orders", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
		list[i], list[j] = list[j], list[i]
	}
	return list
}

func actions(list []state.Change) string {
	var out []string
	for _, c := range list {
		out = append(out, c.Action)
	}
	return strings.Join(out, ",")
}

// clientLoad sends GETs from many clients (X-Client-Id) until stopped or
// bounded, and counts the answers.
type clientLoad struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	n        atomic.Int64
	mu       sync.Mutex
	statuses map[int]int
	errs     []string
	gateway  atomic.Pointer[string]
}

func startClientLoad(base string, workers int) *clientLoad {
	l := &clientLoad{stop: make(chan struct{}), statuses: map[int]int{}}
	l.gateway.Store(&base)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	deadline := time.Now().Add(90 * time.Second)
	for w := range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				if time.Now().After(deadline) || l.n.Add(1) > 300000 {
					return
				}
				req, _ := http.NewRequest("GET", *l.gateway.Load()+"/orders?limit=5", nil)
				req.Header.Set("X-Client-Id", fmt.Sprintf("client-%d-%d", w, i%40))
				resp, err := client.Do(req)
				l.mu.Lock()
				if err != nil {
					l.errs = append(l.errs, err.Error())
				} else {
					l.statuses[resp.StatusCode]++
				}
				l.mu.Unlock()
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	return l
}

// take returns the counts so far and starts new ones.
func (l *clientLoad) take() (map[int]int, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, e := l.statuses, l.errs
	l.statuses, l.errs = map[int]int{}, nil
	return s, e
}

func (l *clientLoad) finish() {
	close(l.stop)
	l.wg.Wait()
}

// answered fails the test unless every request got an answer from the
// service: no transport error and no gateway 502/503/504.
func answered(t *testing.T, phase string, statuses map[int]int, errs []string) int {
	t.Helper()
	total := 0
	for code, n := range statuses {
		total += n
		if code == 502 || code == 503 || code == 504 {
			t.Errorf("%s: %d requests got %d from the gateway", phase, n, code)
		}
	}
	if len(errs) > 0 {
		t.Errorf("%s: %d requests failed: %v", phase, len(errs), errs[:min(3, len(errs))])
	}
	if total == 0 {
		t.Errorf("%s: no request completed", phase)
	}
	return total
}

func TestRolloutHealthyCandidateIsPromoted(t *testing.T) {
	hook := newWebhookReceiver(t) // the lifecycle hooks: any 2xx passes
	e := newRolloutEnvHealth(t, "steps:20%:2s,50%:2s", "{min_samples: 20, interval: 500ms, p95_slack: 25ms}", "/healthz",
		fmt.Sprintf("      pre_traffic_hook: {url: %q}\n      post_traffic_hook: {url: %q}\n", hook.URL+"/pre", hook.URL+"/post"))
	v2 := start(t, bins.orders, "--listen", "127.0.0.1:0", "--backend", "mock")
	v2URL := "http://" + v2.waitLine(ordersRE, 30*time.Second)[1]

	// Bad input: a clear error, nothing changes.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"orders", "--candidate", v2URL, "--strategy", "Canary15Percent7Minutes"}, "unknown strategy"},
		{[]string{"orders", "--candidate", v2URL, "--strategy", "steps:10%:1s,150%:1s"}, "outside (0, 100]"},
		{[]string{"orders", "--candidate", deadHTTP(t)}, "failed its health check before any traffic"},
		{[]string{"orders", "--candidate", "nosuch"}, "no upstream of that name"},
		{[]string{"hooked", "--candidate", v2URL}, "does not answer"},
		{[]string{"nosuchroute", "--candidate", v2URL}, "no route named"},
	} {
		out, code := e.d.cli(t, append([]string{"rollout", "start"}, c.args...)...)
		if code == 0 || !strings.Contains(out, c.want) || !strings.Contains(out, "nothing changed") {
			t.Errorf("rollout start %v: exit %d, want an error with %q:\n%s", c.args, code, c.want, out)
		}
	}
	if out, code := e.d.cli(t, "rollout", "status", "orders"); code == 0 || !strings.Contains(out, "no rollout") {
		t.Errorf("status before any rollout: exit %d: %s", code, out)
	}
	if out := e.cliOK(t, "changes", "--kind", "rollout"); strings.Count(out, "\n") != 1 {
		t.Errorf("bad input reached the ledger:\n%s", out)
	}

	load := startClientLoad(e.d.gateway, 4)
	defer load.finish()
	e.cliOK(t, "rollout", "start", "orders", "--candidate", v2URL, "--reason", "e2e: ship v2")
	watch := start(t, bins.holdfast, "--admin", e.d.admin, "--data-dir", e.dataDir, "rollout", "watch", "orders", "--interval", "200ms")
	if out, code := e.d.cli(t, "rollout", "start", "orders", "--candidate", v2URL); code != 1 || !strings.Contains(out, "409 Conflict") || !strings.Contains(out, "abort it or wait") {
		t.Errorf("second start: exit %d: %s", code, out)
	}
	st := e.waitState(t, 60*time.Second, rollout.StatePromoted, rollout.StateRolledBack)
	if st.State != rollout.StatePromoted {
		t.Fatalf("healthy candidate %s: %s", st.State, st.Reason)
	}
	for i, s := range st.Steps[:len(st.Steps)-1] {
		if s.Verdict == nil || s.Verdict.Result != rollout.VerdictPass || s.Verdict.Candidate.Invocations < 20 {
			t.Errorf("step %d promoted without a passing verdict on enough data: %+v", i+1, s.Verdict)
		}
	}
	if code := watch.wait(15 * time.Second); code != 0 {
		t.Errorf("watch exited %d after a promotion:\n%s", code, watch.output())
	}
	if !regexp.MustCompile(`orders SHIFTING v1->\S+ 20%`).MatchString(watch.output()) || !strings.Contains(watch.output(), "PROMOTED") {
		t.Errorf("watch output lacks the story:\n%s", watch.output())
	}
	statuses, errs := load.take()
	answered(t, "during the rollout", statuses, errs)
	if statuses[200] == 0 || len(statuses) != 1 {
		t.Errorf("answers during a healthy rollout: %v", statuses)
	}
	if got := actions(e.ledger(t)); got != "start,step,step,step,promote" {
		t.Errorf("ledger: %s", got)
	}
	hook.mu.Lock()
	var phases []string
	for _, c := range hook.calls {
		if c["rollout_id"] == st.ID && c["candidate"] == v2URL {
			phases = append(phases, fmt.Sprint(c["phase"]))
		}
	}
	hook.mu.Unlock()
	if strings.Join(phases, ",") != "pre_traffic,post_traffic" {
		t.Errorf("hooks called for %v", phases)
	}

	// v2 is stable now: v1 can go, and no request notices.
	v1 := e.v1
	v1.cmd.Process.Signal(syscall.SIGTERM)
	v1.wait(15 * time.Second)
	load.take()
	waitCount(t, load, 200)
	statuses, errs = load.take()
	if answered(t, "after promotion, v1 gone", statuses, errs); statuses[200] == 0 || len(statuses) != 1 {
		t.Errorf("after promotion with v1 stopped: %v", statuses)
	}

	// A restart keeps the promotion, the status and the history.
	e.d.cmd.Process.Signal(syscall.SIGTERM)
	if code := e.d.wait(20 * time.Second); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	e.d = startDaemon(t, e.cfg, e.dataDir)
	load.gateway.Store(&e.d.gateway)
	if st := e.status(t); st.State != rollout.StatePromoted || st.ID == "" {
		t.Errorf("after a restart: %s %s", st.ID, st.State)
	}
	if got := actions(e.ledger(t)); got != "start,step,step,step,promote" {
		t.Errorf("ledger after a restart: %s", got)
	}
	load.take()
	waitCount(t, load, 100)
	statuses, _ = load.take()
	if statuses[200] == 0 {
		t.Errorf("after a restart, v1 gone: %v", statuses)
	}
}

func waitCount(t *testing.T, l *clientLoad, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l.mu.Lock()
		got := 0
		for _, c := range l.statuses {
			got += c
		}
		got += len(l.errs)
		l.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests in 30s", got)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func TestRolloutFailingCandidateRolledBackByAlarm(t *testing.T) {
	// The comparison looks at p95 only, so the alarm is what acts. The
	// candidate's injected faults spare /admin/*, so its health check
	// passes: a version that looks healthy and fails under real traffic.
	e := newRolloutEnvHealth(t, "steps:20%:15s,50%:15s", "{checks: [p95], min_samples: 20, p95_slack: 25ms}", "/admin/faults", "")
	v2 := start(t, bins.orders, "--listen", "127.0.0.1:0", "--backend", "mock", "--fail-rate", "0.5")
	v2URL := "http://" + v2.waitLine(ordersRE, 30*time.Second)[1]
	load := startClientLoad(e.d.gateway, 4)
	defer load.finish()
	waitCount(t, load, 200)
	before, errs := load.take()
	answered(t, "before", before, errs)

	e.cliOK(t, "rollout", "start", "orders", "--candidate", v2URL)
	watch := start(t, bins.holdfast, "--admin", e.d.admin, "--data-dir", e.dataDir, "rollout", "watch", "orders", "--interval", "200ms")
	st := e.waitState(t, 30*time.Second, rollout.StateRolledBack, rollout.StatePromoted)
	if st.State != rollout.StateRolledBack || !strings.Contains(st.Reason, `alarm "orders-error-rate"`) {
		t.Fatalf("failing candidate: %s: %s", st.State, st.Reason)
	}
	if st.CandidatePercent != 0 {
		t.Errorf("after the rollback the candidate has %v%%", st.CandidatePercent)
	}
	if code := watch.wait(15 * time.Second); code != 1 || !strings.Contains(watch.output(), "ROLLED_BACK") {
		t.Errorf("watch exited %d:\n%s", code, watch.output())
	}
	during, errs := load.take()
	answered(t, "during the rollout", during, errs)
	if during[500] == 0 {
		t.Errorf("the failing candidate never answered: %v", during)
	}
	// Back on stable: no more 500s.
	waitCount(t, load, 300)
	after, errs := load.take()
	answered(t, "after the rollback", after, errs)
	if after[500] != 0 || len(after) != 1 {
		t.Errorf("after the rollback: %v", after)
	}
	if got := actions(e.ledger(t)); got != "start,step,rollback" {
		t.Errorf("ledger: %s", got)
	}
	// The alarm's ledger entry names the rollout.
	out := e.cliOK(t, "changes", "--kind", "alarm")
	if !strings.Contains(out, "went to ALARM during rollout "+st.ID) {
		t.Errorf("no alarm entry naming the rollout:\n%s", out)
	}
}

func TestRolloutSlowCandidateRolledBackByP95(t *testing.T) {
	e := newRolloutEnv(t, "steps:20%:15s,50%:15s", "{min_samples: 30, interval: 500ms, p95_slack: 25ms}")
	v2 := start(t, bins.orders, "--listen", "127.0.0.1:0", "--backend", "mock", "--extra-latency", "150ms")
	v2URL := "http://" + v2.waitLine(ordersRE, 30*time.Second)[1]
	load := startClientLoad(e.d.gateway, 6)
	defer load.finish()
	waitCount(t, load, 200)
	load.take()
	e.cliOK(t, "rollout", "start", "orders", "--candidate", v2URL, "--reason", "e2e: slow v2")
	// A reload keeps the split; one that drops the route is refused.
	e.cliOK(t, "reload", "--reason", "e2e: reload during a rollout")
	orig, err := readFile(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(orig, "  - name: orders")
	j := strings.Index(orig, "error_rate_alarm:")
	writeFile(t, e.cfg, orig[:i]+orig[j:])
	if out, code := e.d.cli(t, "reload"); code == 0 || !strings.Contains(out, "rollout in progress") {
		t.Errorf("reload without the route during a rollout: exit %d: %s", code, out)
	}
	writeFile(t, e.cfg, orig)
	st := e.waitState(t, 30*time.Second, rollout.StateRolledBack, rollout.StatePromoted)
	if st.State != rollout.StateRolledBack || !strings.Contains(st.Reason, "analysis failed") || !strings.Contains(st.Reason, "p95") {
		t.Fatalf("slow candidate: %s: %s", st.State, st.Reason)
	}
	v := st.Steps[0].Verdict
	if v == nil || v.Result != rollout.VerdictFail || v.Candidate.P95 < 150 || v.Stable.P95 >= v.Candidate.P95 {
		t.Errorf("verdict: %+v", v)
	}
	during, errs := load.take()
	if answered(t, "during the rollout", during, errs); len(during) != 1 || during[200] == 0 {
		t.Errorf("answers: %v", during)
	}
	got := e.ledger(t)
	if actions(got) != "start,step,rollback" {
		t.Errorf("ledger: %s", actions(got))
	}
	if last := got[len(got)-1]; !strings.Contains(last.Reason, "p95") || last.Actor != rollout.SystemActor {
		t.Errorf("rollback entry: %+v", last)
	}
}

// A restart in the middle of a rollout ends it rolled back, with all
// traffic on stable, and says so; the route is free for the next one.
func TestRolloutInterruptedByRestart(t *testing.T) {
	e := newRolloutEnv(t, "steps:50%:60s", "{disabled: true}")
	v2 := start(t, bins.orders, "--listen", "127.0.0.1:0", "--backend", "mock")
	v2URL := "http://" + v2.waitLine(ordersRE, 30*time.Second)[1]
	e.cliOK(t, "rollout", "start", "orders", "--candidate", v2URL)
	if st := e.status(t); st.State != rollout.StateShifting || st.CandidatePercent != 50 {
		t.Fatalf("after start: %s at %v%%", st.State, st.CandidatePercent)
	}
	e.d.cmd.Process.Signal(syscall.SIGTERM)
	if code := e.d.wait(20 * time.Second); code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	v2.cmd.Process.Signal(syscall.SIGTERM) // were any traffic still sent to v2, it would fail now
	v2.wait(15 * time.Second)
	e.d = startDaemon(t, e.cfg, e.dataDir)
	st := e.status(t)
	if st.State != rollout.StateRolledBack || st.CandidatePercent != 0 || !strings.Contains(st.Reason, "restarted") {
		t.Fatalf("after a restart: %s at %v%%: %s", st.State, st.CandidatePercent, st.Reason)
	}
	if got := actions(e.ledger(t)); got != "start,step,rollback" {
		t.Errorf("ledger: %s", got)
	}
	load := startClientLoad(e.d.gateway, 2)
	waitCount(t, load, 200)
	load.finish()
	statuses, errs := load.take()
	if answered(t, "after the restart", statuses, errs); len(statuses) != 1 || statuses[200] == 0 {
		t.Errorf("after the restart: %v", statuses)
	}
	// The route is free: a new rollout starts (and is refused only for its
	// candidate, which is gone).
	if out, code := e.d.cli(t, "rollout", "start", "orders", "--candidate", v2URL); code == 0 || !strings.Contains(out, "health check") {
		t.Errorf("start with the candidate gone: exit %d: %s", code, out)
	}
}
