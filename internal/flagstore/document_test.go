package flagstore

import (
	"errors"
	"strings"
	"testing"
)

const fullDoc = `{
 "version": "1",
 "flags": {
  "checkout": {
   "name": "New checkout", "description": "The redesigned checkout page.",
   "_createdAt": "2026-01-01T00:00:00Z", "_updatedAt": "2026-02-01T00:00:00Z",
   "_deprecation": {"status": "planned", "date": "2027-01-01"},
   "attributes": {
    "limit": {"description": "max items", "constraints": {"type": "number", "minimum": 1, "maximum": 100, "required": true}},
    "theme": {"constraints": {"type": "string", "enum": ["light", "dark"]}},
    "code":  {"constraints": {"type": "string", "pattern": "^[A-Z]{3}$"}},
    "beta":  {"constraints": {"type": "boolean"}},
    "regions": {"constraints": {"type": "string[]", "elements": {"type": "string", "enum": ["eu", "us"]}}},
    "weights": {"constraints": {"type": "number[]", "elements": {"type": "number", "minimum": 0}}},
    "free": {}
   }
  },
  "quiet": {"name": "Quiet"}
 },
 "values": {
  "checkout": {
   "enabled": true, "limit": 10, "theme": "dark", "code": "ABC", "beta": false,
   "regions": ["eu"], "weights": [0.5, 1], "free": "anything",
   "_variants": [
    {"name": "staff", "rule": "(ends_with $email \"@example.com\")", "enabled": true, "limit": 100},
    {"name": "tenpct", "rule": "(split pct::10 by::$userId)", "enabled": true, "limit": 20},
    {"name": "Default", "enabled": false, "limit": 1}
   ]
  }
 }
}`

func TestParseDocument(t *testing.T) {
	doc, err := ParseDocument([]byte(fullDoc), ParseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	def := doc.Flags["checkout"]
	if def.Name != "New checkout" || def.Deprecation == nil || def.Deprecation.Date != "2027-01-01" || len(def.Attributes) != 7 {
		t.Errorf("definition = %+v", def)
	}
	v := doc.Values["checkout"]
	if !v.Enabled || v.Attributes["limit"] != 10.0 || v.Attributes["theme"] != "dark" || len(v.Variants) != 3 {
		t.Errorf("value = %+v", v)
	}
	if r := v.Attributes["regions"].([]string); len(r) != 1 || r[0] != "eu" {
		t.Errorf("regions = %v", r)
	}
	if v.Variants[2].rule != nil || v.Variants[0].rule == nil {
		t.Errorf("variant rules not compiled as expected")
	}
	if _, ok := doc.Values["quiet"]; ok {
		t.Errorf("quiet has a value")
	}
}

func TestParseDocumentErrors(t *testing.T) {
	flag := func(attrs, value string) string {
		return `{"version":"1","flags":{"f":{"attributes":{` + attrs + `}}},"values":{"f":` + value + `}}`
	}
	tests := []struct {
		name, doc, path, msg string
	}{
		{"not JSON", `{`, "", "unexpected EOF"},
		{"trailing", `{"version":"1"} {}`, "", "trailing data"},
		{"no version", `{}`, "$.version", "is required"},
		{"bad version", `{"version":"2"}`, "$.version", `"2"`},
		{"unknown top-level", `{"version":"1","flagz":{}}`, "$.flagz", "unknown property"},
		{"bad flag key", `{"version":"1","flags":{"Bad":{}}}`, "$.flags.Bad", "flag key must match"},
		{"odd flag key", `{"version":"1","flags":{"a b":{}}}`, `$.flags["a b"]`, "flag key must match"},
		{"unknown flag property", `{"version":"1","flags":{"f":{"colour":1}}}`, "$.flags.f.colour", "unknown property"},
		{"long name", `{"version":"1","flags":{"f":{"name":"` + strings.Repeat("x", 65) + `"}}}`, "$.flags.f.name", "1 to 64"},
		{"deprecation status", `{"version":"1","flags":{"f":{"_deprecation":{"status":"now"}}}}`, "$.flags.f._deprecation.status", `"planned"`},
		{"deprecation date", `{"version":"1","flags":{"f":{"_deprecation":{"status":"planned","date":"soon"}}}}`, "$.flags.f._deprecation.date", "YYYY-MM-DD"},
		{"reserved attribute", flag(`"enabled":{}`, `{"enabled":true}`), "$.flags.f.attributes.enabled", "reserved"},
		{"unknown type", flag(`"a":{"constraints":{"type":"date"}}`, `{"enabled":true}`), "$.flags.f.attributes.a.constraints.type", `unknown type "date"`},
		{"pattern on number", flag(`"a":{"constraints":{"type":"number","pattern":"x"}}`, `{"enabled":true}`), "$.flags.f.attributes.a.constraints.pattern", "does not apply"},
		{"bad regexp", flag(`"a":{"constraints":{"type":"string","pattern":"("}}`, `{"enabled":true}`), "$.flags.f.attributes.a.constraints.pattern", "regular expression"},
		{"min over max", flag(`"a":{"constraints":{"type":"number","minimum":5,"maximum":1}}`, `{"enabled":true}`), "$.flags.f.attributes.a.constraints", "greater than maximum"},
		{"element type", flag(`"a":{"constraints":{"type":"string[]","elements":{"type":"number"}}}`, `{"enabled":true}`), "$.flags.f.attributes.a.constraints.elements.type", "array is string[]"},
		{"value for undefined flag", `{"version":"1","values":{"g":{"enabled":true}}}`, "$.values.g", "does not define"},
		{"enabled missing", flag(``, `{}`), "$.values.f.enabled", "is required"},
		{"enabled not bool", flag(``, `{"enabled":"yes"}`), "$.values.f.enabled", "must be a boolean"},
		{"undefined attribute", flag(``, `{"enabled":true,"x":1}`), "$.values.f.x", "not defined"},
		{"required missing", flag(`"a":{"constraints":{"type":"number","required":true}}`, `{"enabled":true}`), "$.values.f.a", "required"},
		{"required missing, no value", `{"version":"1","flags":{"f":{"attributes":{"a":{"constraints":{"type":"number","required":true}}}}}}`, "$.values.f.a", "required"},
		{"wrong type", flag(`"a":{"constraints":{"type":"number"}}`, `{"enabled":true,"a":"1"}`), "$.values.f.a", "must be a number"},
		{"below minimum", flag(`"a":{"constraints":{"type":"number","minimum":1}}`, `{"enabled":true,"a":0}`), "$.values.f.a", "below the minimum 1"},
		{"above maximum", flag(`"a":{"constraints":{"type":"number","maximum":1}}`, `{"enabled":true,"a":2}`), "$.values.f.a", "above the maximum 1"},
		{"pattern", flag(`"a":{"constraints":{"type":"string","pattern":"^x+$"}}`, `{"enabled":true,"a":"y"}`), "$.values.f.a", "does not match"},
		{"enum", flag(`"a":{"constraints":{"type":"string","enum":["x"]}}`, `{"enabled":true,"a":"y"}`), "$.values.f.a", `not one of ["x"]`},
		{"array element", flag(`"a":{"constraints":{"type":"number[]","elements":{"type":"number","maximum":3}}}`, `{"enabled":true,"a":[1,5]}`), "$.values.f.a[1]", "above the maximum"},
		{"not an array", flag(`"a":{"constraints":{"type":"string[]"}}`, `{"enabled":true,"a":"x"}`), "$.values.f.a", "must be an array"},
		{"variant bad rule", flag(``, `{"enabled":true,"_variants":[{"name":"v","enabled":true,"rule":"(eq $a"}]}`), "$.values.f._variants[0].rule", "missing"},
		{"split over 100", flag(``, `{"enabled":true,"_variants":[{"name":"v","enabled":true,"rule":"(split pct::120 by::$id)"}]}`), "$.values.f._variants[0].rule", "0 to 100"},
		{"default not last", flag(``, `{"enabled":true,"_variants":[{"name":"d","enabled":true},{"name":"v","enabled":true,"rule":"(eq $a 1)"}]}`), "$.values.f._variants[0].rule", "only the last variant"},
		{"duplicate variant", flag(``, `{"enabled":true,"_variants":[{"name":"v","enabled":true,"rule":"(eq $a 1)"},{"name":"v","enabled":true}]}`), "$.values.f._variants[1].name", "twice"},
		{"variant attribute", flag(`"a":{"constraints":{"type":"boolean"}}`, `{"enabled":true,"_variants":[{"name":"v","enabled":true,"a":3}]}`), "$.values.f._variants[0].a", "must be a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDocument([]byte(tt.doc), ParseOptions{})
			if err == nil {
				t.Fatal("no error")
			}
			if tt.path == "" {
				if !errors.Is(err, ErrInvalidDocument) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err = %v, want ErrInvalidDocument with %q", err, tt.msg)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a ValidationError", err)
			}
			for _, fe := range ve.Errors {
				if fe.Path == tt.path && strings.Contains(fe.Message, tt.msg) {
					return
				}
			}
			t.Fatalf("errors = %v, want one at %s containing %q", ve.Errors, tt.path, tt.msg)
		})
	}
}

func TestParseDocumentContextKeys(t *testing.T) {
	doc := `{"version":"1","flags":{"f":{}},"values":{"f":{"enabled":true,"_variants":[
		{"name":"v","enabled":true,"rule":"(and (eq $plan \"gold\") (split pct::5 by::$entityId))"},
		{"name":"w","enabled":true,"rule":"(eq $country \"FR\")"}]}}}`
	opts := ParseOptions{ContextKeys: []string{"plan"}, EntityAttribute: "entityId"}
	_, err := ParseDocument([]byte(doc), opts)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Errors) != 1 || ve.Errors[0].Path != "$.values.f._variants[1].rule" ||
		!strings.Contains(ve.Errors[0].Message, "unknown context attribute $country") {
		t.Fatalf("err = %v", err)
	}
}
