package flags

import (
	"encoding/json"
	"fmt"
)

// rawDoc is a flag document held as JSON values, so a change to one flag
// keeps everything else as it was written.
type rawDoc struct {
	top    map[string]json.RawMessage
	flags  map[string]json.RawMessage
	values map[string]map[string]json.RawMessage
}

func emptyDocument() *rawDoc {
	return &rawDoc{top: map[string]json.RawMessage{"version": json.RawMessage(`"1"`)},
		flags: map[string]json.RawMessage{}, values: map[string]map[string]json.RawMessage{}}
}

func parseRaw(raw []byte) (*rawDoc, error) {
	d := &rawDoc{values: map[string]map[string]json.RawMessage{}}
	if err := json.Unmarshal(raw, &d.top); err != nil {
		return nil, fmt.Errorf("flag document: %w", err)
	}
	if err := json.Unmarshal(orEmpty(d.top["flags"]), &d.flags); err != nil {
		return nil, fmt.Errorf("flag document flags: %w", err)
	}
	var values map[string]json.RawMessage
	if err := json.Unmarshal(orEmpty(d.top["values"]), &values); err != nil {
		return nil, fmt.Errorf("flag document values: %w", err)
	}
	for k, v := range values {
		m := map[string]json.RawMessage{}
		if err := json.Unmarshal(v, &m); err != nil {
			return nil, fmt.Errorf("flag document values.%s: %w", k, err)
		}
		d.values[k] = m
	}
	if d.flags == nil {
		d.flags = map[string]json.RawMessage{}
	}
	return d, nil
}

func orEmpty(b json.RawMessage) []byte {
	if len(b) == 0 || string(b) == "null" {
		return []byte("{}")
	}
	return b
}

func (d *rawDoc) add(name, description string, enabled bool) {
	def := map[string]string{"name": name}
	if description != "" {
		def["description"] = description
	}
	d.flags[name], _ = json.Marshal(def)
	d.values[name] = map[string]json.RawMessage{}
	d.setEnabled(name, enabled)
}

func (d *rawDoc) setEnabled(name string, enabled bool) {
	if d.values[name] == nil {
		d.values[name] = map[string]json.RawMessage{}
	}
	d.values[name]["enabled"], _ = json.Marshal(enabled)
}

func (d *rawDoc) enabled(name string) bool {
	var on bool
	_ = json.Unmarshal(d.values[name]["enabled"], &on)
	return on
}

func (d *rawDoc) hasVariants(name string) bool {
	_, ok := d.values[name]["_variants"]
	return ok
}

func (d *rawDoc) marshal() ([]byte, error) {
	top := make(map[string]any, len(d.top)+2)
	for k, v := range d.top {
		top[k] = v
	}
	top["flags"] = d.flags
	top["values"] = d.values
	return json.MarshalIndent(top, "", "  ")
}
