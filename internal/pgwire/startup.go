package pgwire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5/pgproto3"
)

// MaxStartupPacketLen is the largest startup packet accepted, the same
// limit PostgreSQL applies (MAX_STARTUP_PACKET_LENGTH).
const MaxStartupPacketLen = 10000

// Request codes carried in place of a protocol version.
const (
	sslRequestCode    = 80877103
	gssEncRequestCode = 80877104
	cancelRequestCode = 80877102
)

// ErrStartupTooLong is returned when a startup packet announces a length
// outside [8, MaxStartupPacketLen].
var ErrStartupTooLong = errors.New("invalid startup packet length")

// ReadStartup reads one startup-phase packet from r and decodes it. The
// result is one of *pgproto3.SSLRequest, *pgproto3.GSSEncRequest,
// *pgproto3.CancelRequest or *pgproto3.StartupMessage. Errors mean the
// client sent something that is not a startup packet; answer them with
// a ProtocolViolation error and close.
func ReadStartup(r io.Reader) (pgproto3.FrontendMessage, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read startup length: %w", err)
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n < 8 || n > MaxStartupPacketLen {
		return nil, fmt.Errorf("%w: %d bytes", ErrStartupTooLong, n)
	}
	body := make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("read startup packet: %w", err)
	}
	return DecodeStartup(body)
}

// DecodeStartup decodes the body of a startup packet (everything after
// the 4-byte length).
func DecodeStartup(body []byte) (pgproto3.FrontendMessage, error) {
	if len(body) < 4 {
		return nil, errors.New("startup packet too short")
	}
	code := binary.BigEndian.Uint32(body)
	var msg interface {
		pgproto3.FrontendMessage
		Decode([]byte) error
	}
	switch code {
	case sslRequestCode:
		if len(body) != 4 {
			return nil, errors.New("SSLRequest with trailing bytes")
		}
		return &pgproto3.SSLRequest{}, nil
	case gssEncRequestCode:
		if len(body) != 4 {
			return nil, errors.New("GSSENCRequest with trailing bytes")
		}
		return &pgproto3.GSSEncRequest{}, nil
	case cancelRequestCode:
		msg = &pgproto3.CancelRequest{}
	default:
		if major := code >> 16; major != 3 {
			return nil, fmt.Errorf("unsupported frontend protocol %d.%d: server supports 3.0", major, code&0xffff)
		}
		msg = &pgproto3.StartupMessage{}
	}
	if err := msg.Decode(body); err != nil {
		return nil, fmt.Errorf("decode startup packet: %w", err)
	}
	return msg, nil
}
