package pool_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

// A client that finds no free server connection is queued, and its
// goroutine goes on reading: what it sends meanwhile — more than the
// queue holds before it stops reading, mixing simple queries with named
// statements that the pooler rewrites — is sent when the connection
// comes, and every reply arrives in order. A client that leaves while
// queued is passed by, and the connection goes to the next one.
func TestQueuedClients(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) {
		c.DefaultPoolSize = 1
		c.QueryWaitTimeout = 30 * time.Second
	})
	ctx := context.Background()

	// hold takes the pool's only server connection until the returned
	// function commits.
	hold := func(t *testing.T) func() {
		holder := h.connect(t, "default_query_exec_mode=simple_protocol")
		tx, err := holder.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		return func() {
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	waiting := func(n int) func() bool {
		return func() bool { return poolStats(t, h).ClientsWaiting == n }
	}

	t.Run("what a queued client sends is sent in order when a connection comes", func(t *testing.T) {
		release := hold(t)
		p := h.proto(t)
		pad := strings.Repeat("x", 1000)
		var msgs []pgproto3.FrontendMessage
		var want []string
		msgs = append(msgs, parse("s1", "SELECT $1::int + 1000"), syncMsg())
		want = append(want, "parse ready:I")
		for i := range 120 { // about 120 kB: past the queue's bound
			if i%3 == 0 {
				msgs = append(msgs, bind("s1", fmt.Sprint(i)), execute(), syncMsg())
				want = append(want, fmt.Sprintf("bind row:%d cmd:SELECT 1 ready:I", i+1000))
				continue
			}
			msgs = append(msgs, query(fmt.Sprintf("SELECT %d /* %s */", i, pad)))
			want = append(want, fmt.Sprintf("rowdesc/1 row:%d cmd:SELECT 1 ready:I", i))
		}
		p.send(msgs...)
		eventually(t, 10*time.Second, "the client to queue", waiting(1))
		release()
		for i, w := range want {
			if got := p.until(); got != w {
				t.Fatalf("reply %d\n got: %s\nwant: %s", i, got, w)
			}
		}
		// Linked again and again afterwards, the statement still works.
		p.expect("bind row:1007 cmd:SELECT 1 ready:I", bind("s1", "7"), execute(), syncMsg())
	})

	t.Run("a client that leaves while queued is passed by", func(t *testing.T) {
		release := hold(t)
		gone := h.proto(t)
		gone.send(query("SELECT 'gone'"))
		eventually(t, 10*time.Second, "the first client to queue", waiting(1))
		next := h.proto(t)
		next.send(query("SELECT 'next'"))
		eventually(t, 10*time.Second, "the second client to queue", waiting(2))
		gone.close()
		eventually(t, 10*time.Second, "the first client to leave the queue", waiting(1))
		release()
		if got, want := next.until(), "rowdesc/1 row:next cmd:SELECT 1 ready:I"; got != want {
			t.Fatalf("queued client\n got: %s\nwant: %s", got, want)
		}
		if st := poolStats(t, h); st.ServersActive+st.ServersIdle != 1 {
			t.Errorf("server connections = %d active + %d idle, want 1", st.ServersActive, st.ServersIdle)
		}
	})

	t.Run("a client that stopped reading while queued gets query_wait_timeout", func(t *testing.T) {
		h := startPooler(t, cluster, func(c *pool.Config) {
			c.DefaultPoolSize = 1
			c.QueryWaitTimeout = 300 * time.Millisecond
		})
		holder := h.connect(t, "default_query_exec_mode=simple_protocol")
		tx, err := holder.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		p := h.proto(t)
		pad := strings.Repeat("x", 1000)
		var msgs []pgproto3.FrontendMessage
		for i := range 100 {
			msgs = append(msgs, query(fmt.Sprintf("SELECT %d /* %s */", i, pad)))
		}
		p.send(msgs...)
		msg, err := p.fe.Receive()
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); !ok || e.Code != "08P01" || e.Message != "query_wait_timeout" {
			t.Fatalf("got %#v, want ErrorResponse 08P01 query_wait_timeout", msg)
		}
		if msg, err := p.fe.Receive(); err == nil {
			t.Fatalf("after the error: %#v, want the connection closed", msg)
		}
		if got := poolStats(t, h).ClientsWaiting; got != 0 {
			t.Errorf("clients waiting = %d, want 0", got)
		}
	})
}
