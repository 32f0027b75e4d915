package expr

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestScripts runs the data-driven scripts in testdata/*.test; the format is
// described in testdata/README.md.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/*.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.test scripts")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptLine struct {
	n    int
	text string
}

type scriptState struct {
	metrics   []Query
	exprs     []Query
	rng       *Range // set by "range"
	loadRange Range  // accumulated by "load"
	loaded    bool
}

func runScript(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var lines []scriptLine
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		lines = append(lines, scriptLine{n, sc.Text()})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	st := &scriptState{}
	for i := 0; i < len(lines); {
		l := lines[i]
		i++
		text := strings.TrimSpace(l.text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if l.text[0] == ' ' || l.text[0] == '\t' {
			t.Fatalf("%s:%d: indented line outside a block", path, l.n)
		}
		var body []scriptLine
		for i < len(lines) && lines[i].text != "" && (lines[i].text[0] == ' ' || lines[i].text[0] == '\t') {
			if bt := strings.TrimSpace(lines[i].text); !strings.HasPrefix(bt, "#") {
				body = append(body, scriptLine{lines[i].n, bt})
			}
			i++
		}
		cmd, rest, _ := strings.Cut(text, " ")
		rest = strings.TrimSpace(rest)
		where := fmt.Sprintf("%s:%d", path, l.n)
		switch cmd {
		case "clear":
			*st = scriptState{}
		case "load":
			if err := st.load(rest, body); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		case "range":
			r, err := parseRange(rest)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			st.rng = &r
		case "expr":
			id, src, _ := strings.Cut(rest, " ")
			st.exprs = append(st.exprs, Query{ID: id, Expression: strings.TrimSpace(src), ReturnData: ptr(false)})
		case "eval", "eval_error":
			t.Run(fmt.Sprintf("line_%d", l.n), func(t *testing.T) {
				st.eval(t, where, cmd == "eval_error", rest, body)
			})
		default:
			t.Fatalf("%s: unknown command %q", where, cmd)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// load reads "load <period> from <RFC3339>" and its "<id> v v v" lines.
func (st *scriptState) load(args string, body []scriptLine) error {
	f := strings.Fields(args)
	if len(f) != 3 || f[1] != "from" {
		return fmt.Errorf("want: load <period> from <RFC3339 time>")
	}
	period, err := time.ParseDuration(f[0])
	if err != nil {
		return err
	}
	start, err := time.Parse(time.RFC3339, f[2])
	if err != nil {
		return err
	}
	for _, b := range body {
		fs := strings.Fields(b.text)
		s := &Series{Period: period}
		for i, tok := range fs[1:] {
			if tok == "_" {
				continue
			}
			v, err := strconv.ParseFloat(tok, 64)
			if err != nil {
				return fmt.Errorf("line %d: %v", b.n, err)
			}
			s.Points = append(s.Points, Point{start.Add(time.Duration(i) * period), v})
		}
		end := start.Add(time.Duration(len(fs)-1) * period)
		if !st.loaded {
			st.loadRange = Range{Start: start, End: end, Period: period}
			st.loaded = true
		}
		if start.Before(st.loadRange.Start) {
			st.loadRange.Start = start
		}
		if end.After(st.loadRange.End) {
			st.loadRange.End = end
		}
		st.metrics = append(st.metrics, Query{ID: fs[0], Metric: s, ReturnData: ptr(false)})
	}
	return nil
}

// parseRange reads "<period> from <RFC3339> to <RFC3339>".
func parseRange(args string) (Range, error) {
	f := strings.Fields(args)
	if len(f) != 5 || f[1] != "from" || f[3] != "to" {
		return Range{}, fmt.Errorf("want: range <period> from <RFC3339> to <RFC3339>")
	}
	p, err := time.ParseDuration(f[0])
	if err != nil {
		return Range{}, err
	}
	s, err := time.Parse(time.RFC3339, f[2])
	if err != nil {
		return Range{}, err
	}
	e, err := time.Parse(time.RFC3339, f[4])
	if err != nil {
		return Range{}, err
	}
	return Range{Start: s, End: e, Period: p}, nil
}

func (st *scriptState) eval(t *testing.T, where string, wantErr bool, src string, body []scriptLine) {
	r := st.loadRange
	if st.rng != nil {
		r = *st.rng
	}
	queries := append(append([]Query{}, st.metrics...), st.exprs...)
	queries = append(queries, Query{ID: "eval", Expression: src})
	res, err := Evaluate(queries, r)
	if wantErr {
		if err == nil {
			t.Fatalf("%s: eval_error %s: got no error", where, src)
		}
		for _, b := range body {
			if !strings.Contains(err.Error(), b.text) {
				t.Errorf("%s: eval_error %s:\n got error %q\nwant it to contain %q", where, src, err, b.text)
			}
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: eval %s: %v", where, src, err)
	}
	if len(res) != 1 || res[0].ID != "eval" {
		t.Fatalf("%s: eval %s: got %d results", where, src, len(res))
	}
	got := res[0].Series
	if len(body) == 1 && body[0].text == "empty" {
		if len(got) != 0 {
			t.Fatalf("%s: eval %s: got %d series, want none", where, src, len(got))
		}
		return
	}
	if len(got) != len(body) {
		t.Fatalf("%s: eval %s: got %d series, want %d:\n%s", where, src, len(got), len(body), formatSeries(got, r))
	}
	for i, b := range body {
		text := b.text
		if label, vals, ok := strings.Cut(text, ":"); ok {
			if got[i].Label != label {
				t.Errorf("%s: eval %s: series %d: got label %q, want %q", where, src, i, got[i].Label, label)
			}
			text = vals
		}
		want := strings.Fields(text)
		gotVals := onGrid(t, got[i], r)
		if len(gotVals) != len(want) {
			t.Errorf("%s: eval %s: series %d: got %d values on the range, want %d:\n got %s\nwant %s", where, src, i, len(gotVals), len(want), strings.Join(gotVals, " "), text)
			continue
		}
		for j := range want {
			if !sameValue(gotVals[j], want[j]) {
				t.Errorf("%s: eval %s: series %d:\n got %s\nwant %s", where, src, i, strings.Join(gotVals, " "), strings.Join(want, " "))
				break
			}
		}
	}
}

// onGrid formats s's values at the range's timestamps for s's period.
func onGrid(t *testing.T, s Series, r Range) []string {
	t.Helper()
	var out []string
	idx := map[time.Time]float64{}
	for _, p := range s.Points {
		idx[p.T] = p.V
	}
	n := 0
	for ts := r.Start; ts.Before(r.End); ts = ts.Add(s.Period) {
		if v, ok := idx[ts]; ok {
			out = append(out, strconv.FormatFloat(v, 'g', 10, 64))
			n++
		} else {
			out = append(out, "_")
		}
	}
	if n != len(s.Points) {
		t.Errorf("series %s has %d points off the range's timestamps", s.Label, len(s.Points)-n)
	}
	return out
}

func formatSeries(ss []Series, r Range) string {
	var b strings.Builder
	for _, s := range ss {
		fmt.Fprintf(&b, "  %s:", s.Label)
		idx := map[time.Time]float64{}
		for _, p := range s.Points {
			idx[p.T] = p.V
		}
		for ts := r.Start; ts.Before(r.End); ts = ts.Add(s.Period) {
			if v, ok := idx[ts]; ok {
				fmt.Fprintf(&b, " %g", v)
			} else {
				b.WriteString(" _")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

func sameValue(got, want string) bool {
	if got == "_" || want == "_" {
		return got == want
	}
	g, err1 := strconv.ParseFloat(got, 64)
	w, err2 := strconv.ParseFloat(want, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	return math.Abs(g-w) <= 1e-9*max(1, math.Abs(g), math.Abs(w))
}
