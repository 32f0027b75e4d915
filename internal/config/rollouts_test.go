package config_test

import (
	"testing"

	"holdfast/internal/config"
)

func TestRolloutDefaultsAndAnalysis(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte(`
listeners: [{name: p, listen: "127.0.0.1:0"}]
upstreams: [{name: a, url: "http://127.0.0.1:1"}]
routes:
  - name: plain
    targets: [{upstream: a, weight: 1}]
  - name: tuned
    match: {path_prefix: /t}
    balance: hash
    hash_key: cookie:sid
    targets: [{upstream: a, weight: 1}]
    rollout:
      alarms: []
      analysis: {checks: [error_rate], error_rate_margin: 0.5, min_samples: 10}
`))
	if err != nil {
		t.Fatal(err)
	}
	plain := cfg.RolloutOf(&cfg.Routes[0])
	if plain.Strategy != config.DefaultRolloutStrategy || len(*plain.Alarms) != 1 || (*plain.Alarms)[0] != "plain-error-rate" ||
		plain.ClientKey != "remote_addr" {
		t.Errorf("defaults: %+v alarms %v", plain, *plain.Alarms)
	}
	a := plain.AnalysisSpec()
	if a == nil || a.MinSamples != 100 || a.ErrorRateMargin != 0.01 || a.P95Tolerance != 0.15 || a.P95SlackMs != 5 {
		t.Errorf("default analysis: %+v", a)
	}
	tuned := cfg.RolloutOf(&cfg.Routes[1])
	if len(*tuned.Alarms) != 0 || tuned.ClientKey != "cookie:sid" {
		t.Errorf("tuned: alarms %v key %q", *tuned.Alarms, tuned.ClientKey)
	}
	a = tuned.AnalysisSpec()
	if a.ErrorRateMargin != 0.005 || a.P95Tolerance >= 0 || a.MinSamples != 10 {
		t.Errorf("tuned analysis: %+v", a)
	}
}
