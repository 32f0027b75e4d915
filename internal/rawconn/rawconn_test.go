package rawconn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection, wrapped.
func pair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	a, b = Wrap(c), Wrap(s)
	if _, ok := a.(*Conn); !ok {
		t.Fatalf("Wrap(%T) = %T, want *Conn", c, a)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestLargeWriteArrivesWhole(t *testing.T) {
	a, b := pair(t)
	msg := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB: many partial writes
	errc := make(chan error, 1)
	go func() {
		n, err := a.Write(msg)
		if err == nil && n != len(msg) {
			err = errors.New("short write")
		}
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("bytes differ")
	}
}

// Concurrent writers: each Write lands whole, never interleaved with
// another's bytes and never lost (the pooler can have two goroutines
// write to one server connection for an instant).
func TestConcurrentWritesStayWhole(t *testing.T) {
	a, b := pair(t)
	const writers, each, size = 8, 200, 3000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := bytes.Repeat([]byte{byte('A' + w)}, size)
			for range each {
				if _, err := a.Write(buf); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	counts := map[byte]int{}
	buf := make([]byte, size)
	_ = b.SetReadDeadline(time.Now().Add(20 * time.Second)) // a lost write fails, not hangs
	for range writers * each {
		if _, err := io.ReadFull(b, buf); err != nil {
			t.Fatal(err)
		}
		if bytes.Count(buf, buf[:1]) != size {
			t.Fatalf("a write was interleaved with another: %q...", buf[:40])
		}
		counts[buf[0]]++
	}
	wg.Wait()
	for w := range writers {
		if got := counts[byte('A'+w)]; got != each {
			t.Errorf("writer %c: %d writes arrived, want %d", 'A'+w, got, each)
		}
	}
}

func TestDeadlineThenData(t *testing.T) {
	a, b := pair(t)
	if err := b.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	_, err := b.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past deadline: %v is not a timeout net.Error", err)
	}
	_ = b.SetReadDeadline(time.Time{})
	if _, err := a.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	n, err := b.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read after deadline cleared: %q, %v", buf[:n], err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	_, b := pair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := b.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	b.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read on closed conn: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
}

func TestPeerCloseIsEOF(t *testing.T) {
	a, b := pair(t)
	if _, err := a.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "bye" {
		t.Fatalf("ReadAll = %q, %v; want \"bye\", nil (io.EOF at the end)", got, err)
	}
	if n, err := b.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("read after EOF = %d, %v", n, err)
	}
}

func TestWriteToResetPeerFails(t *testing.T) {
	a, b := pair(t)
	b.(*Conn).Unwrap().(*net.TCPConn).SetLinger(0)
	b.Close()
	var err error
	for range 100 { // the reset arrives after the first write
		if _, err = a.Write([]byte("x")); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err == nil {
		t.Fatal("writes to a reset connection kept succeeding")
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "write" {
		t.Fatalf("error %v is not a write *net.OpError", err)
	}
}

func TestWrapLeavesOtherConns(t *testing.T) {
	p, q := net.Pipe()
	defer p.Close()
	defer q.Close()
	if Wrap(p) != p {
		t.Fatal("Wrap changed a net.Pipe conn")
	}
}

func TestZeroLength(t *testing.T) {
	a, b := pair(t)
	if n, err := a.Write(nil); n != 0 || err != nil {
		t.Fatalf("Write(nil) = %d, %v", n, err)
	}
	if n, err := b.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v", n, err)
	}
}

func TestNoAllocations(t *testing.T) {
	a, b := pair(t)
	msg := []byte("ping")
	buf := make([]byte, 16)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := a.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(b, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write+read, want 0", allocs)
	}
}

func TestQuiet(t *testing.T) {
	a, b := pair(t)
	if !b.(*Conn).Quiet() {
		t.Fatal("Quiet = false on a connection nobody wrote to")
	}
	if _, err := a.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.(*Conn).Quiet() {
		if time.Now().After(deadline) {
			t.Fatal("Quiet stays true after the peer wrote")
		}
		time.Sleep(time.Millisecond)
	}
	// The peeked byte is still there to read.
	buf := make([]byte, 4)
	if n, err := b.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("Read after Quiet = %q, %v", buf[:n], err)
	}
	if !b.(*Conn).Quiet() {
		t.Fatal("Quiet = false once the data was read")
	}
	a.Close()
	for b.(*Conn).Quiet() {
		if time.Now().After(deadline) {
			t.Fatal("Quiet stays true after the peer closed")
		}
		time.Sleep(time.Millisecond)
	}
	b.Close()
	if b.(*Conn).Quiet() {
		t.Fatal("Quiet = true on a closed connection")
	}
}

// A request left with SendBeforeRead is written by the next Read, which
// returns the answer; one larger than the socket buffers is finished by
// an ordinary write while the peer reads; a request to a peer that
// answers nothing ends in the read deadline; and one to a peer that is
// gone fails.
func TestSendBeforeRead(t *testing.T) {
	a, b := pair(t)
	ca := a.(*Conn)

	// An answer to each request, in turn.
	go func() {
		buf := make([]byte, 64)
		for {
			n, err := b.Read(buf)
			if err != nil {
				return
			}
			if _, err := b.Write(bytes.ToUpper(buf[:n])); err != nil {
				return
			}
		}
	}()
	for _, req := range []string{"ping", "again", "third"} {
		ca.SendBeforeRead([]byte(req))
		got := make([]byte, 64)
		_ = a.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := a.Read(got)
		if err != nil || string(got[:n]) != string(bytes.ToUpper([]byte(req))) {
			t.Fatalf("answer to %q: %q, %v", req, got[:n], err)
		}
	}

	// Larger than the socket buffers: the rest is written while the
	// peer reads it all, then the answer comes.
	a2, b2 := pair(t)
	big := bytes.Repeat([]byte("x"), 8<<20)
	go func() {
		if _, err := io.ReadFull(b2, make([]byte, len(big))); err != nil {
			return
		}
		_, _ = b2.Write([]byte("done"))
	}()
	a2.(*Conn).SendBeforeRead(big)
	_ = a2.SetReadDeadline(time.Now().Add(20 * time.Second))
	got := make([]byte, 16)
	if n, err := io.ReadAtLeast(a2, got, 4); err != nil || string(got[:n]) != "done" {
		t.Fatalf("answer after a large request: %q, %v", got[:n], err)
	}

	// No answer: the deadline ends the wait, after the request was sent.
	a3, b3 := pair(t)
	a3.(*Conn).SendBeforeRead([]byte("hello"))
	_ = a3.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := a3.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("no answer: %v, want a deadline error", err)
	}
	_ = b3.SetReadDeadline(time.Now().Add(5 * time.Second))
	peer := make([]byte, 8)
	if n, err := b3.Read(peer); err != nil || string(peer[:n]) != "hello" {
		t.Fatalf("peer got %q, %v", peer[:n], err)
	}

	// A peer that has gone: the request fails (reset), or the read sees
	// the end of the stream; it never hangs.
	a4, b4 := pair(t)
	b4.(*Conn).Unwrap().(*net.TCPConn).SetLinger(0)
	b4.Close() // with linger 0: a reset, before or after the request
	a4.(*Conn).SendBeforeRead([]byte("anyone?"))
	_ = a4.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := a4.Read(make([]byte, 8)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("request to a closed peer: %v, want a reset or EOF", err)
	}
}
