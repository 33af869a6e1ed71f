// Package testplugins holds a fake backend and a fake task for the plugins
// package's tests, run in real plugin subprocesses (cmd/fakeplugin), and
// exact comparison helpers. Results are pseudo-random bit patterns derived
// from a fingerprint of the whole request (NaNs with payloads included), so
// an in-process call and a call over the wire agree bit for bit only if
// every value and every nil-vs-empty distinction crossed intact.
package testplugins

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"reflect"
	"sort"
)

// Fingerprint hashes values exactly: floats by their bits, nil and empty
// slices and maps differently, nil pointers differently from zero values.
func Fingerprint(vs ...any) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	put := func(x uint64) {
		binary.LittleEndian.PutUint64(buf[:], x)
		h.Write(buf[:])
	}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		put(uint64(v.Kind()))
		switch v.Kind() {
		case reflect.Invalid:
		case reflect.Bool:
			if v.Bool() {
				put(1)
			} else {
				put(0)
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			put(uint64(v.Int()))
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			put(v.Uint())
		case reflect.Float32:
			put(uint64(math.Float32bits(float32(v.Float()))))
		case reflect.Float64:
			put(math.Float64bits(v.Float()))
		case reflect.String:
			put(uint64(v.Len()))
			h.Write([]byte(v.String()))
		case reflect.Slice:
			if v.IsNil() {
				put(math.MaxUint64)
				return
			}
			put(uint64(v.Len()))
			if f, ok := fastSlice(v); ok {
				for _, x := range f {
					put(x)
				}
				return
			}
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i))
			}
		case reflect.Map:
			if v.IsNil() {
				put(math.MaxUint64)
				return
			}
			put(uint64(v.Len()))
			for _, k := range sortedKeys(v) {
				walk(k)
				walk(v.MapIndex(k))
			}
		case reflect.Pointer, reflect.Interface:
			if v.IsNil() {
				put(math.MaxUint64)
				return
			}
			walk(v.Elem())
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i))
			}
		default:
			panic(fmt.Sprintf("Fingerprint: unsupported kind %s", v.Kind()))
		}
	}
	for _, v := range vs {
		walk(reflect.ValueOf(v))
	}
	return h.Sum64()
}

// fastSlice returns the bit patterns of big numeric slices without
// reflecting on every element.
func fastSlice(v reflect.Value) ([]uint64, bool) {
	switch s := v.Interface().(type) {
	case []int32:
		out := make([]uint64, len(s))
		for i, x := range s {
			out[i] = uint64(x)
		}
		return out, true
	case []float32:
		out := make([]uint64, len(s))
		for i, x := range s {
			out[i] = uint64(math.Float32bits(x))
		}
		return out, true
	case []float64:
		out := make([]uint64, len(s))
		for i, x := range s {
			out[i] = math.Float64bits(x)
		}
		return out, true
	case []bool:
		out := make([]uint64, len(s))
		for i, x := range s {
			if x {
				out[i] = 1
			}
		}
		return out, true
	}
	return nil, false
}

func sortedKeys(m reflect.Value) []reflect.Value {
	keys := m.MapKeys()
	sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i].Interface()) < fmt.Sprint(keys[j].Interface()) })
	return keys
}

// Diff compares want and got exactly, like Fingerprint does, and describes
// the first difference ("" when they are identical).
func Diff(want, got any) string {
	return diff("", reflect.ValueOf(want), reflect.ValueOf(got))
}

func diff(path string, a, b reflect.Value) string {
	if path == "" {
		path = "value"
	}
	if a.Kind() != b.Kind() || (a.IsValid() && a.Type() != b.Type()) {
		return fmt.Sprintf("%s: kind %s vs %s", path, a.Kind(), b.Kind())
	}
	switch a.Kind() {
	case reflect.Invalid:
		return ""
	case reflect.Bool:
		if a.Bool() != b.Bool() {
			return fmt.Sprintf("%s: %v vs %v", path, a.Bool(), b.Bool())
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if a.Int() != b.Int() {
			return fmt.Sprintf("%s: %d vs %d", path, a.Int(), b.Int())
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if a.Uint() != b.Uint() {
			return fmt.Sprintf("%s: %d vs %d", path, a.Uint(), b.Uint())
		}
	case reflect.Float32:
		x, y := math.Float32bits(float32(a.Float())), math.Float32bits(float32(b.Float()))
		if x != y {
			return fmt.Sprintf("%s: float32 bits %#08x (%g) vs %#08x (%g)", path, x, a.Float(), y, b.Float())
		}
	case reflect.Float64:
		x, y := math.Float64bits(a.Float()), math.Float64bits(b.Float())
		if x != y {
			return fmt.Sprintf("%s: float64 bits %#016x (%g) vs %#016x (%g)", path, x, a.Float(), y, b.Float())
		}
	case reflect.String:
		if a.String() != b.String() {
			return fmt.Sprintf("%s: %q vs %q", path, a.String(), b.String())
		}
	case reflect.Slice:
		if a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil %v vs nil %v", path, a.IsNil(), b.IsNil())
		}
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: len %d vs %d", path, a.Len(), b.Len())
		}
		for i := range a.Len() {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); d != "" {
				return d
			}
		}
	case reflect.Array:
		for i := range a.Len() {
			if d := diff(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i)); d != "" {
				return d
			}
		}
	case reflect.Map:
		if a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil %v vs nil %v", path, a.IsNil(), b.IsNil())
		}
		if a.Len() != b.Len() {
			return fmt.Sprintf("%s: len %d vs %d", path, a.Len(), b.Len())
		}
		for _, k := range sortedKeys(a) {
			bv := b.MapIndex(k)
			if !bv.IsValid() {
				return fmt.Sprintf("%s[%v]: missing", path, k)
			}
			if d := diff(fmt.Sprintf("%s[%v]", path, k), a.MapIndex(k), bv); d != "" {
				return d
			}
		}
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() != b.IsNil() {
			return fmt.Sprintf("%s: nil %v vs nil %v", path, a.IsNil(), b.IsNil())
		}
		if !a.IsNil() {
			return diff(path, a.Elem(), b.Elem())
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if d := diff(path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i)); d != "" {
				return d
			}
		}
	default:
		return fmt.Sprintf("%s: unsupported kind %s", path, a.Kind())
	}
	return ""
}
