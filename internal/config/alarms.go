package config

import (
	"fmt"
	"regexp"
	"strings"

	"holdfast/internal/alarm"
	"holdfast/internal/metrics/expr"
)

// Alarm is a CloudWatch-style metric alarm: on one metric and statistic, or
// on a Metric Math expression over the metrics it lists.
type Alarm struct {
	Name        string `yaml:"name" json:"name,omitempty"`
	Description string `yaml:"description" json:"description,omitempty"`
	// Metric is the single metric of a metric alarm.
	Metric *AlarmMetric `yaml:"metric" json:"metric,omitempty"`
	// Metrics are the ids an Expression uses.
	Metrics    []AlarmMetricQuery `yaml:"metrics" json:"metrics,omitempty"`
	Expression string             `yaml:"expression" json:"expression,omitempty"`
	// Period is 1s, 5s, 10s, 20s, 30s or a multiple of 60s.
	Period            Duration `yaml:"period" json:"period,omitempty"`
	EvaluationPeriods int      `yaml:"evaluation_periods" json:"evaluation_periods,omitempty"`
	// DatapointsToAlarm (M of N); default EvaluationPeriods.
	DatapointsToAlarm  int      `yaml:"datapoints_to_alarm" json:"datapoints_to_alarm,omitempty"`
	ComparisonOperator string   `yaml:"comparison_operator" json:"comparison_operator,omitempty"`
	Threshold          *float64 `yaml:"threshold" json:"threshold,omitempty"`
	// TreatMissingData is missing (default), notBreaching, breaching or ignore.
	TreatMissingData string `yaml:"treat_missing_data" json:"treat_missing_data,omitempty"`
	// EvaluateLowSampleCountPercentile is evaluate (default) or ignore.
	EvaluateLowSampleCountPercentile string `yaml:"evaluate_low_sample_count_percentile" json:"evaluate_low_sample_count_percentile,omitempty"`
	// Actions name webhooks notified on every state change.
	Actions []string `yaml:"actions" json:"actions,omitempty"`
}

// AlarmMetric names a metric and the statistic to take of it.
type AlarmMetric struct {
	Namespace  string            `yaml:"namespace" json:"namespace,omitempty"`
	Name       string            `yaml:"name" json:"name,omitempty"`
	Dimensions map[string]string `yaml:"dimensions" json:"dimensions,omitempty"`
	Stat       string            `yaml:"stat" json:"stat,omitempty"`
}

// AlarmMetricQuery is one id of an expression alarm.
type AlarmMetricQuery struct {
	ID         string            `yaml:"id" json:"id,omitempty"`
	Namespace  string            `yaml:"namespace" json:"namespace,omitempty"`
	Name       string            `yaml:"name" json:"name,omitempty"`
	Dimensions map[string]string `yaml:"dimensions" json:"dimensions,omitempty"`
	Stat       string            `yaml:"stat" json:"stat,omitempty"`
}

// CompositeAlarm combines other alarms' states with an AlarmRule.
type CompositeAlarm struct {
	Name        string   `yaml:"name" json:"name,omitempty"`
	Description string   `yaml:"description" json:"description,omitempty"`
	Rule        string   `yaml:"rule" json:"rule,omitempty"`
	Actions     []string `yaml:"actions" json:"actions,omitempty"`
}

// Webhook is an HTTP endpoint told of alarm state changes.
type Webhook struct {
	Name        string            `yaml:"name" json:"name,omitempty"`
	URL         string            `yaml:"url" json:"url,omitempty"`
	Headers     map[string]string `yaml:"headers" json:"headers,omitempty"`
	MaxAttempts int               `yaml:"max_attempts" json:"max_attempts,omitempty"`
	Timeout     Duration          `yaml:"timeout" json:"timeout,omitempty"`
}

// ErrorRateAlarm is the seed's alarm, made for every route:
// IF(m_inv > 0, 100 * m_err / m_inv, 0) GreaterThanThreshold 2.
type ErrorRateAlarm struct {
	// Disabled turns the built-in alarms off.
	Disabled          bool     `yaml:"disabled" json:"disabled,omitempty"`
	Threshold         *float64 `yaml:"threshold" json:"threshold,omitempty"` // percent, default 2
	Period            Duration `yaml:"period" json:"period,omitempty"`       // default 60s
	EvaluationPeriods int      `yaml:"evaluation_periods" json:"evaluation_periods,omitempty"`
	DatapointsToAlarm int      `yaml:"datapoints_to_alarm" json:"datapoints_to_alarm,omitempty"`
	TreatMissingData  string   `yaml:"treat_missing_data" json:"treat_missing_data,omitempty"`
	Actions           []string `yaml:"actions" json:"actions,omitempty"`
}

// Defaults of the built-in error-rate alarm: 3 of the last 5 one-minute
// error rates above 2%; no traffic is not a breach.
const (
	DefaultErrorRateThreshold  = 2.0
	DefaultErrorRatePeriod     = 60
	DefaultErrorRateN          = 5
	DefaultErrorRateM          = 3
	DefaultErrorRateMissing    = "notBreaching"
	ErrorRateAlarmSuffix       = "-error-rate"
	GatewayNamespace           = "holdfast/Gateway"
	ErrorRateExpression        = "IF(m_inv > 0, 100 * m_err / m_inv, 0)"
	errorRateDefaultPeriodSecs = DefaultErrorRatePeriod
)

var (
	comparisonOperators = []string{"GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold", "LessThanOrEqualToThreshold"}
	treatMissing        = []string{"missing", "notBreaching", "breaching", "ignore"}
	queryIDRE           = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)
	statRE              = regexp.MustCompile(`^(SampleCount|Sum|Average|Minimum|Maximum|[pP]\d+(\.\d+)?|(tm|wm|tc|ts|TM|WM|TC|TS|PR|IQM)(\d.*|\(.*\))?|IQM)$`)
)

func (c *Config) applyAlarmDefaults() {
	e := &c.ErrorRateAlarm
	if e.Threshold == nil {
		v := DefaultErrorRateThreshold
		e.Threshold = &v
	}
	if e.Period == 0 {
		e.Period = Duration(errorRateDefaultPeriodSecs * 1e9)
	}
	if e.EvaluationPeriods == 0 {
		e.EvaluationPeriods = DefaultErrorRateN
	}
	if e.DatapointsToAlarm == 0 {
		e.DatapointsToAlarm = min(DefaultErrorRateM, e.EvaluationPeriods)
	}
	if e.TreatMissingData == "" {
		e.TreatMissingData = DefaultErrorRateMissing
	}
	for i := range c.Alarms {
		a := &c.Alarms[i]
		if a.DatapointsToAlarm == 0 {
			a.DatapointsToAlarm = a.EvaluationPeriods
		}
		if a.TreatMissingData == "" {
			a.TreatMissingData = "missing"
		}
		if a.EvaluateLowSampleCountPercentile == "" {
			a.EvaluateLowSampleCountPercentile = "evaluate"
		}
	}
}

// ErrorRateAlarms returns the built-in error-rate alarm of every route, as
// ordinary alarms (empty when disabled).
func (c *Config) ErrorRateAlarms() []Alarm {
	e := c.ErrorRateAlarm
	if e.Disabled {
		return nil
	}
	out := make([]Alarm, 0, len(c.Routes))
	for _, r := range c.Routes {
		dims := map[string]string{"Route": r.Name}
		out = append(out, Alarm{
			Name:        r.Name + ErrorRateAlarmSuffix,
			Description: fmt.Sprintf("Errors / Invocations of route %s, in percent (built in)", r.Name),
			Metrics: []AlarmMetricQuery{
				{ID: "m_inv", Namespace: GatewayNamespace, Name: "Invocations", Dimensions: dims, Stat: "Sum"},
				{ID: "m_err", Namespace: GatewayNamespace, Name: "Errors", Dimensions: dims, Stat: "Sum"},
			},
			Expression:                       ErrorRateExpression,
			Period:                           e.Period,
			EvaluationPeriods:                e.EvaluationPeriods,
			DatapointsToAlarm:                e.DatapointsToAlarm,
			ComparisonOperator:               "GreaterThanThreshold",
			Threshold:                        e.Threshold,
			TreatMissingData:                 e.TreatMissingData,
			EvaluateLowSampleCountPercentile: "evaluate",
			Actions:                          e.Actions,
		})
	}
	return out
}

func (l *loader) validateAlarms(c *Config) {
	hooks := map[string]bool{}
	for i, w := range c.Webhooks {
		p := fmt.Sprintf("webhooks[%d]", i)
		l.checkName(p+".name", w.Name, "webhook", hooks)
		if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
			l.at(p+".url", "want an http:// or https:// URL, got %q", w.URL)
		}
		if w.MaxAttempts < 0 || w.MaxAttempts > 20 {
			l.at(p+".max_attempts", "want 0 (default 5) to 20, got %d", w.MaxAttempts)
		}
	}
	checkActions := func(p string, actions []string) {
		for j, a := range actions {
			if !hooks[a] {
				l.at(fmt.Sprintf("%s.actions[%d]", p, j), "no webhook named %q; declare it under webhooks", a)
			}
		}
	}
	e := c.ErrorRateAlarm
	if !e.Disabled {
		l.checkAlarmShape("error_rate_alarm", e.Period, e.EvaluationPeriods, e.DatapointsToAlarm, e.TreatMissingData)
		checkActions("error_rate_alarm", e.Actions)
	}

	names := map[string]bool{}
	if !e.Disabled {
		for _, r := range c.Routes {
			names[r.Name+ErrorRateAlarmSuffix] = true
		}
	}
	for i := range c.Alarms {
		a := &c.Alarms[i]
		p := fmt.Sprintf("alarms[%d]", i)
		if names[a.Name] && strings.HasSuffix(a.Name, ErrorRateAlarmSuffix) {
			l.at(p+".name", "%q is the built-in error-rate alarm's name; tune it under error_rate_alarm or pick another name", a.Name)
		} else {
			l.checkName(p+".name", a.Name, "alarm", names)
		}
		l.checkAlarmShape(p, a.Period, a.EvaluationPeriods, a.DatapointsToAlarm, a.TreatMissingData)
		if !contains(comparisonOperators, a.ComparisonOperator) {
			l.at(p+".comparison_operator", "want one of %s, got %q", strings.Join(comparisonOperators, ", "), a.ComparisonOperator)
		}
		if a.Threshold == nil {
			l.at(p+".threshold", "required")
		}
		if v := a.EvaluateLowSampleCountPercentile; v != "evaluate" && v != "ignore" {
			l.at(p+".evaluate_low_sample_count_percentile", "want evaluate or ignore, got %q", v)
		}
		checkActions(p, a.Actions)
		switch {
		case a.Metric != nil && a.Expression != "":
			l.at(p, "set either metric or expression (with metrics), not both")
		case a.Metric != nil:
			if len(a.Metrics) > 0 {
				l.at(p+".metrics", "only used with expression")
			}
			l.checkAlarmMetric(c, p+".metric", a.Metric.Namespace, a.Metric.Name, a.Metric.Dimensions, a.Metric.Stat)
		case a.Expression != "":
			l.checkExpressionAlarm(c, p, a)
		default:
			l.at(p, "needs a metric, or an expression with the metrics it uses")
		}
	}
	for i, ca := range c.CompositeAlarms {
		p := fmt.Sprintf("composite_alarms[%d]", i)
		l.checkName(p+".name", ca.Name, "alarm", names)
		if strings.TrimSpace(ca.Rule) == "" {
			l.at(p+".rule", "required, e.g. ALARM(orders-error-rate) OR ALARM(orders-latency)")
		} else if rule, err := alarm.ParseRule(ca.Rule); err != nil {
			l.at(p+".rule", "%v", err)
		} else {
			for _, n := range rule.Names() {
				if !names[n] && !compositeNamed(c.CompositeAlarms, n) {
					l.at(p+".rule", "no alarm named %q", n)
				}
			}
		}
		checkActions(p, ca.Actions)
	}
}

func (l *loader) checkAlarmShape(p string, period Duration, n, m int, missing string) {
	if !validMetricPeriod(period.D()) {
		l.at(p+".period", "%s: an alarm period is 1s, 5s, 10s, 20s, 30s or a multiple of 60s", period.D())
	}
	if n < 1 {
		l.at(p+".evaluation_periods", "must be 1 or more")
	}
	if m < 1 || m > n {
		l.at(p+".datapoints_to_alarm", "%d: must be from 1 to evaluation_periods (%d)", m, n)
	}
	if !contains(treatMissing, missing) {
		l.at(p+".treat_missing_data", "want one of %s, got %q", strings.Join(treatMissing, ", "), missing)
	}
}

func (l *loader) checkExpressionAlarm(c *Config, p string, a *Alarm) {
	ids := map[string]bool{}
	for j, q := range a.Metrics {
		qp := fmt.Sprintf("%s.metrics[%d]", p, j)
		switch {
		case !queryIDRE.MatchString(q.ID):
			l.at(qp+".id", "%q: an id starts with a lowercase letter and holds letters, digits and _", q.ID)
		case ids[q.ID]:
			l.at(qp+".id", "%q is used twice", q.ID)
		}
		ids[q.ID] = true
		l.checkAlarmMetric(c, qp, q.Namespace, q.Name, q.Dimensions, q.Stat)
	}
	node, err := expr.Parse(a.Expression)
	if err != nil {
		l.at(p+".expression", "%v", err)
		return
	}
	for _, id := range exprIdents(node) {
		if !ids[id] {
			l.at(p+".expression", "uses %q, which no entry of metrics defines (unknown metric)", id)
		}
	}
}

// exprIdents lists the ids an expression refers to, in order.
func exprIdents(n expr.Node) []string {
	var out []string
	var walk func(expr.Node)
	walk = func(n expr.Node) {
		switch v := n.(type) {
		case *expr.Ident:
			out = append(out, v.Name)
		case *expr.Call:
			for _, a := range v.Args {
				walk(a)
			}
		case *expr.Unary:
			walk(v.X)
		case *expr.Binary:
			walk(v.X)
			walk(v.Y)
		case *expr.Array:
			for _, e := range v.Elems {
				walk(e)
			}
		}
	}
	walk(n)
	return out
}

// checkAlarmMetric checks a metric reference. Metrics of the gateway's own
// namespace must name a route (and target) that exists.
func (l *loader) checkAlarmMetric(c *Config, p, ns, name string, dims map[string]string, stat string) {
	if ns == "" {
		l.at(p+".namespace", "required")
	}
	if name == "" {
		l.at(p+".name", "required")
	}
	if !statRE.MatchString(stat) {
		l.at(p+".stat", "%q is not a statistic; use Sum, Average, SampleCount, Minimum, Maximum, pNN or tmNN", stat)
	}
	if ns == PoolerNamespace {
		l.checkPoolerAlarmMetric(c, p, name, dims)
		return
	}
	if ns != GatewayNamespace {
		return
	}
	switch name {
	case "Invocations", "Errors", "Duration":
	default:
		l.at(p+".name", "unknown metric %q in %s; it has Invocations, Errors and Duration", name, GatewayNamespace)
	}
	if r, ok := dims["Route"]; ok {
		var route *Route
		for i := range c.Routes {
			if c.Routes[i].Name == r {
				route = &c.Routes[i]
			}
		}
		if route == nil {
			l.at(p+".dimensions.Route", "unknown metric: no route named %q", r)
		} else if t, ok := dims["Target"]; ok && c.UpstreamByName(t) == nil && t != "_static" {
			l.at(p+".dimensions.Target", "unknown metric: no upstream named %q", t)
		}
	} else {
		l.at(p+".dimensions", "gateway metrics are kept per Route (and Target); name the route")
	}
}

func compositeNamed(list []CompositeAlarm, name string) bool {
	for _, c := range list {
		if c.Name == name {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
