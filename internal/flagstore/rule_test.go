package flagstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
)

func TestRuleMatch(t *testing.T) {
	ctx := EvalContext{Entity: "u-42", Values: map[string]any{
		"email": "jane@example.com", "tier": "gold", "age": 30, "score": json.Number("7.5"),
		"beta": true, "country": "FR",
	}}
	tests := []struct {
		rule string
		want bool
	}{
		{`(eq $tier "gold")`, true},
		{`(eq "gold" $tier)`, true},
		{`(eq $tier "silver")`, false},
		{`(neq $tier "silver")`, true},
		{`(neq $missing "x")`, false}, // missing operands make every comparison false
		{`(not (eq $missing "x"))`, true},
		{`(eq $age 30)`, true},
		{`(eq $age "30")`, false}, // no coercion between types
		{`(gt $age 29)`, true},
		{`(gte $age 30)`, true},
		{`(lt $score 7.5)`, false},
		{`(lte $score 7.5)`, true},
		{`(gt $tier "apple")`, true},
		{`(eq $beta true)`, true},
		{`(gt $beta false)`, true}, // booleans differ: not ordered, but unequal counts as ≠
		{`(in $country ["FR" "DE"])`, true},
		{`(in $country ["US"])`, false},
		{`(in $age [1 30])`, true},
		{`(starts_with $email "jane@")`, true},
		{`(begins_with $email "john")`, false},
		{`(ends_with $email "@example.com")`, true},
		{`(ends_with $age "0")`, false},
		{`(and (eq $tier "gold") (gt $age 18) (eq $beta true))`, true},
		{`(and (eq $tier "gold") (lt $age 18))`, false},
		{`(or (lt $age 18) (eq $country "FR"))`, true},
		{`(not (or (lt $age 18) (eq $country "US")))`, true},
		{`(eq $entityId "u-42")`, true},
		{`(split pct::100 by::$email)`, true},
		{`(split pct::0 by::$email)`, false},
		{`(split pct::100 by::$missing)`, false},
		{`(split pct::100)`, true}, // by the entity
		{"(eq $email \"jane\\\"s\")", false},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			r, err := ParseRule(tt.rule)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Match("f", "entityId", ctx); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRuleErrors(t *testing.T) {
	tests := []struct {
		rule   string
		offset int
		msg    string
	}{
		{``, 0, "found the end"},
		{`eq $a 1`, 0, `expected "("`},
		{`(equals $a 1)`, 1, `unknown operator "equals"`},
		{`(eq $a 1`, 8, `missing ")"`},
		{`(eq $a)`, 1, "needs two operands"},
		{`(eq 1 2)`, 1, "two literals"},
		{`(and (eq $a 1))`, 1, "at least two"},
		{`(not (eq $a 1) (eq $b 1))`, 1, "exactly one"},
		{`(in $a "x")`, 1, "a value and a list"},
		{`(in $a [$b])`, 10, "literals"},
		{`(split pct::101 by::$id)`, 7, "0 to 100"},
		{`(split pct::-1)`, 7, "0 to 100"},
		{`(split by::$id)`, 1, "needs pct"},
		{`(split pct::1 pct::2)`, 14, "twice"},
		{`(split pct::5 size::3)`, 14, "takes pct"},
		{`(eq $a "unterminated)`, 7, "unterminated"},
		{`(eq $a 1) extra`, 10, "after the expression"},
		{`(eq $a bogus)`, 7, "not a string, number"},
		{`(starts_with $a 1)`, 1, "string operands"},
		{`(eq $a (eq $b 1))`, 7, "cannot be a comparison operand"},
		{strings.Repeat("(not ", 40) + "(eq $a 1)" + strings.Repeat(")", 40), 160, "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			_, err := ParseRule(tt.rule)
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RuleError", err)
			}
			if re.Offset != tt.offset || !strings.Contains(re.Message, tt.msg) {
				t.Errorf("err = %v, want offset %d and %q", err, tt.offset, tt.msg)
			}
		})
	}
}

// TestSplit checks the split share, that it is stable per entity, and that
// splits are not additive across variants (AppConfig: 20%/20% is 20%/0%).
func TestSplit(t *testing.T) {
	a, _ := ParseRule(`(split pct::20 by::$userId)`)
	b, _ := ParseRule(`(split pct::20 by::$userId)`)
	const n = 20000
	var inA, inB int
	for i := range n {
		ctx := EvalContext{Values: map[string]any{"userId": fmt.Sprintf("user-%d", i)}}
		switch {
		case a.Match("f", "entityId", ctx):
			inA++
		case b.Match("f", "entityId", ctx):
			inB++
		}
		if a.Match("f", "entityId", ctx) != a.Match("f", "entityId", ctx) {
			t.Fatal("split is not stable")
		}
	}
	if got := 100 * float64(inA) / n; math.Abs(got-20) > 1 {
		t.Errorf("first variant: %.2f%%, want about 20%%", got)
	}
	if inB != 0 {
		t.Errorf("second variant got %d entities, want 0", inB)
	}
	if got := a.Vars(); len(got) != 1 || got[0] != "userId" {
		t.Errorf("Vars = %v", got)
	}
}

func TestEvaluateVariants(t *testing.T) {
	f := newFixture(t, Environment{})
	ctx := t.Context()
	v, err := f.svc.CreateVersion(ctx, []byte(fullDoc), "checkout", "alice", t0)
	if err != nil {
		t.Fatal(err)
	}
	f.deploy(v.Number, AllAtOnce, t0)
	tests := []struct {
		ctx         EvalContext
		enabled     bool
		variant     string
		limit       float64
		reason      string
		errExpected error
	}{
		{EvalContext{Values: map[string]any{"email": "a@example.com"}}, true, "staff", 100, ReasonTargetingMatch, nil},
		{EvalContext{Values: map[string]any{"email": "a@other.org"}}, false, "Default", 1, ReasonDefault, nil},
	}
	for _, tt := range tests {
		r, err := f.svc.Evaluate("prod", "checkout", tt.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.Enabled != tt.enabled || r.Variant != tt.variant || r.Attributes["limit"] != tt.limit || r.Reason != tt.reason || r.Version != v.Number {
			t.Errorf("Evaluate(%v) = %+v", tt.ctx, r)
		}
	}
	// About 10% of users hit the split variant.
	hits := 0
	for i := range 5000 {
		r, _ := f.svc.Evaluate("prod", "checkout", EvalContext{Values: map[string]any{"userId": fmt.Sprint(i)}})
		if r.Variant == "tenpct" {
			hits++
		}
	}
	if hits < 400 || hits > 600 {
		t.Errorf("split variant: %d of 5000", hits)
	}
	// Results are copies.
	r, _ := f.svc.Evaluate("prod", "checkout", EvalContext{})
	r.Attributes["limit"] = -1.0
	if r2, _ := f.svc.Evaluate("prod", "checkout", EvalContext{}); r2.Attributes["limit"] == -1.0 {
		t.Error("Evaluate returned shared attributes")
	}
	r, _ = f.svc.Evaluate("prod", "quiet", EvalContext{})
	if r.Enabled || r.Reason != ReasonStatic {
		t.Errorf("quiet = %+v", r)
	}
	if _, err := f.svc.Evaluate("prod", "nope", EvalContext{}); !errors.Is(err, ErrUnknownFlag) {
		t.Errorf("unknown flag = %v", err)
	}
	if _, err := f.svc.Evaluate("qa", "checkout", EvalContext{}); !errors.Is(err, ErrUnknownEnvironment) {
		t.Errorf("unknown env = %v", err)
	}
	if v, known := f.svc.Bool("kill", "x"); v || known {
		t.Errorf("Bool(kill) in a version without it = %v, %v", v, known)
	}
}
