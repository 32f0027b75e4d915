package pgwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxBodyLen is the default largest message body accepted from a
// client after authentication.
const DefaultMaxBodyLen = 64 << 20

// ErrMessageTooLong is returned when a message announces a body longer
// than the reader's limit. The stream cannot be resynchronised after it.
var ErrMessageTooLong = errors.New("message too long")

// Message is one protocol message as received: Raw holds the type byte,
// the 4-byte length and the body. It aliases the Reader's buffer and is
// valid until the next call to Next; copy it to keep it.
type Message struct {
	Raw []byte
}

// Type returns the message type byte.
func (m Message) Type() byte { return m.Raw[0] }

// Body returns the message body (after the length).
func (m Message) Body() []byte { return m.Raw[5:] }

// Reader reads regular (typed) protocol messages as raw bytes.
type Reader struct {
	br         *bufio.Reader
	maxBodyLen int
	buf        []byte
}

// NewReader returns a Reader on r that refuses bodies longer than
// maxBodyLen (0 means DefaultMaxBodyLen).
func NewReader(r io.Reader, maxBodyLen int) *Reader {
	if maxBodyLen <= 0 {
		maxBodyLen = DefaultMaxBodyLen
	}
	return &Reader{br: bufio.NewReaderSize(r, 16<<10), maxBodyLen: maxBodyLen}
}

// SetMaxBodyLen changes the limit, e.g. after authentication.
func (r *Reader) SetMaxBodyLen(n int) { r.maxBodyLen = n }

// Buffered returns how many bytes can be read without blocking; a
// forwarder flushes its output when this reaches zero.
func (r *Reader) Buffered() int { return r.br.Buffered() }

// Next reads the next message.
func (r *Reader) Next() (Message, error) {
	hdr, err := r.br.Peek(5)
	if err != nil {
		if errors.Is(err, io.EOF) && len(hdr) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return Message{}, err
	}
	n := int(binary.BigEndian.Uint32(hdr[1:]))
	if n < 4 {
		return Message{}, fmt.Errorf("message %q: invalid length %d", hdr[0], n)
	}
	if n-4 > r.maxBodyLen {
		return Message{}, fmt.Errorf("%w: message %q of %d bytes, limit %d", ErrMessageTooLong, hdr[0], n-4, r.maxBodyLen)
	}
	total := n + 1
	if cap(r.buf) < total {
		r.buf = make([]byte, total)
	}
	r.buf = r.buf[:total]
	if _, err := io.ReadFull(r.br, r.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Message{}, err
	}
	return Message{Raw: r.buf}, nil
}

// Peek returns the next n bytes without consuming them.
func (r *Reader) Peek(n int) ([]byte, error) { return r.br.Peek(n) }
