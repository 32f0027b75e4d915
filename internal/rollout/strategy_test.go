package rollout

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPredefinedStrategies(t *testing.T) {
	m := time.Minute
	linear := func(every time.Duration) []Step {
		var out []Step
		for w := 10; w < 100; w += 10 {
			out = append(out, Step{float64(w), every})
		}
		return append(out, Step{100, 0})
	}
	tests := []struct {
		name string
		want []Step
	}{
		{"Canary10Percent5Minutes", []Step{{10, 5 * m}, {100, 0}}},
		{"Canary10Percent10Minutes", []Step{{10, 10 * m}, {100, 0}}},
		{"Canary10Percent15Minutes", []Step{{10, 15 * m}, {100, 0}}},
		{"Canary10Percent30Minutes", []Step{{10, 30 * m}, {100, 0}}},
		{"Linear10PercentEvery1Minute", linear(m)},
		{"Linear10PercentEvery2Minutes", linear(2 * m)},
		{"Linear10PercentEvery3Minutes", linear(3 * m)},
		{"Linear10PercentEvery10Minutes", linear(10 * m)},
		{"AllAtOnce", []Step{{100, 0}}},
	}
	if got, want := len(tests), len(PredefinedNames()); got != want {
		t.Fatalf("table has %d strategies, PredefinedNames %d", got, want)
	}
	for _, tt := range tests {
		for _, in := range []string{tt.name, strings.ToLower(tt.name), "CodeDeployDefault.Lambda" + tt.name} {
			got, err := ParseStrategy(in)
			if err != nil {
				t.Fatalf("ParseStrategy(%q): %v", in, err)
			}
			if got.Name != tt.name || !equalSteps(got.Steps, tt.want) {
				t.Errorf("ParseStrategy(%q) = %s %v, want %s %v", in, got.Name, got.Steps, tt.name, tt.want)
			}
		}
	}
}

func equalSteps(a, b []Step) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCustomStrategies(t *testing.T) {
	s := time.Second
	tests := []struct {
		in   string
		want []Step
	}{
		{"canary:25%:90s", []Step{{25, 90 * s}, {100, 0}}},
		{"canary:0.5:1m", []Step{{0.5, 60 * s}, {100, 0}}},
		{"linear:30%:1m", []Step{{30, 60 * s}, {60, 60 * s}, {90, 60 * s}, {100, 0}}},
		{"linear:50:30s", []Step{{50, 30 * s}, {100, 0}}},
		{"steps:1%:30s,2%:30s,10%:1m,80%:2m", []Step{{1, 30 * s}, {2, 30 * s}, {10, 60 * s}, {80, 120 * s}, {100, 0}}},
		{"steps:5%:1m,100%:10m", []Step{{5, 60 * s}, {100, 600 * s}}},
		{"Steps: 5% : 1m , 50%:2m", []Step{{5, 60 * s}, {50, 120 * s}, {100, 0}}},
	}
	for _, tt := range tests {
		got, err := ParseStrategy(tt.in)
		if err != nil {
			t.Fatalf("ParseStrategy(%q): %v", tt.in, err)
		}
		if !equalSteps(got.Steps, tt.want) {
			t.Errorf("ParseStrategy(%q) = %v, want %v", tt.in, got.Steps, tt.want)
		}
		again, err := ParseStrategy(got.Name) // the canonical name parses back
		if err != nil || !equalSteps(again.Steps, got.Steps) {
			t.Errorf("ParseStrategy(%q) (name of %q) = %v, %v", got.Name, tt.in, again.Steps, err)
		}
	}
}

func TestStrategyErrors(t *testing.T) {
	tests := []struct {
		in, want string
		is       error
	}{
		{"Canary5", "use one of Canary10Percent5Minutes, Canary10Percent10Minutes", ErrUnknownStrategy},
		{"", "AllAtOnce", ErrUnknownStrategy},
		{"rolling:10%:1m", "unknown strategy", ErrUnknownStrategy},
		{"canary:0%:1m", "outside (0, 100)", ErrBadStrategy},
		{"canary:100%:1m", "outside (0, 100)", ErrBadStrategy},
		{"canary:10%:0s", "needs a positive duration", ErrBadStrategy},
		{"canary:NaN:1m", "outside (0, 100)", ErrBadStrategy},
		{"linear:0.01%:1m", "use at least 0.1%", ErrBadStrategy},
		{"canary:ten:1m", `percentage "ten" is not a number`, ErrBadStrategy},
		{"canary:10%:5", "use a Go duration", ErrBadStrategy},
		{"canary:10%", "is not PCT%:DURATION", ErrBadStrategy},
		{"steps:10%:1m,5%:1m", "step 2: weight 5% is not above the previous step's 10%", ErrBadStrategy},
		{"steps:10%:1m,150%:1m", "step 2: weight 150% is outside (0, 100]", ErrBadStrategy},
		{"steps:100%:1m,100%:1m", "step 1 reaches 100% but more steps follow", ErrBadStrategy},
		{"steps:10%:-1m", "negative", ErrBadStrategy},
		{"steps:10%:49h", "exceeds 48h0m0s", ErrBadStrategy},
	}
	for _, tt := range tests {
		_, err := ParseStrategy(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.is) {
			t.Errorf("ParseStrategy(%q) = %v, want an error containing %q wrapping %v", tt.in, err, tt.want, tt.is)
		}
	}
}

func FuzzParseStrategy(f *testing.F) {
	for _, s := range append(PredefinedNames(), "canary:10%:5m", "linear:33.3%:1m", "steps:1%:30s,2%:1m,100%:0s", "steps:", "canary::", "linear:1e-300:1s") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		st, err := ParseStrategy(in)
		if err != nil {
			return
		}
		if len(st.Steps) == 0 || len(st.Steps) > MaxSteps+1 || st.Steps[len(st.Steps)-1].Weight != 100 {
			t.Fatalf("ParseStrategy(%q) = %v: must end at 100%% with 1..%d steps", in, st.Steps, MaxSteps+1)
		}
		prev := 0.0
		for i, s := range st.Steps {
			last := i == len(st.Steps)-1
			if !(s.Weight > prev) || s.Weight > 100 || s.Duration < 0 || (!last && s.Duration <= 0) {
				t.Fatalf("ParseStrategy(%q): bad step %d %v", in, i, s)
			}
			prev = s.Weight
		}
		if _, err := Steps(st.Steps); err != nil {
			t.Fatalf("ParseStrategy(%q) returned steps that Steps rejects: %v", in, err)
		}
	})
}
