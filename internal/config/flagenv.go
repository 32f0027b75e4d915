package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// FlagEnvironment is an environment of the versioned flag store: where a
// version of the flag document is deployed, and the alarms that roll a
// deployment back. The first environment listed is the one the gateway's
// kill switches and the OFREP endpoints read.
type FlagEnvironment struct {
	Name string `yaml:"name"`
	// Monitors are alarm names (metric, composite or a route's built-in
	// ROUTE-error-rate): one going to ALARM during a deployment or its bake
	// rolls it back; within the rollback window after it completes, reverts it.
	Monitors []string `yaml:"monitors"`
	// RollbackWindow is how long after a deployment completes an ALARM still
	// reverts it [168h, seven days]; 0s turns that off.
	RollbackWindow *Duration `yaml:"rollback_window"`
	// OnInsufficientData is what INSUFFICIENT_DATA on a monitor does:
	// ignore (the default) or rollback, like ALARM.
	OnInsufficientData string `yaml:"on_insufficient_data"`
}

// DefaultFlagEnvironment is the environment used when the config lists none.
const DefaultFlagEnvironment = "default"

// DefaultRollbackWindow is FlagEnvironment.RollbackWindow's default.
const DefaultRollbackWindow = 7 * 24 * time.Hour

// flagKeyRE is the flag document's key pattern (AppConfig's).
var flagKeyRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9_-]{0,63}$`)

// contextKeyRE is a rule's $name.
var contextKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)

// flagEnvNameRE is the flag store's environment name pattern.
var flagEnvNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// GatewayFlagEnvironment is the environment the gateway and OFREP read.
func (c *Config) GatewayFlagEnvironment() string {
	if len(c.FlagEnvironments) == 0 {
		return DefaultFlagEnvironment
	}
	return c.FlagEnvironments[0].Name
}

func (c *Config) applyFlagEnvironmentDefaults() {
	for i := range c.FlagEnvironments {
		e := &c.FlagEnvironments[i]
		if e.RollbackWindow == nil {
			d := Duration(DefaultRollbackWindow)
			e.RollbackWindow = &d
		}
		if e.OnInsufficientData == "" {
			e.OnInsufficientData = "ignore"
		}
	}
}

// validateFlagStore checks flag names against the flag document's key
// pattern and the flag environments, their monitors included.
func (l *loader) validateFlagStore(c *Config) {
	for i, f := range c.Flags {
		if f.Name != "" && !flagKeyRE.MatchString(f.Name) {
			l.at(fmt.Sprintf("flags[%d].name", i), "%q: a flag name starts with a lower-case letter, then letters, digits, '_' or '-', at most 64 long (it is a key of the versioned flag document)", f.Name)
		}
	}
	alarms := map[string]bool{}
	for _, a := range c.ErrorRateAlarms() {
		alarms[a.Name] = true
	}
	for _, a := range c.Alarms {
		alarms[a.Name] = true
	}
	for _, a := range c.CompositeAlarms {
		alarms[a.Name] = true
	}
	keys := map[string]bool{}
	for i, k := range c.FlagContextKeys {
		p := fmt.Sprintf("flag_context_keys[%d]", i)
		switch {
		case !contextKeyRE.MatchString(k):
			l.at(p, "%q: a context attribute is a letter or '_', then letters, digits, '_' or '-'", k)
		case keys[k]:
			l.at(p, "%q is listed twice", k)
		}
		keys[k] = true
	}
	seen := map[string]bool{}
	for i, e := range c.FlagEnvironments {
		p := fmt.Sprintf("flag_environments[%d]", i)
		switch {
		case e.Name == "":
			l.at(p+".name", "required: every flag environment needs a name")
		case !flagEnvNameRE.MatchString(e.Name):
			l.at(p+".name", "%q: an environment name is letters, digits, '.', '_' or '-', at most 64 long", e.Name)
		case seen[e.Name]:
			l.at(p+".name", "another flag environment is already named %q", e.Name)
		}
		seen[e.Name] = true
		for j, m := range e.Monitors {
			if !alarms[m] {
				names := make([]string, 0, len(alarms))
				for n := range alarms {
					names = append(names, n)
				}
				l.at(fmt.Sprintf("%s.monitors[%d]", p, j), "no alarm named %q%s", m, knownSorted(names))
			}
		}
		if v := e.OnInsufficientData; v != "ignore" && v != "rollback" {
			l.at(p+".on_insufficient_data", "want ignore or rollback, got %q", v)
		}
		if e.RollbackWindow != nil && e.RollbackWindow.D() > 366*24*time.Hour {
			l.at(p+".rollback_window", "%s is more than a year; use at most 8784h", e.RollbackWindow.D())
		}
	}
}

func knownSorted(names []string) string {
	if len(names) == 0 {
		return "; no alarm is defined"
	}
	sort.Strings(names)
	return "; known: " + strings.Join(names, ", ")
}
