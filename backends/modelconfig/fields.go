package modelconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Fields reads typed values out of a config.json object, remembering the
// first error so that a parser can read many fields and check once (Err).
// Messages name the file and the key ("config.json: hidden_size must be an
// integer, got \"32\"").
type Fields struct {
	raw    map[string]json.RawMessage
	source string
	prefix string // "rope_parameters." inside a nested object
	err    error
}

// Decode reads data as one JSON object; source names the file in errors.
func Decode(data []byte, source string) (*Fields, error) {
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: invalid JSON: %v", source, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%s: config.json must be a JSON object", source)
	}
	return &Fields{raw: raw, source: source}, nil
}

// Source names the file being read.
func (f *Fields) Source() string { return f.source }

// Err is the first error any read met.
func (f *Fields) Err() error { return f.err }

// Name is key as messages spell it (with the nested object's prefix).
func (f *Fields) Name(key string) string { return f.prefix + key }

// Keys lists the object's keys, sorted.
func (f *Fields) Keys() []string {
	keys := make([]string, 0, len(f.raw))
	for k := range f.raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Raw is the key's value as written, compacted and shortened for messages.
func (f *Fields) Raw(key string) string { return compact(f.raw[key]) }

// Object reads the key's value as a nested object (nil, nil when absent
// or null).
func (f *Fields) Object(key string) (*Fields, error) {
	if !f.Present(key) {
		return nil, nil
	}
	var rp map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(f.raw[key]))
	dec.UseNumber()
	if err := dec.Decode(&rp); err != nil || rp == nil {
		return nil, fmt.Errorf("%s: %s%s must be an object, got %s", f.source, f.prefix, key, compact(f.raw[key]))
	}
	return &Fields{raw: rp, source: f.source, prefix: f.prefix + key + "."}, nil
}

// Unmarshal decodes the key's value into v (for shapes the typed readers
// do not cover); it reports json's error.
func (f *Fields) Unmarshal(key string, v any) error { return json.Unmarshal(f.raw[key], v) }

func isNull(r json.RawMessage) bool { return string(bytes.TrimSpace(r)) == "null" }

// Present reports whether the key is there and not null.
func (f *Fields) Present(key string) bool {
	r, ok := f.raw[key]
	return ok && !isNull(r)
}

func (f *Fields) fail(key, want string) {
	if f.err == nil {
		f.err = fmt.Errorf("%s: %s%s must be %s, got %s", f.source, f.prefix, key, want, compact(f.raw[key]))
	}
}

func (f *Fields) number(key string) (json.Number, bool) {
	// json.Number also accepts a quoted numeral; config values must be
	// JSON numbers.
	if r := bytes.TrimSpace(f.raw[key]); len(r) == 0 || r[0] == '"' {
		return "", false
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(f.raw[key]))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return "", false
	}
	return n, true
}

func (f *Fields) missing(key string) {
	if f.err == nil {
		f.err = fmt.Errorf("%s: required field %s%s is missing", f.source, f.prefix, key)
	}
}

// Int reads a required integer.
func (f *Fields) Int(key string) int {
	if !f.Present(key) {
		f.missing(key)
		return 0
	}
	return f.OptInt(key, 0)
}

// OptInt reads an integer, def when absent or null.
func (f *Fields) OptInt(key string, def int) int {
	if !f.Present(key) {
		return def
	}
	n, ok := f.number(key)
	if !ok {
		f.fail(key, "an integer")
		return 0
	}
	v, err := n.Int64()
	if err != nil {
		// Accept 2048.0 (some exporters write floats) but not 2048.5.
		fv, ferr := n.Float64()
		if ferr != nil || fv != math.Trunc(fv) || math.Abs(fv) > 1<<53 {
			f.fail(key, "an integer")
			return 0
		}
		v = int64(fv)
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		f.fail(key, "an integer of sane size")
		return 0
	}
	return int(v)
}

// Float reads a required number.
func (f *Fields) Float(key string) float64 {
	if !f.Present(key) {
		f.missing(key)
		return 0
	}
	return f.OptFloat(key, 0)
}

// OptFloat reads a number, def when absent or null.
func (f *Fields) OptFloat(key string, def float64) float64 {
	if !f.Present(key) {
		return def
	}
	n, ok := f.number(key)
	if !ok {
		f.fail(key, "a number")
		return 0
	}
	v, err := n.Float64()
	if err != nil {
		f.fail(key, "a number")
		return 0
	}
	return v
}

// OptBool reads true or false, def when absent or null.
func (f *Fields) OptBool(key string, def bool) bool {
	if !f.Present(key) {
		return def
	}
	var b bool
	if err := json.Unmarshal(f.raw[key], &b); err != nil {
		f.fail(key, "true or false")
		return def
	}
	return b
}

// Str reads a string, def when absent or null.
func (f *Fields) Str(key, def string) string {
	if !f.Present(key) {
		return def
	}
	var s string
	if err := json.Unmarshal(f.raw[key], &s); err != nil {
		f.fail(key, "a string")
		return def
	}
	return s
}

// StrList reads a list of strings, nil when absent or null.
func (f *Fields) StrList(key string) []string {
	if !f.Present(key) {
		return nil
	}
	var s []string
	if err := json.Unmarshal(f.raw[key], &s); err != nil {
		f.fail(key, "a list of strings")
		return nil
	}
	return s
}

// Activation maps an HF activation name to the two memscope computes.
// gelu_pytorch_tanh and gelu_fast are the same tanh approximation as
// gelu_new, written differently.
func (f *Fields) Activation(key, def string) (string, error) {
	name := f.Str(key, def)
	switch name {
	case ActGELU:
		return ActGELU, nil
	case ActGELUNew, "gelu_pytorch_tanh", "gelu_fast":
		return ActGELUNew, nil
	}
	if f.err != nil {
		return "", f.err
	}
	return "", fmt.Errorf("%s: %s %q is not supported; memscope computes %q (exact, erf) and %q (tanh approximation)", f.source, key, name, ActGELU, ActGELUNew)
}

// compact renders a raw JSON value for a message, shortened.
func compact(r json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, r) != nil {
		return strings.TrimSpace(string(r))
	}
	s := b.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// CompactList renders raw JSON values as a list for a message.
func CompactList(rs []json.RawMessage) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = compact(r)
	}
	return "[" + strings.Join(parts, ",") + "]"
}
