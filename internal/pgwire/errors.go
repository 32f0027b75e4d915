package pgwire

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgproto3"
)

// SQLSTATE codes the pooler sends.
const (
	CodeProtocolViolation     = "08P01"
	CodeConnectionFailure     = "08006"
	CodeCannotConnectNow      = "57P03"
	CodeInvalidPassword       = "28P01"
	CodeInvalidAuthSpec       = "28000"
	CodeTooManyConnections    = "53300"
	CodeAdminShutdown         = "57P01"
	CodeQueryCanceled         = "57014"
	CodeInvalidCatalogName    = "3D000"
	CodeFeatureNotSupported   = "0A000"
	CodeSyntaxError           = "42601"
	CodeInsufficientPrivilege = "42501"
	CodeInternalError         = "XX000"
)

// Severities.
const (
	SeverityError = "ERROR"
	SeverityFatal = "FATAL"
)

// Error is a PostgreSQL-facing error: it knows its SQLSTATE and severity
// and turns into an ErrorResponse.
type Error struct {
	Severity string
	Code     string
	Message  string
	Detail   string
	Hint     string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (SQLSTATE %s)", e.Severity, e.Message, e.Code)
}

// Response returns the ErrorResponse message for e.
func (e *Error) Response() *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{
		Severity:            e.Severity,
		SeverityUnlocalized: e.Severity,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
	}
}

// Fatal returns a FATAL error: the connection is closed after sending it.
func Fatal(code, format string, args ...any) *Error {
	return &Error{Severity: SeverityFatal, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Errorf returns an ERROR-level error: the session continues.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Severity: SeverityError, Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsError returns err as a *Error if it is one (or wraps one), else an
// internal error carrying a generic message (never err's text, which may
// hold addresses or secrets).
func AsError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return Fatal(CodeInternalError, "internal error in connection pooler")
}

// Encode encodes msg with its header, for writing raw.
func Encode(dst []byte, msg pgproto3.Message) []byte {
	out, err := msg.Encode(dst)
	if err != nil {
		// Only oversized fields fail to encode; all our messages are small.
		panic(fmt.Sprintf("pgwire: encode %T: %v", msg, err))
	}
	return out
}
