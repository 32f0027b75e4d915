package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"holdfast/internal/rollout"
)

// RouteRollout configures the canary rollouts of one route: the defaults of
// `holdfast rollout start` and what every rollout of the route watches. A
// route without it can still be rolled out, with the defaults below.
type RouteRollout struct {
	// Strategy is used when a start names none: a CodeDeploy name
	// (Canary10Percent5Minutes, Linear10PercentEvery1Minute, AllAtOnce, …),
	// canary:PCT%:INTERVAL, linear:PCT%:INTERVAL or
	// steps:PCT%:DURATION,… [Canary10Percent5Minutes].
	Strategy string `yaml:"strategy" json:"strategy,omitempty"`
	// Bake replaces the duration of the final 100% step: how long alarms are
	// still watched before the candidate becomes stable [0].
	Bake Duration `yaml:"bake" json:"bake,omitempty"`
	// Alarms roll a rollout back when any is in ALARM [the route's
	// error-rate alarm, when it is not disabled]. An empty list (alarms: [])
	// watches none.
	Alarms *[]string `yaml:"alarms" json:"alarms,omitempty"`
	// IgnoreAlarmPollFailure carries on when an alarm cannot be read.
	IgnoreAlarmPollFailure bool `yaml:"ignore_alarm_poll_failure" json:"ignore_alarm_poll_failure,omitempty"`
	// Analysis is the built-in comparison of candidate against stable.
	Analysis RolloutAnalysis `yaml:"analysis" json:"analysis"`
	// PreTrafficHook and PostTrafficHook are POSTed before the first shift
	// and after 100% (CodeDeploy's BeforeAllowTraffic/AfterAllowTraffic).
	PreTrafficHook  *RolloutHook `yaml:"pre_traffic_hook" json:"pre_traffic_hook,omitempty"`
	PostTrafficHook *RolloutHook `yaml:"post_traffic_hook" json:"post_traffic_hook,omitempty"`
	// ClientKey keeps a client on one version: header:NAME, cookie:NAME,
	// query:NAME or remote_addr [the route's hash_key, else remote_addr].
	ClientKey string `yaml:"client_key" json:"client_key,omitempty"`
	// HealthCheck is the probe a candidate must pass before any traffic
	// moves [the path of the candidate's or the stable upstream's
	// health_check, else /].
	HealthCheck RolloutHealthCheck `yaml:"health_check" json:"health_check"`
}

// RolloutAnalysis tunes the comparison of candidate against stable.
type RolloutAnalysis struct {
	// Disabled turns the comparison off: alarms only.
	Disabled bool `yaml:"disabled" json:"disabled,omitempty"`
	// Checks lists what is compared: error_rate, p95 [both].
	Checks []string `yaml:"checks" json:"checks,omitempty"`
	// MinSamples is how many requests each target needs in a step before a
	// verdict; with fewer the step waits [100].
	MinSamples int `yaml:"min_samples" json:"min_samples,omitempty"`
	// ErrorRateMargin: the candidate fails when its error rate exceeds
	// stable's by more than this many percentage points [1].
	ErrorRateMargin *float64 `yaml:"error_rate_margin" json:"error_rate_margin,omitempty"`
	// P95Tolerance: the candidate fails when its p95 exceeds stable's by
	// more than this many percent plus P95Slack [15].
	P95Tolerance *float64 `yaml:"p95_tolerance" json:"p95_tolerance,omitempty"`
	// P95Slack is an absolute allowance added to the p95 bound [5ms].
	P95Slack *Duration `yaml:"p95_slack" json:"p95_slack,omitempty"`
	// Interval is the least time between two comparisons in a step [1s].
	Interval Duration `yaml:"interval" json:"interval,omitempty"`
	// MaxWait pauses a rollout that has waited this long for enough data
	// after a step's time was up [0: wait for ever].
	MaxWait Duration `yaml:"max_wait" json:"max_wait,omitempty"`
}

// RolloutHook is an HTTP lifecycle hook.
type RolloutHook struct {
	URL     string   `yaml:"url" json:"url,omitempty"`
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"` // [60s]
}

// RolloutHealthCheck is the candidate's probe before any traffic.
type RolloutHealthCheck struct {
	Path    string   `yaml:"path" json:"path,omitempty"`
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"` // [2s]
}

// Rollout defaults.
const (
	DefaultRolloutStrategy        = "Canary10Percent5Minutes"
	DefaultRolloutP95Slack        = 5 * time.Millisecond
	DefaultRolloutInterval        = time.Second
	DefaultRolloutHealthTimeout   = 2 * time.Second
	RolloutCheckErrorRate         = "error_rate"
	RolloutCheckP95               = "p95"
	defaultRolloutErrorRateMargin = 1.0
	defaultRolloutP95Tolerance    = 15.0
)

// RolloutOf returns the route's rollout settings with every default
// applied; a route without a rollout block gets the defaults alone.
func (c *Config) RolloutOf(r *Route) RouteRollout {
	var out RouteRollout
	if r.Rollout != nil {
		out = *r.Rollout
	}
	if out.Strategy == "" {
		out.Strategy = DefaultRolloutStrategy
	}
	if out.Alarms == nil {
		var list []string
		if !c.ErrorRateAlarm.Disabled {
			list = []string{r.Name + ErrorRateAlarmSuffix}
		}
		out.Alarms = &list
	}
	a := &out.Analysis
	if len(a.Checks) == 0 {
		a.Checks = []string{RolloutCheckErrorRate, RolloutCheckP95}
	}
	if a.MinSamples == 0 {
		a.MinSamples = rollout.DefaultMinSamples
	}
	if a.ErrorRateMargin == nil {
		v := defaultRolloutErrorRateMargin
		a.ErrorRateMargin = &v
	}
	if a.P95Tolerance == nil {
		v := defaultRolloutP95Tolerance
		a.P95Tolerance = &v
	}
	if a.P95Slack == nil {
		v := Duration(DefaultRolloutP95Slack)
		a.P95Slack = &v
	}
	if a.Interval == 0 {
		a.Interval = Duration(DefaultRolloutInterval)
	}
	if out.ClientKey == "" {
		out.ClientKey = r.HashKey
		if out.ClientKey == "" {
			out.ClientKey = "remote_addr"
		}
	}
	if out.HealthCheck.Timeout == 0 {
		out.HealthCheck.Timeout = Duration(DefaultRolloutHealthTimeout)
	}
	return out
}

// AnalysisSpec turns the settings into the controller's analysis; nil
// when the comparison is disabled.
func (rr RouteRollout) AnalysisSpec() *rollout.Analysis {
	a := rr.Analysis
	if a.Disabled {
		return nil
	}
	out := &rollout.Analysis{MinSamples: a.MinSamples, ErrorRateMargin: -1, P95Tolerance: -1,
		Interval: a.Interval.D(), MaxWait: a.MaxWait.D()}
	for _, c := range a.Checks {
		switch c {
		case RolloutCheckErrorRate:
			out.ErrorRateMargin = *a.ErrorRateMargin / 100
		case RolloutCheckP95:
			out.P95Tolerance = *a.P95Tolerance / 100
			out.P95SlackMs = float64(a.P95Slack.D()) / float64(time.Millisecond)
		}
	}
	// The controller reads 0 as "the default": an explicit 0 is a tiny
	// positive margin instead.
	if out.ErrorRateMargin == 0 {
		out.ErrorRateMargin = 1e-12
	}
	if out.P95Tolerance == 0 {
		out.P95Tolerance = 1e-12
	}
	return out
}

// validateRollout checks a route's rollout block.
func (l *loader) validateRollout(c *Config, r *Route, p string) {
	rr := r.Rollout
	if rr == nil {
		return
	}
	p += ".rollout"
	if rr.Strategy != "" {
		if _, err := rollout.ParseStrategy(rr.Strategy); err != nil {
			l.at(p+".strategy", "%v", err)
		}
	}
	if rr.Bake.D() > rollout.MaxStepDuration {
		l.at(p+".bake", "%s is longer than %s", rr.Bake.D(), rollout.MaxStepDuration)
	}
	if rr.Alarms != nil {
		names := c.alarmNames()
		for i, a := range *rr.Alarms {
			if !names[a] {
				l.at(fmt.Sprintf("%s.alarms[%d]", p, i), "no alarm named %q; name one under alarms or composite_alarms, or a route's built-in ROUTE-error-rate", a)
			}
		}
	}
	a := rr.Analysis
	seen := map[string]bool{}
	for i, ck := range a.Checks {
		switch {
		case ck != RolloutCheckErrorRate && ck != RolloutCheckP95:
			l.at(fmt.Sprintf("%s.analysis.checks[%d]", p, i), "want error_rate or p95, got %q", ck)
		case seen[ck]:
			l.at(fmt.Sprintf("%s.analysis.checks[%d]", p, i), "%s is listed twice", ck)
		}
		seen[ck] = true
	}
	if a.Checks != nil && len(a.Checks) == 0 && !a.Disabled {
		l.at(p+".analysis.checks", "empty; list error_rate and/or p95, or set disabled: true")
	}
	if a.MinSamples < 0 {
		l.at(p+".analysis.min_samples", "must be 1 or more, got %d", a.MinSamples)
	}
	if v := a.ErrorRateMargin; v != nil && (*v < 0 || *v > 100) {
		l.at(p+".analysis.error_rate_margin", "want percentage points from 0 to 100, got %v", *v)
	}
	if v := a.P95Tolerance; v != nil && (*v < 0 || *v > 10000) {
		l.at(p+".analysis.p95_tolerance", "want a percentage from 0 to 10000, got %v", *v)
	}
	for name, h := range map[string]*RolloutHook{"pre_traffic_hook": rr.PreTrafficHook, "post_traffic_hook": rr.PostTrafficHook} {
		if h == nil {
			continue
		}
		if u, err := url.Parse(h.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.at(p+"."+name+".url", "want an absolute http:// or https:// URL, got %q", h.URL)
		}
		if h.Timeout.D() > rollout.MaxHookTimeout {
			l.at(p+"."+name+".timeout", "%s is longer than %s", h.Timeout.D(), rollout.MaxHookTimeout)
		}
	}
	if rr.ClientKey != "" {
		if err := checkHashKey(rr.ClientKey); err != nil {
			l.at(p+".client_key", "%v", err)
		}
	}
	if hp := rr.HealthCheck.Path; hp != "" && !strings.HasPrefix(hp, "/") {
		l.at(p+".health_check.path", "must start with /, got %q", hp)
	}
}

// alarmNames is every alarm a rollout may watch.
func (c *Config) alarmNames() map[string]bool {
	out := map[string]bool{}
	for _, a := range c.ErrorRateAlarms() {
		out[a.Name] = true
	}
	for _, a := range c.Alarms {
		out[a.Name] = true
	}
	for _, a := range c.CompositeAlarms {
		out[a.Name] = true
	}
	return out
}
