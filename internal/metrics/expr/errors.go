package expr

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Sentinel errors; every error returned by Parse and Evaluate wraps one.
var (
	ErrSyntax          = errors.New("syntax error")
	ErrUnknownFunction = errors.New("unknown function")
	ErrUnknownID       = errors.New("unknown id")
	ErrType            = errors.New("type error")
	ErrCycle           = errors.New("cycle between expressions")
	ErrMixedPeriods    = errors.New("mixed periods")
	ErrInvalidQuery    = errors.New("invalid query")
)

// ParseError is an error at a position of an expression: a syntax error, an
// unknown function or id, or a type error found while evaluating.
type ParseError struct {
	Pos  int    // byte offset in the expression, 0-based (len(src) at end of input)
	Col  int    // column, 1-based, counted in runes
	Msg  string // what is wrong and, where possible, what to do
	Kind error  // ErrSyntax, ErrUnknownFunction, ErrUnknownID or ErrType
}

func (e *ParseError) Error() string {
	if e.Col != e.Pos+1 {
		return fmt.Sprintf("position %d (byte %d): %s", e.Col, e.Pos, e.Msg)
	}
	return fmt.Sprintf("position %d: %s", e.Col, e.Msg)
}

// Unwrap returns the error's kind, for errors.Is.
func (e *ParseError) Unwrap() error { return e.Kind }

func newPosError(src string, pos int, kind error, format string, args ...any) *ParseError {
	pos = max(0, min(pos, len(src)))
	return &ParseError{
		Pos:  pos,
		Col:  utf8.RuneCountInString(src[:pos]) + 1,
		Msg:  fmt.Sprintf(format, args...),
		Kind: kind,
	}
}

// QueryError is an error in one query of a request.
type QueryError struct {
	ID  string
	Err error
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("expression %s: %v", e.ID, e.Err)
}

// Unwrap returns the underlying error.
func (e *QueryError) Unwrap() error { return e.Err }
