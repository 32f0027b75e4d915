package gateway

import (
	"net/http/httptest"
	"testing"

	"holdfast/internal/config"
)

// The request path of a split makes no allocation.
func TestSplitPickAllocatesNothing(t *testing.T) {
	cfg := &config.Config{
		Upstreams: []config.Upstream{{Name: "real", URL: "http://127.0.0.1:1"}, {Name: "canary", URL: "http://127.0.0.1:3"}},
		Routes: []config.Route{{Name: "orders", Targets: []config.Target{{Upstream: "real", Weight: 1}},
			Rollout: &config.RouteRollout{ClientKey: "header:X-User"}}},
	}
	s := NewSplits(nil)
	g, err := New(cfg, Options{Splits: s})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	s.Attach(NewHandler(g))
	if err := s.SetSplit("orders", "real", "canary", 40); err != nil {
		t.Fatal(err)
	}
	rt := g.routeByName("orders")
	sp := rt.split.Load()
	req := httptest.NewRequest("GET", "/orders", nil)
	req.Header.Set("X-User", "alice")
	cand := 0
	allocs := testing.AllocsPerRun(1000, func() {
		var st splitTry
		if tg, _ := rt.pickTarget(sp, req, "", &st, 0, 1); tg == sp.cand {
			cand++
		}
	})
	if allocs != 0 {
		t.Errorf("pickTarget allocates %v times per request", allocs)
	}
	if cand != 0 && cand != 1001 {
		t.Errorf("one client went to the candidate %d times of 1001: not sticky", cand)
	}
}
