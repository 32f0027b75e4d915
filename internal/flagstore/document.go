package flagstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// SchemaVersion is the only document version AppConfig defines.
const SchemaVersion = "1"

// MaxAttributes is AppConfig's limit of attributes per flag.
const MaxAttributes = 25

// MaxDocumentSize bounds a document; AppConfig's hosted limit is 1 MiB by
// default, 2 MiB at most.
const MaxDocumentSize = 2 << 20

var (
	keyPattern  = regexp.MustCompile(`^[a-z][a-zA-Z\d_-]{0,63}$`)
	namePattern = regexp.MustCompile(`^[^\n]{1,64}$`)
	datePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	// pathKeyPattern: keys written as .key in a JSON path; others as ["key"].
	pathKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)
)

// Document is a parsed, validated flag document.
type Document struct {
	Version string
	Flags   map[string]FlagDefinition
	Values  map[string]FlagValue
}

// FlagDefinition is a flag's metadata and attribute schema.
type FlagDefinition struct {
	Name        string
	Description string
	CreatedAt   string // _createdAt, kept as written
	UpdatedAt   string // _updatedAt
	Deprecation *Deprecation
	Attributes  map[string]AttributeDefinition
}

// Deprecation is a flag's _deprecation block; Status is "planned".
type Deprecation struct {
	Status string
	Date   string // YYYY-MM-DD, optional
}

// AttributeDefinition describes one attribute of a flag.
type AttributeDefinition struct {
	Description string
	Constraints *Constraints
}

// Attribute types.
const (
	TypeString      = "string"
	TypeNumber      = "number"
	TypeBoolean     = "boolean"
	TypeStringArray = "string[]"
	TypeNumberArray = "number[]"
)

// Constraints restrict an attribute's value. Pattern and Enum apply to
// strings, Minimum and Maximum to numbers, Elements to the elements of an
// array.
type Constraints struct {
	Type     string
	Required bool
	Pattern  string
	Enum     []any // strings or float64
	Minimum  *float64
	Maximum  *float64
	Elements *Constraints

	re *regexp.Regexp
}

// FlagValue is a flag's value: enabled, attribute values and variants.
// Attribute values are string, float64, bool, []string or []float64.
type FlagValue struct {
	Enabled    bool
	Attributes map[string]any
	Variants   []Variant
}

// Variant is one variant of a multi-variant flag. A variant without a Rule
// is the default variant.
type Variant struct {
	Name       string
	Rule       string
	Enabled    bool
	Attributes map[string]any

	rule *Rule
}

// FieldError is one problem in a document, at a JSON path such as
// $.values.checkout._variants[0].rule.
type FieldError struct {
	Path    string
	Message string
}

func (e FieldError) Error() string { return e.Path + ": " + e.Message }

// ValidationError lists every problem found in a document.
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid flag document: ")
	for i, fe := range e.Errors {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Errors)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(fe.Error())
	}
	return b.String()
}

// ErrInvalidDocument is wrapped by every document error that is not a
// ValidationError (e.g. malformed JSON).
var ErrInvalidDocument = errors.New("invalid flag document")

// ParseOptions tune validation.
type ParseOptions struct {
	// ContextKeys, when not empty, lists the context attributes rules may
	// refer to ($name); any other is an error.
	ContextKeys []string
	// EntityAttribute is always a known context key (see Config).
	EntityAttribute string
}

// ParseDocument decodes and validates a flag document.
func ParseDocument(data []byte, opts ParseOptions) (*Document, error) {
	if len(data) > MaxDocumentSize {
		return nil, fmt.Errorf("%w: %d bytes, over the %d-byte limit", ErrInvalidDocument, len(data), MaxDocumentSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDocument, err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("%w: trailing data after the document", ErrInvalidDocument)
	}
	p := &parser{opts: opts}
	doc := p.document(raw)
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Path < p.errs[j].Path })
		return nil, &ValidationError{Errors: p.errs}
	}
	return doc, nil
}

type parser struct {
	opts ParseOptions
	errs []FieldError
}

func (p *parser) errorf(path, format string, args ...any) {
	p.errs = append(p.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func child(path, key string) string {
	if pathKeyPattern.MatchString(key) {
		return path + "." + key
	}
	return fmt.Sprintf("%s[%q]", path, key)
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// object checks that v is an object whose keys are all in allowed (nil:
// any key) and returns it.
func (p *parser) object(path string, v any, allowed ...string) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		p.errorf(path, "must be an object, not %s", jsonType(v))
		return nil, false
	}
	if allowed != nil {
		for _, k := range sortedKeys(m) {
			found := false
			for _, a := range allowed {
				if k == a {
					found = true
					break
				}
			}
			if !found {
				p.errorf(child(path, k), "unknown property; allowed: %s", strings.Join(allowed, ", "))
			}
		}
	}
	return m, true
}

func (p *parser) str(path string, v any) (string, bool) {
	s, ok := v.(string)
	if !ok {
		p.errorf(path, "must be a string, not %s", jsonType(v))
	}
	return s, ok
}

func (p *parser) boolean(path string, v any) (bool, bool) {
	b, ok := v.(bool)
	if !ok {
		p.errorf(path, "must be a boolean, not %s", jsonType(v))
	}
	return b, ok
}

func (p *parser) number(path string, v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		p.errorf(path, "must be a number, not %s", jsonType(v))
		return 0, false
	}
	f, err := n.Float64()
	if err != nil {
		p.errorf(path, "number %s out of range", n)
		return 0, false
	}
	return f, true
}

func (p *parser) description(path string, v any) string {
	s, ok := p.str(path, v)
	if ok && len(s) > 1024 {
		p.errorf(path, "is %d bytes long; at most 1024", len(s))
	}
	return s
}

func (p *parser) document(raw any) *Document {
	m, ok := p.object("$", raw, "version", "flags", "values")
	if !ok {
		return nil
	}
	doc := &Document{Flags: map[string]FlagDefinition{}, Values: map[string]FlagValue{}}
	if v, ok := m["version"]; !ok {
		p.errorf("$.version", "is required; use \"1\"")
	} else if s, ok := p.str("$.version", v); ok {
		if s != SchemaVersion {
			p.errorf("$.version", "is %q; the only schema version is \"1\"", s)
		}
		doc.Version = s
	}
	if v, ok := m["flags"]; ok {
		if fm, ok := p.object("$.flags", v); ok {
			for _, k := range sortedKeys(fm) {
				path := child("$.flags", k)
				if !keyPattern.MatchString(k) {
					p.errorf(path, "flag key must match %s", keyPattern)
					continue
				}
				doc.Flags[k] = p.flagDefinition(path, k, fm[k])
			}
		}
	}
	if v, ok := m["values"]; ok {
		if vm, ok := p.object("$.values", v); ok {
			for _, k := range sortedKeys(vm) {
				path := child("$.values", k)
				def, ok := doc.Flags[k]
				if !ok {
					p.errorf(path, "value for flag %q, which $.flags does not define", k)
					continue
				}
				doc.Values[k] = p.flagValue(path, k, def, vm[k])
			}
		}
	}
	// A defined flag without a value is disabled; its required attributes
	// must still be given.
	for _, k := range sortedKeys(doc.Flags) {
		if _, ok := doc.Values[k]; !ok {
			p.checkAttributes(child("$.values", k), doc.Flags[k], nil)
		}
	}
	return doc
}

func (p *parser) flagDefinition(path, key string, v any) FlagDefinition {
	def := FlagDefinition{Name: key}
	m, ok := p.object(path, v, "name", "description", "_createdAt", "_updatedAt", "_deprecation", "attributes")
	if !ok {
		return def
	}
	if v, ok := m["name"]; ok {
		if s, ok := p.str(path+".name", v); ok {
			if !namePattern.MatchString(s) {
				p.errorf(path+".name", "must be 1 to 64 characters on one line")
			}
			def.Name = s
		}
	}
	if v, ok := m["description"]; ok {
		def.Description = p.description(path+".description", v)
	}
	if v, ok := m["_createdAt"]; ok {
		def.CreatedAt, _ = p.str(path+"._createdAt", v)
	}
	if v, ok := m["_updatedAt"]; ok {
		def.UpdatedAt, _ = p.str(path+"._updatedAt", v)
	}
	if v, ok := m["_deprecation"]; ok {
		dp := path + "._deprecation"
		if dm, ok := p.object(dp, v, "status", "date"); ok {
			d := &Deprecation{}
			if s, ok := p.str(dp+".status", dm["status"]); ok {
				if s != "planned" {
					p.errorf(dp+".status", "is %q; the only status is \"planned\"", s)
				}
				d.Status = s
			}
			if dv, ok := dm["date"]; ok {
				if s, ok := p.str(dp+".date", dv); ok {
					if !datePattern.MatchString(s) {
						p.errorf(dp+".date", "must be a date YYYY-MM-DD")
					}
					d.Date = s
				}
			}
			def.Deprecation = d
		}
	}
	if v, ok := m["attributes"]; ok {
		ap := path + ".attributes"
		if am, ok := p.object(ap, v); ok {
			if len(am) > MaxAttributes {
				p.errorf(ap, "has %d attributes; at most %d", len(am), MaxAttributes)
			}
			def.Attributes = map[string]AttributeDefinition{}
			for _, k := range sortedKeys(am) {
				kp := child(ap, k)
				if !keyPattern.MatchString(k) {
					p.errorf(kp, "attribute name must match %s", keyPattern)
					continue
				}
				if k == "enabled" {
					p.errorf(kp, "\"enabled\" is reserved; choose another attribute name")
					continue
				}
				def.Attributes[k] = p.attributeDefinition(kp, am[k])
			}
		}
	}
	return def
}

func (p *parser) attributeDefinition(path string, v any) AttributeDefinition {
	var a AttributeDefinition
	m, ok := p.object(path, v, "description", "constraints")
	if !ok {
		return a
	}
	if v, ok := m["description"]; ok {
		a.Description = p.description(path+".description", v)
	}
	if v, ok := m["constraints"]; ok {
		a.Constraints = p.constraints(path+".constraints", v, false)
	}
	return a
}

func (p *parser) flagValue(path, key string, def FlagDefinition, v any) FlagValue {
	var fv FlagValue
	m, ok := p.object(path, v)
	if !ok {
		return fv
	}
	if e, ok := m["enabled"]; !ok {
		p.errorf(path+".enabled", "is required")
	} else {
		fv.Enabled, _ = p.boolean(path+".enabled", e)
	}
	rest := map[string]any{}
	for k, x := range m {
		if k != "enabled" && k != "_variants" && k != "_createdAt" && k != "_updatedAt" {
			rest[k] = x
		}
	}
	fv.Attributes = p.checkAttributes(path, def, rest)
	if vv, ok := m["_variants"]; ok {
		fv.Variants = p.variants(path+"._variants", key, def, vv)
	}
	return fv
}

func (p *parser) variants(path, flag string, def FlagDefinition, v any) []Variant {
	list, ok := v.([]any)
	if !ok {
		p.errorf(path, "must be an array, not %s", jsonType(v))
		return nil
	}
	out := make([]Variant, 0, len(list))
	names := map[string]bool{}
	for i, item := range list {
		ip := index(path, i)
		m, ok := p.object(ip, item)
		if !ok {
			continue
		}
		var vr Variant
		if s, ok := p.str(ip+".name", m["name"]); ok {
			if !namePattern.MatchString(s) {
				p.errorf(ip+".name", "must be 1 to 64 characters on one line")
			} else if names[s] {
				p.errorf(ip+".name", "variant %q is defined twice", s)
			}
			names[s] = true
			vr.Name = s
		}
		if e, ok := m["enabled"]; !ok {
			p.errorf(ip+".enabled", "is required")
		} else {
			vr.Enabled, _ = p.boolean(ip+".enabled", e)
		}
		if r, ok := m["rule"]; ok {
			if s, ok := p.str(ip+".rule", r); ok {
				vr.Rule = s
				rule, err := ParseRule(s)
				if err != nil {
					p.errorf(ip+".rule", "%v", err)
				} else {
					vr.rule = rule
					p.checkRuleVars(ip+".rule", rule)
				}
			}
		} else if i != len(list)-1 {
			p.errorf(ip+".rule", "is required: only the last variant may be the default (no rule)")
		}
		rest := map[string]any{}
		for k, x := range m {
			if k != "name" && k != "enabled" && k != "rule" {
				rest[k] = x
			}
		}
		vr.Attributes = p.checkAttributes(ip, def, rest)
		out = append(out, vr)
	}
	return out
}

func (p *parser) checkRuleVars(path string, r *Rule) {
	if len(p.opts.ContextKeys) == 0 {
		return
	}
	for _, name := range r.Vars() {
		if name == p.opts.EntityAttribute {
			continue
		}
		known := false
		for _, k := range p.opts.ContextKeys {
			if k == name {
				known = true
				break
			}
		}
		if !known {
			p.errorf(path, "refers to unknown context attribute $%s; known: %s", name, strings.Join(p.opts.ContextKeys, ", "))
		}
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
