package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
)

// ErrKind says how an upstream attempt failed.
type ErrKind uint8

const (
	// ErrNone: the upstream answered with a status below 500.
	ErrNone ErrKind = iota
	// ErrUpstream5xx: the upstream answered 5xx; the answer is passed through.
	ErrUpstream5xx
	// ErrConnect: no connection could be made (refused, unreachable, connect
	// timeout, TLS handshake failure) or it broke before the response
	// headers. The client gets 502.
	ErrConnect
	// ErrTimeout: the upstream did not send response headers within the
	// upstream's timeout. The client gets 504.
	ErrTimeout
	// ErrCanceled: the client went away first. It is not an upstream error
	// and is logged with status 499.
	ErrCanceled
)

var kindNames = [...]string{"none", "upstream_5xx", "connect", "timeout", "canceled"}

// String returns the kind as it appears in logs and metric labels.
func (k ErrKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// IsError reports whether k counts as an upstream error.
func (k ErrKind) IsError() bool {
	return k == ErrUpstream5xx || k == ErrConnect || k == ErrTimeout
}

// StatusClientClosed is the status logged when the client went away before
// the response (nginx's 499); nothing is sent.
const StatusClientClosed = 499

// dialError marks a failure to establish an upstream connection: nothing of
// the request reached the upstream, so an idempotent request may be retried.
type dialError struct{ err error }

func (e *dialError) Error() string { return "connect upstream: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// classify turns a RoundTrip error into a kind, and reports whether the
// request certainly did not reach the upstream (so it may be retried).
func classify(ctx context.Context, err error) (kind ErrKind, unsent bool) {
	if ctx.Err() != nil {
		return ErrCanceled, false
	}
	var de *dialError
	if errors.As(err, &de) {
		return ErrConnect, true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrTimeout, false
	}
	return ErrConnect, false
}

// statusFor is the status the client gets for a failed attempt.
func statusFor(k ErrKind) int {
	switch k {
	case ErrTimeout:
		return http.StatusGatewayTimeout
	case ErrCanceled:
		return StatusClientClosed
	}
	return http.StatusBadGateway
}

var (
	jsonCT       = []string{"application/json"}
	connClose    = []string{"close"}
	bodyNotReady = []byte(`{"error":"gateway not ready"}` + "\n")
	bodyNoTarget = []byte(`{"error":"no target available"}` + "\n")
)

// upstreamErrorBody renders {"error":"upstream unavailable","route":…} once,
// at build time.
func upstreamErrorBody(route, target string, k ErrKind) []byte {
	b := make([]byte, 0, 96+len(route)+len(target))
	b = append(b, `{"error":"upstream unavailable","route":`...)
	b = appendJSONString(b, route)
	b = append(b, `,"target":`...)
	b = appendJSONString(b, target)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, k.String())
	return append(b, "}\n"...)
}

func tooLargeBody(limit int64) []byte {
	b := []byte(`{"error":"request body too large","limit_bytes":`)
	b = strconv.AppendInt(b, limit, 10)
	return append(b, "}\n"...)
}

func noRouteBody(path string) []byte {
	b := make([]byte, 0, 40+len(path))
	b = append(b, `{"error":"no route","path":`...)
	b = appendJSONString(b, path)
	return append(b, "}\n"...)
}

// writeJSON sends a JSON error body.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header()["Content-Type"] = jsonCT
	w.WriteHeader(status)
	w.Write(body)
}
