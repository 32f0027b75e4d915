package rawconn

import "time"

// LazyMargin is how much earlier than wanted a LazyDeadline may leave a
// deadline: nginx moves its timers only past such a margin
// (NGX_TIMER_LAZY_DELAY, 300 ms). At high request rates most requests then
// leave the connection's poller timer alone.
const LazyMargin = 300 * time.Millisecond

// LazyDeadline is the deadline last set on a connection (the zero value:
// none), moved later only when it would move by at least LazyMargin or an
// eighth of the timeout, whichever is less. A deadline it keeps fires at
// most that much early; an earlier deadline, or none, is always set.
type LazyDeadline struct{ t time.Time }

// Move reports whether the deadline must be set to t (zero: none) for a
// timeout of the given length, and records t if so.
func (d *LazyDeadline) Move(t time.Time, timeout time.Duration) bool {
	switch {
	case t.IsZero():
		if d.t.IsZero() {
			return false
		}
	case !d.t.IsZero():
		if late := t.Sub(d.t); late >= 0 && late < min(LazyMargin, timeout/8) {
			return false
		}
	}
	d.t = t
	return true
}
