//go:build linux

package evloop

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Conn is a connection served by a loop. Read and Write are non-blocking
// system calls that yield to the loop while the socket is not ready; they
// must be called from the loop's coroutines (one at a time, as the handler
// owning the connection does). Close, the deadline setters and the address
// methods may be called from any goroutine.
type Conn struct {
	lp           *Loop
	fd           int
	gen          int32
	laddr, raddr net.Addr

	closed   atomic.Bool  // Close or Detach was called
	rdl, wdl atomic.Int64 // deadlines, unix ns; 0: none

	// Loop-only.
	shut      bool // the socket is closed (or handed away)
	rready    bool // a read may find data
	wready    bool // a write may find room
	eof       bool // the peer hung up or the socket failed: reads do not wait
	waiter    *coro
	waitWrite bool
	client    bool // accepted, counted in its loop's clients
}

func newConn(lp *Loop, fd int, laddr, raddr net.Addr) *Conn {
	return &Conn{lp: lp, fd: fd, laddr: laddr, raddr: raddr, rready: true, wready: true}
}

// Loop is the loop the connection belongs to.
func (c *Conn) Loop() *Loop { return c.lp }

// wait yields until the socket is ready in the direction asked, the
// deadline passes or the connection is closed.
func (c *Conn) wait(write bool) error {
	co := c.lp.cur
	if co == nil {
		return errNotInLoop
	}
	d := c.rdl.Load()
	if write {
		d = c.wdl.Load()
	}
	if d != 0 {
		if d <= c.lp.now {
			return errTimeout
		}
		c.lp.earlier(d) // the loop is awake: it reads the timer before it waits
	}
	c.waiter, c.waitWrite = co, write
	ok := co.suspend()
	c.waiter = nil
	if !ok {
		return net.ErrClosed
	}
	return nil
}

func (c *Conn) check(write bool) error {
	if c.closed.Load() || c.shut {
		return net.ErrClosed
	}
	d := c.rdl.Load()
	if write {
		d = c.wdl.Load()
	}
	if d != 0 && d <= c.lp.now {
		return errTimeout
	}
	return nil
}

// Read reads what the socket has, waiting (yielding to the loop) while it
// has nothing.
func (c *Conn) Read(p []byte) (int, error) {
	if c.lp.cur == nil {
		return 0, c.opErr("read", errNotInLoop)
	}
	if len(p) == 0 {
		return 0, c.check(false)
	}
	for {
		if err := c.check(false); err != nil {
			return 0, c.opErr("read", err)
		}
		if !c.rready {
			if err := c.wait(false); err != nil {
				return 0, c.opErr("read", err)
			}
			continue
		}
		n, errno := rawIO(unix.SYS_READ, c.fd, p)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			c.rready = c.eof
			if c.eof {
				return 0, io.EOF
			}
			continue
		default:
			return 0, c.opErr("read", errno)
		}
		if n == 0 {
			return 0, io.EOF
		}
		if n < len(p) && !c.eof {
			// A short read drained the socket: the next byte to arrive
			// raises an edge, so do not read again before it (nginx's
			// rule; it spares the read that finds nothing).
			c.rready = false
		}
		return n, nil
	}
}

// Write writes all of p, waiting (yielding to the loop) while the socket's
// buffer is full.
func (c *Conn) Write(p []byte) (int, error) {
	if c.lp.cur == nil {
		return 0, c.opErr("write", errNotInLoop)
	}
	done := 0
	for done < len(p) {
		if err := c.check(true); err != nil {
			return done, c.opErr("write", err)
		}
		if !c.wready {
			if err := c.wait(true); err != nil {
				return done, c.opErr("write", err)
			}
			continue
		}
		n, errno := rawIO(unix.SYS_WRITE, c.fd, p[done:])
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			c.wready = false
			continue
		default:
			return done, c.opErr("write", errno)
		}
		done += n
		if done < len(p) {
			c.wready = false // the buffer is full: wait for its edge
		}
	}
	return done, nil
}

func rawIO(trap uintptr, fd int, p []byte) (int, syscall.Errno) {
	r, _, errno := syscall.RawSyscall(trap, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	return int(r), errno
}

func (c *Conn) opErr(op string, err error) error {
	if err == io.EOF {
		return err
	}
	if errno, ok := err.(syscall.Errno); ok {
		err = os.NewSyscallError(op, errno)
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.laddr, Addr: c.raddr, Err: err}
}

// Close closes the connection. From any goroutine; the socket itself is
// closed by the loop, and a coroutine waiting on it returns net.ErrClosed.
func (c *Conn) Close() error {
	if c.closed.Swap(true) {
		return nil
	}
	c.lp.Post(func() { c.lp.closeConn(c) })
	return nil
}

// CloseWrite shuts down the writing side (a FIN to the peer).
func (c *Conn) CloseWrite() error {
	if err := c.check(true); err != nil {
		return c.opErr("shutdown", err)
	}
	if err := unix.Shutdown(c.fd, unix.SHUT_WR); err != nil {
		return c.opErr("shutdown", err)
	}
	return nil
}

func (c *Conn) LocalAddr() net.Addr  { return c.laddr }
func (c *Conn) RemoteAddr() net.Addr { return c.raddr }

func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *Conn) SetReadDeadline(t time.Time) error {
	c.setDeadline(&c.rdl, t)
	return nil
}

func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.setDeadline(&c.wdl, t)
	return nil
}

func (c *Conn) setDeadline(dl *atomic.Int64, t time.Time) {
	var d int64
	if !t.IsZero() {
		if d = t.UnixNano(); d <= 0 {
			d = 1 // a time long past
		}
	}
	if dl.Swap(d) != d && d != 0 {
		// Perhaps from another goroutine, to interrupt a waiter: make
		// the loop look at the deadline by then.
		c.lp.kick(d)
	}
}

// Detach takes the connection out of its loop and returns it as an
// ordinary net.Conn on Go's poller, for code that needs goroutines. Called
// from the loop's coroutine that owns c; c is closed afterwards.
func (c *Conn) Detach() (net.Conn, error) {
	if c.lp.cur == nil {
		return nil, errNotInLoop
	}
	if c.closed.Swap(true) || c.shut {
		return nil, net.ErrClosed
	}
	c.shut = true
	c.lp.forget(c)
	f := os.NewFile(uintptr(c.fd), "evloop")
	nc, err := net.FileConn(f) // a duplicate of the socket, on Go's poller
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("evloop: detach: %w", err)
	}
	return nc, nil
}

// Adopt moves nc (a TCP or Unix connection) into the loop: the returned
// Conn reads and writes the same socket and nc is closed. Called from one of
// the loop's coroutines.
func (lp *Loop) Adopt(nc net.Conn) (*Conn, error) {
	defer nc.Close()
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("evloop: cannot adopt a %T", nc)
	}
	fd, err := dupNonblock(sc)
	if err != nil {
		return nil, fmt.Errorf("evloop: adopt: %w", err)
	}
	c := newConn(lp, fd, nc.LocalAddr(), nc.RemoteAddr())
	if err := lp.register(c); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return c, nil
}

// dupNonblock duplicates sc's socket (close-on-exec, non-blocking): a
// descriptor the loop owns, whatever Go's poller does with the original.
func dupNonblock(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
