// Package expr implements CloudWatch Metric Math: a hand-written lexer and
// recursive-descent parser for metric math expressions, and an evaluator
// over time series that follows the semantics documented in the CloudWatch
// User Guide ("Using metric math", doc_source/using-metric-math.md).
//
// # API
//
//	func Parse(src string) (Node, error)                       // errors are *ParseError
//	func Evaluate(queries []Query, r Range) ([]Result, error)  // GetMetricData-like request
//
// A request is a list of [Query] values, shaped like GetMetricData's
// MetricDataQuery: each has an Id (a lowercase letter, then [a-zA-Z0-9_]),
// and either Metric (data already fetched by the caller: a metric query) or
// Expression (metric math over other ids). ReturnData (default true) selects
// the queries returned in the [Result] list, in request order. Evaluate is
// pure and deterministic: it never reads the clock; the query window is the
// [Range] argument ([Start, End), stepped by a period).
//
// # Types
//
// Values are scalars (S), time series (TS) or arrays of time series (TS[]).
// A time series is a list of points ordered by timestamp, at one period; a
// missing point is simply absent. The final result of an expression must be a
// TS or a TS[].
//
// # Semantics (documented)
//
//   - Arithmetic (+ - * / ^, unary -) and comparisons (== != <= >= < >, 0/1)
//     and logical operators (AND &&, OR ||; 0 is false) between two series
//     align on the union of their timestamps; a value missing on one side
//     counts as 0. A point whose result is not finite (division by zero, and
//     by extension 0^-1, LOG(0), a negative number to a fractional power) is
//     dropped. A scalar with a series applies pointwise to the series' points;
//     a series or scalar with a TS[] applies to each member.
//   - Array literals [a, b, ...] build a TS[] from TS and TS[] members
//     (flattened), as in SUM([m1, m2]) or SUM([METRICS("4xx"), METRICS("5xx")]).
//   - IF(cond, a[, b]): 0 is false. When cond is a series, one output point
//     per cond point: true takes a (0 when a is a series missing that point),
//     false takes b (dropped when b is missing there or omitted).
//   - METRICS() is every metric query of the request (not expressions), in
//     request order; METRICS("s") those whose Id contains s.
//   - Mixed periods in one expression are rejected (ErrMixedPeriods).
//
// Where the documentation is silent, the choice made is written next to the
// code, marked "Docs:".
//
// # Errors
//
// Parse errors are *ParseError with a byte offset (Pos, 0-based) and a
// column (Col, 1-based, in runes). Evaluate wraps problems of one query in a
// *QueryError naming the query ("expression e1: position 7: ..."); errors in
// an expression carry a position (*ParseError). Callers can branch with
// errors.Is on ErrSyntax, ErrUnknownFunction, ErrUnknownID, ErrType,
// ErrCycle, ErrMixedPeriods, ErrInvalidQuery.
package expr
