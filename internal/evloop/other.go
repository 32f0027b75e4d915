//go:build !linux

package evloop

import (
	"net"
	"time"
)

// Group, Loop, Listener and Conn exist elsewhere only so that callers
// compile: Default always fails, so none is ever made.
type Group struct{}

type Loop struct{}

type Listener struct{}

type Conn struct{ net.Conn }

func Default() (*Group, error)   { return nil, ErrUnsupported }
func DefaultSize() int           { return 0 }
func (g *Group) Size() int       { return 0 }
func (lp *Loop) ID() int         { return 0 }
func (lp *Loop) Now() time.Time  { return time.Now() }
func (lp *Loop) Await(f func())  { f() }
func (lp *Loop) Post(f func())   { f() }
func (c *Conn) Loop() *Loop      { return nil }
func (l *Listener) Close() error { return nil }

func (g *Group) Serve(ln *net.TCPListener, handler func(*Conn)) (*Listener, error) {
	return nil, ErrUnsupported
}

func (lp *Loop) Adopt(nc net.Conn) (*Conn, error) { return nil, ErrUnsupported }

func (c *Conn) Detach() (net.Conn, error) { return nil, ErrUnsupported }
