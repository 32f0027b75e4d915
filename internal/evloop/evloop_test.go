//go:build linux

package evloop_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"holdfast/internal/evloop"
)

// The handlers below run as coroutines of a loop: they never block on a
// channel. They report to the test through channels with room to spare, so
// that a send never waits.

func newGroup(t *testing.T, n int) *evloop.Group {
	t.Helper()
	g, err := evloop.NewGroup(n)
	if err != nil {
		t.Fatal(err)
	}
	if g.Size() != n {
		t.Fatalf("NewGroup(%d).Size() = %d", n, g.Size())
	}
	return g
}

// serve has g serve a new listener on 127.0.0.1 with h.
func serve(t *testing.T, g *evloop.Group, h func(*evloop.Conn)) (addr string, ln *net.TCPListener, l *evloop.Listener) {
	t.Helper()
	nl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = nl.(*net.TCPListener)
	l, err = g.Serve(ln, h)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		ln.Close()
	})
	return ln.Addr().String(), ln, l
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return c.(*net.TCPConn)
}

// echo writes back what it reads until EOF or an error.
func echo(c *evloop.Conn) {
	defer c.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// readLine reads up to and including '\n' a byte at a time, so that nothing
// after the line is taken from the socket.
func readLine(c io.Reader) (string, error) {
	var b []byte
	var one [1]byte
	for {
		n, err := c.Read(one[:])
		if n == 1 {
			b = append(b, one[0])
			if one[0] == '\n' {
				return string(b), nil
			}
		}
		if err != nil {
			return string(b), err
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// expectEOF waits for the server to close c, within a bound.
func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 16))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("client read: %d bytes, %v; want EOF", n, err)
	}
}

func TestEchoManyClients(t *testing.T) {
	g := newGroup(t, 2)
	addr, _, _ := serve(t, g, echo)
	const clients, rounds = 50, 200
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			got := make([]byte, 4096)
			for r := 0; r < rounds; r++ {
				msg := fmt.Appendf(nil, "client %d round %d ", i, r)
				for n := rng.IntN(2000); n > 0; n-- {
					msg = append(msg, byte('a'+rng.IntN(26)))
				}
				if _, err := c.Write(msg); err != nil {
					errs <- fmt.Errorf("client %d round %d: write: %v", i, r, err)
					return
				}
				if _, err := io.ReadFull(c, got[:len(msg)]); err != nil {
					errs <- fmt.Errorf("client %d round %d: read: %v", i, r, err)
					return
				}
				if !bytes.Equal(got[:len(msg)], msg) {
					errs <- fmt.Errorf("client %d round %d: echoed %q, want %q", i, r, got[:len(msg)], msg)
					return
				}
			}
			// Half-close: the echo handler sees EOF and closes.
			c.(*net.TCPConn).CloseWrite()
			if n, err := c.Read(got); n != 0 || err != io.EOF {
				errs <- fmt.Errorf("client %d: after CloseWrite read %d, %v; want EOF", i, n, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// More than the socket buffers hold, both ways: the handler's writes wait
// for room (EPOLLOUT) and its reads come short.
func TestEchoBeyondSocketBuffers(t *testing.T) {
	g := newGroup(t, 2)
	addr, _, _ := serve(t, g, echo)
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	c.SetReadBuffer(64 << 10)
	data := make([]byte, 8<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		if err == nil {
			err = c.CloseWrite()
		}
		werr <- err
	}()
	// Start reading late: by then the handler's writes have filled the
	// buffers and wait for room, and the client's writes wait too.
	time.Sleep(100 * time.Millisecond)
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read back after %d bytes: %v", len(got), err)
	}
	if err := <-werr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if len(got) != len(data) {
		t.Fatalf("echoed %d bytes, want %d", len(got), len(data))
	}
	if !bytes.Equal(got, data) {
		i := 0
		for got[i] == data[i] {
			i++
		}
		t.Fatalf("echo differs from byte %d", i)
	}
}

// One Write of far more than the buffers hold, to a client that starts
// reading only later: Write waits for room, edge after edge.
func TestLargeWriteToASlowReader(t *testing.T) {
	g := newGroup(t, 2)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB
	res := make(chan ioResult, 1)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		defer c.Close()
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		n, err := c.Write(data)
		res <- ioResult{n: n, err: err}
	})
	c := dial(t, addr)
	c.SetReadBuffer(32 << 10)
	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-res:
		t.Fatalf("Write returned before the client read anything: %d, %v", r.n, r.err)
	default:
	}
	var got []byte
	buf := make([]byte, 8<<10)
	for i := 0; ; i++ {
		if i%64 == 0 {
			time.Sleep(time.Millisecond) // a slow reader
		}
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("client read after %d bytes: %v", len(got), err)
		}
	}
	r := <-res
	if r.err != nil || r.n != len(data) {
		t.Fatalf("Write: %d, %v; want %d, nil", r.n, r.err, len(data))
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("client got %d bytes, not the %d written", len(got), len(data))
	}
}

type ioResult struct {
	n       int
	err     error
	elapsed time.Duration
	data    []byte
}

func TestReadDeadline(t *testing.T) {
	g := newGroup(t, 2)
	res := make(chan ioResult, 4)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		defer c.Close()
		buf := make([]byte, 64)
		t0 := time.Now()
		c.SetReadDeadline(t0.Add(50 * time.Millisecond))
		n, err := c.Read(buf)
		res <- ioResult{n: n, err: err, elapsed: time.Since(t0)}
		// The deadline cleared, the connection reads again.
		c.SetReadDeadline(time.Time{})
		if _, err := c.Write([]byte("timed out\n")); err != nil {
			res <- ioResult{err: err}
			return
		}
		line, err := readLine(c)
		res <- ioResult{err: err, data: []byte(line)}
	})
	c := dial(t, addr) // says nothing
	r := <-res
	if r.n != 0 || !isTimeout(r.err) {
		t.Fatalf("read past the deadline: %d bytes, %v; want a timeout", r.n, r.err)
	}
	if r.elapsed < 40*time.Millisecond || r.elapsed >= 2*time.Second {
		t.Fatalf("read timed out after %v, want about 50ms", r.elapsed)
	}
	br := bufio.NewReader(c)
	if line, err := br.ReadString('\n'); err != nil || line != "timed out\n" {
		t.Fatalf("client got %q, %v", line, err)
	}
	c.Write([]byte("again\n"))
	r = <-res
	if r.err != nil || string(r.data) != "again\n" {
		t.Fatalf("read after clearing the deadline: %q, %v", r.data, r.err)
	}
	expectEOF(t, c)
}

// The net.Conn contract: "If the deadline is exceeded a call to Read or
// Write ... will return an error that wraps os.ErrDeadlineExceeded. This
// can be tested using errors.Is(err, os.ErrDeadlineExceeded)."
func TestDeadlineErrorWrapsErrDeadlineExceeded(t *testing.T) {
	g := newGroup(t, 2)
	res := make(chan error, 1)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		_, err := c.Read(make([]byte, 8))
		res <- err
	})
	dial(t, addr)
	err := <-res
	if !isTimeout(err) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("read past the deadline: %v (%T) does not wrap os.ErrDeadlineExceeded", err, errors.Unwrap(err))
	}
}

// Several waiters on one loop, each with its own deadline: none times out
// early, all time out.
func TestStaggeredDeadlinesOnOneLoop(t *testing.T) {
	g := newGroup(t, 1)
	const conns = 8
	var next atomic.Int32
	res := make(chan ioResult, conns)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		defer c.Close()
		i := next.Add(1)
		d := time.Duration(i) * 30 * time.Millisecond
		t0 := time.Now()
		c.SetReadDeadline(t0.Add(d))
		n, err := c.Read(make([]byte, 8))
		res <- ioResult{n: int(i), err: err, elapsed: time.Since(t0) - d}
		_ = n
	})
	for i := 0; i < conns; i++ {
		dial(t, addr)
	}
	for i := 0; i < conns; i++ {
		select {
		case r := <-res:
			if !isTimeout(r.err) {
				t.Errorf("conn %d: %v, want a timeout", r.n, r.err)
			}
			if r.elapsed < -10*time.Millisecond || r.elapsed > 2*time.Second {
				t.Errorf("conn %d: timed out %v after its deadline", r.n, r.elapsed)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d reads timed out", i, conns)
		}
	}
}

func TestWriteDeadline(t *testing.T) {
	g := newGroup(t, 2)
	res := make(chan ioResult, 1)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		defer c.Close()
		chunk := make([]byte, 1<<20)
		t0 := time.Now()
		c.SetWriteDeadline(t0.Add(50 * time.Millisecond))
		total := 0
		var err error
		for total < 1<<30 && err == nil {
			var n int
			n, err = c.Write(chunk)
			total += n
		}
		res <- ioResult{n: total, err: err, elapsed: time.Since(t0)}
	})
	c := dial(t, addr) // never reads
	c.SetReadBuffer(64 << 10)
	r := <-res
	if !isTimeout(r.err) {
		t.Fatalf("write to a client that does not read: %d bytes, %v; want a timeout", r.n, r.err)
	}
	if r.elapsed < 40*time.Millisecond || r.elapsed >= 2*time.Second {
		t.Fatalf("write timed out after %v, want about 50ms", r.elapsed)
	}
	// What was written before the deadline arrives.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, c)
	if err != nil || n != int64(r.n) {
		t.Fatalf("client read %d bytes (%v), server wrote %d", n, err, r.n)
	}
}

// blockedReader is a handler that hands its Conn to the test, then reads.
func blockedReader(t *testing.T, g *evloop.Group) (addr string, conns chan *evloop.Conn, res chan ioResult) {
	conns = make(chan *evloop.Conn, 4)
	res = make(chan ioResult, 4)
	addr, _, _ = serve(t, g, func(c *evloop.Conn) {
		defer c.Close()
		conns <- c
		t0 := time.Now()
		n, err := c.Read(make([]byte, 64))
		res <- ioResult{n: n, err: err, elapsed: time.Since(t0)}
	})
	return addr, conns, res
}

func TestCloseFromAnotherGoroutineInterruptsRead(t *testing.T) {
	g := newGroup(t, 2)
	addr, conns, res := blockedReader(t, g)
	c := dial(t, addr)
	sc := <-conns
	time.Sleep(30 * time.Millisecond) // let the handler block in Read
	select {
	case r := <-res:
		t.Fatalf("Read returned before Close: %d, %v", r.n, r.err)
	default:
	}
	if err := sc.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case r := <-res:
		if r.n != 0 || !errors.Is(r.err, net.ErrClosed) {
			t.Fatalf("Read after Close: %d, %v; want net.ErrClosed", r.n, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt Read")
	}
	expectEOF(t, c)
	if err := sc.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestPastDeadlineFromAnotherGoroutineInterruptsRead(t *testing.T) {
	g := newGroup(t, 2)
	addr, conns, res := blockedReader(t, g)
	c := dial(t, addr)
	sc := <-conns
	time.Sleep(30 * time.Millisecond)
	sc.SetDeadline(time.Now().Add(-time.Second))
	select {
	case r := <-res:
		if r.n != 0 || !isTimeout(r.err) {
			t.Fatalf("Read after a past deadline: %d, %v; want a timeout", r.n, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a past deadline did not interrupt Read")
	}
	expectEOF(t, c)
}

// A deadline set from another goroutine while the loop is idle (parked
// with no timer) wakes it at that time, and extending it from there moves
// the wake-up later.
func TestFutureDeadlineFromAnotherGoroutine(t *testing.T) {
	t.Run("set", func(t *testing.T) {
		g := newGroup(t, 1)
		addr, conns, res := blockedReader(t, g)
		dial(t, addr)
		sc := <-conns
		time.Sleep(30 * time.Millisecond)
		t0 := time.Now()
		sc.SetReadDeadline(t0.Add(60 * time.Millisecond))
		select {
		case r := <-res:
			if d := time.Since(t0); !isTimeout(r.err) || d < 50*time.Millisecond {
				t.Fatalf("Read: %v after %v; want a timeout after about 60ms", r.err, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the deadline did not interrupt Read")
		}
	})
	t.Run("extended", func(t *testing.T) {
		g := newGroup(t, 1)
		addr, conns, res := blockedReader(t, g)
		dial(t, addr)
		sc := <-conns
		t0 := time.Now()
		sc.SetReadDeadline(t0.Add(40 * time.Millisecond))
		sc.SetReadDeadline(t0.Add(300 * time.Millisecond))
		select {
		case r := <-res:
			if d := time.Since(t0); !isTimeout(r.err) || d < 280*time.Millisecond {
				t.Fatalf("Read: %v after %v; want a timeout after about 300ms", r.err, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the deadline did not interrupt Read")
		}
	})
}

func TestPeerCloseGivesEOF(t *testing.T) {
	type result struct {
		data []byte
		err  error
	}
	// readAll reads with a buffer of size bufSize until an error, under a
	// safety deadline.
	handler := func(bufSize int, res chan result) func(*evloop.Conn) {
		return func(c *evloop.Conn) {
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, bufSize)
			var data []byte
			for {
				n, err := c.Read(buf)
				data = append(data, buf[:n]...)
				if err != nil {
					res <- result{data, err}
					return
				}
			}
		}
	}
	cases := []struct {
		name    string
		bufSize int
		send    string
		pause   time.Duration // between the data and the FIN
		half    bool          // CloseWrite rather than Close
	}{
		{"nothing", 64, "", 0, false},
		{"data then close at once", 64, "hello world", 0, false},
		{"data, pause, close", 64, "hello world", 30 * time.Millisecond, false},
		{"exactly the buffer, pause, close", 11, "hello world", 30 * time.Millisecond, false},
		{"more than the buffer, pause, close", 4, "hello world", 30 * time.Millisecond, false},
		{"data, pause, half-close", 64, "hello world", 30 * time.Millisecond, true},
		{"larger data then close", 1 << 10, strings.Repeat("0123456789", 3000), 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGroup(t, 2)
			res := make(chan result, 1)
			addr, _, _ := serve(t, g, handler(tc.bufSize, res))
			c := dial(t, addr)
			if tc.send != "" {
				if _, err := c.Write([]byte(tc.send)); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(tc.pause)
			if tc.half {
				c.CloseWrite()
			} else {
				c.Close()
			}
			select {
			case r := <-res:
				if isTimeout(r.err) {
					t.Fatalf("Read hung until the safety deadline after %d bytes", len(r.data))
				}
				if r.err != io.EOF {
					t.Fatalf("Read ended with %v, want io.EOF", r.err)
				}
				if string(r.data) != tc.send {
					t.Fatalf("read %q, want %q", r.data, tc.send)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no result")
			}
			if tc.half {
				expectEOF(t, c)
			}
		})
	}
}

// Many short connections sending data and closing at once: every handler
// sees the data then EOF, none waits for its deadline.
func TestDataThenFINManyConnections(t *testing.T) {
	g := newGroup(t, 2)
	const conns = 200
	type result struct {
		data string
		err  error
	}
	res := make(chan result, conns)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 7)
		var data []byte
		for {
			n, err := c.Read(buf)
			data = append(data, buf[:n]...)
			if err != nil {
				res <- result{string(data), err}
				return
			}
		}
	})
	want := map[string]bool{}
	for i := 0; i < conns; i++ {
		msg := fmt.Sprintf("message %d %s", i, strings.Repeat("x", i%23))
		want[msg] = true
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(msg))
		c.Close()
	}
	for i := 0; i < conns; i++ {
		select {
		case r := <-res:
			if r.err != io.EOF {
				t.Fatalf("after %q: %v, want io.EOF", r.data, r.err)
			}
			if !want[r.data] {
				t.Fatalf("read %q: not a message sent (or twice)", r.data)
			}
			delete(want, r.data)
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d handlers finished", i, conns)
		}
	}
}

func TestDetach(t *testing.T) {
	g := newGroup(t, 2)
	type result struct {
		err       error
		readAfter error
		remote    string
	}
	res := make(chan result, 2)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		line, err := readLine(c)
		if err != nil {
			res <- result{err: err}
			c.Close()
			return
		}
		if _, err := c.Write([]byte("loop: " + line)); err != nil {
			res <- result{err: err}
			c.Close()
			return
		}
		nc, err := c.Detach()
		if err != nil {
			res <- result{err: err}
			c.Close()
			return
		}
		// The Conn is done with: reading it fails, closing it leaves the
		// detached connection alone.
		_, rerr := c.Read(make([]byte, 1))
		c.Close()
		res <- result{readAfter: rerr, remote: nc.RemoteAddr().String()}
		go func() {
			defer nc.Close()
			br := bufio.NewReader(nc)
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				time.Sleep(time.Millisecond) // a goroutine may block
				if _, err := nc.Write([]byte("goroutine: " + line)); err != nil {
					return
				}
			}
		}()
	})
	c := dial(t, addr)
	// Two lines in one write: the second is still in the socket when the
	// handler detaches, and must not be lost.
	c.Write([]byte("one\ntwo\n"))
	br := bufio.NewReader(c)
	for _, want := range []string{"loop: one\n", "goroutine: two\n"} {
		if got, err := br.ReadString('\n'); err != nil || got != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	r := <-res
	if r.err != nil {
		t.Fatalf("handler: %v", r.err)
	}
	if !errors.Is(r.readAfter, net.ErrClosed) {
		t.Fatalf("Read after Detach: %v, want net.ErrClosed", r.readAfter)
	}
	if r.remote != c.LocalAddr().String() {
		t.Fatalf("detached RemoteAddr %s, want %s", r.remote, c.LocalAddr())
	}
	for i := 0; i < 20; i++ {
		msg := fmt.Sprintf("line %d\n", i)
		c.Write([]byte(msg))
		if got, err := br.ReadString('\n'); err != nil || got != "goroutine: "+msg {
			t.Fatalf("got %q, %v; want %q", got, err, "goroutine: "+msg)
		}
	}
	c.CloseWrite()
	expectEOF(t, c)
}

// backend is a plain Go server answering each line with "backend: " + line.
func backend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte("backend: " + line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func TestAdoptAndAwait(t *testing.T) {
	g := newGroup(t, 2)
	back := backend(t)
	errs := make(chan error, 100)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		defer c.Close()
		lp := c.Loop()
		for {
			line, err := readLine(c)
			if err != nil {
				return
			}
			var nc net.Conn
			lp.Await(func() { nc, err = net.Dial("tcp", back) })
			if err != nil {
				errs <- fmt.Errorf("dial: %v", err)
				return
			}
			ac, err := lp.Adopt(nc)
			if err != nil {
				errs <- fmt.Errorf("adopt: %v", err)
				return
			}
			if ac.Loop() != lp {
				errs <- errors.New("adopted conn on another loop")
			}
			if ac.RemoteAddr().String() != back {
				errs <- fmt.Errorf("adopted RemoteAddr %v, want %s", ac.RemoteAddr(), back)
			}
			ac.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := ac.Write([]byte(line)); err != nil {
				errs <- fmt.Errorf("write upstream: %v", err)
				ac.Close()
				return
			}
			answer, err := readLine(ac)
			ac.Close()
			if err != nil {
				errs <- fmt.Errorf("read upstream: %v", err)
				return
			}
			if _, err := c.Write([]byte("relayed " + answer)); err != nil {
				return
			}
		}
	})
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			for j := 0; j < 5; j++ {
				msg := fmt.Sprintf("client %d request %d\n", i, j)
				c.Write([]byte(msg))
				got, err := br.ReadString('\n')
				if want := "relayed backend: " + msg; err != nil || got != want {
					errs <- fmt.Errorf("got %q, %v; want %q", got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// While a coroutine awaits something slow, its loop serves the others.
func TestAwaitLetsTheLoopServeOthers(t *testing.T) {
	g := newGroup(t, 1)
	release := make(chan struct{})
	awaited := make(chan struct{}, 1)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		defer c.Close()
		line, err := readLine(c)
		if err != nil {
			return
		}
		if line == "wait\n" {
			c.Loop().Await(func() {
				awaited <- struct{}{}
				<-release // blocks a goroutine of its own, not the loop
			})
			c.Write([]byte("released\n"))
			return
		}
		c.Write([]byte(line))
		echo(c)
	})
	a := dial(t, addr)
	a.Write([]byte("wait\n"))
	<-awaited
	b := dial(t, addr)
	b.Write([]byte("hello\n"))
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got, err := bufio.NewReader(b).ReadString('\n'); err != nil || got != "hello\n" {
		t.Fatalf("another connection during Await: %q, %v", got, err)
	}
	close(release)
	if got, err := bufio.NewReader(a).ReadString('\n'); err != nil || got != "released\n" {
		t.Fatalf("after Await: %q, %v", got, err)
	}
}

func TestPost(t *testing.T) {
	g := newGroup(t, 2)
	loops := make(chan *evloop.Loop, 1)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		loops <- c.Loop()
		c.Close()
	})
	dial(t, addr)
	lp := <-loops
	if lp.ID() < 0 || lp.ID() >= g.Size() {
		t.Fatalf("Loop.ID %d out of [0, %d)", lp.ID(), g.Size())
	}
	time.Sleep(20 * time.Millisecond) // the loop is idle, parked

	ran := make(chan struct{})
	lp.Post(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("a posted function did not run on an idle loop")
	}

	// Posted functions run one at a time, in order: they share this slice
	// without a lock (the race detector would object otherwise).
	var order []int
	done := make(chan []int, 1)
	var wg sync.WaitGroup
	for p := 0; p < 4; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				lp.Post(func() { order = append(order, p*1000+i) })
			}
		}()
	}
	wg.Wait()
	lp.Post(func() { done <- order })
	var got []int
	select {
	case got = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("posted functions did not run")
	}
	if len(got) != 400 {
		t.Fatalf("%d posted functions ran, want 400", len(got))
	}
	last := map[int]int{0: -1, 1: -1, 2: -1, 3: -1}
	for _, v := range got {
		p, i := v/1000, v%1000
		if i != last[p]+1 {
			t.Fatalf("poster %d: function %d ran after %d", p, i, last[p])
		}
		last[p] = i
	}
}

func TestListenerClose(t *testing.T) {
	g := newGroup(t, 2)
	var handled atomic.Int32
	addr, ln, l := serve(t, g, func(c *evloop.Conn) {
		handled.Add(1)
		c.Write([]byte("hi\n"))
		echo(c)
	})
	before := dial(t, addr)
	br := bufio.NewReader(before)
	if got, err := br.ReadString('\n'); err != nil || got != "hi\n" {
		t.Fatalf("greeting: %q, %v", got, err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l.Close() // twice is fine

	// ln stays open: the kernel may complete the handshake, but nobody
	// accepts.
	after, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		defer after.Close()
		after.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := after.Read(make([]byte, 8))
		if n != 0 || !(isTimeout(err) || errors.Is(err, io.EOF)) {
			t.Fatalf("connection after Close: read %d, %v; want nothing", n, err)
		}
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}

	// The connection accepted before goes on.
	for i := 0; i < 10; i++ {
		msg := fmt.Sprintf("still here %d\n", i)
		before.Write([]byte(msg))
		if got, err := br.ReadString('\n'); err != nil || got != msg {
			t.Fatalf("after Close: %q, %v; want %q", got, err, msg)
		}
	}

	// With ln closed too the socket is gone.
	ln.Close()
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		c.Close()
		t.Fatal("dial succeeded after both listeners closed")
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1", n)
	}
}

// logCapture collects what slog's default logger writes during a test.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func captureSlog(t *testing.T) *logCapture {
	lc := &logCapture{}
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(lc, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return lc
}

func TestPanickingHandlerLeavesTheLoopRunning(t *testing.T) {
	logs := captureSlog(t)
	g := newGroup(t, 1) // one loop: the panics and the survivors share it
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		line, err := readLine(c)
		if err != nil {
			c.Close()
			return
		}
		if line == "panic\n" {
			panic("boom from a handler") // the loop closes the connection
		}
		c.Write([]byte(line))
		echo(c)
	})
	survivor := dial(t, addr)
	survivor.Write([]byte("first\n"))
	br := bufio.NewReader(survivor)
	if got, err := br.ReadString('\n'); err != nil || got != "first\n" {
		t.Fatalf("before the panics: %q, %v", got, err)
	}
	for i := 0; i < 5; i++ {
		p := dial(t, addr)
		p.Write([]byte("panic\n"))
		expectEOF(t, p)

		survivor.Write([]byte(fmt.Sprintf("after panic %d\n", i)))
		if got, err := br.ReadString('\n'); err != nil || got != fmt.Sprintf("after panic %d\n", i) {
			t.Fatalf("an older connection after panic %d: %q, %v", i, got, err)
		}
		fresh := dial(t, addr)
		fresh.Write([]byte("fresh\n"))
		if got, err := bufio.NewReader(fresh).ReadString('\n'); err != nil || got != "fresh\n" {
			t.Fatalf("a new connection after panic %d: %q, %v", i, got, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "boom from a handler") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), "boom from a handler"); n != 5 {
		t.Fatalf("logged %d panics, want 5; logs:\n%s", n, logs.String())
	}
}

// Conn satisfies net.Conn, with the addresses of the socket.
func TestConnAddresses(t *testing.T) {
	g := newGroup(t, 2)
	type addrs struct{ local, remote string }
	res := make(chan addrs, 1)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		var nc net.Conn = c
		res <- addrs{nc.LocalAddr().String(), nc.RemoteAddr().String()}
		c.Close()
	})
	c := dial(t, addr)
	a := <-res
	if a.local != addr || a.remote != c.LocalAddr().String() {
		t.Fatalf("Conn addresses local=%s remote=%s; want %s and %s", a.local, a.remote, addr, c.LocalAddr())
	}
	expectEOF(t, c)
}

// Connections held open at once spread over the group's loops.
func TestConnectionsSpreadOverLoops(t *testing.T) {
	g := newGroup(t, 2)
	ids := make(chan int, 64)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		ids <- c.Loop().ID()
		echo(c)
	})
	const conns = 20
	per := make([]int, g.Size())
	for i := 0; i < conns; i++ {
		c := dial(t, addr)
		select {
		case id := <-ids:
			if id < 0 || id >= g.Size() {
				t.Fatalf("Loop.ID %d out of [0, %d)", id, g.Size())
			}
			per[id]++
		case <-time.After(5 * time.Second):
			t.Fatalf("connection %d not served", i)
		}
		// Each connection works, whichever loop serves it.
		c.Write([]byte("ping"))
		got := make([]byte, 4)
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
			t.Fatalf("connection %d: %q, %v", i, got, err)
		}
	}
	for id, n := range per {
		if n < conns/4 {
			t.Fatalf("loop %d serves %d of %d connections (%v)", id, n, conns, per)
		}
	}
}

// Loop.Now is the time of the poll that resumed the handler: not before
// the client sent what woke it, not after the handler read it, and it moves
// on with the next poll.
func TestLoopNowIsThePollTime(t *testing.T) {
	g := newGroup(t, 1)
	type seen struct{ before, now, after time.Time }
	got := make(chan seen, 4)
	addr, _, _ := serve(t, g, func(c *evloop.Conn) {
		defer c.Close()
		buf := make([]byte, 64)
		for range 3 {
			if _, err := c.Read(buf); err != nil {
				return
			}
			now := c.Loop().Now()
			got <- seen{now: now, after: time.Now()}
			c.Write([]byte("ok\n"))
		}
	})
	cl := dial(t, addr)
	cl.Write([]byte("x")) // the first read may be served by the accept's poll
	<-got
	if _, err := readLine(cl); err != nil {
		t.Fatal(err)
	}
	var firsts []time.Time
	for i := range 2 {
		if i > 0 {
			time.Sleep(30 * time.Millisecond)
		}
		before := time.Now()
		cl.Write([]byte("x"))
		s := <-got
		if s.now.Before(before) || s.now.After(s.after) {
			t.Errorf("read %d: Now() = %v, not between the client's write (%v) and the handler's clock (%v)",
				i, s.now.Format(time.StampMicro), before.Format(time.StampMicro), s.after.Format(time.StampMicro))
		}
		firsts = append(firsts, s.now)
		if _, err := readLine(cl); err != nil {
			t.Fatal(err)
		}
	}
	if d := firsts[1].Sub(firsts[0]); d < 30*time.Millisecond {
		t.Errorf("Now() moved %v between polls 30 ms apart", d)
	}
}
