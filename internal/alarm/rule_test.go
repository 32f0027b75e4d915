package alarm

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseRule(t *testing.T) {
	tests := []struct {
		src   string
		canon string
		names []string
	}{
		// The examples of Create_Composite_Alarm.md.
		{"ALARM(CPUUtilizationTooHigh) AND ALARM(DiskReadOpsTooHigh)",
			`ALARM("CPUUtilizationTooHigh") AND ALARM("DiskReadOpsTooHigh")`, []string{"CPUUtilizationTooHigh", "DiskReadOpsTooHigh"}},
		{"ALARM(CPUUtilizationTooHigh) AND NOT ALARM(DeploymentInProgress)",
			`ALARM("CPUUtilizationTooHigh") AND NOT ALARM("DeploymentInProgress")`, []string{"CPUUtilizationTooHigh", "DeploymentInProgress"}},
		{"(ALARM(CPUUtilizationTooHigh) OR ALARM(DiskReadOpsTooHigh)) AND OK(NetworkOutTooHigh)",
			`(ALARM("CPUUtilizationTooHigh") OR ALARM("DiskReadOpsTooHigh")) AND OK("NetworkOutTooHigh")`, nil},
		{`ALARM("error rate (orders)") OR INSUFFICIENT_DATA( "a\"b\\c" )`,
			`ALARM("error rate (orders)") OR INSUFFICIENT_DATA("a\"b\\c")`, []string{"error rate (orders)", `a"b\c`}},
		{"TRUE", "TRUE", nil},
		{"NOT FALSE", "NOT FALSE", nil},
		{"ALARM(a) OR ALARM(b) AND ALARM(c)", `ALARM("a") OR ALARM("b") AND ALARM("c")`, nil},
		{"(ALARM(a) OR ALARM(b)) AND ALARM(c)", `(ALARM("a") OR ALARM("b")) AND ALARM("c")`, nil},
		{"ALARM(a) AND (ALARM(b) AND ALARM(c))", `ALARM("a") AND (ALARM("b") AND ALARM("c"))`, nil},
		{"NOT (ALARM(a) OR OK(a))", `NOT (ALARM("a") OR OK("a"))`, []string{"a"}},
		{"ALARM(AND)", `ALARM("AND")`, []string{"AND"}},
		{"ALARM(arn:aws:cloudwatch:us-east-1:123:alarm:x)", `ALARM("arn:aws:cloudwatch:us-east-1:123:alarm:x")`, nil},
	}
	for _, tt := range tests {
		r, err := ParseRule(tt.src)
		if err != nil {
			t.Errorf("ParseRule(%q): %v", tt.src, err)
			continue
		}
		if got := r.String(); got != tt.canon {
			t.Errorf("ParseRule(%q).String()\n got %s\nwant %s", tt.src, got, tt.canon)
		}
		if tt.names != nil && !slices.Equal(r.Names(), tt.names) {
			t.Errorf("ParseRule(%q).Names() = %q, want %q", tt.src, r.Names(), tt.names)
		}
	}
}

func TestParseRuleErrors(t *testing.T) {
	tests := []struct {
		src    string
		column int
		msg    string
	}{
		{"", 1, "empty rule"},
		{"   ", 1, "empty rule"},
		{"ALARM(a", 8, `expected ")" after the alarm name`},
		{"ALARM(a b)", 9, "quote names that contain spaces"},
		{"ALARM()", 7, "expected an alarm name"},
		{`ALARM("")`, 7, "empty alarm name"},
		{"ALARM a", 7, `expected "(" after ALARM`},
		{"ALARM(a) ALARM(b)", 10, "join conditions with AND or OR"},
		{"ALARM(a) AND", 13, "found end of rule"},
		{"(ALARM(a)", 10, `to close the "(" at column 1`},
		{"ALARM(a))", 9, `unmatched ")"`},
		{`ALARM("abc`, 7, "unterminated quoted name"},
		{`ALARM("a\nb")`, 9, "bad escape"},
		{"alarm(a)", 1, "keywords are upper case; write ALARM"},
		{"ALARM(a) and OK(b)", 10, "join conditions with AND or OR"},
		{"MAYBE(a)", 1, "expected ALARM(name)"},
		{"NOT", 4, "found end of rule"},
		{strings.Repeat("(", 200) + "TRUE" + strings.Repeat(")", 200), 101, "nested more than 100 deep"},
		{strings.Repeat("x", MaxRuleLength+1), MaxRuleLength + 1, "the limit is 10240"},
	}
	for _, tt := range tests {
		_, err := ParseRule(tt.src)
		var re *RuleError
		if !errors.As(err, &re) {
			t.Errorf("ParseRule(%.40q) = %v, want *RuleError", tt.src, err)
			continue
		}
		if re.Column != tt.column || !strings.Contains(re.Msg, tt.msg) {
			t.Errorf("ParseRule(%.40q) = column %d %q, want column %d containing %q", tt.src, re.Column, re.Msg, tt.column, tt.msg)
		}
	}
}

func TestRuleEval(t *testing.T) {
	states := map[string]State{"cpu": StateAlarm, "disk": StateOK, "net": StateInsufficientData}
	lookup := func(n string) State { return states[n] }
	tests := []struct {
		src  string
		want bool
	}{
		{"ALARM(cpu)", true},
		{"OK(cpu)", false},
		{"INSUFFICIENT_DATA(net)", true},
		{"ALARM(cpu) AND ALARM(disk)", false},
		{"ALARM(cpu) OR ALARM(disk)", true},
		{"ALARM(cpu) AND NOT ALARM(disk)", true},
		{"NOT ALARM(cpu) OR OK(disk) AND INSUFFICIENT_DATA(net)", true},
		{"NOT (ALARM(cpu) OR OK(disk)) AND INSUFFICIENT_DATA(net)", false},
		{"TRUE AND FALSE", false},
		{"FALSE OR TRUE", true},
		{"NOT NOT TRUE", true},
	}
	for _, tt := range tests {
		r, err := ParseRule(tt.src)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Eval(lookup); got != tt.want {
			t.Errorf("%s = %v, want %v", tt.src, got, tt.want)
		}
	}
}

// FuzzParseRule: the parser never panics, errors carry a column inside the
// input (or just past it), and the canonical form parses back to itself.
func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		"ALARM(a) AND NOT OK(b)", `(ALARM("x y") OR INSUFFICIENT_DATA(z)) AND TRUE`,
		"NOT (FALSE)", `ALARM("a\"b")`, "ALARM(a", "((", ")", `"`, "OK(OK) OR OK(OR)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		r, err := ParseRule(src)
		if err != nil {
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RuleError", err)
			}
			if re.Column < 1 || (re.Column > len(src)+1 && len(src) <= MaxRuleLength) {
				t.Fatalf("column %d outside input of %d bytes", re.Column, len(src))
			}
			return
		}
		canon := r.String()
		r2, err := ParseRule(canon)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", canon, src, err)
		}
		if got := r2.String(); got != canon {
			t.Fatalf("canonical form not stable: %q -> %q", canon, got)
		}
		if !slices.Equal(r.Names(), r2.Names()) {
			t.Fatalf("names changed: %q -> %q", r.Names(), r2.Names())
		}
	})
}
