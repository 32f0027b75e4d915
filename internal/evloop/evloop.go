// Package evloop runs connection handlers as coroutines over a few epoll
// event loops, the way nginx's workers serve many connections per thread,
// while the handlers stay plain sequential Go.
//
// Each Loop is one goroutine that waits in epoll_wait and, for every ready
// socket, switches straight to the coroutine waiting on it (iter.Pull, a
// direct goroutine switch that bypasses the scheduler). A handler reads and
// writes through a Conn; when the socket has nothing to read (or no room to
// write) the Conn yields back to its loop instead of parking in Go's
// netpoller. So a busy loop serves many requests per epoll_wait, never
// wakes another thread to do it and, like nginx, never reads a socket it
// knows to be empty: a short read marks the socket drained until the next
// edge-triggered event.
//
// The rules a handler running in a loop must keep:
//   - it must not block on anything but its Conns (a mutex held briefly is
//     fine): while it waits on a channel or on a socket of Go's own, the
//     whole loop waits with it. Loop.Await runs something blocking (a
//     dial, a DNS lookup) on a goroutine of its own meanwhile;
//   - a Conn belongs to one loop and is used only from that loop's
//     coroutines; Close, SetDeadline and the address methods may be called
//     from anywhere;
//   - Detach turns a Conn into an ordinary net.Conn for code that needs
//     goroutines (the connection then leaves the loop for good).
//
// Only Linux has loops; elsewhere Default returns an error and callers keep
// their goroutine-per-connection path.
package evloop

import (
	"errors"
	"os"
)

// ErrUnsupported is returned by Default where there are no event loops.
var ErrUnsupported = errors.New("evloop: event loops need Linux")

// errNotInLoop is what a Conn returns when used outside its loop's
// coroutines: a programming error, reported rather than risked.
var errNotInLoop = errors.New("evloop: connection used outside its event loop")

// errTimeout is what I/O past a Conn's deadline returns, as on Go's own
// connections (a net.Error whose Timeout is true).
var errTimeout = os.ErrDeadlineExceeded
