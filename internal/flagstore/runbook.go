package flagstore

import (
	"fmt"
	"strings"
	"time"
)

// Runbook describes a flag in an environment in plain words: what it does,
// its current value, how to flip it, and what happens automatically.
func (s *Service) Runbook(env, flag string) string {
	st, err := s.Status(env)
	if err != nil {
		return fmt.Sprintf("Flag %s: %v.\n", flag, err)
	}
	s.mu.Lock()
	var def *FlagDefinition
	var val FlagValue
	if v := s.versions[st.Version]; v != nil {
		if d, ok := v.doc.Flags[flag]; ok {
			def, val = &d, v.doc.Values[flag]
		}
	}
	s.mu.Unlock()

	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	subject := s.Subject(env)
	p("RUNBOOK: flag %q in %s", flag, subject)
	p("")
	if def == nil {
		p("The flag is not in the version deployed to %s (version %d).", env, st.Version)
		p("To add it, create a version that defines it and deploy it (see below).")
	} else {
		p("WHAT IT DOES")
		if def.Name != "" && def.Name != flag {
			p("  %s.", def.Name)
		}
		if def.Description != "" {
			p("  %s", def.Description)
		} else {
			p("  (no description in the document; add one to $.flags.%s.description)", flag)
		}
		if def.Deprecation != nil {
			when := def.Deprecation.Date
			if when == "" {
				when = "no date set"
			}
			p("  Deprecation is planned (%s).", when)
		}
		p("")
		p("CURRENT VALUE (version %d)", st.Version)
		p("  enabled: %v", val.Enabled)
		for _, k := range sortedKeys(val.Attributes) {
			p("  %s: %v", k, val.Attributes[k])
		}
		for _, v := range val.Variants {
			rule := v.Rule
			if rule == "" {
				rule = "default, when no rule above matches"
			}
			p("  variant %s (enabled: %v): %s", v.Name, v.Enabled, rule)
		}
	}
	p("")
	p("HOW TO FLIP IT")
	if def != nil && len(val.Variants) == 0 {
		p("  As a kill switch (instant, by the operator; alarms do not undo it):")
		p("       holdfast flags set %s off --reason \"why\"", flag)
		p("  As a watched change, the way any version is deployed:")
	}
	p("  1. Create a version with values.%s.enabled changed, with a description saying why:", flag)
	p("       holdfast flags create-version --file flags.json --description \"why\"")
	p("  2. Deploy it; AllAtOnce is instant (then %v of bake), a gradual strategy limits the blast radius:", AllAtOnce.FinalBakeTime)
	p("       holdfast flags deploy --env %s --version N --strategy AllAtOnce", env)
	p("  Stop a deployment in progress (everyone back to the previous version):")
	p("       holdfast flags stop --env %s --reason \"why\"", env)
	p("  Revert a completed deployment to the previous version:")
	p("       holdfast flags revert --env %s --reason \"why\"", env)
	if st.Latest != nil {
		p("  Last changed by %s (deployment #%d, %s).", st.Latest.Actor, st.Latest.Number, st.Latest.State)
	}
	p("")
	p("WHAT HAPPENS AUTOMATICALLY")
	e := st.Environment
	if len(e.Monitors) == 0 {
		p("  Nothing: %s monitors no alarms, so no deployment is rolled back automatically.", env)
	} else {
		p("  Monitored alarms: %s.", strings.Join(e.Monitors, ", "))
		p("  If one goes to ALARM while a deployment is deploying or baking, every entity goes back to the previous version at once.")
		if w := e.Window(); w > 0 {
			p("  For %s after a deployment completes, an ALARM still reverts it to the previous version.", humanDuration(w))
		} else {
			p("  After a deployment completes, alarms no longer revert it (rollback window disabled).")
		}
		if e.insufficientData() == RollbackOnInsufficientData {
			p("  INSUFFICIENT_DATA counts as ALARM.")
		} else {
			p("  INSUFFICIENT_DATA is ignored.")
		}
	}
	if d := st.Latest; d != nil {
		switch d.State {
		case Deploying, Baking:
			p("  Deployment #%d (version %d → %d, %s) is %s at %g%%; it completes at %s.",
				d.Number, d.FromVersion, d.ToVersion, d.Strategy.Name, d.State, d.Percent, d.BakeEnd().UTC().Format(time.RFC3339))
		case Complete:
			if d.IgnoreMonitors {
				p("  Deployment #%d (version %d) was an operator's flip: alarms do not revert it.", d.Number, d.ToVersion)
			}
			if !st.RevertUntil.IsZero() && len(e.Monitors) > 0 {
				p("  Deployment #%d (version %d) completed at %s; automatic revert to version %d applies until %s.",
					d.Number, d.ToVersion, d.CompletedAt.UTC().Format(time.RFC3339), d.FromVersion, st.RevertUntil.UTC().Format(time.RFC3339))
			}
		default:
			p("  Deployment #%d was %s: %s.", d.Number, d.State, d.Reason)
		}
	}
	return b.String()
}

func humanDuration(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		n := int(d / (24 * time.Hour))
		if n == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", n)
	}
	return d.String()
}
