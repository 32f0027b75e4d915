package pool

import (
	"errors"
	"os"
	"time"

	"holdfast/internal/rawconn"
)

// alive reports whether an idle connection is still usable: the server
// has sent nothing (an idle server only speaks to say goodbye, e.g. FATAL
// 57P01 after pg_terminate_backend) and has not closed it. It runs at
// every lend, so on a plain TCP connection it is one non-blocking
// MSG_PEEK receive, without touching the connection's read deadline
// (which costs timer work in the runtime each time).
func (s *serverConn) alive() bool {
	if s.r.Buffered() > 0 {
		return false
	}
	if rc, ok := s.conn.(*rawconn.Conn); ok {
		return rc.Quiet()
	}
	_ = s.conn.SetReadDeadline(time.Now())
	_, err := s.r.Peek(1)
	_ = s.conn.SetReadDeadline(time.Time{})
	return errors.Is(err, os.ErrDeadlineExceeded)
}
