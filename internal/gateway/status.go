package gateway

import "time"

// RouteStatus is one route's live state, for the admin API and the CLI.
type RouteStatus struct {
	Name string `json:"name"`
	// KillSwitch is the flag name; "" when the route has none.
	KillSwitch string `json:"kill_switch,omitempty"`
	// KillSwitchOn is the flag's value for the anonymous entity; nil when the
	// route has no kill switch or the flag is unknown (which counts as on).
	KillSwitchOn *bool `json:"kill_switch_on,omitempty"`
	// Active is "targets" or "fallback": where traffic goes now.
	Active  string         `json:"active"`
	Balance string         `json:"balance"`
	Targets []TargetStatus `json:"targets"`
	// Fallback is set when the route has one.
	Fallback *FallbackStatus `json:"fallback,omitempty"`
	// Rollout is set while a rollout splits the route's traffic or after one
	// promoted a target (split.go).
	Rollout *RolloutStatus `json:"rollout,omitempty"`
}

// TargetStatus is one upstream as a route sees it.
type TargetStatus struct {
	Upstream string `json:"upstream"`
	URL      string `json:"url"`
	Weight   int    `json:"weight"`
	// Healthy is the active health check's verdict (true without checks).
	Healthy bool `json:"healthy"`
	// EjectedUntil is set while passive ejection keeps the upstream out.
	EjectedUntil *time.Time `json:"ejected_until,omitempty"`
}

// FallbackStatus describes a route's fallback.
type FallbackStatus struct {
	// Upstream is set for an upstream fallback.
	Upstream *TargetStatus `json:"upstream,omitempty"`
	// StaticStatus is the status of a static fallback response.
	StaticStatus int `json:"static_status,omitempty"`
}

// Active sides of a route.
const (
	ActiveTargets  = "targets"
	ActiveFallback = "fallback"
)

// Status reports every route's kill switch, active side and targets.
func (g *Gateway) Status() []RouteStatus {
	now := g.now()
	out := make([]RouteStatus, 0, len(g.routes))
	for _, rt := range g.routes {
		rs := RouteStatus{Name: rt.name, KillSwitch: rt.killSwitch, Active: ActiveTargets, Balance: "round_robin"}
		if rt.hashed {
			rs.Balance = "hash"
		}
		if rt.killSwitch != "" && g.flags != nil {
			if v, known := g.flags.Bool(rt.killSwitch, ""); known {
				rs.KillSwitchOn = &v
				if !v {
					rs.Active = ActiveFallback
				}
			}
		}
		for _, t := range rt.targets {
			rs.Targets = append(rs.Targets, targetStatus(t, now))
		}
		switch {
		case rt.fallback != nil:
			ts := targetStatus(rt.fallback, now)
			ts.Weight = 0
			rs.Fallback = &FallbackStatus{Upstream: &ts}
		case rt.static != nil:
			rs.Fallback = &FallbackStatus{StaticStatus: rt.static.status}
		}
		rs.Rollout = rt.rolloutStatus(now)
		out = append(out, rs)
	}
	return out
}

func targetStatus(t *target, now time.Time) TargetStatus {
	ts := TargetStatus{Upstream: t.up.name, URL: t.up.rawURL, Weight: t.weight, Healthy: !t.up.unhealthy.Load()}
	if until := t.up.ejectedUntil.Load(); until > now.UnixNano() {
		tm := time.Unix(0, until).UTC()
		ts.EjectedUntil = &tm
	}
	return ts
}
