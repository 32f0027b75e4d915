package gateway

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"holdfast/internal/config"
)

func testTargets(weights ...int) []*target {
	ts := make([]*target, len(weights))
	for i, w := range weights {
		name := string(rune('a' + i))
		ts[i] = &target{up: &upstream{name: name}, weight: w, seed: mix64(hashString(name))}
	}
	return ts
}

func TestSmoothWRRSequence(t *testing.T) {
	tests := []struct {
		weights []int
		n       int
		want    string
	}{
		{[]int{5, 1, 1}, 7, "aabacaa"}, // nginx's documented example
		{[]int{5, 1, 1}, 14, "aabacaaaabacaa"},
		{[]int{1, 1}, 4, "abab"},
		{[]int{2, 1}, 6, "abaaba"},
		{[]int{0, 1}, 3, "bbb"}, // zero weight: never
		{[]int{3, 0, 2}, 5, "acaca"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.weights), func(t *testing.T) {
			ts := testTargets(tt.weights...)
			s := newSmoothWRR(len(ts))
			var got strings.Builder
			for range tt.n {
				got.WriteString(ts[s.Select(ts, "", pickSet{health: true})].up.name)
			}
			if got.String() != tt.want {
				t.Errorf("sequence = %s, want %s", got.String(), tt.want)
			}
		})
	}
}

func TestSmoothWRRSkipsIneligible(t *testing.T) {
	ts := testTargets(5, 1, 1)
	ts[0].up.unhealthy.Store(true)
	s := newSmoothWRR(len(ts))
	var got strings.Builder
	for range 4 {
		got.WriteString(ts[s.Select(ts, "", pickSet{health: true})].up.name)
	}
	if got, want := got.String(), "bcbc"; got != want {
		t.Errorf("with a unhealthy: %s, want %s", got, want)
	}
	if got, want := s.Select(ts, "", pickSet{health: true, tried: 0b110}), -1; got != want {
		t.Errorf("all eligible ones tried: %d, want %d", got, want)
	}
	if got, want := s.Select(ts, "", pickSet{health: false, tried: 0b110}), 0; got != want {
		t.Errorf("ignoring health: %d, want %d", got, want)
	}
}

func TestRouteChooseFallsBackToUnhealthy(t *testing.T) {
	ts := testTargets(1, 1)
	for _, x := range ts {
		x.up.unhealthy.Store(true)
	}
	rt := &route{targets: ts, rr: newSmoothWRR(2)}
	if got := rt.choose("", 0, 0); got < 0 {
		t.Fatalf("all unhealthy: choose = %d, want a target anyway", got)
	}
	ts[1].up.ejectedUntil.Store(100)
	ts[0].up.unhealthy.Store(false)
	for range 3 {
		if got, want := rt.choose("", 0, 50), 0; got != want {
			t.Fatalf("b ejected until 100, now 50: choose = %d, want %d", got, want)
		}
	}
}

func TestRendezvousWeightsAndStickiness(t *testing.T) {
	ts := testTargets(1, 2, 7)
	const keys = 200000
	counts := make([]int, len(ts))
	first := make([]int, keys)
	for k := range keys {
		i := rendezvous{}.Select(ts, fmt.Sprintf("user-%d", k), pickSet{})
		counts[i]++
		first[k] = i
	}
	for i, x := range ts {
		got := float64(counts[i]) / keys
		want := float64(x.weight) / 10
		if math.Abs(got-want) > 0.01 {
			t.Errorf("target %s share = %.4f, want %.2f ± 0.01", x.up.name, got, want)
		}
	}
	// Taking b out moves only b's keys.
	moved := 0
	for k := range keys {
		i := rendezvous{}.Select(ts, fmt.Sprintf("user-%d", k), pickSet{tried: 0b010})
		if first[k] != 1 && i != first[k] {
			t.Fatalf("key %d moved from %d to %d though its target stayed", k, first[k], i)
		}
		if first[k] == 1 {
			moved++
			if i == 1 {
				t.Fatalf("key %d still on the removed target", k)
			}
		}
	}
	if moved != counts[1] {
		t.Errorf("moved %d keys, want exactly b's %d", moved, counts[1])
	}
	// Zero weight gets nothing.
	zero := testTargets(0, 1)
	for k := range 1000 {
		if got := (rendezvous{}).Select(zero, fmt.Sprint(k), pickSet{}); got != 1 {
			t.Fatalf("zero-weight target picked for key %d", k)
		}
	}
}

func TestCleanPath(t *testing.T) {
	tests := []struct {
		in, want string
		changed  bool
	}{
		{"/api/orders", "/api/orders", false},
		{"/api/orders/", "/api/orders/", false},
		{"/api/../admin", "/admin", true},
		{"/api/./x", "/api/x", true},
		{"//api", "/api", true},
		{"/a/b/../../..", "/", true},
		{"", "/", true},
		{"/.well-known/x", "/.well-known/x", false},
		{"/api/x/../", "/api/", true},
	}
	for _, tt := range tests {
		got, changed := cleanPath(tt.in)
		if got != tt.want || changed != tt.changed {
			t.Errorf("cleanPath(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
		}
	}
}

func TestKeyExtraction(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"cookie", cookieValue([]string{"a=1; session=abc; b=2"}, "session"), "abc"},
		{"cookie quoted", cookieValue([]string{`session="abc"`}, "session"), "abc"},
		{"cookie second line", cookieValue([]string{"a=1", "session=xyz"}, "session"), "xyz"},
		{"cookie missing", cookieValue([]string{"sessionx=1"}, "session"), ""},
		{"query", queryValue("a=1&user=bob&user=eve", "user"), "bob"},
		{"query escaped", queryValue("user=b%C3%B6b+x", "user"), "böb x"},
		{"query missing", queryValue("username=x", "user"), ""},
		{"remote v4", remoteIP("10.1.2.3:5555"), "10.1.2.3"},
		{"remote v6", remoteIP("[::1]:5555"), "::1"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestUpstreamDialAddr(t *testing.T) {
	tests := []struct{ url, host, dial string }{
		{"http://example.com", "example.com", "example.com:80"},
		{"https://example.com/base", "example.com", "example.com:443"},
		{"http://127.0.0.1:8081", "127.0.0.1:8081", "127.0.0.1:8081"},
		{"http://[::1]:8081", "[::1]:8081", "[::1]:8081"},
		{"http://[::1]", "[::1]", "[::1]:80"},
	}
	for _, tt := range tests {
		u, err := newUpstream(&config.Upstream{Name: "u", URL: tt.url}, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if u.host != tt.host || u.dialAddr != tt.dial {
			t.Errorf("%s: host %q dial %q, want %q %q", tt.url, u.host, u.dialAddr, tt.host, tt.dial)
		}
	}
}
