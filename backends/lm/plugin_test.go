package lm

import (
	"bytes"
	"errors"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"

	"github.com/memscope/memscope/backends/engine"
	"github.com/memscope/memscope/plugins"
)

type nonFiniteEngine struct {
	engine.Engine
	bad []engine.NonFiniteTensor
}

func (e nonFiniteEngine) NonFiniteWeights() []engine.NonFiniteTensor { return e.bad }

// CheckLoad: refused non-finite weights are the user's input error, other
// load errors pass unchanged, and tensors loaded anyway are warned about.
func TestCheckLoad(t *testing.T) {
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf})
	refused := &engine.NonFiniteWeightsError{Tensors: []engine.NonFiniteTensor{{Name: "w"}}}
	assert.ErrorIs(t, CheckLoad(log, refused, nil), plugins.ErrInvalidInput)
	other := errors.New("disk on fire")
	err := CheckLoad(log, other, nil)
	assert.ErrorIs(t, err, other)
	assert.NotErrorIs(t, err, plugins.ErrInvalidInput)
	assert.NoError(t, CheckLoad(log, nil, nonFiniteEngine{bad: []engine.NonFiniteTensor{{Name: "gpt_neox.embed_in.weight"}}}))
	assert.Contains(t, buf.String(), "gpt_neox.embed_in.weight")
}
