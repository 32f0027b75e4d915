package gateway

import (
	"math/rand/v2"
	"net/http"
)

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the gateway is
// one hop. A valid incoming traceparent keeps its trace id and flags and gets
// a new parent id (the gateway's span); tracestate goes along unchanged. A
// missing or invalid one is replaced by a new trace, sampled, and tracestate
// is dropped, as the specification requires.

const (
	traceparentLen = 55 // "00-" 32 hex "-" 16 hex "-" 2 hex
	hdrTraceparent = "Traceparent"
	hdrTracestate  = "Tracestate"
	hdrRequestID   = "X-Request-Id"
	maxRequestID   = 128
)

// traceParent is the part of an incoming traceparent the gateway keeps.
type traceParent struct {
	traceID string // 32 lowercase hex, not all zero
	flags   string // 2 lowercase hex
}

// parseTraceparent validates a traceparent header value. Version 00 must be
// exactly 55 characters; a later version (01–fe) is read by its version-00
// prefix when what follows is empty or starts with '-', as the
// specification asks of a version-00 reader. Version ff is invalid.
func parseTraceparent(s string) (traceParent, bool) {
	if len(s) < traceparentLen {
		return traceParent{}, false
	}
	ver := s[0:2]
	if !isLowerHex(ver) || ver == "ff" {
		return traceParent{}, false
	}
	if ver == "00" && len(s) != traceparentLen {
		return traceParent{}, false
	}
	if len(s) > traceparentLen && s[traceparentLen] != '-' {
		return traceParent{}, false
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return traceParent{}, false
	}
	tid, pid, flags := s[3:35], s[36:52], s[53:55]
	if !isLowerHex(tid) || !isLowerHex(pid) || !isLowerHex(flags) || allZero(tid) || allZero(pid) {
		return traceParent{}, false
	}
	return traceParent{traceID: tid, flags: flags}, true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func allZero(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '0' {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// putHex writes v as 16 lowercase hex digits into b[0:16].
func putHex(b []byte, v uint64) {
	_ = b[15]
	for i := 15; i >= 0; i-- {
		b[i] = hexDigits[v&0xf]
		v >>= 4
	}
}

// nonZero returns a random non-zero 64-bit value. math/rand/v2's top-level
// source is per-thread ChaCha8: lock-free and unpredictable enough for ids.
func nonZero() uint64 {
	for {
		if v := rand.Uint64(); v != 0 {
			return v
		}
	}
}

// outgoingTraceparent returns the traceparent to forward and its trace id (a
// substring of it, so one allocation serves both).
func outgoingTraceparent(in traceParent, valid bool) (header, traceID string) {
	var b [traceparentLen]byte
	b[0], b[1], b[2] = '0', '0', '-'
	if valid {
		copy(b[3:35], in.traceID)
	} else {
		putHex(b[3:19], rand.Uint64())
		putHex(b[19:35], nonZero()) // a non-zero half makes the id non-zero
	}
	b[35] = '-'
	putHex(b[36:52], nonZero())
	b[52] = '-'
	if valid {
		b[53], b[54] = in.flags[0], in.flags[1]
	} else {
		b[53], b[54] = '0', '1'
	}
	header = string(b[:])
	return header, header[3:35]
}

// saneRequestID reports whether a client-sent request id can be kept: 1 to
// 128 visible ASCII characters.
func saneRequestID(s string) bool {
	if len(s) == 0 || len(s) > maxRequestID {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// traceHeaders are the X-Request-Id and traceparent a request is forwarded
// with.
type traceHeaders struct {
	// reqID is the X-Request-Id value (one element, shared by the
	// response's and the request's header maps and never modified). A
	// request id the gateway makes is its span's id (the forwarded
	// traceparent's parent-id): 16 random hex digits that also find the
	// request's span.
	reqID []string
	// traceparent is the header to forward; traceID is its trace id.
	traceparent, traceID string
	// keepTracestate: the incoming traceparent was valid, so its
	// tracestate goes along; otherwise tracestate is dropped.
	keepTracestate bool
}

// traceFor works out the trace headers for a request with header h,
// without changing h.
func traceFor(h http.Header) traceHeaders {
	var tp traceParent
	valid := false
	if v := h[hdrTraceparent]; len(v) == 1 {
		tp, valid = parseTraceparent(v[0])
	}
	var th traceHeaders
	th.keepTracestate = valid
	th.traceparent, th.traceID = outgoingTraceparent(tp, valid)
	if v := h[hdrRequestID]; len(v) == 1 && saneRequestID(v[0]) {
		th.reqID = v[:1:1]
	} else {
		th.reqID = []string{th.traceparent[36:52]}
	}
	return th
}

// apply sets the trace headers in h, the header about to be forwarded.
func (th *traceHeaders) apply(h http.Header) {
	if !th.keepTracestate {
		delete(h, hdrTracestate)
	}
	h[hdrTraceparent] = []string{th.traceparent}
	h[hdrRequestID] = th.reqID
}
