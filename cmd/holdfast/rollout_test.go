package main

import (
	"strings"
	"testing"
)

func TestRolloutUsageErrorsExit2(t *testing.T) {
	t.Setenv("HOLDFAST_ADMIN", "http://127.0.0.1:1") // never reached
	t.Setenv("HOLDFAST_TOKEN", "unused")
	for _, args := range [][]string{
		{"rollout", "start", "orders"},
		{"rollout", "start"},
		{"rollout", "watch"},
		{"rollout", "watch", "orders", "--interval", "0s"},
		{"rollout", "abort"},
		{"rollout", "history", "a", "b"},
	} {
		_, stderr, code := run(t, "", args...)
		if code != 2 || !strings.Contains(stderr, "rollout") {
			t.Errorf("%v: exit %d, %q; want 2 and a message", args, code, stderr)
		}
	}
}
