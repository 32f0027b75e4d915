package pool_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// proto is a client connection driven message by message: pgconn logs in
// (SCRAM) and hands over the connection.
type proto struct {
	t    *testing.T
	fe   *pgproto3.Frontend
	conn net.Conn
}

func (h *harness) proto(t *testing.T) *proto {
	t.Helper()
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
	_ = hj.Conn.SetDeadline(time.Now().Add(60 * time.Second))
	t.Cleanup(func() { hj.Conn.Close() })
	return &proto{t: t, fe: hj.Frontend, conn: hj.Conn}
}

// close drops the connection without a Terminate.
func (p *proto) close() { _ = p.conn.Close() }

// send writes msgs without waiting.
func (p *proto) send(msgs ...pgproto3.FrontendMessage) {
	p.t.Helper()
	for _, m := range msgs {
		p.fe.Send(m)
	}
	if err := p.fe.Flush(); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

// until reads replies up to and including ReadyForQuery and returns them
// as a space-separated summary (see summary).
func (p *proto) until() string {
	p.t.Helper()
	var got []string
	for {
		msg, err := p.fe.Receive()
		if err != nil {
			p.t.Fatalf("receive after %v: %v", got, err)
		}
		s := summary(msg)
		if s == "" {
			continue
		}
		got = append(got, s)
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			return strings.Join(got, " ")
		}
	}
}

// read reads n replies (not stopping at ReadyForQuery).
func (p *proto) read(n int) string {
	p.t.Helper()
	var got []string
	for len(got) < n {
		msg, err := p.fe.Receive()
		if err != nil {
			p.t.Fatalf("receive after %v: %v", got, err)
		}
		if s := summary(msg); s != "" {
			got = append(got, s)
		}
	}
	return strings.Join(got, " ")
}

// do sends msgs and returns the summary of the replies up to
// ReadyForQuery.
func (p *proto) do(msgs ...pgproto3.FrontendMessage) string {
	p.t.Helper()
	p.send(msgs...)
	return p.until()
}

// expect runs msgs and fails unless the replies are want.
func (p *proto) expect(want string, msgs ...pgproto3.FrontendMessage) {
	p.t.Helper()
	if got := p.do(msgs...); got != want {
		p.t.Fatalf("replies\n got: %s\nwant: %s", got, want)
	}
}

// summary is a short text for a backend message: parse, bind, close,
// params, rowdesc/N, nodata, row:v1,v2, cmd:TAG, err:CODE, ready:S;
// notices are left out ("").
func summary(msg pgproto3.BackendMessage) string {
	switch m := msg.(type) {
	case *pgproto3.ParseComplete:
		return "parse"
	case *pgproto3.BindComplete:
		return "bind"
	case *pgproto3.CloseComplete:
		return "close"
	case *pgproto3.ParameterDescription:
		return "params"
	case *pgproto3.RowDescription:
		return fmt.Sprintf("rowdesc/%d", len(m.Fields))
	case *pgproto3.NoData:
		return "nodata"
	case *pgproto3.DataRow:
		vals := make([]string, len(m.Values))
		for i, v := range m.Values {
			vals[i] = string(v)
		}
		return "row:" + strings.Join(vals, ",")
	case *pgproto3.CommandComplete:
		return "cmd:" + string(m.CommandTag)
	case *pgproto3.EmptyQueryResponse:
		return "empty"
	case *pgproto3.ErrorResponse:
		return "err:" + m.Code
	case *pgproto3.ReadyForQuery:
		return "ready:" + string(m.TxStatus)
	case *pgproto3.NoticeResponse, *pgproto3.ParameterStatus:
		return ""
	}
	return fmt.Sprintf("%T", msg)
}

// Message shorthands.
func parse(name, query string, oids ...uint32) *pgproto3.Parse {
	return &pgproto3.Parse{Name: name, Query: query, ParameterOIDs: oids}
}

func bind(stmt string, params ...string) *pgproto3.Bind {
	b := &pgproto3.Bind{PreparedStatement: stmt}
	for _, p := range params {
		b.Parameters = append(b.Parameters, []byte(p))
	}
	return b
}

func execute() *pgproto3.Execute { return &pgproto3.Execute{} }

func syncMsg() *pgproto3.Sync { return &pgproto3.Sync{} }

func describeS(name string) *pgproto3.Describe {
	return &pgproto3.Describe{ObjectType: 'S', Name: name}
}

func closeS(name string) *pgproto3.Close { return &pgproto3.Close{ObjectType: 'S', Name: name} }

func query(sql string) *pgproto3.Query { return &pgproto3.Query{String: sql} }
