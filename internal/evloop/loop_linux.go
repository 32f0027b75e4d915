//go:build linux

package evloop

import (
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Group is a set of loops serving listeners together.
type Group struct {
	loops []*Loop
}

var def struct {
	once sync.Once
	g    *Group
	err  error
}

// Default returns the process's loops, DefaultSize of them, started at
// first use and never stopped.
func Default() (*Group, error) {
	def.once.Do(func() { def.g, def.err = NewGroup(DefaultSize()) })
	return def.g, def.err
}

var defSize = sync.OnceValue(func() int { return runtime.GOMAXPROCS(0) })

// DefaultSize is how many loops Default has or will have: GOMAXPROCS when
// first asked. Callers size per-loop state by it.
func DefaultSize() int { return defSize() }

// NewGroup starts n loops (at least one).
func NewGroup(n int) (*Group, error) {
	if n < 1 {
		n = 1
	}
	g := &Group{}
	for i := 0; i < n; i++ {
		lp, err := newLoop(i)
		if err != nil {
			return nil, err
		}
		g.loops = append(g.loops, lp)
		go lp.run()
	}
	return g, nil
}

// Size is the number of loops; Loop.ID is below it.
func (g *Group) Size() int { return len(g.loops) }

// Loop is one event loop: an epoll instance and the coroutines of the
// connections registered with it.
type Loop struct {
	id   int
	epfd int
	evfd int

	mu       sync.Mutex
	tasks    []func()
	sleeping bool // in a blocking epoll_wait; under mu

	nextTimer atomic.Int64 // earliest deadline a waiter has (unix ns), 0: none
	clients   atomic.Int64 // accepted connections it serves

	// Loop-only state (the loop goroutine and its coroutines, which never
	// run at the same time).
	cur    *coro
	conns  []*Conn // by fd
	lns    map[int32]*listenEntry
	events []unix.EpollEvent
	gen    int32
	spare  []func()
	now    int64     // the time of the last poll (unix ns): the clock deadlines are checked against
	clock  time.Time // the same, with its monotonic reading (Now)

	// The epoll descriptor on Go's poller, to park on when idle.
	pf     *os.File
	prc    syscall.RawConn
	pollFn func(uintptr) bool
	polled int
}

// ID is the loop's index in its group, for per-loop state kept by callers.
func (lp *Loop) ID() int { return lp.id }

// Now is the time the loop last polled for events, read once for every
// handler that poll resumes: a clock for deadlines and idle times that
// costs no clock read, behind the true time by the handlers' run since
// (nginx's cached time). Call it only from the loop's handlers.
func (lp *Loop) Now() time.Time { return lp.clock }

// tick reads the clock for Now and the deadline checks.
func (lp *Loop) tick() int64 {
	lp.clock = time.Now()
	lp.now = lp.clock.UnixNano()
	return lp.now
}

func newLoop(id int) (*Loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("evloop: epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("evloop: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd), Pad: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("evloop: epoll_ctl: %w", err)
	}
	lp := &Loop{id: id, epfd: epfd, evfd: evfd, lns: map[int32]*listenEntry{},
		events: make([]unix.EpollEvent, 256)}
	// Go's poller registers a descriptor only when it is non-blocking;
	// epoll_wait itself ignores the flag.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, fmt.Errorf("evloop: epoll descriptor: %w", err)
	}
	lp.pf = os.NewFile(uintptr(epfd), "evloop-epoll")
	if lp.prc, err = lp.pf.SyscallConn(); err != nil {
		lp.pf.Close()
		unix.Close(evfd)
		return nil, fmt.Errorf("evloop: epoll descriptor: %w", err)
	}
	lp.pollFn = func(uintptr) bool {
		lp.polled = lp.poll()
		return lp.polled > 0
	}
	return lp, nil
}

// Post runs f on the loop goroutine (outside any coroutine) soon. It is
// safe to call from anywhere.
func (lp *Loop) Post(f func()) {
	lp.mu.Lock()
	lp.tasks = append(lp.tasks, f)
	wake := lp.sleeping
	lp.sleeping = false
	lp.mu.Unlock()
	if wake {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		unix.Write(lp.evfd, one[:])
	}
}

// kick makes the loop's next wait end by deadline d (unix ns). From any
// goroutine.
func (lp *Loop) kick(d int64) {
	if !lp.earlier(d) {
		return
	}
	lp.mu.Lock()
	wake := lp.sleeping
	lp.mu.Unlock()
	if wake {
		lp.Post(func() {})
	}
}

// earlier moves the loop's next timer to d if that is sooner; false when
// it already was.
func (lp *Loop) earlier(d int64) bool {
	for {
		t := lp.nextTimer.Load()
		if t != 0 && t <= d {
			return false
		}
		if lp.nextTimer.CompareAndSwap(t, d) {
			return true
		}
	}
}

// run is the loop. While events keep coming it polls the epoll set without
// blocking (a raw system call, invisible to the scheduler); when the set is
// empty it parks in Go's own poller, where the epoll descriptor is
// registered like a socket, until the set has events, a task is posted or
// the next deadline is due. So an idle loop costs nothing and holds no
// processor or thread, and a busy one never blocks in a system call (which
// would make the runtime hand its processor to another thread and back).
func (lp *Loop) run() {
	var drain [8]byte
	var parkedUntil int64 // the deadline set on the poller, 0: none
	for {
		lp.mu.Lock()
		tasks := lp.tasks
		if len(tasks) > 0 {
			lp.tasks = lp.spare[:0]
			lp.mu.Unlock()
			for i, f := range tasks {
				f()
				tasks[i] = nil
			}
			lp.spare = tasks
			continue
		}
		lp.mu.Unlock()
		n := lp.poll()
		if n == 0 {
			lp.mu.Lock()
			if len(lp.tasks) > 0 {
				lp.mu.Unlock()
				continue
			}
			lp.sleeping = true
			lp.mu.Unlock()
			if t := lp.nextTimer.Load(); t != parkedUntil {
				parkedUntil = t
				var d time.Time
				if t != 0 {
					d = time.Unix(0, t)
				}
				lp.pf.SetReadDeadline(d)
			}
			lp.polled = 0 // a deadline already past fails before pollFn runs
			err := lp.prc.Read(lp.pollFn)
			n = lp.polled
			lp.mu.Lock()
			lp.sleeping = false
			lp.mu.Unlock()
			if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				slog.Error("evloop: waiting for events failed", "err", err)
				time.Sleep(10 * time.Millisecond)
			}
		}
		lp.tick()
		for i := 0; i < n; i++ {
			ev := &lp.events[i]
			switch {
			case ev.Pad == -1: // the eventfd: tasks were posted
				unix.Read(lp.evfd, drain[:])
			case ev.Pad == -2:
				if le := lp.lns[ev.Fd]; le != nil {
					lp.accept(le)
				}
			default:
				lp.ready(ev)
			}
		}
		if t := lp.nextTimer.Load(); t != 0 && t <= lp.now {
			lp.expire()
		}
	}
}

// poll takes the ready events without waiting; 0 when there are none.
func (lp *Loop) poll() int {
	for {
		r, _, errno := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(lp.epfd),
			uintptr(unsafe.Pointer(&lp.events[0])), uintptr(len(lp.events)), 0, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0
		}
		return int(r)
	}
}

// ready marks a connection's readiness from an event and resumes the
// coroutine waiting on it.
func (lp *Loop) ready(ev *unix.EpollEvent) {
	fd := int(ev.Fd)
	if fd >= len(lp.conns) {
		return
	}
	c := lp.conns[fd]
	if c == nil || c.gen != ev.Pad {
		return // closed since the event was queued
	}
	e := ev.Events
	if e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.rready = true
		if e&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			c.eof = true
		}
	}
	if e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.wready = true
	}
	if w := c.waiter; w != nil && ((c.waitWrite && c.wready) || (!c.waitWrite && c.rready)) {
		lp.resume(w)
	}
}

// expire resumes the waiters whose deadline passed and sets the next one.
func (lp *Loop) expire() {
	now := lp.tick()
	lp.nextTimer.Store(0)
	var due []*coro
	next := int64(0)
	for _, c := range lp.conns {
		if c == nil || c.waiter == nil {
			continue
		}
		d := c.rdl.Load()
		if c.waitWrite {
			d = c.wdl.Load()
		}
		if d == 0 {
			continue
		}
		if d <= now {
			due = append(due, c.waiter)
			continue
		}
		if next == 0 || d < next {
			next = d
		}
	}
	if next != 0 {
		lp.kick(next)
	}
	for _, w := range due {
		lp.resume(w)
	}
}

// coro is a coroutine: a handler running on its loop.
type coro struct {
	lp    *Loop
	next  func() (struct{}, bool)
	stop  func()
	yield func(struct{}) bool
	done  bool
}

// start runs fn as a new coroutine of the loop, up to its first wait.
func (lp *Loop) start(fn func()) {
	co := &coro{lp: lp}
	co.next, co.stop = iter.Pull(func(yield func(struct{}) bool) {
		co.yield = yield
		defer func() {
			if p := recover(); p != nil {
				buf := make([]byte, 16<<10)
				buf = buf[:runtime.Stack(buf, false)]
				slog.Error("evloop: panic in a connection handler", "panic", fmt.Sprint(p), "stack", string(buf))
			}
		}()
		fn()
	})
	lp.resume(co)
}

func (lp *Loop) resume(co *coro) {
	if co.done {
		return
	}
	prev := lp.cur
	lp.cur = co
	_, ok := co.next()
	lp.cur = prev
	if !ok {
		co.done = true
	}
}

// suspend parks the running coroutine until something resumes it; false
// when the coroutine is being stopped.
func (co *coro) suspend() bool { return co.yield(struct{}{}) }

// Await runs f on a goroutine of its own and returns when it returned,
// letting the loop serve other connections meanwhile. Called from one of the
// loop's coroutines; elsewhere it just calls f.
func (lp *Loop) Await(f func()) {
	co := lp.cur
	if co == nil {
		f()
		return
	}
	go func() {
		f()
		lp.Post(func() { lp.resume(co) })
	}()
	co.suspend()
}

// register adds c's socket to the epoll set, edge-triggered for both
// directions, and records it.
func (lp *Loop) register(c *Conn) error {
	lp.gen++
	if lp.gen < 0 {
		lp.gen = 0
	}
	c.gen = lp.gen
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(c.fd), Pad: c.gen}
	if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		return fmt.Errorf("evloop: epoll_ctl add: %w", err)
	}
	for c.fd >= len(lp.conns) {
		lp.conns = append(lp.conns, make([]*Conn, len(lp.conns)+64)...)
	}
	lp.conns[c.fd] = c
	return nil
}

// forget removes c from the loop without closing its socket.
func (lp *Loop) forget(c *Conn) {
	if c.client {
		c.client = false
		lp.clients.Add(-1)
	}
	if c.fd < len(lp.conns) && lp.conns[c.fd] == c {
		lp.conns[c.fd] = nil
	}
	unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
}

// closeConn closes c's socket (loop goroutine or coroutine only) and wakes
// its waiter, which then sees the connection closed.
func (lp *Loop) closeConn(c *Conn) {
	if c.shut {
		return
	}
	c.shut = true
	lp.forget(c)
	unix.Close(c.fd)
	if w := c.waiter; w != nil && w != lp.cur {
		lp.resume(w)
	}
}

// listenEntry is a listener served by every loop of a group.
type listenEntry struct {
	g       *Group
	fd      int
	handler func(*Conn)
	laddr   net.Addr
}

// Listener is a listening socket served by a group's loops.
type Listener struct {
	g    *Group
	le   *listenEntry
	once sync.Once
}

// Serve accepts ln's connections on every loop of g and runs handler for
// each as a coroutine of the loop that accepted it; handler owns the Conn
// (it must Close or Detach it). ln itself is left open and unused: the
// loops accept on a duplicate of its socket, closed by Listener.Close.
func (g *Group) Serve(ln *net.TCPListener, handler func(*Conn)) (*Listener, error) {
	fd, err := dupNonblock(ln)
	if err != nil {
		return nil, fmt.Errorf("evloop: dup listener: %w", err)
	}
	le := &listenEntry{g: g, fd: fd, handler: handler, laddr: ln.Addr()}
	done := make(chan error, len(g.loops))
	for _, lp := range g.loops {
		lp.Post(func() {
			lp.lns[int32(fd)] = le
			ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: int32(fd), Pad: -2}
			done <- unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
		})
	}
	var first error
	for range g.loops {
		if err := <-done; err != nil && first == nil {
			first = fmt.Errorf("evloop: epoll_ctl add listener: %w", err)
		}
	}
	l := &Listener{g: g, le: le}
	if first != nil {
		l.Close()
		return nil, first
	}
	return l, nil
}

// Close stops accepting: when it returns no loop accepts on the listener
// any more. Connections already accepted go on.
func (l *Listener) Close() error {
	l.once.Do(func() {
		done := make(chan struct{}, len(l.g.loops))
		for _, lp := range l.g.loops {
			lp.Post(func() {
				delete(lp.lns, int32(l.le.fd))
				unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, l.le.fd, nil)
				done <- struct{}{}
			})
		}
		for range l.g.loops {
			<-done
		}
		unix.Close(l.le.fd)
	})
	return nil
}

// accept takes one pending connection (as nginx without multi_accept, so
// a burst of connections spreads over the loops).
func (lp *Loop) accept(le *listenEntry) {
	fd, sa, err := unix.Accept4(le.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
	if err != nil {
		if err != unix.EAGAIN && err != unix.ECONNABORTED && err != unix.EINTR {
			slog.Warn("evloop: accept failed", "err", err)
			if err == unix.EMFILE || err == unix.ENFILE {
				// Out of descriptors: back off, as net/http does.
				time.Sleep(5 * time.Millisecond)
			}
		}
		return
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	// Serve it on the loop with the fewest client connections: which
	// loop's wait an accept wakes is the kernel's choice, and left alone
	// a burst of connections can land on one loop while the others idle.
	to := lp
	for _, o := range le.g.loops {
		if o.clients.Load() < to.clients.Load() {
			to = o
		}
	}
	to.clients.Add(1)
	c := newConn(to, fd, le.laddr, sockaddrToAddr(sa))
	c.client = true
	if to == lp {
		lp.serveAccepted(c, le.handler)
		return
	}
	to.Post(func() { to.serveAccepted(c, le.handler) })
}

// serveAccepted starts serving an accepted connection on the loop.
func (lp *Loop) serveAccepted(c *Conn, handler func(*Conn)) {
	if err := lp.register(c); err != nil {
		lp.clients.Add(-1)
		unix.Close(c.fd)
		slog.Warn("evloop: cannot watch an accepted connection", "err", err)
		return
	}
	lp.start(func() {
		done := false
		defer func() {
			if !done {
				c.Close() // the handler panicked: its connection goes with it
			}
		}()
		handler(c)
		done = true
	})
}

func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *unix.SockaddrInet6:
		ip := append(net.IP(nil), a.Addr[:]...)
		zone := ""
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: ip, Port: a.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}
