package pool_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgtest"
	"holdfast/internal/pgwire"
)

// rawConn dials the pooler for hand-written protocol exchanges.
func (h *harness) rawConn(t *testing.T) (net.Conn, *pgproto3.Frontend) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", h.srv.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn, pgproto3.NewFrontend(conn, conn)
}

func wantFatal(t *testing.T, fe *pgproto3.Frontend, code string) {
	t.Helper()
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("receive: %v, want ErrorResponse %s", err, code)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			if e.Code != code || e.Severity != "FATAL" {
				t.Fatalf("error %s %s %q, want FATAL %s", e.Severity, e.Code, e.Message, code)
			}
			return
		}
	}
}

func TestBadInput(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, nil)

	t.Run("garbage startup", func(t *testing.T) {
		conn, fe := h.rawConn(t)
		_, _ = conn.Write([]byte{0, 0, 0, 8, 0, 9, 0, 0})
		wantFatal(t, fe, pgwire.CodeProtocolViolation)
	})
	t.Run("huge startup length", func(t *testing.T) {
		conn, fe := h.rawConn(t)
		_, _ = conn.Write([]byte{0x7f, 0, 0, 0, 0, 3, 0, 0})
		wantFatal(t, fe, pgwire.CodeProtocolViolation)
	})
	t.Run("gssenc then ssl refused", func(t *testing.T) {
		conn, _ := h.rawConn(t)
		for _, m := range []pgproto3.FrontendMessage{&pgproto3.GSSEncRequest{}, &pgproto3.SSLRequest{}} {
			b, _ := m.Encode(nil)
			_, _ = conn.Write(b)
			var ans [1]byte
			if _, err := io.ReadFull(conn, ans[:]); err != nil || ans[0] != 'N' {
				t.Fatalf("answer %q, %v; want N", ans[0], err)
			}
		}
	})
	t.Run("oversized auth message", func(t *testing.T) {
		conn, fe := h.rawConn(t)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
			Parameters: map[string]string{"user": appUser, "database": appDB}})
		_ = fe.Flush()
		if msg, err := fe.Receive(); err != nil {
			t.Fatal(err)
		} else if _, ok := msg.(*pgproto3.AuthenticationSASL); !ok {
			t.Fatalf("got %T, want AuthenticationSASL", msg)
		}
		_, _ = conn.Write([]byte{'p', 0, 0x10, 0, 0})
		wantFatal(t, fe, pgwire.CodeProtocolViolation)
	})
}

// A client that leaves mid-transaction must not leave its transaction,
// locks or session state to the next client of that server connection.
func TestDisconnectMidTransaction(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, nil)
	ctx := context.Background()
	direct := pgtest.Connect(t, cluster.DSN(cluster.Database()))
	if _, err := direct.Exec(ctx, "CREATE TABLE leak (v int)"); err != nil {
		t.Fatal(err)
	}
	a := h.connect(t, "default_query_exec_mode=simple_protocol")
	for _, q := range []string{"BEGIN", "INSERT INTO leak VALUES (1)", "SELECT pg_advisory_lock(42)"} {
		if _, err := a.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	a.Close(ctx) // sends Terminate mid-transaction

	b := h.connect(t, "default_query_exec_mode=simple_protocol")
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM leak").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows = %d, %v; want 0 (transaction rolled back)", n, err)
	}
	eventually(t, 10*time.Second, "advisory lock to be released", func() bool {
		var ok bool
		err := b.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock(42)").Scan(&ok)
		return err == nil && ok
	})
}
