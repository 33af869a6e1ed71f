package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

func TestBackendsTableSaysWhatComputes(t *testing.T) {
	var w bytes.Buffer
	writeBackendsTable(&w, []backendEntry{
		{Name: "cpu", Capabilities: &plugins.Capabilities{Version: "1+openblas", Architectures: []string{"GPTNeoXForCausalLM"},
			DTypes: []string{"float32"}, InterventionKinds: []intervention.Kind{intervention.AttnShortCircuit},
			Compute: "OpenBLAS 0.3.21, Cooperlake kernels (chosen by memscope: why)"}},
		{Name: "quiet", Capabilities: &plugins.Capabilities{Version: "2", DTypes: []string{"float32"}}},
		{Name: "broken", Error: "handshake failed\nmore"},
	})
	assert.Equal(t, `BACKEND  VERSION     ARCHITECTURES       DTYPES   INTERVENTIONS
cpu      1+openblas  GPTNeoXForCausalLM  float32  attn-short-circuit
quiet    2                               float32  
broken   -           -                   -        error: handshake failed

cpu computes with OpenBLAS 0.3.21, Cooperlake kernels (chosen by memscope: why)
`, w.String())
}
