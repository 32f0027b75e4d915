package metrics

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits on identifiers, as PutMetricData has them.
const (
	MaxNamespaceLen      = 255
	MaxNameLen           = 255
	MaxDimensions        = 30
	MaxDimensionNameLen  = 255
	MaxDimensionValueLen = 1024
)

// Dimension is one name=value pair that, with the namespace and the metric
// name, identifies a metric.
type Dimension struct {
	Name, Value string
}

// MetricID identifies a metric: namespace, name and dimensions. Two IDs
// that differ only in the order of their dimensions are the same metric.
type MetricID struct {
	Namespace  string
	Name       string
	Dimensions []Dimension
}

// normalized returns a copy of id with its dimensions sorted by name.
func (id MetricID) normalized() MetricID {
	out := MetricID{Namespace: id.Namespace, Name: id.Name}
	if len(id.Dimensions) > 0 {
		out.Dimensions = slices.Clone(id.Dimensions)
		slices.SortFunc(out.Dimensions, func(a, b Dimension) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

// Key returns the canonical key of the metric: namespace, name and the
// dimensions sorted by name, separated by NUL bytes (which validation
// forbids inside the parts).
func (id MetricID) Key() string {
	n := id.normalized()
	var b strings.Builder
	b.WriteString(n.Namespace)
	b.WriteByte(0)
	b.WriteString(n.Name)
	for _, d := range n.Dimensions {
		b.WriteByte(0)
		b.WriteString(d.Name)
		b.WriteByte('=')
		b.WriteString(d.Value)
	}
	return b.String()
}

// String renders the metric as Namespace/Name{dim=value,...}.
func (id MetricID) String() string {
	n := id.normalized()
	var b strings.Builder
	b.WriteString(n.Namespace)
	b.WriteByte('/')
	b.WriteString(n.Name)
	if len(n.Dimensions) > 0 {
		b.WriteByte('{')
		for i, d := range n.Dimensions {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(d.Name)
			b.WriteByte('=')
			b.WriteString(d.Value)
		}
		b.WriteByte('}')
	}
	return b.String()
}

// Validate checks the namespace, name and dimensions against the limits of
// PutMetricData: non-empty, at most 255 characters (1024 for a dimension
// value), valid UTF-8 without control characters, at most 30 dimensions,
// no dimension name twice.
func (id MetricID) Validate() error {
	if err := checkPart("namespace", id.Namespace, MaxNamespaceLen); err != nil {
		return err
	}
	if err := checkPart("metric name", id.Name, MaxNameLen); err != nil {
		return err
	}
	if len(id.Dimensions) > MaxDimensions {
		return fmt.Errorf("%w: %d dimensions; at most %d are allowed", ErrInvalidMetric, len(id.Dimensions), MaxDimensions)
	}
	seen := make(map[string]bool, len(id.Dimensions))
	for i, d := range id.Dimensions {
		if err := checkPart(fmt.Sprintf("dimensions[%d].name", i), d.Name, MaxDimensionNameLen); err != nil {
			return err
		}
		if err := checkPart(fmt.Sprintf("dimensions[%d].value", i), d.Value, MaxDimensionValueLen); err != nil {
			return err
		}
		if seen[d.Name] {
			return fmt.Errorf("%w: dimension %q given twice", ErrInvalidMetric, d.Name)
		}
		seen[d.Name] = true
	}
	return nil
}

func checkPart(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidMetric, what)
	case utf8.RuneCountInString(s) > max:
		return fmt.Errorf("%w: %s is longer than %d characters", ErrInvalidMetric, what, max)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidMetric, what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s contains control character %U", ErrInvalidMetric, what, r)
		}
	}
	return nil
}
