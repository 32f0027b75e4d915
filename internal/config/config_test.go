package config_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"holdfast/internal/config"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/*.txt")

// TestGolden runs every testdata/*.txt: a config, a "----" line, then the
// expected output: "ok" and the config with defaults applied, or every
// problem, one per line.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, want, ok := strings.Cut(string(raw), "----\n")
			if !ok {
				t.Fatalf("%s: no ---- line", file)
			}
			got := render(filepath.Base(file), []byte(input))
			if *update {
				if err := os.WriteFile(file, []byte(input+"----\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("%s:\n--- got\n%s--- want\n%s", file, got, want)
			}
		})
	}
}

func render(name string, input []byte) string {
	cfg, err := config.Parse(name, input)
	if err != nil {
		var cerr *config.Errors
		if !errors.As(err, &cerr) {
			return "unexpected error type: " + err.Error() + "\n"
		}
		if !errors.Is(err, config.ErrInvalid) {
			return "not ErrInvalid\n"
		}
		return cerr.Error() + "\n"
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return "marshal: " + err.Error() + "\n"
	}
	return "ok\n" + string(out)
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("Load(missing) = %v; want an error naming the file", err)
	}
}

// TestEveryProblemHasLineAndField checks that a config with many mistakes
// reports each one located, not just the first.
func TestEveryProblemHasLineAndField(t *testing.T) {
	raw, err := os.ReadFile("testdata/bad_types.txt")
	if err != nil {
		t.Fatal(err)
	}
	input, _, _ := strings.Cut(string(raw), "----\n")
	_, err = config.Parse("c.yaml", []byte(input))
	var cerr *config.Errors
	if !errors.As(err, &cerr) {
		t.Fatalf("Parse = %v; want *config.Errors", err)
	}
	if got := len(cerr.Problems); got < 5 {
		t.Errorf("got %d problems, want at least 5:\n%v", got, err)
	}
	for _, p := range cerr.Problems {
		if p.Line == 0 || p.Field == "" || p.File != "c.yaml" {
			t.Errorf("problem without line or field: %+v", p)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txt")
	for _, file := range files {
		raw, _ := os.ReadFile(file)
		input, _, _ := strings.Cut(string(raw), "----\n")
		f.Add([]byte(input))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("fuzz.yaml", data)
		if err != nil {
			var cerr *config.Errors
			if errors.As(err, &cerr) && len(cerr.Problems) == 0 {
				t.Fatalf("error with no problems for %q", data)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// A config that passed validation has what the daemon relies on.
		if len(cfg.Listeners) == 0 || len(cfg.Routes) == 0 {
			t.Fatalf("accepted a config with no listener or route: %q", data)
		}
		for _, r := range cfg.Routes {
			sum := 0
			for _, tg := range r.Targets {
				if cfg.UpstreamByName(tg.Upstream) == nil {
					t.Fatalf("accepted a target naming no upstream: %q", data)
				}
				sum += tg.Weight
			}
			if sum <= 0 {
				t.Fatalf("accepted weights summing to %d: %q", sum, data)
			}
			if r.KillSwitch != "" && (cfg.FlagByName(r.KillSwitch) == nil || r.Fallback == nil) {
				t.Fatalf("accepted a kill switch without flag or fallback: %q", data)
			}
		}
	})
}
