package rollout

import (
	"fmt"
	"math"
	"time"
)

// MetricReader reads what the built-in comparison needs about one target of
// a route over the window [start, end). [StoreReader] implements it over
// the metrics store.
type MetricReader interface {
	TargetWindow(route, target string, start, end time.Time) (TargetStats, error)
}

// TargetStats are one target's numbers over an analysis window.
type TargetStats struct {
	Invocations float64 `json:"invocations"`
	Errors      float64 `json:"errors"`
	// P95 is the 95th percentile of Duration in milliseconds; HasP95 is
	// false when the window has no latency sample (or no sketch).
	P95    float64 `json:"p95_ms"`
	HasP95 bool    `json:"has_p95"`
}

// ErrorRate is Errors / Invocations, 0 with no invocation.
func (t TargetStats) ErrorRate() float64 {
	if t.Invocations <= 0 {
		return 0
	}
	return t.Errors / t.Invocations
}

// Analysis configures the built-in comparison of the candidate against the
// stable target over the same window (since the current step began). It
// runs at every step where both targets take traffic (0 < weight < 100).
type Analysis struct {
	// MinSamples is how many invocations each target needs in the window
	// before a verdict is given (default 100). With fewer the verdict is
	// insufficient and the step waits: it is never passed blindly.
	MinSamples int `json:"min_samples,omitempty"`
	// ErrorRateMargin is the absolute error-rate margin: the candidate fails
	// when its error rate exceeds the stable one by more than this (default
	// 0.01, one percentage point; negative disables the check).
	ErrorRateMargin float64 `json:"error_rate_margin,omitempty"`
	// P95Tolerance is the relative p95 latency tolerance: the candidate
	// fails when its p95 exceeds stable p95 × (1 + P95Tolerance) +
	// P95SlackMs (default 0.15; negative disables the check).
	P95Tolerance float64 `json:"p95_tolerance,omitempty"`
	// P95SlackMs is an absolute allowance in milliseconds added to the p95
	// bound, so sub-millisecond jitter on a fast service is not a failure.
	P95SlackMs float64 `json:"p95_slack_ms,omitempty"`
	// Interval is the least time between two comparisons within a step
	// (default 0: every Eval). A comparison always runs when a step's time
	// is up.
	Interval time.Duration `json:"interval,omitempty"`
	// MaxWait is how long a step may be extended for lack of data before
	// the rollout pauses for a human (0: wait for ever).
	MaxWait time.Duration `json:"max_wait,omitempty"`
}

// Defaults of Analysis.
const (
	DefaultMinSamples      = 100
	DefaultErrorRateMargin = 0.01
	DefaultP95Tolerance    = 0.15
)

// withDefaults fills the zero fields and validates the rest.
func (a Analysis) withDefaults() (Analysis, error) {
	if a.MinSamples == 0 {
		a.MinSamples = DefaultMinSamples
	}
	if a.ErrorRateMargin == 0 {
		a.ErrorRateMargin = DefaultErrorRateMargin
	}
	if a.P95Tolerance == 0 {
		a.P95Tolerance = DefaultP95Tolerance
	}
	switch {
	case a.MinSamples < 1:
		return a, fmt.Errorf("analysis.min_samples: %d; give at least 1", a.MinSamples)
	case math.IsNaN(a.ErrorRateMargin) || math.IsInf(a.ErrorRateMargin, 0) || a.ErrorRateMargin > 1:
		return a, fmt.Errorf("analysis.error_rate_margin: %v; give a fraction such as 0.01 (negative disables)", a.ErrorRateMargin)
	case math.IsNaN(a.P95Tolerance) || math.IsInf(a.P95Tolerance, 0):
		return a, fmt.Errorf("analysis.p95_tolerance: %v; give a fraction such as 0.15 (negative disables)", a.P95Tolerance)
	case math.IsNaN(a.P95SlackMs) || math.IsInf(a.P95SlackMs, 0) || a.P95SlackMs < 0:
		return a, fmt.Errorf("analysis.p95_slack_ms: %v; give a number of milliseconds ≥ 0", a.P95SlackMs)
	case a.Interval < 0 || a.MaxWait < 0:
		return a, fmt.Errorf("analysis: interval and max_wait must not be negative")
	case a.ErrorRateMargin < 0 && a.P95Tolerance < 0:
		return a, fmt.Errorf("analysis: both checks are disabled; drop the analysis block instead")
	}
	return a, nil
}

// VerdictResult is the outcome of one comparison.
type VerdictResult string

// Verdict results.
const (
	VerdictPass         VerdictResult = "pass"
	VerdictFail         VerdictResult = "fail"
	VerdictInsufficient VerdictResult = "insufficient" // too few samples: wait
	VerdictError        VerdictResult = "error"        // metrics unreadable: wait
	VerdictSkipped      VerdictResult = "skipped"      // nothing to compare (100 %)
)

// Verdict is one comparison of the candidate against stable.
type Verdict struct {
	Time        time.Time     `json:"time"`
	Step        int           `json:"step"` // 0-based
	Result      VerdictResult `json:"result"`
	WindowStart time.Time     `json:"window_start"`
	WindowEnd   time.Time     `json:"window_end"`
	Stable      TargetStats   `json:"stable"`
	Candidate   TargetStats   `json:"candidate"`
	Reason      string        `json:"reason"`
}

// Compare judges candidate against stable under a (with its defaults
// applied). It is pure: the numbers in, a verdict out.
func Compare(a Analysis, stable, candidate TargetStats) (VerdictResult, string) {
	need := float64(a.MinSamples)
	if stable.Invocations < need || candidate.Invocations < need {
		return VerdictInsufficient, fmt.Sprintf("need %d invocations per target, have stable %.0f, candidate %.0f",
			a.MinSamples, stable.Invocations, candidate.Invocations)
	}
	var passed []string
	if a.ErrorRateMargin >= 0 {
		se, ce := stable.ErrorRate(), candidate.ErrorRate()
		if ce > se+a.ErrorRateMargin {
			return VerdictFail, fmt.Sprintf("error rate %s vs stable %s exceeds the %s margin",
				pct(ce), pct(se), pct(a.ErrorRateMargin))
		}
		passed = append(passed, fmt.Sprintf("error rate %s vs %s", pct(ce), pct(se)))
	}
	if a.P95Tolerance >= 0 {
		if !stable.HasP95 || !candidate.HasP95 {
			return VerdictInsufficient, "no p95 latency for both targets yet"
		}
		bound := stable.P95*(1+a.P95Tolerance) + a.P95SlackMs
		if candidate.P95 > bound {
			return VerdictFail, fmt.Sprintf("p95 %.1fms vs stable %.1fms exceeds +%s (bound %.1fms)",
				candidate.P95, stable.P95, pct(a.P95Tolerance), bound)
		}
		passed = append(passed, fmt.Sprintf("p95 %.1fms vs %.1fms", candidate.P95, stable.P95))
	}
	out := ""
	for i, p := range passed {
		if i > 0 {
			out += ", "
		}
		out += p
	}
	return VerdictPass, out
}

// pct formats a fraction as a percentage with two decimals at most.
func pct(f float64) string {
	return fmtPct(math.Round(f*10000) / 100)
}
