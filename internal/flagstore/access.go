package flagstore

import (
	"fmt"
	"sort"
)

// Document returns the parsed document of a version (read-only).
func (s *Service) Document(version int) (*Document, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.versions[version]
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrUnknownVersion, version)
	}
	return v.doc, nil
}

// Content returns a version's document as it was submitted.
func (s *Service) Content(version int) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.meta[version]
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrUnknownVersion, version)
	}
	return v.Content, nil
}

// FlagKeys lists, by name, the flags of the version ctx's entity sees in
// env, from the in-memory snapshot.
func (s *Service) FlagKeys(env string, ctx EvalContext) ([]string, error) {
	e := s.snap.Load().envs[env]
	if e == nil {
		return nil, fmt.Errorf("%w %q", ErrUnknownEnvironment, env)
	}
	v := e.pick(s.entityOf(&ctx))
	if v == nil {
		return nil, fmt.Errorf("%w in environment %q", ErrNoVersion, env)
	}
	return sortedKeys(v.doc.Flags), nil
}

// EntityDependent reports whether flag's answer in env depends on the
// evaluation entity: a deployment is part way (some entities see the new
// version) or a variant rule of the flag splits by the entity.
func (s *Service) EntityDependent(env, flag string) bool {
	e := s.snap.Load().envs[env]
	if e == nil {
		return false
	}
	if e.next != nil && e.percent > 0 && e.percent < 100 {
		return true
	}
	for _, v := range []*compiled{e.cur, e.next} {
		if v == nil {
			continue
		}
		for _, vr := range v.doc.Values[flag].Variants {
			if vr.rule != nil && splitsByEntity(vr.rule.root, s.cfg.EntityAttribute) {
				return true
			}
		}
	}
	return false
}

func splitsByEntity(n *node, entityAttr string) bool {
	if n.op == opSplit && (n.by == "" || n.by == entityAttr) {
		return true
	}
	for _, k := range n.kids {
		if splitsByEntity(k, entityAttr) {
			return true
		}
	}
	return false
}

// Environments lists the environments by name.
func (s *Service) Environments() []Environment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Environment, 0, len(s.envs))
	for _, st := range s.envs {
		out = append(out, st.env)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
