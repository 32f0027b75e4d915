package config_test

import (
	"testing"

	"holdfast/internal/config"
)

// TestExampleConfig: the example the README points to is valid, and its
// flag environment watches the route's error-rate alarm.
func TestExampleConfig(t *testing.T) {
	cfg, err := config.Load("../../examples/holdfast.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.GatewayFlagEnvironment(); got != "production" {
		t.Errorf("gateway flag environment = %q", got)
	}
	if e := cfg.FlagEnvironments[0]; len(e.Monitors) != 1 || e.Monitors[0] != "orders-error-rate" || e.RollbackWindow.D() != config.DefaultRollbackWindow {
		t.Errorf("flag environment = %+v", e)
	}
}
