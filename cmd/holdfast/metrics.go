package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"holdfast/internal/metrics"
)

const timeLayout = "2006-01-02 15:04:05Z07:00"

// usageError is a mistake in the command line: exit code 2.
func usageError(format string, a ...any) error {
	return &exitError{2, fmt.Errorf(format, a...)}
}

// usageArgs makes an argument-count check exit with code 2, like a bad flag.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &exitError{2, fmt.Errorf("%s: %w (usage: %s)", subcommand(cmd), err, cmd.UseLine())}
		}
		return nil
	}
}

// flagError makes a flag that does not parse exit with code 2. pflag's
// message names the flag; a negative number taken for a flag gets a hint.
func flagError(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if i := strings.Index(msg, " in -"); i >= 0 && strings.Contains(msg, "unknown shorthand flag") {
		if _, perr := strconv.ParseFloat(msg[i+4:], 64); perr == nil {
			err = fmt.Errorf("%w; to pass a negative number, put -- before it", err)
		}
	}
	return &exitError{2, fmt.Errorf("%s: %w", subcommand(cmd), err)}
}

// subcommand is the command's path without the root's name, which main
// already puts before every error.
func subcommand(cmd *cobra.Command) string {
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
}

// parseDims parses repeated --dim Name=Value flags.
func parseDims(dims []string) ([]metrics.Dimension, error) {
	var out []metrics.Dimension
	for _, d := range dims {
		name, value, ok := strings.Cut(d, "=")
		if !ok || name == "" || value == "" {
			return nil, usageError("--dim %q: want Name=Value, both non-empty", d)
		}
		out = append(out, metrics.Dimension{Name: name, Value: value})
	}
	return out, nil
}

func formatDims(dims []metrics.Dimension) string {
	parts := make([]string, len(dims))
	for i, d := range dims {
		parts[i] = d.Name + "=" + d.Value
	}
	return strings.Join(parts, ",")
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newMetricsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Put, list and query metrics (CloudWatch PutMetricData/GetMetricData shapes)",
	}
	cmd.SetFlagErrorFunc(flagError)
	cmd.AddCommand(newMetricsListCmd(g), newMetricsPutCmd(g), newMetricsQueryCmd(g))
	return cmd
}

func newMetricsListCmd(g *globals) *cobra.Command {
	var namespace, name string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List stored metrics",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			list, err := c.ListMetrics(cmd.Context(), namespace, name)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), list)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAMESPACE\tNAME\tDIMENSIONS")
			for _, m := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", m.Namespace, m.MetricName, formatDims(m.Dimensions))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&namespace, "namespace", "", "only metrics in this namespace")
	cmd.Flags().StringVar(&name, "name", "", "only metrics whose name contains this")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newMetricsPutCmd(g *globals) *cobra.Command {
	var dims []string
	var unit, timestamp string
	var resolution int
	cmd := &cobra.Command{
		Use:   "put NAMESPACE METRIC VALUE",
		Short: "Store one data point (put -- before a negative VALUE)",
		Example: `  holdfast metrics put MyApp Latency 0.25 --dim Route=/orders --unit Seconds
  holdfast metrics put MyApp Delta -- -3`,
		Args: usageArgs(cobra.ExactArgs(3)),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := strconv.ParseFloat(args[2], 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return usageError("VALUE %q: want a finite number", args[2])
			}
			d := metrics.MetricDatumJSON{MetricName: args[1], Value: &v, Unit: unit}
			if d.Dimensions, err = parseDims(dims); err != nil {
				return err
			}
			if cmd.Flags().Changed("resolution") {
				if resolution != 1 && resolution != 60 {
					return usageError("--resolution %d: want 1 (high resolution) or 60 (standard)", resolution)
				}
				d.StorageResolution = resolution
			}
			if timestamp != "" {
				if d.Timestamp, err = time.Parse(time.RFC3339, timestamp); err != nil {
					return usageError("--timestamp %q: want RFC 3339, like 2006-01-02T15:04:05Z", timestamp)
				}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			n, err := c.PutMetricData(cmd.Context(), metrics.PutMetricDataInput{Namespace: args[0], MetricData: []metrics.MetricDatumJSON{d}})
			if err != nil {
				return err
			}
			id := metrics.MetricID{Namespace: args[0], Name: args[1], Dimensions: d.Dimensions}
			fmt.Fprintf(cmd.OutOrStdout(), "stored %d data point(s) for %s\n", n, id)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&dims, "dim", nil, "dimension Name=Value (repeatable)")
	cmd.Flags().StringVar(&unit, "unit", "", "unit (CloudWatch's names: Seconds, Milliseconds, Bytes, Count, Percent, Count/Second, …)")
	cmd.Flags().IntVar(&resolution, "resolution", 60, "storage resolution in seconds: 1 (high resolution) or 60 (standard)")
	cmd.Flags().StringVar(&timestamp, "timestamp", "", "time of the point, RFC 3339 (default: now, by the daemon's clock)")
	return cmd
}

// queryFlags are metrics query's convenience flags, which build a
// GetMetricData request without writing its JSON.
type queryFlags struct {
	file       string
	metric     string
	dims       []string
	stat       string
	period     string
	since      time.Duration
	start, end string
	expression string
	label      string
	asJSON     bool
}

// convenienceFlags are the flags that --file excludes.
var convenienceFlags = []string{"metric", "dim", "stat", "period", "since", "start", "end", "expression", "label"}

func newMetricsQueryCmd(g *globals) *cobra.Command {
	var qf queryFlags
	cmd := &cobra.Command{
		Use:   "query (--file REQUEST.json | --metric NAMESPACE/NAME [flags] | --expression EXPR)",
		Short: "Run a GetMetricData request and print the results",
		Long: `Run a GetMetricData request and print a table: one row per timestamp, one
column per returned series (LABEL (ID)), "-" where a series has no value.

Either give the request as CloudWatch GetMetricData JSON with --file
(- reads standard input; StartTime and EndTime are RFC 3339), or build it
with flags. With --metric alone the metric query has Id m1. With
--expression, the metric (if any) is query m1 with ReturnData false and the
expression is query e1, so the expression refers to the metric as m1.
The namespace is everything before the last "/" of --metric.`,
		Example: `  holdfast metrics query --metric MyApp/Latency --dim Route=/orders --stat p99 --period 1m --since 1h
  holdfast metrics query --metric MyApp/Errors --stat Sum --expression "RATE(m1)" --since 30m
  holdfast metrics query --file request.json --json`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := qf.request(cmd, time.Now())
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out, err := c.GetMetricData(cmd.Context(), in)
			if err != nil {
				return err
			}
			if qf.asJSON {
				return printJSON(cmd.OutOrStdout(), out)
			}
			return printMetricData(cmd.OutOrStdout(), cmd.ErrOrStderr(), out, in.ScanBy != "TimestampAscending")
		},
	}
	f := cmd.Flags()
	f.StringVar(&qf.file, "file", "", "GetMetricData request JSON file (- for standard input)")
	f.StringVar(&qf.metric, "metric", "", "the metric, NAMESPACE/NAME")
	f.StringArrayVar(&qf.dims, "dim", nil, "dimension Name=Value of --metric (repeatable)")
	f.StringVar(&qf.stat, "stat", "Average", "statistic: SampleCount, Sum, Average, Minimum, Maximum, pNN, tmNN, …")
	f.StringVar(&qf.period, "period", "60s", "period: 1s, 5s, 10s, 20s, 30s or a multiple of 60s (bare numbers are seconds)")
	f.DurationVar(&qf.since, "since", 15*time.Minute, "query this far back from --end (not with --start)")
	f.StringVar(&qf.start, "start", "", "start time, RFC 3339 (instead of --since)")
	f.StringVar(&qf.end, "end", "", "end time, RFC 3339 (default: now)")
	f.StringVar(&qf.expression, "expression", "", "Metric Math expression, query e1; the metric is m1")
	f.StringVar(&qf.label, "label", "", "label of the returned series")
	f.BoolVar(&qf.asJSON, "json", false, "print the GetMetricData answer as JSON")
	return cmd
}

// request builds the GetMetricData request from --file or from the
// convenience flags; every mistake is a usage error naming the flag.
func (qf *queryFlags) request(cmd *cobra.Command, now time.Time) (metrics.GetMetricDataInput, error) {
	var in metrics.GetMetricDataInput
	if qf.file != "" {
		for _, name := range convenienceFlags {
			if cmd.Flags().Changed(name) {
				return in, usageError("--file and --%s: give the whole request in the file, or build it with flags, not both", name)
			}
		}
		return readRequest(cmd.InOrStdin(), qf.file)
	}
	if qf.metric == "" && qf.expression == "" {
		return in, usageError("give --metric NAMESPACE/NAME, --expression EXPR or --file REQUEST.json")
	}
	period, err := parsePeriod(qf.period)
	if err != nil {
		return in, err
	}
	end := now
	if qf.end != "" {
		if end, err = time.Parse(time.RFC3339, qf.end); err != nil {
			return in, usageError("--end %q: want RFC 3339, like 2006-01-02T15:04:05Z", qf.end)
		}
	}
	if qf.since <= 0 {
		return in, usageError("--since %s: want a positive duration, like 15m", qf.since)
	}
	start := end.Add(-qf.since)
	if qf.start != "" {
		if cmd.Flags().Changed("since") {
			return in, usageError("--start and --since: give one of them")
		}
		if start, err = time.Parse(time.RFC3339, qf.start); err != nil {
			return in, usageError("--start %q: want RFC 3339, like 2006-01-02T15:04:05Z", qf.start)
		}
	}
	if !start.Before(end) {
		return in, usageError("--start %s is not before --end %s", start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	in = metrics.GetMetricDataInput{StartTime: start, EndTime: end, ScanBy: "TimestampAscending"}
	if qf.metric != "" {
		q, err := qf.metricQuery(int(period / time.Second))
		if err != nil {
			return in, err
		}
		in.MetricDataQueries = append(in.MetricDataQueries, q)
	} else if cmd.Flags().Changed("dim") || cmd.Flags().Changed("stat") {
		return in, usageError("--dim and --stat describe --metric; give --metric NAMESPACE/NAME too")
	}
	if qf.expression != "" {
		if len(in.MetricDataQueries) == 1 {
			in.MetricDataQueries[0].ReturnData = new(false)
			in.MetricDataQueries[0].Label = ""
		}
		in.MetricDataQueries = append(in.MetricDataQueries, metrics.MetricDataQuery{
			Id: "e1", Expression: qf.expression, Label: qf.label, Period: int(period / time.Second)})
	}
	return in, nil
}

func (qf *queryFlags) metricQuery(period int) (metrics.MetricDataQuery, error) {
	var q metrics.MetricDataQuery
	i := strings.LastIndex(qf.metric, "/")
	if i <= 0 || i == len(qf.metric)-1 {
		return q, usageError("--metric %q: want NAMESPACE/NAME", qf.metric)
	}
	dims, err := parseDims(qf.dims)
	if err != nil {
		return q, err
	}
	m := metrics.MetricJSON{Namespace: qf.metric[:i], MetricName: qf.metric[i+1:], Dimensions: dims}
	id := metrics.MetricID{Namespace: m.Namespace, Name: m.MetricName, Dimensions: dims}
	if err := id.Validate(); err != nil {
		return q, usageError("--metric %q: %w", qf.metric, err)
	}
	if _, err := metrics.ParseStat(qf.stat); err != nil {
		return q, usageError("--stat %q: %w", qf.stat, err)
	}
	return metrics.MetricDataQuery{Id: "m1", Label: qf.label,
		MetricStat: &metrics.MetricStatJSON{Metric: m, Period: period, Stat: qf.stat}}, nil
}

// parsePeriod accepts a duration (60s, 5m) or a bare number of seconds.
func parsePeriod(s string) (time.Duration, error) {
	var p time.Duration
	if n, err := strconv.Atoi(s); err == nil {
		p = time.Duration(n) * time.Second
	} else if p, err = time.ParseDuration(s); err != nil {
		return 0, usageError("--period %q: want a duration like 60s or 5m", s)
	}
	if !metrics.ValidPeriod(p) {
		return 0, usageError("--period %s: want 1s, 5s, 10s, 20s, 30s or a multiple of 60s", s)
	}
	return p, nil
}

// readRequest reads a GetMetricData request; unknown fields are refused
// here, as the daemon refuses them, rather than dropped without a word.
func readRequest(stdin io.Reader, path string) (metrics.GetMetricDataInput, error) {
	var in metrics.GetMetricDataInput
	r := stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return in, usageError("--file: %w", err)
		}
		defer f.Close()
		r, name = f, path
	}
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return in, usageError("--file %s: malformed JSON at byte %d: %w", name, se.Offset, err)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return in, usageError("--file %s: malformed JSON: it ends before the request does", name)
		case errors.Is(err, io.EOF):
			return in, usageError("--file %s: empty; want a GetMetricData request", name)
		}
		return in, usageError("--file %s: %w; want a GetMetricData request", name, err)
	}
	return in, nil
}

// printMetricData prints the results as a table, one column per series,
// and any status other than Complete, and messages, to errw.
func printMetricData(w, errw io.Writer, out metrics.GetMetricDataOutput, desc bool) error {
	res := out.MetricDataResults
	byTime := map[int64][]string{} // by UnixNano: decoded times may differ in location
	for i, r := range res {
		for j, t := range r.Timestamps {
			if j >= len(r.Values) {
				break
			}
			row, ok := byTime[t.UnixNano()]
			if !ok {
				row = make([]string, len(res))
				for k := range row {
					row[k] = "-"
				}
				byTime[t.UnixNano()] = row
			}
			row[i] = strconv.FormatFloat(r.Values[j], 'g', -1, 64)
		}
		if r.StatusCode != "" && r.StatusCode != "Complete" {
			fmt.Fprintf(errw, "%s: status %s\n", r.Id, r.StatusCode)
		}
		for _, m := range r.Messages {
			fmt.Fprintf(errw, "%s: %s\n", r.Id, m)
		}
	}
	times := make([]int64, 0, len(byTime))
	for t := range byTime {
		times = append(times, t)
	}
	slices.Sort(times)
	if desc {
		slices.Reverse(times)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "TIMESTAMP")
	for _, r := range res {
		h := r.Id
		if r.Label != "" && r.Label != r.Id {
			h = r.Label + " (" + r.Id + ")"
		}
		fmt.Fprint(tw, "\t"+h)
	}
	fmt.Fprintln(tw)
	for _, t := range times {
		fmt.Fprintln(tw, time.Unix(0, t).UTC().Format(timeLayout)+"\t"+strings.Join(byTime[t], "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(res) == 0 {
		fmt.Fprintln(errw, "no series returned")
	} else if len(times) == 0 {
		fmt.Fprintln(errw, "no data points in the time range")
	}
	return nil
}
