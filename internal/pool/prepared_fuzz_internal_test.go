package pool

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgwire"
)

// FuzzPreparedPaths drives the client-side rewriting and the reply
// queue with arbitrary client messages and a server that answers each
// one, failing the one chosen by the input: nothing may panic, the
// output must be well-formed messages, and the server cache's LRU list
// must agree with its map.
func FuzzPreparedPaths(f *testing.F) {
	enc := func(msgs ...pgproto3.FrontendMessage) []byte {
		var b []byte
		for _, m := range msgs {
			b, _ = m.Encode(b)
		}
		return b
	}
	f.Add(enc(&pgproto3.Parse{Name: "a", Query: "SELECT 1"}, &pgproto3.Bind{PreparedStatement: "a"},
		&pgproto3.Execute{}, &pgproto3.Sync{}), uint8(1))
	f.Add(enc(&pgproto3.Parse{Name: "a", Query: "x"}, &pgproto3.Parse{Name: "b", Query: "y"}, &pgproto3.Parse{Name: "c", Query: "z"},
		&pgproto3.Close{ObjectType: 'S', Name: "a"}, &pgproto3.Describe{ObjectType: 'S', Name: "c"}, &pgproto3.Sync{}), uint8(2))
	f.Add(enc(&pgproto3.Query{String: "PREPARE p AS SELECT 1"}, &pgproto3.Query{String: "EXECUTE p"},
		&pgproto3.Query{String: "DEALLOCATE p"}, &pgproto3.Bind{PreparedStatement: "p"}, &pgproto3.Sync{}), uint8(9))
	f.Add(enc(&pgproto3.Query{String: "SET work_mem = '1MB'"}, &pgproto3.Parse{Query: "SET a.b = 1"},
		&pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Query{String: "RESET ALL; LISTEN x"}, &pgproto3.Sync{}), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, failAt uint8) {
		s := &Server{cfg: Config{}.withDefaults()}
		p := newPool(s, poolKey{"d", "u"}, Database{}, ModeTransaction)
		c := &client{srv: s, pool: p, track: true, cacheN: 2, stmts: map[string]*stmtInfo{}, txStatus: pgwire.TxIdle}
		c.linkLocked(&serverConn{})
		r := pgwire.NewReader(bytes.NewReader(data), 1<<16)
		var out []byte
		for {
			m, err := r.Next()
			if err != nil {
				break
			}
			c.captureLocked(m)
			if out, err = c.translateLocked(m, out); err != nil {
				return // a malformed message: the client is disconnected
			}
		}
		wr := pgwire.NewReader(bytes.NewReader(out), 1<<20)
		for {
			if _, err := wr.Next(); err != nil {
				if len(out) > 0 && wr.Buffered() > 0 {
					t.Fatalf("rewritten stream is not well-formed: %v", err)
				}
				break
			}
		}
		// The server answers every queued entry in order.
		n := 0
		for e := c.q.front(); e != nil; e = c.q.front() {
			if e.act == actFake {
				c.emitFakesLocked(nil)
				continue
			}
			var reply []byte
			switch {
			case n == int(failAt) && e.ans != ansSync:
				reply = pgwire.Encode(nil, pgwire.Errorf("42601", "boom").Response())
				if e.ans == ansQuery {
					c.onReplyLocked(pgwire.Message{Raw: reply})
					reply = pgwire.Encode(nil, &pgproto3.ReadyForQuery{TxStatus: 'I'})
				}
			case e.ans == ansParse:
				reply = pgwire.AppendEmpty(nil, pgwire.MsgParseComplete)
			case e.ans == ansBind:
				reply = pgwire.AppendEmpty(nil, pgwire.MsgBindComplete)
			case e.ans == ansDescribe:
				reply = pgwire.AppendEmpty(nil, pgwire.MsgNoData)
			case e.ans == ansExecute:
				reply = pgwire.Encode(nil, &pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")})
			case e.ans == ansClose:
				reply = pgwire.AppendEmpty(nil, pgwire.MsgCloseComplete)
			default:
				reply = pgwire.Encode(nil, &pgproto3.ReadyForQuery{TxStatus: 'I'})
			}
			c.onReplyLocked(pgwire.Message{Raw: reply})
			n++
		}
		count := 0
		for e := c.sstmts.head; e != nil; e = e.next {
			if c.sstmts.byStmt[e.stmt] != e {
				t.Fatal("LRU list holds an entry the map does not")
			}
			count++
		}
		if count != c.sstmts.len() {
			t.Fatalf("LRU list has %d entries, map %d", count, c.sstmts.len())
		}
	})
}

// BenchmarkTranslateBind measures the client-side work for the hot
// message of prepared mode: a Bind of a statement the server has.
func BenchmarkTranslateBind(b *testing.B) {
	s := &Server{cfg: Config{}.withDefaults()}
	p := newPool(s, poolKey{"d", "u"}, Database{}, ModeTransaction)
	c := &client{srv: s, pool: p, track: true, cacheN: 200, stmts: map[string]*stmtInfo{}, txStatus: pgwire.TxIdle}
	c.linkLocked(&serverConn{})
	parse, _ := (&pgproto3.Parse{Name: "P0_1", Query: "SELECT abalance FROM pgbench_accounts WHERE aid = $1"}).Encode(nil)
	out, _ := c.translateLocked(pgwire.Message{Raw: parse}, nil)
	c.q.reset()
	bind, _ := (&pgproto3.Bind{PreparedStatement: "P0_1", Parameters: [][]byte{[]byte("12345")}}).Encode(nil)
	exec, _ := (&pgproto3.Execute{}).Encode(nil)
	syncm, _ := (&pgproto3.Sync{}).Encode(nil)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		out = out[:0]
		for _, raw := range [][]byte{bind, exec, syncm} {
			m := pgwire.Message{Raw: raw}
			c.captureLocked(m)
			out, _ = c.translateLocked(m, out)
		}
		c.q.reset()
	}
}
