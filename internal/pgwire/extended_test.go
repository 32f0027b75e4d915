package pgwire_test

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgwire"
)

func TestExtendedRoundTrip(t *testing.T) {
	raw := encode(t, &pgproto3.Parse{Name: "s1", Query: "SELECT $1", ParameterOIDs: []uint32{23}})
	p, err := pgwire.DecodeParse(raw[5:])
	if err != nil || string(p.Name) != "s1" || string(p.Query) != "SELECT $1" {
		t.Fatalf("DecodeParse = %+v, %v", p, err)
	}
	got := pgwire.AppendParse(nil, "hf_1", p.Tail)
	want := encode(t, &pgproto3.Parse{Name: "hf_1", Query: "SELECT $1", ParameterOIDs: []uint32{23}})
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendParse = %q, want %q", got, want)
	}

	raw = encode(t, &pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "s1",
		ParameterFormatCodes: []int16{1}, Parameters: [][]byte{{0, 0, 0, 7}}, ResultFormatCodes: []int16{0}})
	b, err := pgwire.DecodeBind(raw[5:])
	if err != nil || string(b.Portal) != "p" || string(b.Statement) != "s1" {
		t.Fatalf("DecodeBind = %+v, %v", b, err)
	}
	got = pgwire.AppendBind(nil, b, "hf_22")
	want = encode(t, &pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "hf_22",
		ParameterFormatCodes: []int16{1}, Parameters: [][]byte{{0, 0, 0, 7}}, ResultFormatCodes: []int16{0}})
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendBind = %q, want %q", got, want)
	}

	raw = encode(t, &pgproto3.Describe{ObjectType: 'S', Name: "s1"})
	kind, name, err := pgwire.DecodeTarget(raw[5:])
	if err != nil || kind != 'S' || string(name) != "s1" {
		t.Fatalf("DecodeTarget = %c %q %v", kind, name, err)
	}
	if got, want := pgwire.AppendTarget(nil, 'C', 'S', "x"), encode(t, &pgproto3.Close{ObjectType: 'S', Name: "x"}); !bytes.Equal(got, want) {
		t.Fatalf("AppendTarget = %q, want %q", got, want)
	}
	if got, want := pgwire.AppendQuery(nil, "SELECT 1"), encode(t, &pgproto3.Query{String: "SELECT 1"}); !bytes.Equal(got, want) {
		t.Fatalf("AppendQuery = %q, want %q", got, want)
	}
	er := encode(t, pgwire.Errorf("0A000", "cached plan must not change result type").Response())
	if got := pgwire.ErrorCode(er[5:]); got != "0A000" {
		t.Fatalf("ErrorCode = %q", got)
	}
	cc := encode(t, &pgproto3.CommandComplete{CommandTag: []byte("DISCARD ALL")})
	if got := pgwire.CommandTag(cc[5:]); string(got) != "DISCARD ALL" {
		t.Fatalf("CommandTag = %q", got)
	}
	for _, bad := range [][]byte{nil, {'s'}, {'s', 0}, {'s', 0, 'q', 0, 0, 1}, {'s', 0, 'q', 0, 0, 0, 9}} {
		if _, err := pgwire.DecodeParse(bad); err == nil {
			t.Errorf("DecodeParse(%q): want error", bad)
		}
	}
	for _, bad := range [][]byte{nil, {'X', 's', 0}, {'S', 's'}, {'S', 's', 0, 1}} {
		if _, _, err := pgwire.DecodeTarget(bad); err == nil {
			t.Errorf("DecodeTarget(%q): want error", bad)
		}
	}
}

func TestScanCommand(t *testing.T) {
	tests := []struct {
		sql    string
		ok     bool
		verb   string
		name   string
		single bool
	}{
		{"SELECT 1", false, "", "", false},
		{"PREPARE Foo(int) AS SELECT $1", true, "prepare", "foo", true},
		{`  /* c /* nested */ */ prepare "Foo Bar" AS SELECT ';'; `, true, "prepare", "Foo Bar", true},
		{"EXECUTE foo(1); SELECT 2", true, "execute", "foo", false},
		{"execute foo($$;$$);;", true, "execute", "foo", true},
		{"-- hi\nDEALLOCATE PREPARE foo", true, "deallocate", "foo", true},
		{"DEALLOCATE ALL", true, "deallocate all", "", true},
		{"deallocate foo -- done", true, "deallocate", "foo", true},
		{"PREPARE", false, "", "", false},
		{`PREPARE ""`, false, "", "", false},
		{"EXECUTE e('it''s;') ; -- x", true, "execute", "e", true},
		{"EXECUTE e(E'\\';') ; SELECT", true, "execute", "e", false},
	}
	for _, tt := range tests {
		got, ok := pgwire.ScanCommand(tt.sql)
		if ok != tt.ok || got.Verb != tt.verb || got.Name != tt.name || (ok && got.Single != tt.single) {
			t.Errorf("ScanCommand(%q) = %+v, %v; want %s %q single=%v, %v", tt.sql, got, ok, tt.verb, tt.name, tt.single, tt.ok)
		}
		if ok && tt.name != "" && got.NameEnd <= got.NameStart {
			t.Errorf("ScanCommand(%q): name at %d..%d", tt.sql, got.NameStart, got.NameEnd)
		}
	}
}

func FuzzExtended(f *testing.F) {
	f.Add(encode(f, &pgproto3.Parse{Name: "s", Query: "SELECT 1", ParameterOIDs: []uint32{23}})[5:])
	f.Add(encode(f, &pgproto3.Bind{PreparedStatement: "s", Parameters: [][]byte{[]byte("x")}})[5:])
	f.Add([]byte("S\x00"))
	f.Fuzz(func(t *testing.T, body []byte) {
		if p, err := pgwire.DecodeParse(body); err == nil {
			out := pgwire.AppendParse(nil, string(p.Name), p.Tail)
			if !bytes.Equal(out[5:], body) {
				t.Fatalf("Parse round trip: %q != %q", out[5:], body)
			}
		}
		if b, err := pgwire.DecodeBind(body); err == nil {
			out := pgwire.AppendBind(nil, b, string(b.Statement))
			if !bytes.Equal(out[5:], body) {
				t.Fatalf("Bind round trip: %q != %q", out[5:], body)
			}
		}
		if k, n, err := pgwire.DecodeTarget(body); err == nil {
			out := pgwire.AppendTarget(nil, 'D', k, string(n))
			if !bytes.Equal(out[5:], body) {
				t.Fatalf("target round trip: %q != %q", out[5:], body)
			}
		}
		_ = pgwire.ErrorCode(body)
		_ = pgwire.CommandTag(body)
	})
}

func FuzzScanCommand(f *testing.F) {
	for _, s := range []string{"PREPARE a AS SELECT 1", "EXECUTE \"x\"\"y\"(1);", "DEALLOCATE ALL", "execute $$", "/* */"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		cmd, ok := pgwire.ScanCommand(sql)
		if !ok || cmd.Verb == pgwire.VerbDeallocateAll {
			return
		}
		if cmd.NameStart < 0 || cmd.NameEnd > len(sql) || cmd.NameStart >= cmd.NameEnd || cmd.Name == "" {
			t.Fatalf("ScanCommand(%q) = %+v", sql, cmd)
		}
	})
}

func TestScanSession(t *testing.T) {
	tests := []struct {
		sql    string
		kind   string
		name   string
		single bool
	}{
		{"SELECT 1", pgwire.SessOther, "", true},
		{"SET statement_timeout = '1s'", pgwire.SessSet, "statement_timeout", true},
		{"set SESSION Work_Mem to '7MB';", pgwire.SessSet, "work_mem", true},
		{"SET LOCAL work_mem = '1MB'", pgwire.SessLocal, "", true},
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", pgwire.SessLocal, "", true},
		{"SET ROLE bob", pgwire.SessUntracked, "", true},
		{"RESET work_mem", pgwire.SessReset, "work_mem", true},
		{"RESET ALL", pgwire.SessResetAll, "", true},
		{"DISCARD ALL", pgwire.SessResetAll, "", true},
		{"LISTEN news", pgwire.SessPin, "", true},
		{"CREATE TEMP TABLE x (a int)", pgwire.SessPin, "", true},
		{"CREATE TABLE x (a int)", pgwire.SessOther, "", true},
		{"DECLARE c CURSOR WITH HOLD FOR SELECT 1", pgwire.SessPin, "", true},
		{"SELECT pg_advisory_lock(1)", pgwire.SessPin, "", true},
		{"SELECT pg_advisory_xact_lock(1)", pgwire.SessOther, "", true},
		{"SELECT set_config('a.b', '1', false)", pgwire.SessUntracked, "", true},
		{"SELECT 1; SET x = 1", pgwire.SessUntracked, "", false},
		{"SELECT ';SET x = 1'", pgwire.SessOther, "", true},
		{"SELECT 1; LISTEN a", pgwire.SessPin, "", false},
		{"/* why */ SET a = 1", pgwire.SessSet, "a", true},
		{"-- why\nLISTEN a", pgwire.SessPin, "", true},
	}
	for _, tt := range tests {
		got := pgwire.ScanSession(tt.sql)
		if got.Kind != tt.kind || got.Name != tt.name || got.Single != tt.single {
			t.Errorf("ScanSession(%q) = %+v, want %q %q single=%v", tt.sql, got, tt.kind, tt.name, tt.single)
		}
		if plain := pgwire.Plain([]byte(tt.sql)); plain && (got.Kind != pgwire.SessOther || !got.Single) {
			t.Errorf("Plain(%q) = true for a statement that matters (%+v)", tt.sql, got)
		}
	}
	for _, q := range []string{"SELECT abalance FROM pgbench_accounts WHERE aid = 1;", "update t set a = 1", "BEGIN"} {
		if !pgwire.Plain([]byte(q)) {
			t.Errorf("Plain(%q) = false, want true", q)
		}
	}
}

func FuzzScanSession(f *testing.F) {
	for _, s := range []string{"SET a = 1", "select pg_advisory_lock(1); set x to 2", "RESET ALL", "LISTEN $$", "/* */;;", "/**/set a=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		got := pgwire.ScanSession(sql)
		if pgwire.Plain([]byte(sql)) && (got.Kind != pgwire.SessOther || !got.Single) {
			// Plain may only say yes when the full scan finds nothing.
			if got.Kind != pgwire.SessOther {
				t.Fatalf("Plain(%q) but ScanSession = %+v", sql, got)
			}
		}
		if (got.Kind == pgwire.SessSet || got.Kind == pgwire.SessReset) && got.Name == "" {
			t.Fatalf("ScanSession(%q) = %+v without a name", sql, got)
		}
	})
}
