package flagstore

import (
	"testing"
)

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{
		`(eq $a "x")`, `(and (gt $n 1) (not (in $c ["a" "b"])))`, `(split pct::12.5 by::$id)`,
		`(starts_with $e "a\"b")`, `(or (lte $x -1e3) (neq $b true))`, `((`, `(eq $a [1 2`, `"`,
	} {
		f.Add(s)
	}
	ctx := EvalContext{Entity: "e", Values: map[string]any{"a": "x", "n": 2, "c": "a", "id": "u", "x": 1.5, "b": false}}
	f.Fuzz(func(t *testing.T, src string) {
		r, err := ParseRule(src)
		if err != nil {
			if r != nil {
				t.Fatal("rule and error")
			}
			return
		}
		// A parsed rule evaluates without panicking, deterministically.
		if r.Match("f", "entityId", ctx) != r.Match("f", "entityId", ctx) {
			t.Fatal("non-deterministic")
		}
		_ = r.Vars()
	})
}

func FuzzParseDocument(f *testing.F) {
	f.Add([]byte(fullDoc))
	f.Add(killContent(true))
	f.Add([]byte(`{"version":"1","flags":{"f":{"attributes":{"a":{"constraints":{"type":"number[]","elements":{"type":"number","minimum":1}}}}}},"values":{"f":{"enabled":true,"a":[1,2]}}}`))
	f.Add([]byte(`{"version":"1","values":{"x":1}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := ParseDocument(data, ParseOptions{})
		if err != nil {
			if doc != nil {
				t.Fatal("document and error")
			}
			return
		}
		// Every value refers to a defined flag; every variant rule is compiled.
		for k, v := range doc.Values {
			if _, ok := doc.Flags[k]; !ok {
				t.Fatalf("value for undefined flag %q", k)
			}
			for i, vr := range v.Variants {
				if (vr.Rule == "") != (vr.rule == nil) {
					t.Fatalf("variant %d of %q: rule %q compiled=%v", i, k, vr.Rule, vr.rule != nil)
				}
			}
		}
	})
}
