// Package config holds holdfast's configuration: the YAML structs, their
// defaults, and validation that reports every problem with file:line and field.
// It has no runtime dependencies: the daemon turns a Config into components.
package config

import (
	"time"
)

// Config is the whole daemon configuration.
type Config struct {
	// DataDir holds the state store, the admin token and other local files.
	DataDir string `yaml:"data_dir"`
	// Admin is the admin API listener.
	Admin Admin `yaml:"admin"`
	// Listeners are the gateway's front doors.
	Listeners []Listener `yaml:"listeners"`
	// Limits apply to every request the gateway accepts.
	Limits Limits `yaml:"limits"`
	// AccessLog says where the JSON access log goes.
	AccessLog AccessLog `yaml:"access_log"`
	// Upstreams are the named targets routes send traffic to.
	Upstreams []Upstream `yaml:"upstreams"`
	// Flags are the boolean flags routes use as kill switches.
	Flags []Flag `yaml:"flags"`
	// Routes are matched in order; the first match wins.
	Routes []Route `yaml:"routes"`
	// Metrics configures the embedded metrics store.
	Metrics Metrics `yaml:"metrics"`
	// ErrorRateAlarm tunes the error-rate alarm built for every route.
	ErrorRateAlarm ErrorRateAlarm `yaml:"error_rate_alarm"`
	// Alarms are metric and expression alarms.
	Alarms []Alarm `yaml:"alarms"`
	// CompositeAlarms combine alarms with a rule.
	CompositeAlarms []CompositeAlarm `yaml:"composite_alarms"`
	// Webhooks are told of alarm state changes.
	Webhooks []Webhook `yaml:"webhooks"`
	// FlagEnvironments are the versioned flag store's environments.
	FlagEnvironments []FlagEnvironment `yaml:"flag_environments"`
	// FlagContextKeys, when set, are the only context attributes flag rules
	// may use (besides the entity); a new version using another is refused.
	FlagContextKeys []string `yaml:"flag_context_keys"`
	// Pooler, when set, runs the PostgreSQL pooler (pooler.go).
	Pooler *Pooler `yaml:"pooler,omitempty"`

	// File is the path the config was loaded from (not part of the YAML).
	File string `yaml:"-"`
}

// Admin configures the admin API listener.
type Admin struct {
	// Listen is host:port; it should stay on a loopback or private address.
	Listen string `yaml:"listen"`
	// TokenFile holds the bearer token; default DataDir/admin.token, created
	// with mode 0600 on first start.
	TokenFile string `yaml:"token_file"`
}

// Listener is one gateway listener, plain or TLS.
type Listener struct {
	Name   string `yaml:"name"`
	Listen string `yaml:"listen"`
	// TLS, when set, serves HTTPS (HTTP/1.1 and HTTP/2 by ALPN). The files are
	// re-read when they change, without a restart.
	TLS *TLS `yaml:"tls"`
	// H2C allows cleartext HTTP/2 (prior knowledge) on a plain listener.
	H2C bool `yaml:"h2c"`
	// FastPath serves bodiless HTTP/1.1 requests on a plain listener with
	// holdfast's lean HTTP/1.1 server (internal/h1) and everything else
	// with net/http; nil means on. Off: net/http serves everything.
	FastPath *bool `yaml:"fast_path"`
	// EventLoop serves the fast path's connections on a few epoll event
	// loops (internal/evloop) instead of a goroutine each, on Linux; nil
	// means on. A request the loops cannot serve without blocking moves
	// its connection to a goroutine.
	EventLoop *bool `yaml:"event_loop"`
}

// FastPathOn reports whether the listener uses the HTTP/1.1 fast path.
func (l Listener) FastPathOn() bool { return l.TLS == nil && (l.FastPath == nil || *l.FastPath) }

// EventLoopOn reports whether the listener's fast path runs on the event
// loops.
func (l Listener) EventLoopOn() bool { return l.FastPathOn() && (l.EventLoop == nil || *l.EventLoop) }

// TLS names a certificate and key in PEM files.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Limits bound what one request may carry.
type Limits struct {
	// MaxHeaderBytes bounds the request line and headers; beyond it the
	// client gets 431.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes bounds a request body; beyond it the client gets 413.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadHeaderTimeout bounds how long a client may take to send headers.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive client connections.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// ShutdownTimeout bounds how long shutdown waits for in-flight requests.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// AccessLog configures the one-JSON-line-per-request log.
type AccessLog struct {
	// Path is a file path, "stdout", "stderr" or "off". Default: DataDir/access.log.
	Path string `yaml:"path"`
	// MaxSizeMB rotates a log file once it would grow past this many MiB
	// (PATH → PATH.1 → PATH.2 …). Default 100.
	MaxSizeMB int `yaml:"max_size_mb"`
	// MaxFiles is how many rotated files are kept. Default 5.
	MaxFiles int `yaml:"max_files"`
}

// Upstream is a named backend.
type Upstream struct {
	Name string `yaml:"name"`
	// URL is the base URL, e.g. http://127.0.0.1:8081; its path is prefixed.
	URL string `yaml:"url"`
	// Timeout bounds the whole upstream exchange up to the response headers.
	Timeout Duration `yaml:"timeout"`
	// ConnectTimeout bounds dialing the upstream.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	// MaxIdleConns is how many idle keep-alive connections to keep.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// HealthCheck, when set, probes the upstream actively.
	HealthCheck *HealthCheck `yaml:"health_check"`
	// Passive ejection: after MaxFails consecutive failures the upstream is
	// taken out of rotation for EjectFor.
	Passive Passive `yaml:"passive"`
}

// HealthCheck is an active HTTP probe.
type HealthCheck struct {
	Path               string   `yaml:"path"`
	Interval           Duration `yaml:"interval"`
	Timeout            Duration `yaml:"timeout"`
	HealthyThreshold   int      `yaml:"healthy_threshold"`
	UnhealthyThreshold int      `yaml:"unhealthy_threshold"`
	// ExpectStatus is the status a healthy upstream answers; 0 means any 2xx.
	ExpectStatus int `yaml:"expect_status"`
}

// Passive configures ejection on observed failures.
type Passive struct {
	// MaxFails consecutive failures eject the upstream; 0 disables ejection.
	MaxFails int      `yaml:"max_fails"`
	EjectFor Duration `yaml:"eject_for"`
}

// Flag declares a boolean flag and its value when first created.
type Flag struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Default is the value the flag gets when the state store does not have
	// it yet. A flag already in the store keeps its stored value.
	Default *bool `yaml:"default"`
}

// Route sends matching requests to weighted targets.
type Route struct {
	Name  string `yaml:"name"`
	Match Match  `yaml:"match"`
	// Targets are tried in weighted order; weights are integers.
	Targets []Target `yaml:"targets"`
	// Balance is "round_robin" (smooth weighted, deterministic) or "hash".
	Balance string `yaml:"balance"`
	// HashKey is the request key for "hash": header:NAME, cookie:NAME,
	// query:NAME or remote_addr.
	HashKey string `yaml:"hash_key"`
	// Fallback serves requests while the kill switch is off.
	Fallback *Fallback `yaml:"fallback"`
	// KillSwitch names a flag: on sends traffic to Targets, off to Fallback.
	KillSwitch string `yaml:"kill_switch"`
	// Retries is how many other targets an idempotent request may try when
	// no byte reached the upstream.
	Retries *int `yaml:"retries"`
	// StripPrefix removes Match.PathPrefix before forwarding.
	StripPrefix bool `yaml:"strip_prefix"`
	// Rollout configures the route's canary rollouts (rollouts.go).
	Rollout *RouteRollout `yaml:"rollout,omitempty"`
}

// Match selects requests; empty fields match anything.
type Match struct {
	Host       string   `yaml:"host"`
	PathPrefix string   `yaml:"path_prefix"`
	Methods    []string `yaml:"methods"`
}

// Target is one weighted upstream of a route.
type Target struct {
	Upstream string `yaml:"upstream"`
	Weight   int    `yaml:"weight"`
}

// Fallback is either an upstream or a static response.
type Fallback struct {
	Upstream string  `yaml:"upstream"`
	Static   *Static `yaml:"static"`
}

// Static is a fixed response.
type Static struct {
	Status  int               `yaml:"status"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
}

// Metrics configures the metrics store (DataDir/metrics).
type Metrics struct {
	// MaxSeries caps the number of series; new series beyond it are refused.
	MaxSeries int `yaml:"max_series"`
	// Tiers are the resolutions kept and for how long, finest first; empty
	// means CloudWatch's: 1s for 3h, 60s for 15d, 5m for 63d, 1h for 455d.
	Tiers []MetricTier `yaml:"tiers"`
}

// MetricTier is one resolution of the metrics store.
type MetricTier struct {
	Period    Duration `yaml:"period"`
	Retention Duration `yaml:"retention"`
}

// Defaults used when a field is left empty.
const (
	DefaultDataDir           = "holdfast-data"
	DefaultAdminListen       = "127.0.0.1:9090"
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxBodyBytes      = 10 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 90 * time.Second
	DefaultShutdownTimeout   = 15 * time.Second
	DefaultAccessLogMaxMB    = 100
	DefaultAccessLogFiles    = 5
	DefaultUpstreamTimeout   = 30 * time.Second
	DefaultConnectTimeout    = 2 * time.Second
	DefaultMaxIdleConns      = 256
	DefaultHealthInterval    = 2 * time.Second
	DefaultHealthTimeout     = time.Second
	DefaultHealthyThreshold  = 2
	DefaultUnhealthyThresh   = 2
	DefaultEjectFor          = 10 * time.Second
	DefaultRetries           = 1
	BalanceRoundRobin        = "round_robin"
	BalanceHash              = "hash"
)

// UpstreamByName returns the upstream with that name, or nil.
func (c *Config) UpstreamByName(name string) *Upstream {
	for i := range c.Upstreams {
		if c.Upstreams[i].Name == name {
			return &c.Upstreams[i]
		}
	}
	return nil
}

// FlagByName returns the declared flag with that name, or nil.
func (c *Config) FlagByName(name string) *Flag {
	for i := range c.Flags {
		if c.Flags[i].Name == name {
			return &c.Flags[i]
		}
	}
	return nil
}

// RetryCount is the route's retry budget with the default applied.
func (r *Route) RetryCount() int {
	if r.Retries == nil {
		return DefaultRetries
	}
	return *r.Retries
}
