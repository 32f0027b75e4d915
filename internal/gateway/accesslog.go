package gateway

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// The access log is one JSON object per line:
//
//	{"time":"2026-01-02T15:04:05.123456789Z","route":"orders","target":"real",
//	 "status":200,"duration_ms":1.234,"request_id":"…","trace_id":"…",
//	 "method":"GET","path":"/orders/1","bytes":512,"kind":"none","attempts":1}
//
// route and target are "" when no route matched (or no target was reached);
// target is "_static" for a static fallback; kind is none, upstream_5xx,
// connect, timeout or canceled; attempts counts upstream attempts, retries
// included. Lines are encoded by appending into a pooled buffer: no
// reflection and no allocation on the request path.

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (g *Gateway) logAccess(r *http.Request, x *exchange) {
	if g.alog == nil {
		return
	}
	end := x.end
	if end.IsZero() {
		end = g.now()
	}
	d := end.Sub(x.start)
	bp := lineBufs.Get().(*[]byte)
	b := appendAccessLine((*bp)[:0], r, x, d)
	g.alog.Write(b) // a failed write must not fail the request
	*bp = b
	lineBufs.Put(bp)
}

func appendAccessLine(b []byte, r *http.Request, x *exchange, d time.Duration) []byte {
	b = append(b, `{"time":"`...)
	b = appendLogTime(b, x.start)
	b = append(b, `","route":`...)
	route := ""
	if x.route != nil {
		route = x.route.name
	}
	b = appendJSONString(b, route)
	b = append(b, `,"target":`...)
	b = appendJSONString(b, x.target)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(x.status), 10)
	b = append(b, `,"duration_ms":`...)
	b = appendMillis(b, d)
	b = append(b, `,"request_id":`...)
	id := ""
	if len(x.trace.reqID) > 0 {
		id = x.trace.reqID[0]
	}
	b = appendJSONString(b, id)
	b = append(b, `,"trace_id":"`...)
	b = append(b, x.trace.traceID...) // lowercase hex
	b = append(b, `","method":`...)
	b = appendJSONString(b, r.Method)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, r.URL.Path)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, x.bytes, 10)
	b = append(b, `,"kind":"`...)
	b = append(b, x.kind.String()...)
	b = append(b, `","attempts":`...)
	b = strconv.AppendInt(b, int64(x.attempts), 10)
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// control characters are escaped; '<', '>' and '&' are left as they are (the
// output is a log, not HTML).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// logSecond is the text of one UTC second, "2006-01-02T15:04:05".
type logSecond struct {
	unix int64
	text string
}

var lastLogSecond atomic.Pointer[logSecond]

// appendLogTime appends t in UTC as time.RFC3339Nano does, formatting the
// date and time of day once a second.
func appendLogTime(b []byte, t time.Time) []byte {
	sec, ns := t.Unix(), t.Nanosecond()
	ls := lastLogSecond.Load()
	if ls == nil || ls.unix != sec {
		ls = &logSecond{unix: sec, text: time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05")}
		lastLogSecond.Store(ls)
	}
	b = append(b, ls.text...)
	if ns != 0 { // nine digits, trailing zeros dropped
		var f [10]byte
		f[0] = '.'
		for i := 9; i >= 1; i-- {
			f[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for f[n-1] == '0' {
			n--
		}
		b = append(b, f[:n]...)
	}
	return append(b, 'Z')
}

// appendMillis appends d in milliseconds with three decimals, rounded to
// the nearest microsecond.
func appendMillis(b []byte, d time.Duration) []byte {
	if d < 0 {
		b = append(b, '-')
		d = -d
	}
	us := (int64(d) + 500) / 1000
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}
