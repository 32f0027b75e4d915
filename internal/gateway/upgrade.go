package gateway

import (
	"io"
	"net/http"
	"strings"
	"time"
)

// upgrade completes a protocol switch (WebSocket and the like): the client's
// connection is hijacked, the upstream's 101 is relayed, and bytes are
// copied both ways until either side closes.
func (g *Gateway) upgrade(w http.ResponseWriter, x *exchange, t *target, res *http.Response, attemptStart time.Time, reqUp string) {
	resUp := ""
	if v := res.Header["Upgrade"]; len(v) > 0 {
		resUp = v[0]
	}
	back, ok := res.Body.(io.ReadWriteCloser)
	if reqUp == "" || !strings.EqualFold(resUp, reqUp) || !ok {
		res.Body.Close()
		g.upgradeFailed(w, x, t, attemptStart)
		return
	}
	defer back.Close()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		g.upgradeFailed(w, x, t, attemptStart)
		return
	}
	defer conn.Close()
	removeHopByHop(res.Header)
	res.Header["Connection"] = connUpgrade
	res.Header["Upgrade"] = []string{resUp}
	res.Header[hdrRequestID] = x.trace.reqID
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	res.Header.Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		x.status, x.kind = http.StatusSwitchingProtocols, ErrCanceled
		t.rec.Observe(x.status, x.kind, g.now().Sub(attemptStart))
		return
	}
	x.status = http.StatusSwitchingProtocols

	type result struct {
		n    int64
		down bool // upstream to client
	}
	done := make(chan result, 2)
	go func() {
		n, _ := io.Copy(back, brw) // brw holds anything the client sent early
		done <- result{n, false}
	}()
	go func() {
		n, _ := io.Copy(conn, back)
		done <- result{n, true}
	}()
	for i := 0; i < 2; i++ {
		r := <-done
		if r.down {
			x.bytes = r.n
		}
		if i == 0 { // one side ended: end the other
			conn.Close()
			back.Close()
		}
	}
	t.rec.Observe(x.status, ErrNone, g.now().Sub(attemptStart))
}

func (g *Gateway) upgradeFailed(w http.ResponseWriter, x *exchange, t *target, attemptStart time.Time) {
	x.status, x.kind = http.StatusBadGateway, ErrConnect
	t.rec.Observe(x.status, x.kind, g.now().Sub(attemptStart))
	writeJSON(w, x.status, t.errBody[ErrConnect])
}
