package pgwire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"

	"holdfast/internal/pgwire"
)

func encode(t testing.TB, msg pgproto3.Message) []byte {
	t.Helper()
	b, err := msg.Encode(nil)
	if err != nil {
		t.Fatalf("encode %T: %v", msg, err)
	}
	return b
}

func TestReadStartup(t *testing.T) {
	startup := &pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters:      map[string]string{"user": "alice", "database": "app", "application_name": "x"},
	}
	tests := []struct {
		name    string
		in      []byte
		want    pgproto3.FrontendMessage
		wantErr bool
	}{
		{"ssl", encode(t, &pgproto3.SSLRequest{}), &pgproto3.SSLRequest{}, false},
		{"gssenc", encode(t, &pgproto3.GSSEncRequest{}), &pgproto3.GSSEncRequest{}, false},
		{"cancel", encode(t, &pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}}),
			&pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}}, false},
		{"startup", encode(t, startup), startup, false},
		{"protocol 2", []byte{0, 0, 0, 8, 0, 2, 0, 0}, nil, true},
		{"too short length", []byte{0, 0, 0, 3, 0, 3, 0, 0}, nil, true},
		{"too long length", []byte{0, 1, 0, 0, 0, 3, 0, 0}, nil, true},
		{"truncated", []byte{0, 0, 0, 20, 0, 3, 0, 0}, nil, true},
		{"ssl with trailing", []byte{0, 0, 0, 9, 4, 210, 22, 47, 0}, nil, true},
		{"unterminated params", []byte{0, 0, 0, 12, 0, 3, 0, 0, 'u', 's', 'e', 'r'}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pgwire.ReadStartup(bytes.NewReader(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ReadStartup = %#v, want error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadStartup: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ReadStartup = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestReaderLimits(t *testing.T) {
	var stream []byte
	stream = append(stream, encode(t, &pgproto3.Query{String: "select 1"})...)
	stream = append(stream, encode(t, &pgproto3.Sync{})...)
	stream = append(stream, encode(t, &pgproto3.Query{String: string(make([]byte, 100))})...)

	r := pgwire.NewReader(bytes.NewReader(stream), 64)
	m, err := r.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if q, err := pgwire.Query(m); err != nil || q != "select 1" {
		t.Fatalf("Query = %q, %v; want select 1", q, err)
	}
	m, err = r.Next()
	if err != nil || m.Type() != pgwire.MsgSync || len(m.Body()) != 0 {
		t.Fatalf("Next = %q %v, want Sync", m.Raw, err)
	}
	if _, err := r.Next(); !errors.Is(err, pgwire.ErrMessageTooLong) {
		t.Fatalf("Next on oversized = %v, want ErrMessageTooLong", err)
	}

	r = pgwire.NewReader(bytes.NewReader(stream[:3]), 0)
	if _, err := r.Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Next on truncated = %v, want ErrUnexpectedEOF", err)
	}
	r = pgwire.NewReader(bytes.NewReader(nil), 0)
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next on empty = %v, want EOF", err)
	}
	r = pgwire.NewReader(bytes.NewReader([]byte{'Q', 0, 0, 0, 2}), 0)
	if _, err := r.Next(); err == nil {
		t.Fatal("Next on length 2: want error")
	}
}

func TestInspect(t *testing.T) {
	var stream []byte
	stream = append(stream, encode(t, &pgproto3.ParameterStatus{Name: "server_version", Value: "15.8"})...)
	stream = append(stream, encode(t, &pgproto3.BackendKeyData{ProcessID: 42, SecretKey: []byte{9, 9, 9, 9}})...)
	stream = append(stream, encode(t, pgwire.Fatal(pgwire.CodeInvalidPassword, "password authentication failed for user %q", "bob").Response())...)
	stream = append(stream, encode(t, &pgproto3.ReadyForQuery{TxStatus: 'T'})...)
	r := pgwire.NewReader(bytes.NewReader(stream), 0)

	m, _ := r.Next()
	ps, err := pgwire.ParameterStatus(m)
	if err != nil || ps.Name != "server_version" || ps.Value != "15.8" {
		t.Fatalf("ParameterStatus = %+v, %v", ps, err)
	}
	m, _ = r.Next()
	k, err := pgwire.BackendKeyData(m)
	if err != nil || k.ProcessID != 42 || !bytes.Equal(k.SecretKey, []byte{9, 9, 9, 9}) {
		t.Fatalf("BackendKeyData = %+v, %v", k, err)
	}
	m, _ = r.Next()
	e, err := pgwire.ErrorResponse(m)
	if err != nil || e.Code != "28P01" || e.Severity != "FATAL" || e.Message != `password authentication failed for user "bob"` {
		t.Fatalf("ErrorResponse = %+v, %v", e, err)
	}
	if _, err := pgwire.TxStatus(m); err == nil {
		t.Fatal("TxStatus of an ErrorResponse: want error")
	}
	m, _ = r.Next()
	if st, err := pgwire.TxStatus(m); err != nil || st != pgwire.TxActive {
		t.Fatalf("TxStatus = %q, %v; want T", st, err)
	}
	if _, err := pgwire.ParameterStatus(m); err == nil {
		t.Fatal("ParameterStatus of ReadyForQuery: want error")
	}
}

func TestAsError(t *testing.T) {
	pe := pgwire.Fatal(pgwire.CodeTooManyConnections, "no more connections allowed")
	if got := pgwire.AsError(pe); got != pe {
		t.Fatalf("AsError(pe) = %v", got)
	}
	if got := pgwire.AsError(errors.New("dial 10.0.0.1: secret")); got.Code != pgwire.CodeInternalError || bytes.Contains([]byte(got.Message), []byte("secret")) {
		t.Fatalf("AsError(plain) = %+v", got)
	}
}

func FuzzDecodeStartup(f *testing.F) {
	f.Add(encode(f, &pgproto3.SSLRequest{}))
	f.Add(encode(f, &pgproto3.CancelRequest{ProcessID: 1, SecretKey: []byte{1, 2, 3, 4}}))
	f.Add(encode(f, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": "u", "database": "d"}}))
	f.Add([]byte{0, 0, 0, 8, 0, 3, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := pgwire.ReadStartup(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(data) > pgwire.MaxStartupPacketLen {
			// ReadStartup must not have read beyond the limit.
			t.Fatalf("accepted a packet of %d bytes", len(data))
		}
		if sm, ok := msg.(*pgproto3.StartupMessage); ok && sm.ProtocolVersion>>16 != 3 {
			t.Fatalf("accepted protocol %x", sm.ProtocolVersion)
		}
	})
}

func FuzzReader(f *testing.F) {
	f.Add(encode(f, &pgproto3.ReadyForQuery{TxStatus: 'I'}))
	f.Add(encode(f, &pgproto3.ParameterStatus{Name: "a", Value: "b"}))
	f.Add([]byte{'E', 0, 0, 0, 6, 'S', 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := pgwire.NewReader(bytes.NewReader(data), 1024)
		for {
			m, err := r.Next()
			if err != nil {
				return
			}
			if len(m.Body()) > 1024 {
				t.Fatalf("body of %d bytes beyond limit", len(m.Body()))
			}
			switch m.Type() {
			case pgwire.MsgReadyForQuery:
				_, _ = pgwire.TxStatus(m)
			case pgwire.MsgParameterStatus:
				_, _ = pgwire.ParameterStatus(m)
			case pgwire.MsgBackendKeyData:
				_, _ = pgwire.BackendKeyData(m)
			case pgwire.MsgErrorResponse:
				_, _ = pgwire.ErrorResponse(m)
			case pgwire.MsgQuery:
				_, _ = pgwire.Query(m)
			}
		}
	})
}
