package pool_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgtest"
	"holdfast/internal/pool"
)

// A client that pipelines far more than the socket buffers hold — while
// reading replies as they come, as libpq's pipeline mode does — gets
// every reply, in order, through the pooler: the pooler keeps draining
// both directions whether it reads replies inline or with a pump, and
// hands over between the two (transactions keep the link) without
// reordering.
func TestPipelineBeyondSocketBuffers(t *testing.T) {
	cluster := pgtest.Start(t)
	h := startPooler(t, cluster, func(c *pool.Config) { c.DefaultPoolSize = 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pc, err := pgconn.Connect(ctx, h.dsn(appUser, appPass, appDB, ""))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	hj, err := pc.Hijack()
	if err != nil {
		t.Fatalf("hijack: %v", err)
	}
	defer hj.Conn.Close()
	// The bound of this test: a deadlock fails it instead of hanging.
	_ = hj.Conn.SetDeadline(time.Now().Add(60 * time.Second))

	const requests = 6000
	pad := strings.Repeat("x", 1000) // 1 kB of comment per request, 4 kB per row
	var buf []byte
	var want []int // the values of the DataRows, in order
	for i := range requests {
		var msgs []pgproto3.FrontendMessage
		switch {
		case i%50 == 10:
			msgs = []pgproto3.FrontendMessage{&pgproto3.Query{String: "BEGIN"}}
		case i%50 == 20:
			msgs = []pgproto3.FrontendMessage{&pgproto3.Query{String: "COMMIT"}}
		case i%2 == 0:
			sql := fmt.Sprintf("SELECT %d, repeat('y', 4000) /* %s */", i, pad)
			msgs = []pgproto3.FrontendMessage{&pgproto3.Query{String: sql}}
			want = append(want, i)
		default:
			sql := "SELECT $1::int, repeat('z', 4000) /* " + pad + " */"
			msgs = []pgproto3.FrontendMessage{
				&pgproto3.Parse{Query: sql},
				&pgproto3.Bind{Parameters: [][]byte{[]byte(strconv.Itoa(i))}},
				&pgproto3.Execute{},
				&pgproto3.Sync{},
			}
			want = append(want, i)
		}
		for _, m := range msgs {
			if buf, err = m.Encode(buf); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(buf) < 4<<20 {
		t.Fatalf("pipeline of %d bytes is too small to fill the socket buffers", len(buf))
	}

	wrote := make(chan error, 1)
	go func() {
		_, err := hj.Conn.Write(buf) // all at once; blocks while the buffers are full
		wrote <- err
	}()
	fe := pgproto3.NewFrontend(hj.Conn, nil)
	var got []int
	ready := 0
	for ready < requests {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("after %d ReadyForQuery and %d rows: %v", ready, len(got), err)
		}
		switch m := msg.(type) {
		case *pgproto3.DataRow:
			v, err := strconv.Atoi(string(m.Values[0]))
			if err != nil || len(m.Values[1]) != 4000 {
				t.Fatalf("row %d: unexpected %q", len(got), m.Values[0])
			}
			got = append(got, v)
		case *pgproto3.ErrorResponse:
			t.Fatalf("request failed: %s %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			ready++
		}
	}
	if err := <-wrote; err != nil {
		t.Fatalf("write pipeline: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d is %d, want %d: replies out of order", i, got[i], want[i])
		}
	}
}
