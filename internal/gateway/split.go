package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"holdfast/internal/config"
	"holdfast/internal/rollout"
)

// Splits holds, per route, the traffic split of a rollout in progress and
// the target a finished rollout promoted to stable. It outlives Gateways:
// every Gateway built with it (Options.Splits) applies the current splits,
// and Swap hands a new Gateway over with no split lost in between, so a
// reload keeps a rollout's traffic where it is. It implements
// rollout.TrafficSetter.
//
// A target is named by an upstream of the config or given inline as an
// http(s) URL; inline targets get an upstream of their own with the
// default timeouts, kept for the life of the Splits.
type Splits struct {
	mu   sync.Mutex
	want map[string]SplitState // by route
	dyn  map[string]*upstream  // inline targets by URL
	h    *Handler
	log  *slog.Logger
}

var _ rollout.TrafficSetter = (*Splits)(nil)

// SplitState is how a route's traffic is split now.
type SplitState struct {
	// Stable is the target a rollout promoted; "" means the route's
	// configured targets.
	Stable string `json:"stable,omitempty"`
	// StableSig is the route's configured targets when Stable was
	// promoted: once the config names other targets, the config wins.
	StableSig string `json:"stable_sig,omitempty"`
	// Candidate takes Percent of the traffic; "" when no rollout shifts.
	Candidate string  `json:"candidate,omitempty"`
	Percent   float64 `json:"percent,omitempty"`
}

// NewSplits returns an empty set of splits.
func NewSplits(log *slog.Logger) *Splits {
	if log == nil {
		log = slog.Default()
	}
	return &Splits{want: map[string]SplitState{}, dyn: map[string]*upstream{}, log: log}
}

// Attach names the Handler whose current Gateway SetSplit and Promote
// change. Call it once, after NewHandler.
func (s *Splits) Attach(h *Handler) {
	s.mu.Lock()
	s.h = h
	s.mu.Unlock()
}

// Restore sets promoted stable targets kept from an earlier run; call it
// before the first Gateway is built. Splits in progress are not restored:
// a rollout does not survive a restart.
func (s *Splits) Restore(m map[string]SplitState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for route, st := range m {
		if st.Stable != "" {
			s.want[route] = SplitState{Stable: st.Stable, StableSig: st.StableSig}
		}
	}
}

// Promoted returns the promoted stable target of every route that has one.
func (s *Splits) Promoted() map[string]SplitState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]SplitState{}
	for route, st := range s.want {
		if st.Stable != "" {
			out[route] = SplitState{Stable: st.Stable, StableSig: st.StableSig}
		}
	}
	return out
}

// IsTargetURL reports whether a target name is an inline URL rather than
// an upstream name.
func IsTargetURL(name string) bool {
	return strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://")
}

// NormalizeTargetURL checks an inline target URL and returns its canonical
// form (no trailing slash), which is also its name in metrics and logs.
func NormalizeTargetURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("candidate %q: want an upstream name or an absolute http:// or https:// URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("candidate %q: a target URL must not have a query, fragment or user info", raw)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// Stable returns the name of the route's stable target: the one a rollout
// promoted, else the route's only target with a positive weight.
func (s *Splits) Stable(route string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, rt, err := s.routeOf(route)
	if err != nil {
		return "", err
	}
	if st := s.want[route]; st.Stable != "" && st.StableSig == rt.sig {
		return st.Stable, nil
	}
	return rt.configuredStable()
}

// routeOf finds a route in the current Gateway; s.mu is held.
func (s *Splits) routeOf(name string) (*Gateway, *route, error) {
	if s.h == nil || s.h.Current() == nil {
		return nil, nil, fmt.Errorf("gateway not started")
	}
	g := s.h.Current()
	rt := g.routeByName(name)
	if rt == nil {
		return nil, nil, fmt.Errorf("no route named %q", name)
	}
	return g, rt, nil
}

// SetSplit sends candidatePercent of the route's traffic to candidate and
// the rest to stable, at once and without dropping a request; 0 puts all
// of it back on stable. stable must be the route's stable target.
func (s *Splits) SetSplit(route, stable, candidate string, candidatePercent float64) error {
	if !(candidatePercent >= 0 && candidatePercent <= 100) {
		return fmt.Errorf("route %q: candidate share %v is outside 0–100", route, candidatePercent)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, rt, err := s.routeOf(route)
	if err != nil {
		return err
	}
	next := s.want[route]
	if next.StableSig != rt.sig {
		next.Stable, next.StableSig = "", ""
	}
	cur := next.Stable
	if cur == "" {
		if cur, err = rt.configuredStable(); err != nil {
			return err
		}
	}
	if stable != cur {
		return fmt.Errorf("route %q: the stable target is %q, not %q", route, cur, stable)
	}
	next.Candidate, next.Percent = candidate, candidatePercent
	if candidatePercent == 0 {
		next.Candidate = ""
	}
	live, err := s.build(g, rt, next)
	if err != nil {
		return err
	}
	rt.split.Store(live)
	s.set(route, next)
	return nil
}

// Promote makes candidate the route's only (stable) target.
func (s *Splits) Promote(route, candidate string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, rt, err := s.routeOf(route)
	if err != nil {
		return err
	}
	next := SplitState{Stable: candidate, StableSig: rt.sig}
	live, err := s.build(g, rt, next)
	if err != nil {
		return err
	}
	rt.split.Store(live)
	s.set(route, next)
	return nil
}

func (s *Splits) set(route string, st SplitState) {
	if st == (SplitState{}) {
		delete(s.want, route)
		return
	}
	s.want[route] = st
}

// Swap makes g the Handler's Gateway with every split applied, and returns
// the previous Gateway. No SetSplit can slip in between. A route whose
// configured targets changed since a promotion goes back to its config.
func (s *Splits) Swap(h *Handler, g *Gateway) *Gateway {
	s.mu.Lock()
	defer s.mu.Unlock()
	for route, st := range s.want {
		rt := g.routeByName(route)
		if rt == nil || st.Stable == "" || st.StableSig == rt.sig {
			continue
		}
		s.log.Info("the config names other targets for the route; its promoted target is dropped",
			logKeyRoute, route, logKeyUpstream, st.Stable)
		st.Stable, st.StableSig = "", ""
		s.set(route, st)
	}
	if err := s.applyTo(g); err != nil { // New checked it; only a racing SetSplit could get here
		s.log.Error("split not applied to the new gateway", "err", err)
	}
	return h.Swap(g)
}

// applyTo builds every route's split for g; nothing is stored in g when
// one cannot be built. A rollout in progress whose route or targets the
// config no longer has is an error: the reload is refused.
func (s *Splits) applyTo(g *Gateway) error {
	lives := make(map[*route]*liveSplit, len(s.want))
	for route, st := range s.want {
		rt := g.routeByName(route)
		if rt == nil {
			if st.Candidate != "" {
				return fmt.Errorf("route %q has a rollout in progress (%s at %s); abort it or let it finish before removing the route", route, st.Candidate, fmtPercent(st.Percent))
			}
			continue
		}
		if st.Stable != "" && st.StableSig != rt.sig {
			st.Stable = ""
		}
		if st.Candidate != "" && st.Stable == "" {
			if _, err := rt.configuredStable(); err != nil {
				return fmt.Errorf("route %q has a rollout in progress: %w", route, err)
			}
		}
		live, err := s.build(g, rt, st)
		if err != nil {
			if st.Candidate != "" {
				return fmt.Errorf("route %q has a rollout in progress: %w; abort it or keep the target", route, err)
			}
			return fmt.Errorf("route %q serves %q, which a rollout promoted: %w; keep that upstream, or name the route's new targets in the config (the config then wins)", route, st.Stable, err)
		}
		lives[rt] = live
	}
	for rt, live := range lives {
		rt.split.Store(live)
	}
	return nil
}

// build resolves a split's targets in g; nil means no split.
func (s *Splits) build(g *Gateway, rt *route, st SplitState) (*liveSplit, error) {
	if st.Stable == "" && st.Candidate == "" {
		return nil, nil
	}
	live := &liveSplit{pct: st.Percent, id: rt.name + "\x00" + st.Candidate}
	var err error
	if st.Stable != "" {
		if live.stable, err = s.target(g, rt, st.Stable); err != nil {
			return nil, err
		}
	}
	if st.Candidate != "" {
		if live.cand, err = s.target(g, rt, st.Candidate); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// target resolves a target name in g: an upstream, or an inline URL.
func (s *Splits) target(g *Gateway, rt *route, name string) (*target, error) {
	if u := g.byName[name]; u != nil {
		return newTarget(rt.name, u, 1, g.rec), nil
	}
	if !IsTargetURL(name) {
		return nil, fmt.Errorf("target %q: no upstream of that name in the config", name)
	}
	u := s.dyn[name]
	if u == nil {
		var err error
		uc := &config.Upstream{Name: name, URL: name, Timeout: config.Duration(config.DefaultUpstreamTimeout),
			ConnectTimeout: config.Duration(config.DefaultConnectTimeout), MaxIdleConns: config.DefaultMaxIdleConns}
		if u, err = newUpstream(uc, g.tlsConf, s.log); err != nil {
			return nil, fmt.Errorf("target %q: %w", name, err)
		}
		s.dyn[name] = u
	}
	return newTarget(rt.name, u, 1, g.rec), nil
}

// Close closes the idle connections of inline targets.
func (s *Splits) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.dyn {
		u.closeIdle()
	}
}

// liveSplit is a route's split as the request path reads it; immutable
// but for the spread counter.
type liveSplit struct {
	id     string  // seeds the client assignment
	pct    float64 // candidate share
	stable *target // nil: the route's configured targets
	cand   *target // nil: no candidate
	n      atomic.Uint64
}

// takes reports whether a client goes to the candidate: by its key, so it
// stays on one version, or by count for requests without a key.
func (sp *liveSplit) takes(key string) bool {
	switch {
	case sp.pct <= 0:
		return false
	case sp.pct >= 100:
		return true
	case key == "":
		b := float64(mix64(sp.n.Add(1))>>11) * (100.0 / (1 << 53))
		return b < sp.pct
	}
	return rollout.Assign(key, sp.id, sp.pct)
}

// Pick indexes beyond a route's configured targets.
const (
	idxCandidate = -2
	idxStable    = -3
)

// splitTry is what one request has tried of a split.
type splitTry struct {
	decided, toCand        bool
	candTried, stableTried bool
}

func (st *splitTry) mark(idx int) {
	switch idx {
	case idxCandidate:
		st.candTried = true
	case idxStable:
		st.stableTried = true
	}
}

// pickTarget picks the target of one attempt: the candidate for clients
// the split assigns to it (unless it is out of rotation or already failed
// this request), else the promoted stable target, else one of the route's
// configured targets. nil when none is left.
func (rt *route) pickTarget(sp *liveSplit, r *http.Request, key string, st *splitTry, tried uint64, now int64) (*target, int) {
	if sp != nil {
		if sp.cand != nil && !st.decided {
			st.decided = true
			ck := key
			if !rt.rkeySame {
				ck = rt.rkey.value(r)
			}
			st.toCand = sp.cand.up.available(now) && sp.takes(ck)
		}
		if st.toCand && !st.candTried {
			return sp.cand, idxCandidate
		}
		if sp.stable != nil {
			if st.stableTried && sp.cand != nil && !st.candTried {
				return sp.cand, idxCandidate // stable could not be reached: the candidate answers
			}
			return sp.stable, idxStable
		}
	}
	idx := rt.choose(key, tried, now)
	if idx < 0 && tried != 0 {
		idx = rt.choose(key, 0, now) // every target was tried: go round again
	}
	if idx < 0 {
		return nil, -1
	}
	return rt.targets[idx], idx
}

// configuredStable is the route's only target with a positive weight.
func (rt *route) configuredStable() (string, error) {
	name, n := "", 0
	for _, t := range rt.targets {
		if t.weight > 0 {
			name, n = t.up.name, n+1
		}
	}
	if n != 1 {
		return "", fmt.Errorf("route %q has %d targets with a positive weight; a rollout shifts traffic from one stable target, so give the route one", rt.name, n)
	}
	return name, nil
}

// targetsSig describes a route's configured targets.
func targetsSig(rc *config.Route) string {
	var b strings.Builder
	for _, t := range rc.Targets {
		b.WriteString(t.Upstream)
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(t.Weight))
		b.WriteByte(';')
	}
	return b.String()
}

// rolloutKeyOf is where a route's rollouts read the client key: the
// rollout's client_key, else the route's hash key, else the client address.
func rolloutKeyOf(rc *config.Route, routeKey hashKey) (hashKey, error) {
	if rc.Rollout == nil || rc.Rollout.ClientKey == "" {
		if routeKey.kind == hkNone {
			return hashKey{kind: hkRemote}, nil
		}
		return routeKey, nil
	}
	k, err := parseHashKey(rc.Rollout.ClientKey)
	if err != nil {
		return k, fmt.Errorf("rollout.client_key: %w", err)
	}
	return k, nil
}

func (g *Gateway) routeByName(name string) *route {
	for _, rt := range g.routes {
		if rt.name == name {
			return rt
		}
	}
	return nil
}

func fmtPercent(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) + "%" }

// RolloutStatus is a route's live split, for the status document.
type RolloutStatus struct {
	// Stable is the promoted stable target; nil: the configured targets.
	Stable    *TargetStatus `json:"stable,omitempty"`
	Candidate *TargetStatus `json:"candidate,omitempty"`
	// CandidatePercent is the candidate's share of the traffic.
	CandidatePercent float64 `json:"candidate_percent"`
}

func (rt *route) rolloutStatus(now time.Time) *RolloutStatus {
	sp := rt.split.Load()
	if sp == nil {
		return nil
	}
	out := &RolloutStatus{CandidatePercent: sp.pct}
	if sp.stable != nil {
		ts := targetStatus(sp.stable, now)
		out.Stable = &ts
	}
	if sp.cand != nil {
		ts := targetStatus(sp.cand, now)
		out.Candidate = &ts
	} else {
		out.CandidatePercent = 0
	}
	return out
}
