package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one thing wrong with a config, located by line and field path.
type Problem struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	if p.Field != "" {
		b.WriteString(": ")
		b.WriteString(p.Field)
	}
	b.WriteString(": ")
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found in one config; it is returned as an error.
type Errors struct {
	Problems []Problem
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// ErrInvalid is matched by errors.Is for any *Errors.
var ErrInvalid = errors.New("invalid config")

// Is lets errors.Is(err, ErrInvalid) find an *Errors.
func (e *Errors) Is(target error) bool { return target == ErrInvalid }

// Load reads, decodes, defaults and validates the config at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes and validates a config held in memory; name is used in
// messages as the file name.
func Parse(name string, data []byte) (*Config, error) {
	l := &loader{file: name, lines: map[string]int{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.add(0, "", "the file is empty; see the README's config reference")
			return nil, l.errs()
		}
		line := yamlErrLine(err)
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
		l.add(line, "", "malformed YAML: "+msg)
		return nil, l.errs()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.add(extra.Line, "", "more than one YAML document; put the whole config in one")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	l.walk(root, reflect.TypeOf(Config{}), "")
	// The walk blanked what it could not use, so decoding goes on and the
	// meaning is checked too: the user sees every problem in one go.
	var cfg Config
	if err := root.Decode(&cfg); err != nil {
		// The walk checked every scalar, so this is unexpected; still report it.
		l.add(yamlErrLine(err), "", strings.TrimPrefix(err.Error(), "yaml: "))
		return nil, l.errs()
	}
	cfg.File = name
	cfg.applyDefaults()
	l.validate(&cfg)
	if len(l.problems) > 0 {
		return nil, l.errs()
	}
	return &cfg, nil
}

type loader struct {
	file     string
	lines    map[string]int // field path -> line
	broken   []string       // field paths with a structural problem
	problems []Problem
}

// bad records a structural problem at path and blanks the node so that
// decoding can go on; checks of meaning then stay quiet about that path.
func (l *loader) bad(n *yaml.Node, path, format string, args ...any) {
	l.at(path, format, args...)
	l.broken = append(l.broken, path)
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

// isBroken reports whether field is, or is inside or around, a path that
// already has a structural problem.
func (l *loader) isBroken(field string) bool {
	for _, b := range l.broken {
		if field == b || strings.HasPrefix(field, b+".") || strings.HasPrefix(field, b+"[") ||
			strings.HasPrefix(b, field+".") || strings.HasPrefix(b, field+"[") {
			return true
		}
	}
	return false
}

func (l *loader) add(line int, field, msg string) {
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Field: field, Msg: msg})
}

// at reports a problem on a field path, using the line recorded for the
// longest known prefix of the path.
func (l *loader) at(field, format string, args ...any) {
	if l.isBroken(field) {
		return
	}
	l.add(l.lineOf(field), field, fmt.Sprintf(format, args...))
}

func (l *loader) lineOf(field string) int {
	for p := field; p != ""; {
		if n, ok := l.lines[p]; ok {
			return n
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func (l *loader) errs() error {
	sort.SliceStable(l.problems, func(i, j int) bool { return l.problems[i].Line < l.problems[j].Line })
	return &Errors{Problems: l.problems}
}

var durationType = reflect.TypeOf(Duration(0))

// walk checks a YAML node against the Go type it will decode into: unknown
// fields, wrong kinds and unparsable scalars are problems with their line.
func (l *loader) walk(n *yaml.Node, t reflect.Type, path string) {
	if path != "" {
		l.lines[path] = n.Line
	}
	if n.Kind == yaml.AliasNode {
		// Aliases can expand exponentially or refer to themselves; a config
		// is small enough to write out.
		l.bad(n, path, "YAML aliases (*%s) are not supported in holdfast configs; write the value out", n.Value)
		return
	}
	if path != "" {
		l.lines[path] = n.Line
	}
	if t.Kind() == reflect.Pointer {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		t = t.Elem()
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && t.Kind() != reflect.String {
		return // an empty value leaves the default
	}
	what := path
	if what == "" {
		what = "the document"
	}
	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			l.bad(n, path, "want a duration such as 2s, got %s", kindName(n))
			return
		}
		if _, err := parseDuration(n.Value); err != nil {
			l.bad(n, path, "%v", err)
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			l.bad(n, path, "want a mapping of fields, got %s", kindName(n))
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := joinPath(path, k.Value)
			if seen[k.Value] {
				l.add(k.Line, child, "set twice; keep one")
				continue
			}
			seen[k.Value] = true
			l.lines[child] = k.Line
			f, ok := fields[k.Value]
			if !ok {
				l.add(k.Line, child, fmt.Sprintf("unknown field in %s; known fields: %s", what, strings.Join(sortedKeys(fields), ", ")))
				continue
			}
			l.walk(v, f.Type, child)
			kept = append(kept, k, v)
		}
		n.Content = kept
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			l.bad(n, path, "want a list, got %s", kindName(n))
			return
		}
		for i, item := range n.Content {
			l.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			l.bad(n, path, "want a mapping, got %s", kindName(n))
			return
		}
		seen := map[string]bool{}
		kept := n.Content[:0:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := path + "." + k.Value
			if seen[k.Value] {
				l.add(k.Line, child, "set twice; keep one")
				continue
			}
			seen[k.Value] = true
			l.lines[child] = k.Line
			l.walk(v, t.Elem(), child)
			kept = append(kept, k, v)
		}
		n.Content = kept
	default:
		if n.Kind != yaml.ScalarNode {
			l.bad(n, path, "want a %s, got %s", t.Kind(), kindName(n))
			return
		}
		l.checkScalar(n, t, path)
	}
}

func (l *loader) checkScalar(n *yaml.Node, t reflect.Type, path string) {
	switch t.Kind() {
	case reflect.Bool:
		if n.Tag != "!!bool" {
			l.bad(n, path, "want true or false, got %q", n.Value)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if _, err := strconv.ParseInt(n.Value, 0, t.Bits()); err != nil || n.Tag != "!!int" {
			l.bad(n, path, "want a whole number, got %q", n.Value)
		}
	case reflect.Float64:
		if _, err := strconv.ParseFloat(n.Value, 64); err != nil || (n.Tag != "!!float" && n.Tag != "!!int") {
			l.bad(n, path, "want a number, got %q", n.Value)
		}
	case reflect.String:
		if n.Tag == "!!null" {
			return
		}
		if n.Tag != "!!str" && n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!bool" {
			l.bad(n, path, "want a string, got %s", kindName(n))
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		out[tag] = f
	}
	return out
}

func sortedKeys(m map[string]reflect.StructField) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// yamlErrLine pulls "line N" out of a yaml error message.
func yamlErrLine(err error) int {
	s := err.Error()
	i := strings.Index(s, "line ")
	if i < 0 {
		return 0
	}
	s = s[i+5:]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, _ := strconv.Atoi(s[:j])
	return n
}
