package flagstore

import (
	"fmt"
	"maps"
	"slices"
)

// snapshot is what the data plane reads: immutable once published.
type snapshot struct {
	envs map[string]*envSnap
	def  *envSnap // Config.DefaultEnvironment, may be nil
}

type envSnap struct {
	cur, next *compiled // next is set during DEPLOYING and BAKING
	percent   float64
	keyHash   uint64 // FNV state after the deployment key and a 0 byte
}

// publish builds and swaps in a new snapshot; callers hold s.mu.
func (s *Service) publish() {
	snap := &snapshot{envs: make(map[string]*envSnap, len(s.envs))}
	for name, st := range s.envs {
		es := &envSnap{}
		if d := st.latest(); d != nil {
			es.cur = s.versions[servedVersion(d)]
			if d.State == Deploying || d.State == Baking {
				es.next = s.versions[d.ToVersion]
				es.percent = d.Percent
				es.keyHash = fnvByte(fnvString(fnvOffset, s.deploymentKey(d)), 0)
			}
		}
		snap.envs[name] = es
	}
	snap.def = snap.envs[s.cfg.DefaultEnvironment]
	s.snap.Store(snap)
}

// deploymentKey identifies a deployment for entity bucketing.
func (s *Service) deploymentKey(d *Deployment) string {
	return fmt.Sprintf("%s#%d", s.Subject(d.Environment), d.Number)
}

// pick returns the version entity sees.
func (e *envSnap) pick(entity string) *compiled {
	if e.next == nil {
		return e.cur
	}
	if e.percent >= 100 {
		return e.next
	}
	if entity == "" || e.percent <= 0 {
		return e.cur
	}
	if bucketOf(fnvString(e.keyHash, entity)) < e.percent {
		return e.next
	}
	return e.cur
}

// Result is a flag's evaluation.
type Result struct {
	Enabled    bool
	Variant    string         // "" when the flag has no variants
	Attributes map[string]any // a copy; nil when there are none
	Version    int            // the document version that answered
	Reason     string         // see the Reason constants
}

// Evaluation reasons (OpenFeature's names).
const (
	ReasonStatic         = "STATIC"          // a flag without variants
	ReasonTargetingMatch = "TARGETING_MATCH" // a variant's rule matched
	ReasonDefault        = "DEFAULT"         // the default variant (or none matched)
)

// Evaluate evaluates a flag in an environment for ctx, from the in-memory
// snapshot; it never waits on the store.
func (s *Service) Evaluate(env, flagName string, ctx EvalContext) (Result, error) {
	e := s.snap.Load().envs[env]
	if e == nil {
		return Result{}, fmt.Errorf("%w %q", ErrUnknownEnvironment, env)
	}
	v := e.pick(s.entityOf(&ctx))
	if v == nil {
		return Result{}, fmt.Errorf("%w in environment %q", ErrNoVersion, env)
	}
	if _, ok := v.doc.Flags[flagName]; !ok {
		return Result{}, fmt.Errorf("%w %q in version %d", ErrUnknownFlag, flagName, v.number)
	}
	fv := v.doc.Values[flagName]
	r := Result{Enabled: fv.Enabled, Version: v.number, Reason: ReasonStatic, Attributes: fv.Attributes}
	if len(fv.Variants) > 0 {
		r.Reason = ReasonDefault
		if i := s.variant(flagName, fv.Variants, &ctx); i >= 0 {
			vr := &fv.Variants[i]
			r.Enabled, r.Variant, r.Attributes = vr.Enabled, vr.Name, vr.Attributes
			if vr.rule != nil {
				r.Reason = ReasonTargetingMatch
			}
		}
	}
	r.Attributes = cloneAttributes(r.Attributes)
	return r, nil
}

// variant returns the index of the first matching variant, or -1.
func (s *Service) variant(flag string, variants []Variant, ctx *EvalContext) int {
	ev := evaluator{ctx: ctx, entityKey: s.cfg.EntityAttribute, flag: flag}
	for i := range variants {
		if variants[i].rule == nil || ev.eval(variants[i].rule.root) {
			return i
		}
	}
	return -1
}

func (s *Service) entityOf(ctx *EvalContext) string {
	if ctx.Entity != "" {
		return ctx.Entity
	}
	if v, ok := ctx.Values[s.cfg.EntityAttribute].(string); ok {
		return v
	}
	return ""
}

// Bool answers whether flag name is enabled for entity in the default
// environment, with internal/flags' signature so the gateway can use either.
// known is false when there is no such flag (or nothing is deployed).
// It does not allocate.
func (s *Service) Bool(name, entity string) (value, known bool) {
	e := s.snap.Load().def
	if e == nil {
		return false, false
	}
	v := e.pick(entity)
	if v == nil {
		return false, false
	}
	if _, ok := v.doc.Flags[name]; !ok {
		return false, false
	}
	fv := v.doc.Values[name]
	if len(fv.Variants) == 0 {
		return fv.Enabled, true
	}
	ctx := EvalContext{Entity: entity}
	if i := s.variant(name, fv.Variants, &ctx); i >= 0 {
		return fv.Variants[i].Enabled, true
	}
	return fv.Enabled, true
}

func cloneAttributes(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k, v := range out {
		switch x := v.(type) {
		case []string:
			out[k] = slices.Clone(x)
		case []float64:
			out[k] = slices.Clone(x)
		}
	}
	return out
}
