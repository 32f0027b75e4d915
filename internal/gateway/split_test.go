package gateway_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"holdfast/internal/config"
	"holdfast/internal/gateway"
)

const splitConfig = `
upstreams:
  - {name: stable, url: %s}
  - {name: named, url: %s}
routes:
  - name: orders
    targets: [{upstream: stable, weight: 100}]
    rollout: {client_key: "header:X-Client-Id"}
`

// splitSetup is a gateway whose route can be split between the stable
// echo upstream and candidates, served behind a real HTTP server.
type splitSetup struct {
	splits *gateway.Splits
	h      *gateway.Handler
	url    string
	cfg    *config.Config
	cand   string // an inline candidate URL
}

func newSplitSetup(t *testing.T) *splitSetup {
	t.Helper()
	st, named, cand := echoUpstream(t, "stable"), echoUpstream(t, "named"), echoUpstream(t, "cand")
	cfg := parseConfig(t, fmt.Sprintf(splitConfig, st.URL, named.URL))
	s := gateway.NewSplits(nil)
	g := newGateway(t, cfg, gateway.Options{Splits: s})
	h := gateway.NewHandler(g)
	s.Attach(h)
	return &splitSetup{splits: s, h: h, url: front(t, h).URL, cfg: cfg, cand: cand.URL}
}

// who asks as client key and returns the upstream that answered.
func (s *splitSetup) who(t *testing.T, key string) string {
	t.Helper()
	var res response
	if key == "" {
		res = get(t, s.url+"/x")
	} else {
		res = get(t, s.url+"/x", "X-Client-Id: "+key)
	}
	if res.status != 200 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	return res.header.Get("X-Upstream")
}

func TestSplitShiftsStickyClients(t *testing.T) {
	s := newSplitSetup(t)
	if got, err := s.splits.Stable("orders"); err != nil || got != "stable" {
		t.Fatalf("Stable = %q, %v", got, err)
	}
	if err := s.splits.SetSplit("orders", "stable", s.cand, 30); err != nil {
		t.Fatal(err)
	}
	const clients = 300
	first := map[string]string{}
	onCand := 0
	for i := range clients {
		k := fmt.Sprintf("client-%d", i)
		first[k] = s.who(t, k)
		if first[k] == "cand" {
			onCand++
		}
	}
	if onCand < clients*20/100 || onCand > clients*40/100 {
		t.Errorf("%d of %d clients on the candidate at 30%%", onCand, clients)
	}
	for k, want := range first { // the same client stays on its version
		if got := s.who(t, k); got != want {
			t.Fatalf("%s moved from %s to %s at the same share", k, want, got)
		}
	}
	if err := s.splits.SetSplit("orders", "stable", s.cand, 60); err != nil {
		t.Fatal(err)
	}
	more := 0
	for k, was := range first {
		got := s.who(t, k)
		if was == "cand" && got != "cand" {
			t.Fatalf("%s left the candidate when its share grew", k)
		}
		if got == "cand" {
			more++
		}
	}
	if more <= onCand {
		t.Errorf("at 60%% %d clients on the candidate, at 30%% %d", more, onCand)
	}
	// Requests without a key are spread by count.
	keyless := 0
	for range 200 {
		if s.who(t, "") == "cand" {
			keyless++
		}
	}
	if keyless < 80 || keyless > 160 {
		t.Errorf("%d of 200 keyless requests on the candidate at 60%%", keyless)
	}
	// Rollback: everyone on stable at once.
	if err := s.splits.SetSplit("orders", "stable", s.cand, 0); err != nil {
		t.Fatal(err)
	}
	for k := range first {
		if got := s.who(t, k); got != "stable" {
			t.Fatalf("%s still on %s after the rollback", k, got)
		}
	}
}

func TestSplitPromoteAndReload(t *testing.T) {
	s := newSplitSetup(t)
	if err := s.splits.SetSplit("orders", "stable", "named", 50); err != nil {
		t.Fatal(err)
	}
	// A reload keeps the split in progress.
	g2, err := gateway.New(s.cfg, gateway.Options{Splits: s.splits})
	if err != nil {
		t.Fatal(err)
	}
	old := s.splits.Swap(s.h, g2)
	old.Close()
	t.Cleanup(func() { g2.Close() })
	seen := map[string]int{}
	for i := range 100 {
		seen[s.who(t, fmt.Sprint("k", i))]++
	}
	if seen["named"] < 30 || seen["stable"] < 30 {
		t.Errorf("after a reload at 50%%: %v", seen)
	}
	// A config without the route is refused while the rollout is on.
	noRoute := parseConfig(t, fmt.Sprintf(`
upstreams:
  - {name: stable, url: %s}
routes:
  - name: other
    targets: [{upstream: stable, weight: 1}]
`, s.cfg.Upstreams[0].URL))
	if _, err := gateway.New(noRoute, gateway.Options{Splits: s.splits}); err == nil || !strings.Contains(err.Error(), "rollout in progress") {
		t.Errorf("reload without the route: %v", err)
	}
	if err := s.splits.Promote("orders", "named"); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if got := s.who(t, fmt.Sprint("k", i)); got != "named" {
			t.Fatalf("after promotion %s got %s", fmt.Sprint("k", i), got)
		}
	}
	if rs := s.h.Current().Status()[0].Rollout; rs == nil || rs.Stable == nil || rs.Stable.Upstream != "named" || rs.Candidate != nil {
		t.Errorf("status after promotion: %+v", rs)
	}
	if got, _ := s.splits.Stable("orders"); got != "named" {
		t.Errorf("Stable after promotion = %q", got)
	}
	if p := s.splits.Promoted(); p["orders"].Stable != "named" {
		t.Errorf("Promoted = %v", p)
	}
	// The next rollout starts from the promoted target.
	if err := s.splits.SetSplit("orders", "stable", s.cand, 10); err == nil {
		t.Error("SetSplit from the old stable target was accepted")
	}
	if err := s.splits.SetSplit("orders", "named", s.cand, 100); err != nil {
		t.Fatal(err)
	}
	if got := s.who(t, "k1"); got != "cand" {
		t.Errorf("at 100%% got %s", got)
	}
	if err := s.splits.SetSplit("orders", "named", s.cand, 0); err != nil {
		t.Fatal(err)
	}
	// The promoted upstream cannot vanish from a config that keeps the
	// route's targets; naming other targets drops the promotion.
	noNamed := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: stable, url: %s}]
routes: [{name: orders, targets: [{upstream: stable, weight: 100}]}]
`, s.cfg.Upstreams[0].URL))
	if _, err := gateway.New(noNamed, gateway.Options{Splits: s.splits}); err == nil || !strings.Contains(err.Error(), "which a rollout promoted") {
		t.Errorf("config without the promoted upstream: %v", err)
	}
	other := parseConfig(t, fmt.Sprintf(`
upstreams: [{name: stable, url: %s}]
routes: [{name: orders, targets: [{upstream: stable, weight: 50}]}]
`, s.cfg.Upstreams[0].URL))
	g3, err := gateway.New(other, gateway.Options{Splits: s.splits})
	if err != nil {
		t.Fatal(err)
	}
	s.splits.Swap(s.h, g3).Close()
	t.Cleanup(func() { g3.Close() })
	if got := s.who(t, "k1"); got != "stable" {
		t.Errorf("after the config named other targets: %s", got)
	}
	if p := s.splits.Promoted(); len(p) != 0 {
		t.Errorf("promotion kept: %v", p)
	}
}

func TestSplitBadInput(t *testing.T) {
	s := newSplitSetup(t)
	for _, c := range []struct {
		route, stable, cand string
		pct                 float64
		want                string
	}{
		{"nope", "stable", s.cand, 10, "no route"},
		{"orders", "named", s.cand, 10, "stable target is"},
		{"orders", "stable", s.cand, 101, "outside 0–100"},
		{"orders", "stable", s.cand, -1, "outside 0–100"},
		{"orders", "stable", "ghost", 10, "no upstream of that name"},
	} {
		err := s.splits.SetSplit(c.route, c.stable, c.cand, c.pct)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetSplit(%q, %q, %q, %v) = %v; want %q", c.route, c.stable, c.cand, c.pct, err, c.want)
		}
	}
	if got := s.who(t, "k"); got != "stable" {
		t.Errorf("after refused splits: %s", got)
	}
	two := parseConfig(t, `
upstreams: [{name: a, url: "http://127.0.0.1:1"}, {name: b, url: "http://127.0.0.1:2"}]
routes: [{name: r, targets: [{upstream: a, weight: 1}, {upstream: b, weight: 1}]}]
`)
	sp := gateway.NewSplits(nil)
	sp.Attach(gateway.NewHandler(newGateway(t, two, gateway.Options{Splits: sp})))
	if _, err := sp.Stable("r"); err == nil || !strings.Contains(err.Error(), "2 targets with a positive weight") {
		t.Errorf("Stable of a two-target route: %v", err)
	}
}

// A candidate that refuses connections does not cost an idempotent
// request its answer: it is retried on stable.
func TestSplitDeadCandidateRetriedOnStable(t *testing.T) {
	s := newSplitSetup(t)
	if err := s.splits.SetSplit("orders", "stable", deadURL(t), 100); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if got := s.who(t, fmt.Sprint("c", i)); got != "stable" {
			t.Fatalf("got %s", got)
		}
	}
}

// Shares change under load; every request is answered (run with -race).
func TestSplitChangesUnderLoad(t *testing.T) {
	s := newSplitSetup(t)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 150 {
				req, _ := http.NewRequest("GET", s.url+"/x", nil)
				req.Header.Set("X-Client-Id", fmt.Sprint(w, "-", i))
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				res.Body.Close()
				if res.StatusCode != 200 {
					errs <- fmt.Sprint("status ", res.StatusCode)
					return
				}
			}
		}()
	}
	for _, p := range []float64{10, 25, 50, 0, 75, 100, 0} {
		if err := s.splits.SetSplit("orders", "stable", s.cand, p); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
