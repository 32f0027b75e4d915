// Command timetosafety measures a rollout's time to safety: under steady
// load through `holdfast serve`, it rolls out a candidate that starts
// failing as soon as it takes traffic, and reports the time from the first
// failed response to 100% of traffic back on stable, and how many requests
// got a bad answer. bench/time-to-safety.sh builds the binaries and runs it.
//
// Everything listens on 127.0.0.1; every run and the load are bounded.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"holdfast/internal/api"
	"holdfast/internal/rollout"
)

func main() {
	hf := flag.String("holdfast", "holdfast", "holdfast binary")
	ord := flag.String("orders", "orders", "orders binary")
	runs := flag.Int("runs", 5, "rollouts to measure")
	rate := flag.Int("rate", 400, "requests per second of steady load")
	failRate := flag.Float64("fail-rate", 0.5, "fraction of the candidate's answers that fail once it takes traffic")
	strategy := flag.String("strategy", "steps:10%:30s,50%:30s", "rollout strategy")
	flag.Parse()
	if err := run(*hf, *ord, *runs, *rate, *failRate, *strategy); err != nil {
		fmt.Fprintln(os.Stderr, "timetosafety:", err)
		os.Exit(1)
	}
}

// proc is a child process.
type proc struct{ cmd *exec.Cmd }

// spawn starts a process and waits for a line matching want; it returns
// the submatches and every line printed until then.
func spawn(ctx context.Context, want *regexp.Regexp, name string, args ...string) (*proc, []string, error) {
	p, m, _, err := spawnLines(ctx, want, name, args...)
	return p, m, err
}

func spawnLines(ctx context.Context, want *regexp.Regexp, name string, args ...string) (*proc, []string, []string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	p := &proc{cmd}
	type hit struct{ m, lines []string }
	found := make(chan hit, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if m := want.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- hit{m, slices.Clone(lines)}:
				default:
				}
			}
		}
	}()
	select {
	case h := <-found:
		return p, h.m, h.lines, nil
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, nil, nil, fmt.Errorf("%s printed no line matching %q", filepath.Base(name), want)
	}
}

// find returns the first submatch of re in lines.
func find(re *regexp.Regexp, lines []string) string {
	for _, l := range lines {
		if m := re.FindStringSubmatch(l); m != nil {
			return m[1]
		}
	}
	return ""
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

var (
	ordersRE = regexp.MustCompile(`orders: listening on (\S+)`)
	gwRE     = regexp.MustCompile(`gateway listener public on (http://\S+)`)
	adminRE  = regexp.MustCompile(`admin API on (http://\S+)`)
)

const cfgText = `data_dir: %s
admin: {listen: "127.0.0.1:0"}
listeners: [{name: public, listen: "127.0.0.1:0"}]
access_log: {path: "off"}
upstreams: [{name: stable, url: "http://%s", timeout: 5s}]
routes:
  - name: orders
    targets: [{upstream: stable, weight: 100}]
    rollout:
      client_key: header:X-Client-Id
      health_check: {path: /healthz}
error_rate_alarm: {period: 1s, evaluation_periods: 3, datapoints_to_alarm: 2}
`

func run(hf, ord string, runs, rate int, failRate float64, strategy string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(runs)*time.Minute+time.Minute)
	defer cancel()
	work, err := os.MkdirTemp("", "holdfast-tts-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	stable, m, err := spawn(ctx, ordersRE, ord, "--listen", "127.0.0.1:0", "--backend", "mock")
	if err != nil {
		return err
	}
	defer stable.stop()
	cfg := filepath.Join(work, "holdfast.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, cfgText, filepath.Join(work, "data"), m[1]), 0o600); err != nil {
		return err
	}
	d, _, lines, err := spawnLines(ctx, regexp.MustCompile(`holdfast: ready`), hf, "serve", "--config", cfg)
	if err != nil {
		return err
	}
	defer d.stop()
	gw, admin := find(gwRE, lines), find(adminRE, lines)
	if gw == "" || admin == "" {
		return fmt.Errorf("serve printed no addresses: %q", lines)
	}
	tok, err := os.ReadFile(filepath.Join(work, "data", "admin.token"))
	if err != nil {
		return err
	}
	c := &api.Client{BaseURL: admin, Token: strings.TrimSpace(string(tok)), Actor: "time-to-safety"}
	fmt.Printf("time to safety: %d rollouts of a candidate that fails %.0f%% of its answers once it takes traffic;\n", runs, failRate*100)
	fmt.Printf("steady load %d req/s from 1000 clients; strategy %s; 1-second error-rate alarm (2 of 3)\n\n", rate, strategy)
	fmt.Printf("%-4s %12s %10s %10s  %s\n", "run", "to safety", "bad", "requests", "what rolled it back")
	var times []time.Duration
	var bads []int
	for i := 1; i <= runs; i++ {
		r, err := oneRun(ctx, c, ord, gw, rate, failRate, strategy)
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		fmt.Printf("%-4d %12s %10d %10d  %s\n", i, r.toSafety.Round(time.Millisecond), r.bad, r.total, r.reason)
		times = append(times, r.toSafety)
		bads = append(bads, r.bad)
	}
	slices.Sort(times)
	slices.Sort(bads)
	fmt.Printf("\nmedian %s (worst %s); bad answers median %d (worst %d)\n",
		times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), bads[len(bads)/2], bads[len(bads)-1])
	return nil
}

type result struct {
	toSafety   time.Duration
	bad, total int
	reason     string
}

func oneRun(ctx context.Context, c *api.Client, ord, gw string, rate int, failRate float64, strategy string) (result, error) {
	// The alarm must be back to OK after the previous run.
	for deadline := time.Now().Add(30 * time.Second); ; {
		a, _, err := c.Alarm(ctx, "orders-error-rate")
		if err == nil && a.State != "ALARM" {
			break
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("alarm still in ALARM after 30s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	cand, m, err := spawn(ctx, ordersRE, ord, "--listen", "127.0.0.1:0", "--backend", "mock")
	if err != nil {
		return result{}, err
	}
	defer cand.stop()
	candURL := "http://" + m[1]
	l := startLoad(gw, rate, 45*time.Second)
	defer l.stop()
	time.Sleep(time.Second) // steady load before the rollout
	if _, err := c.StartRollout(ctx, "orders", api.RolloutStartRequest{Candidate: candURL, Strategy: strategy, Reason: "time-to-safety"}); err != nil {
		return result{}, err
	}
	resp, err := http.Post(candURL+"/admin/faults", "application/json", strings.NewReader(fmt.Sprintf(`{"fail_rate":%g}`, failRate)))
	if err != nil {
		return result{}, err
	}
	resp.Body.Close()
	var st rollout.Status
	for deadline := time.Now().Add(40 * time.Second); ; {
		if st, err = c.Rollout(ctx, "orders"); err != nil {
			return result{}, err
		}
		if st.State.Terminal() {
			break
		}
		if time.Now().After(deadline) {
			return result{}, fmt.Errorf("rollout still %s after 40s", st.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st.State != rollout.StateRolledBack {
		return result{}, fmt.Errorf("rollout ended %s: %s", st.State, st.Reason)
	}
	time.Sleep(time.Second) // requests in flight at the rollback finish
	l.stop()
	first := l.firstBad.Load()
	if first == 0 {
		return result{}, fmt.Errorf("the candidate never failed a request")
	}
	reason := st.Reason
	if len(reason) > 70 {
		reason = reason[:69] + "…"
	}
	return result{toSafety: st.Ended.Sub(time.Unix(0, first)), bad: int(l.bad.Load()), total: int(l.total.Load()), reason: reason}, nil
}

// load is an open-loop load at a fixed rate from 1000 client keys.
type load struct {
	done     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
	total    atomic.Int64
	bad      atomic.Int64
	firstBad atomic.Int64 // unix ns of the first failed answer
}

func startLoad(gw string, rate int, bound time.Duration) *load {
	l := &load{done: make(chan struct{})}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	until := time.Now().Add(bound)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	sem := make(chan struct{}, 64) // bounded concurrency
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer tick.Stop()
		for i := 0; time.Now().Before(until); i++ {
			select {
			case <-l.done:
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				continue // the gateway is slower than the rate: skip, stay bounded
			}
			l.wg.Add(1)
			go func(i int) {
				defer func() { <-sem; l.wg.Done() }()
				req, _ := http.NewRequest(http.MethodGet, gw+"/orders?limit=5", nil)
				req.Header.Set("X-Client-Id", fmt.Sprintf("client-%d", i%1000))
				resp, err := hc.Do(req)
				now := time.Now().UnixNano()
				l.total.Add(1)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode >= 500 {
					l.bad.Add(1)
					l.firstBad.CompareAndSwap(0, now)
				}
			}(i)
		}
	}()
	return l
}

func (l *load) stop() {
	l.once.Do(func() { close(l.done) })
	l.wg.Wait()
}
