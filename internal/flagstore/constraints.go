package flagstore

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
)

// constraints parses a constraints object; element is true for an array's
// elements (which may not be arrays or booleans themselves).
func (p *parser) constraints(path string, v any, element bool) *Constraints {
	m, ok := p.object(path, v, "type", "required", "pattern", "enum", "minimum", "maximum", "elements")
	if !ok {
		return nil
	}
	c := &Constraints{}
	t, ok := p.str(path+".type", m["type"])
	if !ok {
		return nil
	}
	c.Type = t
	switch t {
	case TypeString, TypeNumber:
	case TypeBoolean, TypeStringArray, TypeNumberArray:
		if element {
			p.errorf(path+".type", "array elements must be of type string or number, not %s", t)
			return nil
		}
	default:
		p.errorf(path+".type", "unknown type %q; use string, number, boolean, string[] or number[]", t)
		return nil
	}
	allowed := map[string][]string{
		TypeString:      {"pattern", "enum"},
		TypeNumber:      {"minimum", "maximum"},
		TypeBoolean:     {},
		TypeStringArray: {"elements"},
		TypeNumberArray: {"elements"},
	}[t]
	for _, k := range sortedKeys(m) {
		if k == "type" || k == "required" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == k
		}
		if !ok {
			p.errorf(child(path, k), "does not apply to type %s", t)
		}
	}
	if r, ok := m["required"]; ok {
		if element {
			p.errorf(path+".required", "does not apply to array elements")
		} else {
			c.Required, _ = p.boolean(path+".required", r)
		}
	}
	if pv, ok := m["pattern"]; ok && t == TypeString {
		if s, ok := p.str(path+".pattern", pv); ok {
			re, err := regexp.Compile(s)
			if err != nil {
				p.errorf(path+".pattern", "is not a valid regular expression: %v", err)
			} else {
				c.Pattern, c.re = s, re
			}
		}
		if _, both := m["enum"]; both {
			p.errorf(path, "give pattern or enum, not both")
		}
	}
	if ev, ok := m["enum"]; ok && t == TypeString {
		list, ok := ev.([]any)
		if !ok || len(list) == 0 {
			p.errorf(path+".enum", "must be a non-empty array of strings")
		} else {
			for i, x := range list {
				if s, ok := p.str(index(path+".enum", i), x); ok {
					c.Enum = append(c.Enum, s)
				}
			}
		}
	}
	if t == TypeNumber {
		if mv, ok := m["minimum"]; ok {
			if f, ok := p.number(path+".minimum", mv); ok {
				c.Minimum = &f
			}
		}
		if mv, ok := m["maximum"]; ok {
			if f, ok := p.number(path+".maximum", mv); ok {
				c.Maximum = &f
			}
		}
		if c.Minimum != nil && c.Maximum != nil && *c.Minimum > *c.Maximum {
			p.errorf(path, "minimum %v is greater than maximum %v", *c.Minimum, *c.Maximum)
		}
	}
	if ev, ok := m["elements"]; ok && (t == TypeStringArray || t == TypeNumberArray) {
		c.Elements = p.constraints(path+".elements", ev, true)
		if c.Elements != nil && c.Elements.Type+"[]" != t {
			p.errorf(path+".elements.type", "is %s but the array is %s", c.Elements.Type, t)
		}
	}
	return c
}

// checkAttributes validates attribute values against a flag's definition
// and returns them as Go values.
func (p *parser) checkAttributes(path string, def FlagDefinition, values map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range sortedKeys(values) {
		kp := child(path, k)
		ad, ok := def.Attributes[k]
		if !ok {
			if strings.HasPrefix(k, "_") {
				p.errorf(kp, "unknown property")
			} else {
				p.errorf(kp, "attribute %q is not defined in $.flags.%s.attributes", k, flagKeyOf(path))
			}
			continue
		}
		if v, ok := p.attributeValue(kp, ad.Constraints, values[k]); ok {
			out[k] = v
		}
	}
	for _, k := range sortedKeys(def.Attributes) {
		c := def.Attributes[k].Constraints
		if _, ok := values[k]; !ok && c != nil && c.Required {
			p.errorf(child(path, k), "is required by the attribute's constraints")
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// flagKeyOf extracts the flag key from a path like $.values.KEY….
func flagKeyOf(path string) string {
	rest := strings.TrimPrefix(path, "$.values.")
	if i := strings.IndexAny(rest, ".["); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

func (p *parser) attributeValue(path string, c *Constraints, v any) (any, bool) {
	if c == nil {
		// No constraints: any scalar or array of scalars AppConfig accepts.
		switch x := v.(type) {
		case string, bool:
			return x, true
		case json.Number:
			return p.number(path, x)
		case []any:
			if len(x) == 0 {
				return []string{}, true
			}
			if _, ok := x[0].(json.Number); ok {
				return p.attributeValue(path, &Constraints{Type: TypeNumberArray}, v)
			}
			return p.attributeValue(path, &Constraints{Type: TypeStringArray}, v)
		}
		p.errorf(path, "must be a string, number, boolean or array, not %s", jsonType(v))
		return nil, false
	}
	switch c.Type {
	case TypeBoolean:
		return p.boolean(path, v)
	case TypeString:
		s, ok := p.str(path, v)
		return s, ok && p.checkString(path, c, s)
	case TypeNumber:
		f, ok := p.number(path, v)
		return f, ok && p.checkNumber(path, c, f)
	case TypeStringArray, TypeNumberArray:
		list, ok := v.([]any)
		if !ok {
			p.errorf(path, "must be an array (%s), not %s", c.Type, jsonType(v))
			return nil, false
		}
		good := true
		if c.Type == TypeStringArray {
			out := make([]string, 0, len(list))
			for i, x := range list {
				s, ok := p.str(index(path, i), x)
				good = good && ok && (c.Elements == nil || p.checkString(index(path, i), c.Elements, s))
				out = append(out, s)
			}
			return out, good
		}
		out := make([]float64, 0, len(list))
		for i, x := range list {
			f, ok := p.number(index(path, i), x)
			good = good && ok && (c.Elements == nil || p.checkNumber(index(path, i), c.Elements, f))
			out = append(out, f)
		}
		return out, good
	}
	return nil, false
}

func (p *parser) checkString(path string, c *Constraints, s string) bool {
	if c.re != nil && !c.re.MatchString(s) {
		p.errorf(path, "%q does not match the pattern %s", s, c.Pattern)
		return false
	}
	if len(c.Enum) > 0 {
		for _, e := range c.Enum {
			if e == s {
				return true
			}
		}
		p.errorf(path, "%q is not one of %s", s, enumList(c.Enum))
		return false
	}
	return true
}

func (p *parser) checkNumber(path string, c *Constraints, f float64) bool {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		p.errorf(path, "must be a finite number")
		return false
	}
	if c.Minimum != nil && f < *c.Minimum {
		p.errorf(path, "%v is below the minimum %v", f, *c.Minimum)
		return false
	}
	if c.Maximum != nil && f > *c.Maximum {
		p.errorf(path, "%v is above the maximum %v", f, *c.Maximum)
		return false
	}
	return true
}

func enumList(enum []any) string {
	parts := make([]string, len(enum))
	for i, e := range enum {
		parts[i] = fmt.Sprintf("%q", e)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
