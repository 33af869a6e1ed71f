package checkpoint

import (
	"fmt"
	"slices"
)

// Tensors lists the parameters, sorted by name.
func (ck *Checkpoint) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(ck.tensors))
	for i, t := range ck.tensors {
		t.Shape = slices.Clone(t.Shape)
		out[i] = t
	}
	return out
}

// Info describes one tensor.
func (ck *Checkpoint) Info(name string) (TensorInfo, bool) {
	e, ok := ck.byName[name]
	if !ok {
		return TensorInfo{}, false
	}
	info := e.info
	info.Shape = slices.Clone(info.Shape)
	return info, true
}

// Has reports whether the checkpoint stores name.
func (ck *Checkpoint) Has(name string) bool {
	_, ok := ck.byName[name]
	return ok
}

// Float32 converts the named tensor to a new float32 slice (row-major, as
// stored).
func (ck *Checkpoint) Float32(name string) ([]float32, error) {
	e, err := ck.lookup(name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, e.tensor.NumElements())
	if err := e.file.Float32Into(e.tensor, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Float32Into converts the named tensor into dst, which must hold exactly
// its number of elements (lets an engine fill its own buffers without an
// extra copy).
func (ck *Checkpoint) Float32Into(name string, dst []float32) error {
	e, err := ck.lookup(name)
	if err != nil {
		return err
	}
	return e.file.Float32Into(e.tensor, dst)
}

// Require is Float32 after checking that the tensor exists with exactly
// the given shape.
func (ck *Checkpoint) Require(name string, shape ...int) ([]float32, error) {
	e, err := ck.lookup(name)
	if err != nil {
		return nil, err
	}
	if !slices.Equal(e.info.Shape, shape) {
		return nil, fmt.Errorf("tensor %s in %s has shape %v, want %v for this config.json", name, e.info.File, e.info.Shape, shape)
	}
	return ck.Float32(name)
}

func (ck *Checkpoint) lookup(name string) (entry, error) {
	e, ok := ck.byName[name]
	if !ok {
		return entry{}, fmt.Errorf("checkpoint %s has no tensor %s (is this a %s checkpoint?)", ck.Dir, name, ck.Config.Architecture)
	}
	return e, nil
}
