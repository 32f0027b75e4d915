package orders_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"holdfast/examples/orders"
)

// failures sends n requests to /orders and reports which ones got a 500.
func failures(t *testing.T, c *client, n int) []bool {
	t.Helper()
	out := make([]bool, n)
	for i := range out {
		res := c.do(http.MethodGet, "/orders?limit=1", "")
		switch res.status {
		case http.StatusOK:
		case http.StatusInternalServerError:
			if res.header.Get(orders.HeaderFaultInjected) != "true" {
				t.Fatalf("500 without %s: %s", orders.HeaderFaultInjected, res.body)
			}
			out[i] = true
		default:
			t.Fatalf("status %d: %s", res.status, res.body)
		}
	}
	return out
}

func count(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

func TestFailRate(t *testing.T) {
	t.Parallel()
	const n = 200
	tests := []struct {
		rate     float64
		min, max int
	}{
		{0, 0, 0},
		{1, n, n},
		{0.5, n / 4, 3 * n / 4},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			backend := b.new(t)
			for _, tt := range tests {
				c := serve(t, orders.Options{Backend: backend, FailRate: tt.rate, Seed: 7})
				if got := count(failures(t, c, n)); got < tt.min || got > tt.max {
					t.Errorf("fail rate %v: %d of %d requests failed, want %d..%d", tt.rate, got, n, tt.min, tt.max)
				}
			}
		})
	}
}

// The same seed fails the same requests.
func TestFailRateIsSeeded(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) string {
		c := serve(t, orders.Options{Backend: orders.NewMock(nil), FailRate: 0.3, Seed: seed})
		var b strings.Builder
		for _, f := range failures(t, c, 60) {
			if f {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	first, again, other := run(42), run(42), run(43)
	if first != again {
		t.Errorf("seed 42 failed\n%s\nthen\n%s", first, again)
	}
	if first == other {
		t.Errorf("seeds 42 and 43 failed the same requests: %s", first)
	}
}

func TestAdminFaults(t *testing.T) {
	t.Parallel()
	c := serve(t, orders.Options{Backend: orders.NewMock(nil)})
	type faults struct {
		FailRate     float64 `json:"fail_rate"`
		ExtraLatency string  `json:"extra_latency"`
	}
	var got faults
	c.get("/admin/faults", http.StatusOK, &got)
	if want := (faults{0, "0s"}); got != want {
		t.Fatalf("initial faults = %+v, want %+v", got, want)
	}

	steps := []struct {
		body       string
		wantStatus int
		want       faults // after the step
		wantField  string
		ordersOK   bool // GET /orders succeeds afterwards
	}{
		{`{"fail_rate": 1}`, 200, faults{1, "0s"}, "", false},
		{`{"extra_latency": "40ms"}`, 200, faults{1, "40ms"}, "", false},
		{`{"fail_rate": 0, "extra_latency": "0s"}`, 200, faults{0, "0s"}, "", true},
		{`{"fail_rate": 1.5}`, 400, faults{0, "0s"}, "fail_rate", true},
		{`{"fail_rate": -0.1}`, 400, faults{0, "0s"}, "fail_rate", true},
		{`{"extra_latency": "soon"}`, 400, faults{0, "0s"}, "extra_latency", true},
		{`{"extra_latency": "2h"}`, 400, faults{0, "0s"}, "extra_latency", true},
		{`{"failrate": 1}`, 400, faults{0, "0s"}, "failrate", true},
		{`{"fail_rate": "all"}`, 400, faults{0, "0s"}, "fail_rate", true},
	}
	for _, s := range steps {
		res := c.do(http.MethodPost, "/admin/faults", s.body)
		if s.wantStatus != http.StatusOK {
			var e apiError
			res.expect(t, s.wantStatus, &e)
			if e.Field != s.wantField {
				t.Errorf("POST %s: error %+v, want field %q", s.body, e, s.wantField)
			}
		} else {
			var f faults
			res.expect(t, http.StatusOK, &f)
			if f != s.want {
				t.Errorf("POST %s answered %+v, want %+v", s.body, f, s.want)
			}
		}
		c.get("/admin/faults", http.StatusOK, &got) // never faulted itself
		if got != s.want {
			t.Errorf("after POST %s: faults %+v, want %+v", s.body, got, s.want)
		}
		if res := c.do(http.MethodGet, "/orders", ""); (res.status == http.StatusOK) != s.ordersOK {
			t.Errorf("after POST %s: GET /orders = %d, want ok=%v", s.body, res.status, s.ordersOK)
		}
	}
}

func TestExtraLatency(t *testing.T) {
	t.Parallel()
	const latency = 50 * time.Millisecond
	c := serve(t, orders.Options{Backend: orders.NewMock(nil), ExtraLatency: latency})
	start := time.Now()
	c.get("/healthz", http.StatusOK, nil)
	// A lower bound only: the latency is a promise about behaviour, how much
	// more the request took is not this test's business.
	if took := time.Since(start); took < latency {
		t.Errorf("request took %v, want at least the injected %v", took, latency)
	}
}

func TestNewHandlerRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts orders.Options
		want string
	}{
		{"no backend", orders.Options{}, "Backend"},
		{"fail rate above 1", orders.Options{Backend: orders.NewMock(nil), FailRate: 1.01}, "fail_rate"},
		{"negative latency", orders.Options{Backend: orders.NewMock(nil), ExtraLatency: -time.Second}, "extra_latency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := orders.NewHandler(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewHandler error = %v, want it to name %q", err, tt.want)
			}
		})
	}
}
