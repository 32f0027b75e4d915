package rollout

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Step is one stage of a rollout: the candidate receives Weight percent of
// the route's traffic for Duration, then the next step begins (once its
// analysis has passed). The last step is always 100 %; its Duration is the
// bake time, during which alarms are still watched before the post-traffic
// hook and promotion.
type Step struct {
	Weight   float64       `json:"weight"`
	Duration time.Duration `json:"duration"`
}

// StrategyKind says how a strategy was built.
type StrategyKind string

// Strategy kinds.
const (
	KindCanary    StrategyKind = "canary"
	KindLinear    StrategyKind = "linear"
	KindAllAtOnce StrategyKind = "all-at-once"
	KindSteps     StrategyKind = "steps"
)

// Strategy is a validated list of steps with the name it was given.
type Strategy struct {
	Name  string       `json:"name"`
	Kind  StrategyKind `json:"kind"`
	Steps []Step       `json:"steps"`
}

// Limits on strategies.
const (
	// MaxSteps is the largest number of steps a strategy may have.
	MaxSteps = 1000
	// MaxStepDuration is the longest a single step may last (CloudFormation
	// caps CodeDeploy intervals at 2880 minutes).
	MaxStepDuration = 48 * time.Hour
)

// ErrUnknownStrategy is wrapped by ParseStrategy for a name it does not know.
var ErrUnknownStrategy = errors.New("unknown strategy")

// ErrBadStrategy is wrapped by every other strategy validation error.
var ErrBadStrategy = errors.New("bad strategy")

// predefined are CodeDeploy's predefined Lambda deployment configurations
// (CodeDeployDefault.Lambda*), as the AWS CodeDeploy User Guide,
// "Deployment configurations on an AWS Lambda compute platform", describes
// them: canary shifts 10 % then the other 90 % N minutes later; linear
// shifts 10 % every N minutes until all traffic is shifted; all-at-once
// shifts everything at once. SAM uses the names without the prefix.
var predefined = []struct {
	name     string
	kind     StrategyKind
	percent  float64
	interval time.Duration
}{
	{"Canary10Percent5Minutes", KindCanary, 10, 5 * time.Minute},
	{"Canary10Percent10Minutes", KindCanary, 10, 10 * time.Minute},
	{"Canary10Percent15Minutes", KindCanary, 10, 15 * time.Minute},
	{"Canary10Percent30Minutes", KindCanary, 10, 30 * time.Minute},
	{"Linear10PercentEvery1Minute", KindLinear, 10, time.Minute},
	{"Linear10PercentEvery2Minutes", KindLinear, 10, 2 * time.Minute},
	{"Linear10PercentEvery3Minutes", KindLinear, 10, 3 * time.Minute},
	{"Linear10PercentEvery10Minutes", KindLinear, 10, 10 * time.Minute},
	{"AllAtOnce", KindAllAtOnce, 100, 0},
}

// PredefinedNames returns the names of the predefined strategies, in the
// order of CodeDeploy's documentation.
func PredefinedNames() []string {
	out := make([]string, len(predefined))
	for i, p := range predefined {
		out[i] = p.name
	}
	return out
}

// codeDeployPrefix is the prefix of CodeDeploy's own configuration names;
// ParseStrategy accepts names with or without it.
const codeDeployPrefix = "CodeDeployDefault.Lambda"

// ParseStrategy reads a strategy:
//
//   - a predefined name: Canary10Percent5Minutes, ..., AllAtOnce (case does
//     not matter; CodeDeploy's CodeDeployDefault.Lambda prefix is accepted);
//   - canary:PCT%:INTERVAL — PCT % for INTERVAL, then 100 %;
//   - linear:PCT%:INTERVAL — PCT % more every INTERVAL until 100 %;
//   - steps:PCT%:DURATION,PCT%:DURATION,... — explicit weights, each held
//     for its duration; 100 % is appended when the list does not end there.
//
// Percentages may have decimals ("0.5%"; the % sign is optional) and
// durations are Go durations ("90s", "5m", "1h30m").
func ParseStrategy(s string) (Strategy, error) {
	s = strings.TrimSpace(s)
	name := s
	if len(name) > len(codeDeployPrefix) && strings.EqualFold(name[:len(codeDeployPrefix)], codeDeployPrefix) {
		name = name[len(codeDeployPrefix):]
	}
	for _, p := range predefined {
		if strings.EqualFold(name, p.name) {
			var st Strategy
			var err error
			switch p.kind {
			case KindCanary:
				st, err = Canary(p.percent, p.interval)
			case KindLinear:
				st, err = Linear(p.percent, p.interval)
			default:
				st = AllAtOnce()
			}
			st.Name = p.name
			return st, err
		}
	}
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return Strategy{}, unknownStrategy(s)
	}
	switch strings.ToLower(kind) {
	case "canary", "linear":
		pct, dur, err := parsePair(rest)
		if err != nil {
			return Strategy{}, fmt.Errorf("strategy %q: %w", s, err)
		}
		if strings.EqualFold(kind, "canary") {
			return Canary(pct, dur)
		}
		return Linear(pct, dur)
	case "steps":
		parts := strings.Split(rest, ",")
		if len(parts) > MaxSteps {
			return Strategy{}, fmt.Errorf("%w %q: %d steps; use at most %d", ErrBadStrategy, s, len(parts), MaxSteps)
		}
		steps := make([]Step, 0, len(parts))
		for i, p := range parts {
			pct, dur, err := parsePair(p)
			if err != nil {
				return Strategy{}, fmt.Errorf("strategy %q: step %d: %w", s, i+1, err)
			}
			steps = append(steps, Step{Weight: pct, Duration: dur})
		}
		return Steps(steps)
	}
	return Strategy{}, unknownStrategy(s)
}

func unknownStrategy(s string) error {
	return fmt.Errorf("%w %q: use one of %s, or canary:PCT%%:INTERVAL, linear:PCT%%:INTERVAL, steps:PCT%%:DURATION,...",
		ErrUnknownStrategy, s, strings.Join(PredefinedNames(), ", "))
}

// parsePair parses "PCT%:DURATION".
func parsePair(s string) (float64, time.Duration, error) {
	p, d, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, 0, fmt.Errorf("%w: %q is not PCT%%:DURATION", ErrBadStrategy, s)
	}
	pct, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(p), "%"), 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: percentage %q is not a number", ErrBadStrategy, p)
	}
	dur, err := time.ParseDuration(strings.TrimSpace(d))
	if err != nil {
		return 0, 0, fmt.Errorf("%w: duration %q: use a Go duration such as 90s, 5m or 1h", ErrBadStrategy, d)
	}
	return pct, dur, nil
}

// Canary shifts percent of the traffic, waits interval, then shifts the
// rest (CodeDeploy's TimeBasedCanary).
func Canary(percent float64, interval time.Duration) (Strategy, error) {
	if err := checkPercent("canary percentage", percent); err != nil {
		return Strategy{}, err
	}
	st, err := Steps([]Step{{percent, interval}, {100, 0}})
	st.Kind = KindCanary
	st.Name = "canary:" + fmtPct(percent) + ":" + interval.String()
	return st, err
}

// Linear shifts percent more of the traffic every interval until all of it
// is shifted (CodeDeploy's TimeBasedLinear); the last increment is what is
// left when percent does not divide 100.
func Linear(percent float64, interval time.Duration) (Strategy, error) {
	if err := checkPercent("linear percentage", percent); err != nil {
		return Strategy{}, err
	}
	nf := math.Ceil(100/percent - 1e-9)
	if nf > MaxSteps {
		return Strategy{}, fmt.Errorf("%w: linear %s makes %.0f steps; use at least %s", ErrBadStrategy, fmtPct(percent), nf, fmtPct(100.0/MaxSteps))
	}
	n := int(nf)
	steps := make([]Step, 0, n)
	for i := 1; i < n; i++ {
		// Multiply rather than accumulate so 10 % steps land on 10, 20, 30.
		steps = append(steps, Step{math.Round(float64(i)*percent*1e9) / 1e9, interval})
	}
	steps = append(steps, Step{100, 0})
	st, err := Steps(steps)
	st.Kind = KindLinear
	st.Name = "linear:" + fmtPct(percent) + ":" + interval.String()
	return st, err
}

// AllAtOnce shifts all traffic at once.
func AllAtOnce() Strategy {
	return Strategy{Name: "AllAtOnce", Kind: KindAllAtOnce, Steps: []Step{{100, 0}}}
}

// Steps validates an explicit list of steps (Flagger's stepWeights with a
// duration each): weights strictly increasing in (0, 100], every step but
// the last held for a positive duration of at most MaxStepDuration. A
// final 100 % step with no duration is appended when missing.
func Steps(steps []Step) (Strategy, error) {
	if len(steps) == 0 {
		return Strategy{}, fmt.Errorf("%w: no steps; give at least one PCT%%:DURATION", ErrBadStrategy)
	}
	if len(steps) > MaxSteps {
		return Strategy{}, fmt.Errorf("%w: %d steps; use at most %d", ErrBadStrategy, len(steps), MaxSteps)
	}
	out := make([]Step, 0, len(steps)+1)
	prev := 0.0
	for i, s := range steps {
		if math.IsNaN(s.Weight) || s.Weight <= 0 || s.Weight > 100 {
			return Strategy{}, fmt.Errorf("%w: step %d: weight %s is outside (0, 100]; give a percentage above 0 and at most 100", ErrBadStrategy, i+1, fmtPct(s.Weight))
		}
		if s.Weight <= prev {
			return Strategy{}, fmt.Errorf("%w: step %d: weight %s is not above the previous step's %s; weights must increase", ErrBadStrategy, i+1, fmtPct(s.Weight), fmtPct(prev))
		}
		last := s.Weight == 100
		if last && i != len(steps)-1 {
			return Strategy{}, fmt.Errorf("%w: step %d reaches 100%% but more steps follow", ErrBadStrategy, i+1)
		}
		switch {
		case s.Duration < 0:
			return Strategy{}, fmt.Errorf("%w: step %d: duration %v is negative", ErrBadStrategy, i+1, s.Duration)
		case s.Duration == 0 && !last:
			return Strategy{}, fmt.Errorf("%w: step %d: %s needs a positive duration (how long to hold it)", ErrBadStrategy, i+1, fmtPct(s.Weight))
		case s.Duration > MaxStepDuration:
			return Strategy{}, fmt.Errorf("%w: step %d: duration %v exceeds %v", ErrBadStrategy, i+1, s.Duration, MaxStepDuration)
		}
		out = append(out, s)
		prev = s.Weight
	}
	if prev != 100 {
		out = append(out, Step{100, 0})
	}
	parts := make([]string, len(out))
	for i, s := range out {
		parts[i] = fmtPct(s.Weight) + ":" + s.Duration.String()
	}
	return Strategy{Name: "steps:" + strings.Join(parts, ","), Kind: KindSteps, Steps: out}, nil
}

func checkPercent(what string, p float64) error {
	if math.IsNaN(p) || p <= 0 || p >= 100 {
		return fmt.Errorf("%w: %s %s is outside (0, 100); give a percentage above 0 and below 100", ErrBadStrategy, what, fmtPct(p))
	}
	return nil
}

// Duration is the time from the first shift to 100 %, without bake time
// and without any waiting for analysis data.
func (s Strategy) Duration() time.Duration {
	var d time.Duration
	for _, st := range s.Steps[:max(len(s.Steps)-1, 0)] {
		d += st.Duration
	}
	return d
}

// fmtPct formats a percentage without trailing zeros and without the sign.
func fmtPct(p float64) string {
	return strconv.FormatFloat(p, 'f', -1, 64) + "%"
}
