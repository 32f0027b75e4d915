package gateway

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// The access log's hand-made time and duration fields must read exactly as
// time.RFC3339Nano and a 3-decimal float would.
func TestAccessLogTimeIsRFC3339Nano(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 12, 31, 23, 59, 58, 0, time.UTC)
	times := []time.Time{
		base, base.Add(time.Nanosecond), base.Add(100 * time.Millisecond), base.Add(123456789),
		base.Add(1500 * time.Millisecond), base.Add(2 * time.Second), // into the next year
		time.Date(2025, 2, 28, 12, 0, 0, 999999999, time.FixedZone("x", 3600)),
		time.Unix(0, 10).In(time.Local),
	}
	for range 2000 {
		times = append(times, base.Add(time.Duration(r.Int64N(int64(72*time.Hour)))))
	}
	for i := range 50 { // the same second again and again, then the next
		times = append(times, base.Add(time.Duration(i)*97*time.Millisecond))
	}
	for _, tm := range times {
		want := tm.UTC().Format(time.RFC3339Nano)
		if got := string(appendLogTime(nil, tm)); got != want {
			t.Fatalf("appendLogTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestAccessLogMillis(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ds := []time.Duration{0, 1, 499, 501, 999, time.Microsecond, 1234567, time.Second, 90 * time.Minute, -2500 * time.Microsecond}
	for range 5000 {
		ds = append(ds, time.Duration(r.Int64N(int64(10*time.Second))))
	}
	for _, d := range ds {
		if ns := d % 1000; ns == 500 || ns == -500 {
			continue // a half microsecond: the float's rounding is the float's
		}
		want := strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64)
		if got := string(appendMillis(nil, d)); got != want {
			t.Fatalf("appendMillis(%d) = %s, want %s", d, got, want)
		}
	}
}
