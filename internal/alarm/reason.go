package alarm

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// formatValue writes a number as CloudWatch does in reasons: 12.0, 0.25.
func formatValue(v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// reasonTime is CloudWatch's reason timestamp layout (dd/mm/yy, UTC).
const reasonTime = "02/01/06 15:04:05"

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// listPoints writes the datapoints of kind want among used, newest first:
// [12.0 (28/11/26 10:04:00), 11.0 (28/11/26 10:03:00)].
func listPoints(used []int, slots []point, vals []Datapoint, want point) (string, int) {
	var parts []string
	for _, i := range used {
		if slots[i] == want {
			parts = append(parts, fmt.Sprintf("%s (%s)", formatValue(vals[i].Value), vals[i].Timestamp.UTC().Format(reasonTime)))
		}
	}
	return "[" + strings.Join(parts, ", ") + "]", len(parts)
}

func (a *Alarm) reasonText(dec decision, slots []point, vals []Datapoint, from State) string {
	n, m := a.def.n(), a.def.m()
	op := a.def.ComparisonOperator.phrase()
	thr := formatValue(a.def.Threshold)
	fill := ""
	if dec.filled > 0 {
		switch a.def.treat() {
		case Breaching:
			fill = fmt.Sprintf(" and %d missing %s treated as [Breaching]", dec.filled, plural(dec.filled, "datapoint was", "datapoints were"))
		case NotBreaching:
			fill = fmt.Sprintf(" and %d missing %s treated as [NonBreaching]", dec.filled, plural(dec.filled, "datapoint was", "datapoints were"))
		default:
			fill = fmt.Sprintf(" and %d missing %s not counted [%s]", dec.filled, plural(dec.filled, "datapoint was", "datapoints were"), a.def.treat())
		}
	}
	minimum := func(need int, to State) string {
		if dec.filled > 0 && (a.def.treat() == Missing || a.def.treat() == Ignore) {
			return "" // decided by the real datapoints alone
		}
		return fmt.Sprintf(" (minimum %d %s for %s -> %s transition)", need, plural(need, "datapoint", "datapoints"), from, to)
	}
	switch dec.state {
	case StateInsufficientData:
		if len(dec.used) == 0 {
			return fmt.Sprintf("Insufficient Data: %d %s unknown.", len(slots), plural(len(slots), "datapoint was", "datapoints were"))
		}
		list, k := listPoints(dec.used, slots, vals, pointBreaching)
		return fmt.Sprintf("Insufficient Data: %d %s %s in the last %d periods and %s %s the threshold (%s); %d more %s needed to decide (missing data is treated as [Missing]).",
			k, plural(k, "datapoint", "datapoints"), list, len(slots), plural(k, "was", "were"), op, thr, dec.filled, plural(dec.filled, "is", "are"))
	case StateAlarm:
		list, k := listPoints(dec.used, slots, vals, pointBreaching)
		if len(dec.used) == 0 {
			return fmt.Sprintf("Threshold Crossed: no datapoints were received for %d periods and %d missing datapoints were treated as [Breaching].", len(slots), dec.filled)
		}
		if dec.premature {
			return fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints %s %s the threshold (%s) and no newer datapoint was received (the oldest breaching datapoint is at least %d periods old).",
				k, len(slots), list, plural(k, "was "+op, "were "+op), thr, m)
		}
		return fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints %s %s the threshold (%s)%s%s.",
			k, n, list, plural(k, "was "+op, "were "+op), thr, fill, minimum(m, StateAlarm))
	default: // OK
		list, k := listPoints(dec.used, slots, vals, pointOK)
		if len(dec.used) == 0 {
			return fmt.Sprintf("Threshold Crossed: no datapoints were received for %d periods and %d missing datapoints were treated as [NonBreaching].", len(slots), dec.filled)
		}
		return fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints %s %s not %s the threshold (%s)%s%s.",
			k, n, list, plural(k, "was", "were"), op, thr, fill, minimum(n-m+1, StateOK))
	}
}

type reasonPoint struct {
	Timestamp   string  `json:"timestamp"`
	SampleCount float64 `json:"sampleCount,omitempty"`
	Value       float64 `json:"value"`
}

type reasonDataJSON struct {
	Version             string        `json:"version"`
	QueryDate           string        `json:"queryDate"`
	StartDate           string        `json:"startDate"`
	EndDate             string        `json:"endDate"`
	Statistic           string        `json:"statistic,omitempty"`
	Expression          string        `json:"expression,omitempty"`
	Period              int64         `json:"period"`
	RecentDatapoints    []float64     `json:"recentDatapoints"`
	Threshold           float64       `json:"threshold"`
	EvaluatedDatapoints []reasonPoint `json:"evaluatedDatapoints"`
	FilledDatapoints    int           `json:"filledDatapoints,omitempty"`
	TreatMissingData    string        `json:"treatMissingData"`
	PrematureAlarm      bool          `json:"prematureAlarm,omitempty"`
}

// reasonData is the JSON StateReasonData, shaped like CloudWatch's.
func (a *Alarm) buildReasonData(dec decision, slots []point, vals []Datapoint, start, end, now time.Time) json.RawMessage {
	const layout = "2006-01-02T15:04:05.000+0000"
	rd := reasonDataJSON{
		Version:             "1.0",
		QueryDate:           now.UTC().Format(layout),
		StartDate:           start.UTC().Format(layout),
		EndDate:             end.UTC().Format(layout),
		Expression:          a.def.Expression,
		Period:              int64(a.def.Period / time.Second),
		RecentDatapoints:    []float64{},
		EvaluatedDatapoints: []reasonPoint{},
		Threshold:           a.def.Threshold,
		FilledDatapoints:    dec.filled,
		TreatMissingData:    string(a.def.treat()),
		PrematureAlarm:      dec.premature,
	}
	if a.def.Metric != nil {
		rd.Statistic = a.def.Metric.Statistic
	}
	for i, s := range slots { // oldest first, as CloudWatch lists them
		if s != pointMissing {
			rd.RecentDatapoints = append(rd.RecentDatapoints, vals[i].Value)
		}
	}
	for _, i := range dec.used { // newest first
		rd.EvaluatedDatapoints = append(rd.EvaluatedDatapoints, reasonPoint{
			Timestamp:   vals[i].Timestamp.UTC().Format(layout),
			SampleCount: vals[i].SampleCount,
			Value:       vals[i].Value,
		})
	}
	b, err := json.Marshal(rd)
	if err != nil { // cannot happen: finite values only
		return nil
	}
	return b
}
