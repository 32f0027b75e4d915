package alarm

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// mapSource is the Source interface over an in-test map of datapoints keyed
// by alarm name, then period start. It is the interface, not a fake of a real
// system: the metrics store implements the same method.
type mapSource struct {
	mu     sync.Mutex
	points map[string]map[time.Time]Datapoint
	err    error
	calls  int
}

func newMapSource() *mapSource {
	return &mapSource{points: map[string]map[time.Time]Datapoint{}}
}

func (s *mapSource) put(alarm string, ts time.Time, v, samples float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.points[alarm] == nil {
		s.points[alarm] = map[time.Time]Datapoint{}
	}
	ts = ts.UTC()
	s.points[alarm][ts] = Datapoint{Timestamp: ts, Value: v, SampleCount: samples}
}

func (s *mapSource) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *mapSource) Datapoints(_ context.Context, a *Definition, start, end time.Time) ([]Datapoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	var out []Datapoint
	for ts, dp := range s.points[a.Name] {
		if !ts.Before(start) && ts.Before(end) {
			out = append(out, dp)
		}
	}
	return out, nil
}

var _ Source = (*mapSource)(nil)

type vector struct {
	line    int
	source  string
	pattern []string
	n, m    int
	filled  int
	want    map[TreatMissingData]string
}

func loadVectors(t *testing.T, path string) []vector {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var out []vector
	source := ""
	sc := bufio.NewScanner(f)
	for ln := 1; sc.Scan(); ln++ {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "## source:"); ok {
			source = strings.TrimSpace(rest)
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Split(line, "|")
		if len(cols) != 8 {
			t.Fatalf("%s:%d: %d columns, want 8", path, ln, len(cols))
		}
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		v := vector{line: ln, source: source, pattern: strings.Fields(cols[0]), want: map[TreatMissingData]string{}}
		ints := []*int{&v.n, &v.m, &v.filled}
		for i, p := range ints {
			if *p, err = strconv.Atoi(cols[1+i]); err != nil {
				t.Fatalf("%s:%d: column %d: %v", path, ln, 2+i, err)
			}
		}
		for i, tr := range []TreatMissingData{Missing, Ignore, Breaching, NotBreaching} {
			v.want[tr] = cols[4+i]
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMissingDataVectors runs every documented (and derived) vector through
// a real Alarm: the pattern becomes datapoints in a map Source, the alarm is
// put in each possible prior state with SetState and evaluated once.
func TestMissingDataVectors(t *testing.T) {
	vectors := loadVectors(t, "testdata/missing_data.txt")
	if len(vectors) < 20 {
		t.Fatalf("only %d vectors loaded", len(vectors))
	}
	const period = time.Minute
	base := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	for _, v := range vectors {
		for _, tr := range []TreatMissingData{Missing, Ignore, Breaching, NotBreaching} {
			name := fmt.Sprintf("line%d/%s/%s/N%dM%d/%s", v.line, strings.Join(v.pattern, ""), tr, v.n, v.m, v.want[tr])
			t.Run(name, func(t *testing.T) {
				src := newMapSource()
				def := Definition{
					Name:               "vector",
					Metric:             &MetricStat{Namespace: "test", MetricName: "m", Statistic: "Maximum"},
					Period:             period,
					EvaluationPeriods:  v.n,
					DatapointsToAlarm:  v.m,
					ComparisonOperator: GreaterThanThreshold,
					Threshold:          1,
					TreatMissingData:   tr,
					EvaluationRange:    len(v.pattern),
					SettleDelay:        -1,
				}
				slots := make([]point, len(v.pattern))
				for i, tok := range v.pattern {
					ts := base.Add(time.Duration(i) * period)
					switch tok {
					case "0":
						src.put("vector", ts, 0, 1)
						slots[i] = pointOK
					case "X":
						src.put("vector", ts, 2, 1)
						slots[i] = pointBreaching
					case "-":
					default:
						t.Fatalf("line %d: bad token %q", v.line, tok)
					}
				}
				if got := decide(slots, v.n, v.m, tr).filled; got != v.filled {
					t.Errorf("filled = %d, want %d", got, v.filled)
				}
				now := base.Add(time.Duration(len(v.pattern)) * period) // the newest period just closed
				for _, prior := range []State{StateOK, StateAlarm, StateInsufficientData} {
					a, err := NewAlarm(def, src, base, 0)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := a.SetState(prior, "test prior state", base); err != nil {
						t.Fatal(err)
					}
					if _, err := a.Eval(context.Background(), now); err != nil {
						t.Fatal(err)
					}
					want := State(v.want[tr])
					if v.want[tr] == "retain" {
						want = prior
					}
					if got := a.Status().State; got != want {
						t.Errorf("from %s: got %s, want %s (source: %s)", prior, got, want, v.source)
					}
				}
			})
		}
	}
}
