package pgwire

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// Extended-query message headers. The pooler rewrites statement names in
// Parse, Bind, Describe and Close; these functions read the fields it
// needs as sub-slices of the message (no allocation) and build rewritten
// messages by appending to a caller's buffer.

// Backend reply types the forwarder follows.
const (
	MsgParseComplete           = '1'
	MsgBindComplete            = '2'
	MsgCloseComplete           = '3'
	MsgNoData                  = 'n'
	MsgRowDescription          = 'T'
	MsgParameterDesc           = 't'
	MsgCommandComplete         = 'C'
	MsgEmptyQueryResponse      = 'I'
	MsgPortalSuspended         = 's'
	MsgNotificationResp        = 'A'
	MsgCopyInResponse          = 'G'
	MsgCopyOutResponse         = 'H'
	MsgCopyBothResponse        = 'W'
	MsgFunctionCallResp        = 'V'
	MsgDataRow                 = 'D'
	TargetStatement       byte = 'S'
	TargetPortal          byte = 'P'
)

// ErrMalformed is returned for a message whose body does not hold the
// fields its type requires.
var ErrMalformed = errors.New("malformed message")

// cstring splits a NUL-terminated string off b.
func cstring(b []byte) (s, rest []byte, err error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return nil, nil, ErrMalformed
	}
	return b[:i], b[i+1:], nil
}

// ParseMsg is a Parse message's fields, aliasing the message.
type ParseMsg struct {
	Name []byte
	// Tail is everything after the name: query, NUL, parameter count
	// and parameter type OIDs. It identifies the statement's content.
	Tail  []byte
	Query []byte
}

// DecodeParse reads a Parse body.
func DecodeParse(body []byte) (ParseMsg, error) {
	name, tail, err := cstring(body)
	if err != nil {
		return ParseMsg{}, err
	}
	query, rest, err := cstring(tail)
	if err != nil {
		return ParseMsg{}, err
	}
	if len(rest) < 2 {
		return ParseMsg{}, ErrMalformed
	}
	n := int(binary.BigEndian.Uint16(rest))
	if len(rest) != 2+4*n {
		return ParseMsg{}, ErrMalformed
	}
	return ParseMsg{Name: name, Tail: tail, Query: query}, nil
}

// AppendParse appends a Parse of name with the given tail (as returned by
// DecodeParse).
func AppendParse(dst []byte, name string, tail []byte) []byte {
	dst = appendHeader(dst, MsgParse, len(name)+1+len(tail))
	dst = append(dst, name...)
	dst = append(dst, 0)
	return append(dst, tail...)
}

// BindMsg is the start of a Bind message; Rest is everything after the
// statement name (formats, parameters, result formats), forwarded as is.
type BindMsg struct {
	Portal    []byte
	Statement []byte
	Rest      []byte
}

// DecodeBind reads the names of a Bind body.
func DecodeBind(body []byte) (BindMsg, error) {
	portal, rest, err := cstring(body)
	if err != nil {
		return BindMsg{}, err
	}
	stmt, rest, err := cstring(rest)
	if err != nil {
		return BindMsg{}, err
	}
	return BindMsg{Portal: portal, Statement: stmt, Rest: rest}, nil
}

// AppendBind appends b with its statement name replaced by stmt.
func AppendBind(dst []byte, b BindMsg, stmt string) []byte {
	dst = appendHeader(dst, MsgBind, len(b.Portal)+1+len(stmt)+1+len(b.Rest))
	dst = append(dst, b.Portal...)
	dst = append(dst, 0)
	dst = append(dst, stmt...)
	dst = append(dst, 0)
	return append(dst, b.Rest...)
}

// DecodeTarget reads a Describe or Close body: 'S' or 'P' and a name.
func DecodeTarget(body []byte) (kind byte, name []byte, err error) {
	if len(body) < 2 || (body[0] != TargetStatement && body[0] != TargetPortal) {
		return 0, nil, ErrMalformed
	}
	name, rest, err := cstring(body[1:])
	if err != nil || len(rest) != 0 {
		return 0, nil, ErrMalformed
	}
	return body[0], name, nil
}

// AppendTarget appends a Describe or Close (typ) of kind and name.
func AppendTarget(dst []byte, typ, kind byte, name string) []byte {
	dst = appendHeader(dst, typ, 1+len(name)+1)
	dst = append(dst, kind)
	dst = append(dst, name...)
	return append(dst, 0)
}

// AppendEmpty appends a message without a body (Sync, Flush, ParseComplete…).
func AppendEmpty(dst []byte, typ byte) []byte { return appendHeader(dst, typ, 0) }

// AppendQuery appends a simple Query.
func AppendQuery(dst []byte, sql string) []byte {
	dst = appendHeader(dst, MsgQuery, len(sql)+1)
	dst = append(dst, sql...)
	return append(dst, 0)
}

// CommandTag returns the tag of a CommandComplete body (without NUL).
func CommandTag(body []byte) []byte {
	if i := bytes.IndexByte(body, 0); i >= 0 {
		return body[:i]
	}
	return body
}

// ErrorCode returns the SQLSTATE field of an ErrorResponse body without
// decoding the rest ("" if absent).
func ErrorCode(body []byte) string {
	for len(body) > 0 && body[0] != 0 {
		f := body[0]
		v, rest, err := cstring(body[1:])
		if err != nil {
			return ""
		}
		if f == 'C' {
			return string(v)
		}
		body = rest
	}
	return ""
}

func appendHeader(dst []byte, typ byte, bodyLen int) []byte {
	dst = append(dst, typ)
	return binary.BigEndian.AppendUint32(dst, uint32(4+bodyLen))
}
