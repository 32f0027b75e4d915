package httpfield

import "testing"

func TestSyntax(t *testing.T) {
	for _, c := range []struct {
		s            string
		token, value bool
	}{
		{"Content-Type", true, true},
		{"x_y.z~!", true, true},
		{"", false, true},
		{"Bad Name", false, true},
		{"a:b", false, true},
		{"caf\xc3\xa9", false, true},
		{"tab\tok", false, true},
		{"nul\x00", false, false},
		{"cr\r", false, false},
		{"del\x7f", false, false},
	} {
		if got := IsToken(c.s); got != c.token {
			t.Errorf("IsToken(%q) = %v", c.s, got)
		}
		if got := ValidValue(c.s); got != c.value {
			t.Errorf("ValidValue(%q) = %v", c.s, got)
		}
	}
}

func TestHasToken(t *testing.T) {
	for _, c := range []struct {
		v    string
		want bool
	}{
		{"close", true},
		{"Keep-Alive, CLOSE", true},
		{" \tclose\t ", true},
		{"keep-alive,close,", true},
		{"closed", false},
		{"keep-alive", false},
		{"", false},
		{"clo\u017fe", false},  // no Unicode folding (net/http's httpguts neither)
		{"\u00a0close", false}, // no Unicode spaces
	} {
		if got := HasToken(c.v, "close"); got != c.want {
			t.Errorf("HasToken(%q, close) = %v, want %v", c.v, got, c.want)
		}
	}
	if !AnyHasToken([]string{"keep-alive", "Upgrade"}, "upgrade") || AnyHasToken(nil, "upgrade") {
		t.Error("AnyHasToken")
	}
	if got := TrimOWS(" \t a b \t"); got != "a b" {
		t.Errorf("TrimOWS = %q", got)
	}
}
