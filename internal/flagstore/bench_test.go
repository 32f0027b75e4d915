package flagstore

import (
	"strconv"
	"testing"
	"time"
)

// benchFixture has version 2 of the kill switch half deployed, so Bool
// hashes the entity, and version 3 with variants deployed to "canary".
func benchFixture(b *testing.B) *fixture {
	f := newFixture(b, Environment{})
	f.deploy(1, AllAtOnce, t0)
	f.eval(t0.Add(10 * time.Minute))
	f.deploy(2, Linear50PercentEvery30Seconds, t0.Add(time.Hour))
	f.eval(t0.Add(time.Hour + 40*time.Second))
	return f
}

func entities(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "client-" + strconv.Itoa(i)
	}
	return out
}

// BenchmarkBool is the gateway's per-request lookup during a deployment.
func BenchmarkBool(b *testing.B) {
	f := benchFixture(b)
	ents := entities(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f.svc.Bool("kill", ents[i&1023])
	}
}

// BenchmarkBoolParallel is Bool under concurrent readers.
func BenchmarkBoolParallel(b *testing.B) {
	f := benchFixture(b)
	ents := entities(1024)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			f.svc.Bool("kill", ents[i&1023])
			i++
		}
	})
}

// BenchmarkBoolVariants is Bool on a flag whose variants have rules on
// the entity (a split and a comparison).
func BenchmarkBoolVariants(b *testing.B) {
	f := benchFixture(b)
	f.eval(t0.Add(2 * time.Hour))
	doc := `{"version":"1","flags":{"kill":{}},"values":{"kill":{"enabled":false,"_variants":[
		{"name":"staff","enabled":true,"rule":"(starts_with $entityId \"staff-\")"},
		{"name":"some","enabled":true,"rule":"(split pct::10)"},
		{"name":"Default","enabled":false}]}}}`
	v, err := f.svc.CreateVersion(b.Context(), []byte(doc), "bench", "b", t0)
	if err != nil {
		b.Fatal(err)
	}
	f.deploy(v.Number, AllAtOnce, t0.Add(3*time.Hour))
	ents := entities(1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f.svc.Bool("kill", ents[i&1023])
	}
}

// BenchmarkEvaluateVariants evaluates a three-variant flag with rules.
func BenchmarkEvaluateVariants(b *testing.B) {
	f := benchFixture(b)
	f.eval(t0.Add(2 * time.Hour))
	v, err := f.svc.CreateVersion(b.Context(), []byte(fullDoc), "bench", "b", t0)
	if err != nil {
		b.Fatal(err)
	}
	f.deploy(v.Number, AllAtOnce, t0.Add(3*time.Hour))
	ctx := EvalContext{Entity: "client-1", Values: map[string]any{"email": "x@other.org", "userId": "u-77"}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.svc.Evaluate("prod", "checkout", ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMapAnchor is the floor: one map lookup of a bool, what a plain
// boolean flag table costs.
func BenchmarkMapAnchor(b *testing.B) {
	m := map[string]bool{"kill": true}
	b.ReportAllocs()
	for b.Loop() {
		_ = m["kill"]
	}
}
