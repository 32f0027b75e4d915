package config

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

func (c *Config) applyDefaults() {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	if c.Limits.MaxHeaderBytes == 0 {
		c.Limits.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.Limits.MaxBodyBytes == 0 {
		c.Limits.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Limits.ReadHeaderTimeout == 0 {
		c.Limits.ReadHeaderTimeout = Duration(DefaultReadHeaderTimeout)
	}
	if c.Limits.IdleTimeout == 0 {
		c.Limits.IdleTimeout = Duration(DefaultIdleTimeout)
	}
	if c.Limits.ShutdownTimeout == 0 {
		c.Limits.ShutdownTimeout = Duration(DefaultShutdownTimeout)
	}
	if c.AccessLog.MaxSizeMB == 0 {
		c.AccessLog.MaxSizeMB = DefaultAccessLogMaxMB
	}
	if c.AccessLog.MaxFiles == 0 {
		c.AccessLog.MaxFiles = DefaultAccessLogFiles
	}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		if u.Timeout == 0 {
			u.Timeout = Duration(DefaultUpstreamTimeout)
		}
		if u.ConnectTimeout == 0 {
			u.ConnectTimeout = Duration(DefaultConnectTimeout)
		}
		if u.MaxIdleConns == 0 {
			u.MaxIdleConns = DefaultMaxIdleConns
		}
		if u.Passive.MaxFails > 0 && u.Passive.EjectFor == 0 {
			u.Passive.EjectFor = Duration(DefaultEjectFor)
		}
		if h := u.HealthCheck; h != nil {
			if h.Path == "" {
				h.Path = "/"
			}
			if h.Interval == 0 {
				h.Interval = Duration(DefaultHealthInterval)
			}
			if h.Timeout == 0 {
				h.Timeout = Duration(DefaultHealthTimeout)
				if h.Interval > 0 && h.Timeout > h.Interval {
					h.Timeout = h.Interval
				}
			}
			if h.HealthyThreshold == 0 {
				h.HealthyThreshold = DefaultHealthyThreshold
			}
			if h.UnhealthyThreshold == 0 {
				h.UnhealthyThreshold = DefaultUnhealthyThresh
			}
		}
	}
	c.applyAlarmDefaults()
	c.applyFlagEnvironmentDefaults()
	for i := range c.Routes {
		r := &c.Routes[i]
		if r.Balance == "" {
			r.Balance = BalanceRoundRobin
		}
		if r.Match.PathPrefix == "" {
			r.Match.PathPrefix = "/"
		}
		for j, m := range r.Match.Methods {
			r.Match.Methods[j] = strings.ToUpper(m)
		}
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// validate checks meaning once the structure is known to be right.
func (l *loader) validate(c *Config) {
	if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
		l.at("admin.listen", "want host:port such as 127.0.0.1:9090, got %q", c.Admin.Listen)
	}
	if c.Limits.MaxHeaderBytes < 0 {
		l.at("limits.max_header_bytes", "must be positive")
	}
	if c.Limits.MaxBodyBytes < 0 {
		l.at("limits.max_body_bytes", "must be positive")
	}
	switch p := c.AccessLog.Path; {
	case p == "", p == "stdout", p == "stderr", p == "off":
	case strings.ContainsRune(p, 0):
		l.at("access_log.path", "contains a NUL byte")
	}
	if c.AccessLog.MaxSizeMB < 0 {
		l.at("access_log.max_size_mb", "must be positive, got %d", c.AccessLog.MaxSizeMB)
	}
	if c.AccessLog.MaxFiles < 0 {
		l.at("access_log.max_files", "must be positive, got %d", c.AccessLog.MaxFiles)
	}

	if len(c.Listeners) == 0 {
		l.at("listeners", "no listener; add one such as {name: public, listen: \"127.0.0.1:8080\"}")
	}
	listenNames := map[string]bool{}
	addrs := map[string]string{c.Admin.Listen: "admin.listen"}
	for i, ln := range c.Listeners {
		p := fmt.Sprintf("listeners[%d]", i)
		l.checkName(p+".name", ln.Name, "listener", listenNames)
		if _, _, err := net.SplitHostPort(ln.Listen); err != nil {
			l.at(p+".listen", "want host:port such as 127.0.0.1:8080, got %q", ln.Listen)
		} else if other, dup := addrs[ln.Listen]; dup && !strings.HasSuffix(ln.Listen, ":0") {
			l.at(p+".listen", "%s is already used by %s", ln.Listen, other)
		} else {
			addrs[ln.Listen] = p + ".listen"
		}
		if ln.TLS != nil {
			if ln.TLS.CertFile == "" {
				l.at(p+".tls.cert_file", "required with tls")
			}
			if ln.TLS.KeyFile == "" {
				l.at(p+".tls.key_file", "required with tls")
			}
			if ln.H2C {
				l.at(p+".h2c", "h2c is cleartext HTTP/2; a TLS listener negotiates HTTP/2 by itself, remove h2c")
			}
			if ln.FastPath != nil && *ln.FastPath {
				l.at(p+".fast_path", "the HTTP/1.1 fast path serves plain listeners only; remove fast_path or tls")
			}
		}
		if ln.EventLoop != nil && *ln.EventLoop && !ln.FastPathOn() {
			l.at(p+".event_loop", "the event loops serve the HTTP/1.1 fast path only; turn fast_path on (and tls off) or remove event_loop")
		}
	}

	ups := map[string]bool{}
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		l.checkName(p+".name", u.Name, "upstream", ups)
		if u.URL == "" {
			l.at(p+".url", "required, e.g. http://127.0.0.1:8081")
		} else if pu, err := url.Parse(u.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			l.at(p+".url", "want an absolute http:// or https:// URL, got %q", u.URL)
		} else if pu.RawQuery != "" || pu.Fragment != "" {
			l.at(p+".url", "must not have a query or fragment")
		}
		if u.MaxIdleConns < 0 {
			l.at(p+".max_idle_conns", "must be 0 or more")
		}
		if u.Passive.MaxFails < 0 {
			l.at(p+".passive.max_fails", "must be 0 or more")
		}
		if h := u.HealthCheck; h != nil {
			hp := p + ".health_check"
			if !strings.HasPrefix(h.Path, "/") {
				l.at(hp+".path", "must start with /")
			}
			if h.Interval.D() <= 0 {
				l.at(hp+".interval", "must be positive")
			}
			if h.Timeout > h.Interval {
				l.at(hp+".timeout", "%s is longer than the interval %s", h.Timeout.D(), h.Interval.D())
			}
			if h.HealthyThreshold < 1 {
				l.at(hp+".healthy_threshold", "must be 1 or more")
			}
			if h.UnhealthyThreshold < 1 {
				l.at(hp+".unhealthy_threshold", "must be 1 or more")
			}
			if h.ExpectStatus != 0 && (h.ExpectStatus < 100 || h.ExpectStatus > 599) {
				l.at(hp+".expect_status", "%d is not an HTTP status", h.ExpectStatus)
			}
		}
	}

	flagNames := map[string]bool{}
	for i, f := range c.Flags {
		l.checkName(fmt.Sprintf("flags[%d].name", i), f.Name, "flag", flagNames)
	}

	routeNames := map[string]bool{}
	for i := range c.Routes {
		l.validateRoute(c, i, routeNames, ups, flagNames)
	}
	if len(c.Routes) == 0 {
		l.at("routes", "no route; add one that sends a path prefix to an upstream")
	}
	l.validateMetrics(&c.Metrics)
	l.validateAlarms(c)
	l.validateFlagStore(c)
	l.validatePooler(c)
}

func (l *loader) validateMetrics(m *Metrics) {
	if m.MaxSeries < 0 {
		l.at("metrics.max_series", "must be 0 (the default) or more")
	}
	var prev time.Duration
	for i, t := range m.Tiers {
		p := fmt.Sprintf("metrics.tiers[%d]", i)
		switch d := t.Period.D(); {
		case !validMetricPeriod(d):
			l.at(p+".period", "%s: a period is 1s, 5s, 10s, 20s, 30s or a multiple of 60s", d)
		case prev > 0 && (d <= prev || d%prev != 0):
			l.at(p+".period", "%s must be a multiple of the previous tier's %s, finest first", d, prev)
		}
		if t.Retention.D() < t.Period.D() || t.Retention == 0 {
			l.at(p+".retention", "must be at least the period")
		}
		prev = t.Period.D()
	}
}

// validMetricPeriod is CloudWatch's rule: 1, 5, 10, 20, 30 s or a multiple of 60 s.
func validMetricPeriod(d time.Duration) bool {
	if d <= 0 || d%time.Second != 0 {
		return false
	}
	switch s := d / time.Second; s {
	case 1, 5, 10, 20, 30:
		return true
	default:
		return s%60 == 0
	}
}

func (l *loader) validateRoute(c *Config, i int, names, ups, flagNames map[string]bool) {
	r := &c.Routes[i]
	p := fmt.Sprintf("routes[%d]", i)
	l.checkName(p+".name", r.Name, "route", names)
	if !strings.HasPrefix(r.Match.PathPrefix, "/") {
		l.at(p+".match.path_prefix", "must start with /, got %q", r.Match.PathPrefix)
	}
	for j, m := range r.Match.Methods {
		if !validMethod(m) {
			l.at(fmt.Sprintf("%s.match.methods[%d]", p, j), "%q is not an HTTP method", m)
		}
	}
	if len(r.Targets) == 0 {
		l.at(p+".targets", "no targets; list at least one upstream with a weight")
	}
	sum := 0
	for j, t := range r.Targets {
		tp := fmt.Sprintf("%s.targets[%d]", p, j)
		if t.Upstream == "" {
			l.at(tp+".upstream", "required: name one of the upstreams")
		} else if !ups[t.Upstream] {
			l.at(tp+".upstream", "no upstream named %q%s", t.Upstream, known(c.upstreamNames()))
		}
		if t.Weight < 0 {
			l.at(tp+".weight", "must be 0 or more, got %d", t.Weight)
		} else {
			sum += t.Weight
		}
	}
	if len(r.Targets) > 0 && sum == 0 {
		l.at(p+".targets", "weights sum to 0; give at least one target a positive weight")
	}
	switch r.Balance {
	case BalanceRoundRobin:
		if r.HashKey != "" && r.KillSwitch == "" {
			l.at(p+".hash_key", "only used with balance: hash, or with a kill_switch (the flag entity)")
		} else if r.HashKey != "" {
			if err := checkHashKey(r.HashKey); err != nil {
				l.at(p+".hash_key", "%v", err)
			}
		}
	case BalanceHash:
		if err := checkHashKey(r.HashKey); err != nil {
			l.at(p+".hash_key", "%v", err)
		}
	default:
		l.at(p+".balance", "want round_robin or hash, got %q", r.Balance)
	}
	if r.Retries != nil && (*r.Retries < 0 || *r.Retries > 10) {
		l.at(p+".retries", "want 0 to 10, got %d", *r.Retries)
	}
	if f := r.Fallback; f != nil {
		fp := p + ".fallback"
		switch {
		case f.Upstream != "" && f.Static != nil:
			l.at(fp, "set either upstream or static, not both")
		case f.Upstream != "":
			if !ups[f.Upstream] {
				l.at(fp+".upstream", "no upstream named %q%s", f.Upstream, known(c.upstreamNames()))
			}
		case f.Static != nil:
			if f.Static.Status < 100 || f.Static.Status > 599 {
				l.at(fp+".static.status", "want an HTTP status from 100 to 599, got %d", f.Static.Status)
			}
			for k := range f.Static.Headers {
				if !validHeaderName(k) {
					l.at(fp+".static.headers."+k, "%q is not a valid header name", k)
				}
			}
		default:
			l.at(fp, "empty; set upstream (e.g. the mock) or static {status, headers, body}")
		}
	}
	if r.KillSwitch != "" {
		if !flagNames[r.KillSwitch] {
			l.at(p+".kill_switch", "no flag named %q; declare it under flags%s", r.KillSwitch, known(c.flagNames()))
		}
		if r.Fallback == nil {
			l.at(p+".kill_switch", "a kill switch needs a fallback: the upstream or static response used while the flag is off")
		}
	}
	l.validateRollout(c, r, p)
}

func (l *loader) checkName(field, name, what string, seen map[string]bool) {
	switch {
	case name == "":
		l.at(field, "required: every %s needs a name", what)
	case !nameRE.MatchString(name):
		l.at(field, "%q: a %s name is letters, digits, '.', '_' or '-', at most 63 long", name, what)
	case seen[name]:
		l.at(field, "another %s is already named %q", what, name)
	}
	seen[name] = true
}

func checkHashKey(k string) error {
	if k == "remote_addr" {
		return nil
	}
	kind, name, ok := strings.Cut(k, ":")
	if ok && name != "" && (kind == "header" || kind == "cookie" || kind == "query") {
		return nil
	}
	return fmt.Errorf("want header:NAME, cookie:NAME, query:NAME or remote_addr, got %q", k)
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return true
}

func (c *Config) upstreamNames() []string {
	out := make([]string, len(c.Upstreams))
	for i, u := range c.Upstreams {
		out[i] = u.Name
	}
	return out
}

func (c *Config) flagNames() []string {
	out := make([]string, len(c.Flags))
	for i, f := range c.Flags {
		out[i] = f.Name
	}
	return out
}

func known(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return " (known: " + strings.Join(names, ", ") + ")"
}
