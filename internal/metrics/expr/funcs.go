package expr

import (
	"slices"
	"sort"
	"strings"
)

// funcSpec describes a function for the parser (argument count, keyword
// arguments) and the evaluator (impl).
type funcSpec struct {
	minArgs, maxArgs int
	usage            string
	keywords         map[int][]string // argument index → keywords allowed there
	kwRequired       map[int]bool     // argument index → must be a keyword
	impl             func(ev *evaluator, c *Call, args []value) (value, error)
}

var (
	fillKeywords  = []string{"REPEAT", "LINEAR"}
	sortFunctions = []string{"AVG", "MIN", "MAX", "SUM"}
	sortOrders    = []string{"ASC", "DESC"}
)

// functions is the table of supported functions; filled by init to break
// the initialization cycle between the table and the evaluator.
var functions map[string]*funcSpec

func init() {
	unary := func(usage string, impl func(ev *evaluator, c *Call, args []value) (value, error)) *funcSpec {
		return &funcSpec{minArgs: 1, maxArgs: 1, usage: usage, impl: impl}
	}
	functions = map[string]*funcSpec{
		"ABS":             unary("ABS(TS|TS[])", pointwise(absf)),
		"AVG":             unary("AVG(TS|TS[])", aggregate(aggAvg)),
		"CEIL":            unary("CEIL(TS|TS[])", pointwise(ceilf)),
		"DATAPOINT_COUNT": unary("DATAPOINT_COUNT(TS|TS[])", aggregate(aggCount)),
		"DIFF":            unary("DIFF(TS|TS[])", consecutive(diffValue)),
		"DIFF_TIME":       unary("DIFF_TIME(TS|TS[])", consecutive(diffTime)),
		"FILL": {minArgs: 2, maxArgs: 2, usage: "FILL(TS|TS[], S|TS|REPEAT|LINEAR)",
			keywords: map[int][]string{1: fillKeywords}, impl: fnFill},
		"FIRST": unary("FIRST(TS[])", fnFirstLast(true)),
		"FLOOR": unary("FLOOR(TS|TS[])", pointwise(floorf)),
		"IF": {minArgs: 2, maxArgs: 3, usage: "IF(condition, trueValue[, falseValue])",
			impl: fnIf},
		"LAST":         unary("LAST(TS[])", fnFirstLast(false)),
		"LOG":          unary("LOG(TS|TS[])", pointwise(logf)),
		"LOG10":        unary("LOG10(TS|TS[])", pointwise(log10f)),
		"MAX":          unary("MAX(TS|TS[])", aggregate(aggMax)),
		"METRIC_COUNT": unary("METRIC_COUNT(TS[])", fnMetricCount),
		"METRICS": {minArgs: 0, maxArgs: 1, usage: `METRICS() or METRICS("substring")`,
			impl: fnMetrics},
		"MIN":          unary("MIN(TS|TS[])", aggregate(aggMin)),
		"MINUTE":       unary("MINUTE(TS)", timeFunc(tfMinute)),
		"HOUR":         unary("HOUR(TS)", timeFunc(tfHour)),
		"DAY":          unary("DAY(TS)", timeFunc(tfDay)),
		"DATE":         unary("DATE(TS)", timeFunc(tfDate)),
		"MONTH":        unary("MONTH(TS)", timeFunc(tfMonth)),
		"YEAR":         unary("YEAR(TS)", timeFunc(tfYear)),
		"EPOCH":        unary("EPOCH(TS)", timeFunc(tfEpoch)),
		"PERIOD":       unary("PERIOD(metric id)", fnPeriod),
		"RATE":         unary("RATE(TS|TS[])", consecutive(rateValue)),
		"REMOVE_EMPTY": unary("REMOVE_EMPTY(TS[])", fnRemoveEmpty),
		"RUNNING_SUM":  unary("RUNNING_SUM(TS|TS[])", fnRunningSum),
		"SLICE": {minArgs: 2, maxArgs: 3, usage: "SLICE(TS[], start[, end])",
			impl: fnSlice},
		"SORT": {minArgs: 3, maxArgs: 4, usage: "SORT(TS[], AVG|MIN|MAX|SUM, ASC|DESC[, limit])",
			keywords:   map[int][]string{1: sortFunctions, 2: sortOrders},
			kwRequired: map[int]bool{1: true, 2: true}, impl: fnSort},
		"STDDEV":      unary("STDDEV(TS|TS[])", aggregate(aggStddev)),
		"SUM":         unary("SUM(TS|TS[])", aggregate(aggSum)),
		"TIME_SERIES": unary("TIME_SERIES(S)", fnTimeSeries),
	}
}

func isKeyword(name string) bool {
	return slices.Contains(fillKeywords, name) || slices.Contains(sortFunctions, name) || slices.Contains(sortOrders, name)
}

func keywordOwner(name string) string {
	if slices.Contains(fillKeywords, name) {
		return "FILL"
	}
	return "SORT"
}

// suggest returns the function name closest to name, or "" when none is
// close (edit distance at most 2, or a prefix relation).
func suggest(name string) string {
	names := make([]string, 0, len(functions))
	for n := range functions {
		names = append(names, n)
	}
	sort.Strings(names)
	best, bestD := "", 3
	for _, n := range names {
		d := editDistance(name, n)
		if d < bestD && d <= len(name)/2 {
			best, bestD = n, d
		}
	}
	if best == "" && len(name) >= 3 {
		for _, n := range names {
			if strings.HasPrefix(n, name) || strings.HasPrefix(name, n) {
				return n
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
