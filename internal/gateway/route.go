package gateway

import (
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"path"
	"strings"
	"sync/atomic"

	"holdfast/internal/config"
)

// route is a config route compiled for matching and forwarding.
type route struct {
	name        string
	host        string // lower case, no port; "" matches any host
	prefix      string
	prefixSlash bool // prefix ends with '/': it matches anything under it
	methods     []string
	strip       bool
	retries     int

	killSwitch    string
	unknownLogged atomic.Bool // the kill switch flag was missing once

	targets []*target
	rr      *smoothWRR
	hashed  bool
	key     hashKey

	fallback *target     // fallback upstream, or nil
	static   *staticResp // static fallback, or nil
	lean     bool        // every target and the fallback upstream have a lean client

	// Rollouts (split.go): the live split, where its client key comes
	// from, whether that is the key ServeHTTP already read, and the
	// configured targets a promotion was made over.
	split    atomic.Pointer[liveSplit]
	rkey     hashKey
	rkeySame bool
	sig      string
}

// target is one weighted upstream of a route, with what the request path
// needs of it pre-computed.
type target struct {
	up     *upstream
	weight int
	seed   uint64 // rendezvous hashing seed, from the upstream name
	rec    TargetRecorder
	// errBody holds the 502/504 bodies, indexed by ErrKind.
	errBody [ErrCanceled + 1][]byte
}

// staticResp is a pre-built fixed response.
type staticResp struct {
	status int
	header http.Header // canonical keys; each value slice has len == cap
	body   []byte
	rec    TargetRecorder
}

// hashKey says where a route's client key comes from.
type hashKey struct {
	kind int // one of the hk constants
	name string
}

const (
	hkNone   = iota
	hkRemote // remote_addr
	hkHeader // header:NAME (canonical)
	hkCookie // cookie:NAME
	hkQuery  // query:NAME
)

func parseHashKey(s string) (hashKey, error) {
	if s == "" {
		return hashKey{}, nil
	}
	if s == "remote_addr" {
		return hashKey{kind: hkRemote}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if ok && name != "" {
		switch kind {
		case "header":
			return hashKey{kind: hkHeader, name: textproto.CanonicalMIMEHeaderKey(name)}, nil
		case "cookie":
			return hashKey{kind: hkCookie, name: name}, nil
		case "query":
			return hashKey{kind: hkQuery, name: name}, nil
		}
	}
	return hashKey{}, fmt.Errorf("hash_key: want header:NAME, cookie:NAME, query:NAME or remote_addr, got %q", s)
}

func (g *Gateway) buildRoute(rc *config.Route, rec Recorder) (*route, error) {
	rt := &route{
		name:       rc.Name,
		host:       normalizeHost(rc.Match.Host),
		prefix:     rc.Match.PathPrefix,
		strip:      rc.StripPrefix,
		retries:    rc.RetryCount(),
		killSwitch: rc.KillSwitch,
	}
	if rt.prefix == "" {
		rt.prefix = "/"
	}
	if !strings.HasPrefix(rt.prefix, "/") {
		return nil, fmt.Errorf("match.path_prefix: must start with /, got %q", rt.prefix)
	}
	rt.prefixSlash = strings.HasSuffix(rt.prefix, "/")
	for _, m := range rc.Match.Methods {
		rt.methods = append(rt.methods, strings.ToUpper(m))
	}
	if rt.retries < 0 {
		rt.retries = 0
	}
	switch rc.Balance {
	case "", config.BalanceRoundRobin:
	case config.BalanceHash:
		rt.hashed = true
	default:
		return nil, fmt.Errorf("balance: want round_robin or hash, got %q", rc.Balance)
	}
	k, err := parseHashKey(rc.HashKey)
	if err != nil {
		return nil, err
	}
	if rt.hashed && k.kind == hkNone {
		return nil, fmt.Errorf("hash_key: required with balance: hash")
	}
	rt.key = k
	if rt.rkey, err = rolloutKeyOf(rc, k); err != nil {
		return nil, err
	}
	rt.rkeySame = (rt.hashed || rt.killSwitch != "") &&
		(rt.rkey == k || (rt.rkey.kind == hkRemote && k.kind == hkNone))
	rt.sig = targetsSig(rc)
	if len(rc.Targets) == 0 {
		return nil, fmt.Errorf("targets: none")
	}
	sum := 0
	for j, tc := range rc.Targets {
		u := g.byName[tc.Upstream]
		if u == nil {
			return nil, fmt.Errorf("targets[%d].upstream: no upstream named %q", j, tc.Upstream)
		}
		if tc.Weight < 0 {
			return nil, fmt.Errorf("targets[%d].weight: must be 0 or more, got %d", j, tc.Weight)
		}
		sum += tc.Weight
		rt.targets = append(rt.targets, newTarget(rt.name, u, tc.Weight, rec))
	}
	if sum == 0 {
		return nil, fmt.Errorf("targets: weights sum to 0; give at least one target a positive weight")
	}
	rt.rr = newSmoothWRR(len(rt.targets))
	if f := rc.Fallback; f != nil {
		switch {
		case f.Upstream != "":
			u := g.byName[f.Upstream]
			if u == nil {
				return nil, fmt.Errorf("fallback.upstream: no upstream named %q", f.Upstream)
			}
			rt.fallback = newTarget(rt.name, u, 1, rec)
		case f.Static != nil:
			rt.static = newStatic(f.Static, rec.Target(rt.name, StaticTarget))
		}
	}
	if rt.killSwitch != "" && rt.fallback == nil && rt.static == nil {
		return nil, fmt.Errorf("kill_switch: needs a fallback (upstream or static)")
	}
	rt.lean = rt.fallback == nil || rt.fallback.up.lean != nil
	for _, t := range rt.targets {
		rt.lean = rt.lean && t.up.lean != nil
	}
	return rt, nil
}

func newTarget(route string, u *upstream, weight int, rec Recorder) *target {
	t := &target{
		up:     u,
		weight: weight,
		seed:   mix64(hashString(u.name)),
		rec:    rec.Target(route, u.name),
	}
	if t.rec == nil {
		t.rec = nopTarget{}
	}
	for _, k := range []ErrKind{ErrConnect, ErrTimeout} {
		t.errBody[k] = upstreamErrorBody(route, u.name, k)
	}
	return t
}

func newStatic(s *config.Static, rec TargetRecorder) *staticResp {
	st := &staticResp{status: s.Status, header: make(http.Header, len(s.Headers)+1), body: []byte(s.Body), rec: rec}
	if st.status == 0 {
		st.status = http.StatusOK
	}
	if rec == nil {
		st.rec = nopTarget{}
	}
	for k, v := range s.Headers {
		st.header[textproto.CanonicalMIMEHeaderKey(k)] = []string{v}
	}
	if _, ok := st.header["Content-Type"]; !ok && len(st.body) > 0 {
		st.header["Content-Type"] = []string{http.DetectContentType(st.body)}
	}
	return st
}

// normalizeHost lower-cases a host and drops its port and trailing dot.
func normalizeHost(h string) string {
	h = stripPort(h)
	h = strings.TrimSuffix(h, ".")
	return strings.ToLower(h)
}

// stripPort removes ":port" from host[:port] or [v6]:port.
func stripPort(h string) string {
	i := strings.LastIndexByte(h, ':')
	if i < 0 || i < strings.LastIndexByte(h, ']') {
		return h
	}
	return h[:i]
}

// match returns the first route that matches, or nil. p is the request's
// cleaned path.
func (g *Gateway) match(r *http.Request, p string) *route {
	host := ""
	for _, rt := range g.routes {
		if rt.host != "" {
			if host == "" {
				host = strings.TrimSuffix(stripPort(r.Host), ".")
			}
			if !strings.EqualFold(host, rt.host) {
				continue
			}
		}
		if !rt.matchPath(p) || !rt.matchMethod(r.Method) {
			continue
		}
		return rt
	}
	return nil
}

// matchPath matches whole path segments: /api matches /api and /api/x but
// not /apix; a prefix ending in / matches everything under it.
func (rt *route) matchPath(p string) bool {
	if !strings.HasPrefix(p, rt.prefix) {
		return false
	}
	return rt.prefixSlash || len(p) == len(rt.prefix) || p[len(rt.prefix)] == '/'
}

func (rt *route) matchMethod(m string) bool {
	if len(rt.methods) == 0 {
		return true
	}
	for _, x := range rt.methods {
		if x == m {
			return true
		}
	}
	return false
}

// cleanPath returns p with "." and ".." segments and doubled slashes
// resolved, so a request cannot reach past its route's prefix (/api/../admin).
// It allocates only when there is something to clean.
func cleanPath(p string) (clean string, changed bool) {
	if p == "" {
		return "/", true
	}
	if !strings.Contains(p, "/.") && !strings.Contains(p, "//") && p[0] == '/' {
		return p, false
	}
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c, c != p
}

// clientKey returns the route's hash key value, or the client IP when the
// route has no hash key. It is the balancing key and the flag entity.
func (rt *route) clientKey(r *http.Request) string { return rt.key.value(r) }

// value reads the key from a request.
func (k hashKey) value(r *http.Request) string {
	switch k.kind {
	case hkNone, hkRemote:
		return remoteIP(r.RemoteAddr)
	case hkHeader:
		if v := r.Header[k.name]; len(v) > 0 {
			return v[0]
		}
	case hkCookie:
		return cookieValue(r.Header["Cookie"], k.name)
	case hkQuery:
		return queryValue(r.URL.RawQuery, k.name)
	}
	return ""
}

// remoteIP is the IP part of a RemoteAddr, without allocating.
func remoteIP(addr string) string {
	ip := stripPort(addr)
	if len(ip) > 1 && ip[0] == '[' && ip[len(ip)-1] == ']' {
		ip = ip[1 : len(ip)-1]
	}
	return ip
}

// cookieValue finds a cookie by name in Cookie header lines without parsing
// them all into http.Cookie values.
func cookieValue(lines []string, name string) string {
	for _, line := range lines {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok || k != name {
				continue
			}
			if len(v) > 1 && v[0] == '"' && v[len(v)-1] == '"' {
				v = v[1 : len(v)-1]
			}
			return v
		}
	}
	return ""
}

// queryValue finds the first query parameter called name; it unescapes (and
// allocates) only when the value is escaped.
func queryValue(raw, name string) string {
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(part, "=")
		if k != name {
			continue
		}
		if strings.ContainsAny(v, "%+") {
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
		}
		return v
	}
	return ""
}

// upstreamPath is the path the upstream gets: the upstream URL's base path
// followed by the request path, without the route prefix when strip_prefix
// is set. rawPath is the escaped form when the request had one.
func (rt *route) upstreamPath(u *upstream, p, rawP string) (outPath, outRaw string) {
	if rt.strip && rt.prefix != "/" {
		p = rt.stripFrom(p)
		if rawP != "" {
			if strings.HasPrefix(rawP, rt.prefix) {
				rawP = rt.stripFrom(rawP)
			} else {
				rawP = "" // the escaped form does not spell the prefix; send the decoded path
			}
		}
	}
	outPath = u.basePath + p
	if rawP != "" || u.baseRawPath != "" {
		base := u.baseRawPath
		if base == "" {
			base = u.basePath
		}
		if rawP == "" {
			rawP = p
		}
		outRaw = base + rawP
	}
	return outPath, outRaw
}

// stripFrom removes the route prefix from p (which starts with it), keeping
// a leading slash.
func (rt *route) stripFrom(p string) string {
	n := len(rt.prefix)
	if rt.prefixSlash {
		n-- // keep the prefix's trailing slash as the new leading one
	}
	p = p[n:]
	if p == "" {
		return "/"
	}
	return p
}
