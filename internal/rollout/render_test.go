package rollout

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/render")

// TestRenderGolden renders real rollouts at known points; each golden file
// holds the input description, a ---- line and the expected output.
func TestRenderGolden(t *testing.T) {
	mid := func(t *testing.T) Status {
		e := newEnv(t, nil)
		sp := spec("Linear10PercentEvery1Minute")
		sp.ID = "api-42"
		sp.Analysis = &Analysis{MinSamples: 50}
		e.ctrl.Start(bg, sp, t0)
		e.traffic(t, "v1", t0, 60, 50, 100, 10, 20)
		e.traffic(t, "v2", t0, 60, 5, 100, 10, 21)
		e.eval(t, t0.Add(sec(60)))
		e.traffic(t, "v2", t0.Add(sec(60)), 20, 2, 0, 10)
		return e.eval(t, t0.Add(sec(80)))
	}
	rolledBack := func(t *testing.T) Status {
		e := newEnv(t, nil)
		sp := spec("canary:25%:2m")
		sp.ID = "api-43"
		sp.Analysis = &Analysis{MinSamples: 100}
		e.ctrl.Start(bg, sp, t0)
		e.traffic(t, "v1", t0, 10, 30, 0, 10)
		e.traffic(t, "v2", t0, 10, 10, 4, 10)
		return e.eval(t, t0.Add(sec(10)))
	}
	tests := []struct {
		name  string
		desc  string
		width int
		st    func(*testing.T) Status
	}{
		{"linear-step2", "Linear10PercentEvery1Minute, 80 s in, step 2 waiting for data, width 100", 100, mid},
		{"linear-narrow", "the same rollout at width 50 (lines cut)", 50, mid},
		{"canary-rolled-back", "canary:25%:2m rolled back on a 25% candidate error rate, width 100", 100, rolledBack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.desc + "\n----\n" + Render(tt.st(t), tt.width)
			path := filepath.Join("testdata", "render", tt.name+".golden")
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestRenderGolden -update)", err)
			}
			if got != string(want) {
				t.Errorf("Render mismatch for %s\n--- got\n%s\n--- want\n%s", tt.name, got, want)
			}
		})
	}
}

func TestLineSummarises(t *testing.T) {
	e := newEnv(t, nil)
	sp := spec("canary:10%:1m")
	sp.Analysis = &Analysis{MinSamples: 5}
	if _, err := e.ctrl.Start(bg, sp, t0); err != nil {
		t.Fatal(err)
	}
	st := e.eval(t, t0.Add(sec(20)))
	got := Line(st)
	for _, want := range []string{"api SHIFTING v1->v2 10%", "step 1/2 (40s left)", "analysis insufficient (n=0/0)"} {
		if !strings.Contains(got, want) {
			t.Errorf("Line = %q; lacks %q", got, want)
		}
	}
	if strings.Contains(got, "\n") {
		t.Errorf("Line has a newline: %q", got)
	}
}
