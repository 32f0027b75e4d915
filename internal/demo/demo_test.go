package demo_test

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"holdfast/internal/demo"
)

// TestDemo runs the whole demo (real PostgreSQL included) with short phases
// and checks what it printed: the kill switch moved the traffic to the mock
// and back, with no error, and the ledger lists both flips.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := demo.Run(ctx, demo.Options{Out: &out, Phase: 1500 * time.Millisecond, Workers: 2}); err != nil {
		t.Fatalf("demo.Run: %v\n%s", err, out.String())
	}
	text := out.String()
	t.Log(text)
	if !strings.Contains(text, "started PostgreSQL") || !strings.Contains(text, "(postgres backend)") {
		t.Fatalf("demo did not run against PostgreSQL:\n%s", text)
	}
	if !regexp.MustCompile(`started holdfast's pooler on 127\.0\.0\.1:\d+`).MatchString(text) ||
		!regexp.MustCompile(`the pooler \(.*SHOW STATS.*\): [1-9]\d* transactions`).MatchString(text) {
		t.Fatalf("the orders service's queries did not go through the pooler:\n%s", text)
	}
	row := regexp.MustCompile(`(?m)^\s*kill switch (ON \(real\)|OFF \(mock\)|ON again)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)`)
	rows := row.FindAllStringSubmatch(text, -1)
	if len(rows) != 3 {
		t.Fatalf("want 3 phase rows, got %d:\n%s", len(rows), text)
	}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	for i, r := range rows {
		total, pg, mock, errs := num(r[2]), num(r[3]), num(r[4]), num(r[5])
		if total == 0 || errs != 0 || pg+mock != total {
			t.Errorf("phase %q: total %d postgres %d mock %d errors %d", r[1], total, pg, mock, errs)
		}
		// Phase 2 is mostly mock, phases 1 and 3 mostly postgres: the flip
		// lands between phases, so a few requests in flight may cross over.
		if i == 1 && mock < total*9/10 {
			t.Errorf("kill switch off: only %d of %d requests on the mock", mock, total)
		}
		if i != 1 && pg < total*9/10 {
			t.Errorf("phase %q: only %d of %d requests on postgres", r[1], pg, total)
		}
	}
	for _, want := range []string{"demo: database incident drill", "demo: incident over", "orders-real set by holdfast-demo",
		"alarm orders-error-rate went to ALARM", "were greater than the threshold (2.0)", "alarm orders-error-rate went to OK",
		"rolled itself back", "rollback by alarm/orders-error-rate: deployment #4 rolled back to version 3",
		"rolling out a bad version", "ROLLED_BACK", "rollback by holdfast"} {
		if !strings.Contains(text, want) {
			t.Errorf("ledger output lacks %q", want)
		}
	}
	// After the flag deployment rolled back, everything is on postgres again.
	after := regexp.MustCompile(`after the rollback: (\d+) requests, (\d+) on postgres, (\d+) on the mock, (\d+) errors`).FindStringSubmatch(text)
	if after == nil || num(after[1]) == 0 || num(after[4]) != 0 || num(after[2]) < num(after[1])*9/10 {
		t.Errorf("after the flag rollback: %v", after)
	}
}

// TestDemoWithoutPostgreSQL: where the binaries are missing the demo says how
// to get them and still runs the kill-switch script on the mock backends.
func TestDemoWithoutPostgreSQL(t *testing.T) {
	t.Setenv("HOLDFAST_PG_BIN", t.TempDir()) // a directory with no initdb
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := demo.Run(ctx, demo.Options{Out: &out, Phase: 300 * time.Millisecond, Workers: 1}); err != nil {
		t.Fatalf("demo.Run: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{"PostgreSQL is not installed", "apt-get install -y postgresql", "kill switch OFF (mock)", "demo: incident over",
		"alarm orders-error-rate went to ALARM"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}
