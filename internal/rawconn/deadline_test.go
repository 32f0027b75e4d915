package rawconn

import (
	"testing"
	"time"
)

func TestLazyDeadline(t *testing.T) {
	var d LazyDeadline
	base := time.Unix(1000, 0)
	const timeout = 10 * time.Second
	steps := []struct {
		what string
		t    time.Time
		set  bool
	}{
		{"none, none set", time.Time{}, false},
		{"first deadline", base, true},
		{"later by less than the margin", base.Add(LazyMargin - time.Millisecond), false},
		{"later by the margin", base.Add(LazyMargin), true},
		{"earlier, by a little", base.Add(LazyMargin - time.Millisecond), true},
		{"the same", base.Add(LazyMargin - time.Millisecond), false},
		{"none", time.Time{}, true},
		{"none again", time.Time{}, false},
	}
	for _, s := range steps {
		if got := d.Move(s.t, timeout); got != s.set {
			t.Fatalf("%s: Move = %v, want %v", s.what, got, s.set)
		}
	}
	// A short timeout keeps an eighth of itself as margin.
	var e LazyDeadline
	e.Move(base, 400*time.Millisecond)
	if e.Move(base.Add(49*time.Millisecond), 400*time.Millisecond) {
		t.Error("moved by less than an eighth of a 400 ms timeout")
	}
	if !e.Move(base.Add(50*time.Millisecond), 400*time.Millisecond) {
		t.Error("kept a deadline an eighth of a 400 ms timeout early")
	}
}
