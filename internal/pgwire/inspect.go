package pgwire

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Message type bytes the pooler inspects.
const (
	// Frontend.
	MsgQuery     = 'Q'
	MsgParse     = 'P'
	MsgBind      = 'B'
	MsgExecute   = 'E'
	MsgDescribe  = 'D'
	MsgClose     = 'C'
	MsgSync      = 'S'
	MsgFlush     = 'H'
	MsgTerminate = 'X'
	MsgCopyData  = 'd'
	MsgCopyDone  = 'c'
	MsgCopyFail  = 'f'
	MsgPassword  = 'p'
	MsgFuncCall  = 'F'

	// Backend.
	MsgReadyForQuery   = 'Z'
	MsgParameterStatus = 'S'
	MsgBackendKeyData  = 'K'
	MsgErrorResponse   = 'E'
	MsgNoticeResponse  = 'N'
)

// Transaction status bytes of ReadyForQuery.
const (
	TxIdle   = 'I'
	TxActive = 'T'
	TxFailed = 'E'
)

// TxStatus returns the transaction status of a ReadyForQuery message.
func TxStatus(m Message) (byte, error) {
	if m.Type() != MsgReadyForQuery || len(m.Body()) != 1 {
		return 0, fmt.Errorf("not a ReadyForQuery message: type %q, %d body bytes", m.Type(), len(m.Body()))
	}
	return m.Body()[0], nil
}

// ParameterStatus decodes a ParameterStatus message.
func ParameterStatus(m Message) (*pgproto3.ParameterStatus, error) {
	var ps pgproto3.ParameterStatus
	if err := decode(m, MsgParameterStatus, &ps); err != nil {
		return nil, err
	}
	return &ps, nil
}

// BackendKeyData decodes a BackendKeyData message.
func BackendKeyData(m Message) (*pgproto3.BackendKeyData, error) {
	var k pgproto3.BackendKeyData
	if err := decode(m, MsgBackendKeyData, &k); err != nil {
		return nil, err
	}
	return &k, nil
}

// ErrorResponse decodes a backend ErrorResponse message.
func ErrorResponse(m Message) (*pgproto3.ErrorResponse, error) {
	var e pgproto3.ErrorResponse
	if err := decode(m, MsgErrorResponse, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Query decodes a frontend Query message (the copy owns its string).
func Query(m Message) (string, error) {
	var q pgproto3.Query
	if err := decode(m, MsgQuery, &q); err != nil {
		return "", err
	}
	return q.String, nil
}

// IsTerminate reports whether m is a frontend Terminate.
func IsTerminate(m Message) bool { return m.Type() == MsgTerminate }

// EndsRequest reports whether a frontend message ends a request, after
// which the backend answers with ReadyForQuery: Sync or a simple Query.
func EndsRequest(t byte) bool { return t == MsgSync || t == MsgQuery || t == MsgFuncCall }

// EndsCopy reports whether a frontend message ends a COPY FROM STDIN.
func EndsCopy(t byte) bool { return t == MsgCopyDone || t == MsgCopyFail }

func decode(m Message, want byte, dst interface{ Decode([]byte) error }) error {
	if len(m.Raw) < 5 || m.Type() != want {
		return fmt.Errorf("want message %q, got %q", want, m.Raw[:min(1, len(m.Raw))])
	}
	if err := dst.Decode(m.Body()); err != nil {
		return fmt.Errorf("decode %T: %w", dst, err)
	}
	return nil
}
