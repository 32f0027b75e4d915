package gateway

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"holdfast/internal/config"
)

func TestParseTraceparent(t *testing.T) {
	const tid = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		in        string
		ok        bool
		wantFlags string
	}{
		// The specification's example.
		{"00-" + tid + "-00f067aa0ba902b7-01", true, "01"},
		{"00-" + tid + "-00f067aa0ba902b7-00", true, "00"},
		{"00-" + tid + "-00f067aa0ba902b7-09", true, "09"},
		{"00-" + tid + "-00f067aa0ba902b7-01-", false, ""}, // version 00 is exactly 55
		{"cc-" + tid + "-00f067aa0ba902b7-01-what-the-future-holds", true, "01"},
		{"cc-" + tid + "-00f067aa0ba902b7-01", true, "01"},
		{"cc-" + tid + "-00f067aa0ba902b7-01x", false, ""},
		{"ff-" + tid + "-00f067aa0ba902b7-01", false, ""},
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false, ""},
		{"00-" + tid + "-0000000000000000-01", false, ""},
		{"00-" + strings.ToUpper(tid) + "-00f067aa0ba902b7-01", false, ""},
		{"00-" + tid + "-00f067aa0ba902b7-0g", false, ""},
		{"00_" + tid + "-00f067aa0ba902b7-01", false, ""},
		{"0-" + tid + "-00f067aa0ba902b7-01", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		tp, ok := parseTraceparent(tt.in)
		if ok != tt.ok {
			t.Errorf("parseTraceparent(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if ok && (tp.traceID != tid || tp.flags != tt.wantFlags) {
			t.Errorf("parseTraceparent(%q) = %+v, want trace id %s flags %s", tt.in, tp, tid, tt.wantFlags)
		}
	}
}

// FuzzParseTraceparent checks that whatever comes in, an accepted header
// yields a valid outgoing one with the same trace id and flags, and the
// outgoing header parses again.
func FuzzParseTraceparent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x")
	f.Add("00-00000000000000000000000000000000-00f067aa0ba902b7-01")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		tp, ok := parseTraceparent(in)
		hdr, traceID := outgoingTraceparent(tp, ok)
		out, ok2 := parseTraceparent(hdr)
		if !ok2 {
			t.Fatalf("outgoing %q for %q does not parse", hdr, in)
		}
		if out.traceID != traceID {
			t.Fatalf("outgoing %q: trace id %q, returned %q", hdr, out.traceID, traceID)
		}
		if ok && (out.traceID != tp.traceID || out.flags != tp.flags) {
			t.Fatalf("valid %q became %q: trace id or flags changed", in, hdr)
		}
		if !ok && out.flags != "01" {
			t.Fatalf("new trace %q for invalid %q is not sampled", hdr, in)
		}
	})
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\`, "tab\tnl\ncr\r", "\x00\x1f\x7f", "héllo ✓", "bad\xffutf8", "<&>"} {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("appendJSONString(%q) = %s: %v", s, got, err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\uFFFD"); back != want {
			t.Errorf("appendJSONString(%q) decodes to %q, want %q", s, back, want)
		}
	}
}

// FuzzAppendJSONString checks the access log's string encoder against the
// JSON decoder: the output always decodes, to the input with invalid UTF-8
// replaced.
func FuzzAppendJSONString(f *testing.F) {
	f.Add("hello")
	f.Add("a\"b\\c\n\x01")
	f.Add("\xff\xfe")
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("appendJSONString(%q) = %s: %v", s, got, err)
		}
		want := s
		if !utf8.ValidString(s) {
			// One U+FFFD per invalid byte, as the encoder writes.
			var b strings.Builder
			for i := 0; i < len(s); {
				r, n := utf8.DecodeRuneInString(s[i:])
				if r == utf8.RuneError && n == 1 {
					b.WriteRune(utf8.RuneError)
				} else {
					b.WriteString(s[i : i+n])
				}
				i += n
			}
			want = b.String()
		}
		if back != want {
			t.Fatalf("appendJSONString(%q) decodes to %q, want %q", s, back, want)
		}
	})
}

func TestCheckerThresholds(t *testing.T) {
	u := &upstream{name: "u", hc: &config.HealthCheck{Path: "/", HealthyThreshold: 2, UnhealthyThreshold: 3}}
	c := newChecker(u, slog.New(slog.NewTextHandler(io.Discard, nil)))
	fail := errors.New("status 503")
	steps := []struct {
		err         error
		wantHealthy bool
	}{
		{nil, true},
		{fail, true},
		{fail, true},
		{nil, true}, // a pass resets the failure streak
		{fail, true},
		{fail, true},
		{fail, false}, // third failure in a row
		{fail, false},
		{nil, false},
		{fail, false}, // a failure resets the pass streak
		{nil, false},
		{nil, true}, // second pass in a row
	}
	for i, s := range steps {
		c.record(s.err)
		if got := !u.unhealthy.Load(); got != s.wantHealthy {
			t.Fatalf("after step %d (%v): healthy = %v, want %v", i, s.err, got, s.wantHealthy)
		}
	}
}
