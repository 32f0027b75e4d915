// Package rawconn wraps a TCP or Unix connection so that its reads and
// writes are made as raw non-blocking system calls on the socket,
// waiting on Go's network poller only when the socket is not ready.
//
// Why: a read or write on a loopback socket is short, but Go's ordinary
// system call path (entersyscall/exitsyscall) lets the runtime's monitor
// hand the goroutine's processor to another thread while the call runs,
// and on a busy machine with few cores those hand-offs, and the thread
// wake-ups they cause, cost more than the call itself (bench/pooler.sh:
// about a fifth of the pooler's CPU per transaction). A non-blocking
// socket call never blocks, so making it without that bookkeeping is
// safe. Deadlines, Close and every other method behave as on the wrapped
// connection, because waiting still goes through the poller.
//
// Like net.Conn, a Conn is safe for concurrent use: each Read and each
// Write is done whole, one at a time.
package rawconn

import (
	"io"
	"net"
	"sync"
	"syscall"
	"unsafe"
)

// Conn is a connection with raw reads and writes. Read and Write do not
// allocate.
type Conn struct {
	net.Conn
	rc syscall.RawConn

	// The operation in progress, for the callbacks bound once in Wrap
	// (a closure per call would allocate); rmu and wmu keep each one's
	// state to itself from start to end (the poller's own locks cover
	// only the system calls).
	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerrno syscall.Errno
	readFn func(uintptr) bool

	// What SendBeforeRead left for the next Read (guarded by rmu):
	// sblock says its rest would block, serrno that writing it failed.
	sbuf   []byte
	sblock bool
	serrno syscall.Errno

	peekFn func(uintptr) bool // Quiet's; its answer is in rerrno

	wmu     sync.Mutex
	wbuf    []byte
	wdone   int
	werrno  syscall.Errno
	writeFn func(uintptr) bool
}

type syscallConn interface {
	SyscallConn() (syscall.RawConn, error)
}

// Wrap returns c with raw reads and writes when c is a *net.TCPConn or a
// *net.UnixConn, else c unchanged.
func Wrap(c net.Conn) net.Conn {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return c
	}
	rc, err := c.(syscallConn).SyscallConn()
	if err != nil {
		return c
	}
	w := &Conn{Conn: c, rc: rc}
	w.readFn = w.doRead
	w.writeFn = w.doWrite
	w.peekFn = w.doPeek
	return w
}

// Unwrap returns the wrapped connection.
func (c *Conn) Unwrap() net.Conn { return c.Conn }

// CloseWrite shuts down the writing side, as *net.TCPConn does.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// SendBeforeRead leaves b, a request, for the next Read to write before it
// waits for the answer. Read writes it from inside the poller's read wait,
// so it can wait for the answer at once instead of first trying a read
// that finds nothing (Go's poller reads once before it waits, and that
// read fails with EAGAIN right after a request is sent); no readiness that
// follows the write is missed. What cannot be written without blocking is
// written by Write. b must not change until Read returns, and no other
// Write may run meanwhile. A write error is Read's error (Op "write").
//
// It is for a peer that answers requests, as an HTTP upstream does:
// bytes that arrived before Read (unasked) are only seen once more
// arrive, with the answer. A peer that may send first — a client
// pipelining its next request — must not be read this way, or Read could
// wait for bytes already there.
func (c *Conn) SendBeforeRead(b []byte) {
	c.rmu.Lock()
	c.sbuf = b
	c.rmu.Unlock()
}

// Read reads like net.Conn.Read, after writing what SendBeforeRead left.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	c.rbuf, c.rn, c.rerrno = b, 0, 0
	c.sblock, c.serrno = false, 0
	err := c.rc.Read(c.readFn)
	if err == nil && c.sblock {
		// The request's rest would block: an ordinary write, then an
		// ordinary read.
		rest := c.sbuf
		c.sbuf = nil
		if _, werr := c.Write(rest); werr != nil {
			c.rbuf = nil
			c.rmu.Unlock()
			return 0, werr
		}
		err = c.rc.Read(c.readFn)
	}
	n, errno, serrno := c.rn, c.rerrno, c.serrno
	c.rbuf, c.sbuf = nil, nil
	c.rmu.Unlock()
	if serrno != 0 {
		return 0, c.opError("write", nil, serrno)
	}
	if err = c.opError("read", err, errno); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (c *Conn) doRead(fd uintptr) bool {
	for len(c.sbuf) > 0 {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.sbuf))), uintptr(len(c.sbuf)))
		switch e {
		case 0:
			c.sbuf = c.sbuf[r:]
			if len(c.sbuf) == 0 {
				return false // sent: wait for the answer
			}
		case syscall.EINTR:
		case syscall.EAGAIN:
			c.sblock = true
			return true
		default:
			c.serrno = e
			return true
		}
	}
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.rbuf))), uintptr(len(c.rbuf)))
		switch e {
		case 0:
			c.rn = int(r)
			return true
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.rerrno = e
			return true
		}
	}
}

// Quiet reports whether the peer has sent nothing and has not closed the
// connection, without reading anything and without waiting: one
// non-blocking MSG_PEEK receive. A pool checks an idle connection with it
// before lending it out.
func (c *Conn) Quiet() bool {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rerrno = 0
	if err := c.rc.Read(c.peekFn); err != nil {
		return false
	}
	return c.rerrno == syscall.EAGAIN
}

func (c *Conn) doPeek(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, e := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		c.rerrno = e // 0: data or end of stream; EAGAIN: quiet
		return true  // never wait: the answer is now
	}
}

// Write writes like net.Conn.Write: all of b, or an error.
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	c.wbuf, c.wdone, c.werrno = b, 0, 0
	err := c.rc.Write(c.writeFn)
	done, errno := c.wdone, c.werrno
	c.wbuf = nil
	c.wmu.Unlock()
	return done, c.opError("write", err, errno)
}

func (c *Conn) doWrite(fd uintptr) bool {
	for c.wdone < len(c.wbuf) {
		p := c.wbuf[c.wdone:]
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		switch e {
		case 0:
			c.wdone += int(r)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werrno = e
			return true
		}
	}
	return true
}

// opError is nil when the operation succeeded, else its error as a
// *net.OpError: err from the poller (deadline, closed) or errno from the
// system call.
func (c *Conn) opError(op string, err error, errno syscall.Errno) error {
	if err == nil {
		if errno == 0 {
			return nil
		}
		err = errno
	}
	if ne, ok := err.(*net.OpError); ok { // "raw-read" from the poller: deadline, closed
		err = ne.Err
	}
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
