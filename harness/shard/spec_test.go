package shard

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseExplicit(t *testing.T) {
	s, err := Parse("2/5", 0, env())
	require.NoError(t, err)
	assert.Equal(t, Spec{Index: 2, Count: 5}, s)
	assert.Equal(t, "2-of-5", s.String())
	assert.Equal(t, filepath.Join("out", "shards", "2-of-5"), s.Dir("out"))

	s, err = Parse("", 0, env(EnvSlurmID, "3"))
	require.NoError(t, err)
	assert.False(t, s.Sharded(), "no --shard: the whole plan, whatever the environment")

	for flag, msg := range map[string]string{
		"3":     "write I/N",
		"a/b":   "write I/N",
		"5/5":   "part 5 is not one of 0..4",
		"-1/5":  "part -1 is not one of 0..4",
		"0/0":   "at least 1",
		"1/2/3": "write I/N",
	} {
		_, err := Parse(flag, 0, env())
		require.Error(t, err, flag)
		assert.Contains(t, err.Error(), msg, flag)
	}
	_, err = Parse("1/3", 3, env())
	assert.ErrorContains(t, err, "--shard-count goes with --shard auto")
	_, err = Parse("", 3, env())
	assert.ErrorContains(t, err, "--shard-count goes with --shard auto")
}

func TestParseAutoSlurm(t *testing.T) {
	cases := []struct {
		env  func(string) string
		want Spec
	}{
		{env(EnvSlurmID, "0", EnvSlurmCount, "3", EnvSlurmMin, "0", EnvSlurmMax, "2"), Spec{0, 3}},
		{env(EnvSlurmID, "2", EnvSlurmCount, "3", EnvSlurmMin, "0", EnvSlurmMax, "2"), Spec{2, 3}},
		{env(EnvSlurmID, "3", EnvSlurmMin, "1", EnvSlurmMax, "4"), Spec{2, 4}},                                        // --array=1-4, older Slurm without COUNT
		{env(EnvSlurmID, "4", EnvSlurmCount, "3", EnvSlurmMin, "0", EnvSlurmMax, "4", EnvSlurmStep, "2"), Spec{2, 3}}, // --array=0-4:2
		{env(EnvSlurmID, "1", EnvSlurmCount, "2"), Spec{1, 2}},
	}
	for _, c := range cases {
		s, err := Parse("auto", 0, c.env)
		require.NoError(t, err)
		assert.Equal(t, c.want, s)
	}
	// SLURM wins over a Kubernetes index, and --shard-count must agree.
	s, err := Parse("auto", 3, env(EnvSlurmID, "1", EnvSlurmCount, "3", EnvSlurmMin, "0", EnvSlurmMax, "2", EnvK8sIndex, "0"))
	require.NoError(t, err)
	assert.Equal(t, Spec{1, 3}, s)

	for _, c := range []struct {
		env   func(string) string
		count int
		msg   string
	}{
		{env(EnvSlurmID, "1,3"), 0, "is not a number"},
		{env(EnvSlurmID, "1"), 0, "is this an array job"},
		{env(EnvSlurmID, "5", EnvSlurmCount, "3", EnvSlurmMin, "1", EnvSlurmMax, "5"), 0, "not one contiguous range"}, // --array=1,2,5
		{env(EnvSlurmID, "1", EnvSlurmCount, "3", EnvSlurmMin, "0", EnvSlurmMax, "2"), 4, "--shard-count 4 disagrees with the array's 3 tasks"},
	} {
		_, err := Parse("auto", c.count, c.env)
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.msg)
	}
}

func TestParseAutoKubernetes(t *testing.T) {
	s, err := Parse("auto", 4, env(EnvK8sIndex, "3"))
	require.NoError(t, err)
	assert.Equal(t, Spec{3, 4}, s)
	s, err = Parse("auto", 0, env(EnvK8sIndex, "0", EnvCount, "2"))
	require.NoError(t, err)
	assert.Equal(t, Spec{0, 2}, s)

	_, err = Parse("auto", 0, env(EnvK8sIndex, "0"))
	assert.ErrorContains(t, err, "give --shard-count N or set MEMSCOPE_SHARD_COUNT")
	_, err = Parse("auto", 2, env(EnvK8sIndex, "2"))
	assert.ErrorContains(t, err, "part 2 is not one of 0..1")
	_, err = Parse("auto", 0, env())
	assert.ErrorContains(t, err, "neither SLURM_ARRAY_TASK_ID")
	assert.ErrorContains(t, err, "give --shard I/N")
}

func TestParseName(t *testing.T) {
	s, ok := ParseName("1-of-3")
	assert.True(t, ok)
	assert.Equal(t, Spec{1, 3}, s)
	for _, bad := range []string{"3-of-3", "01-of-3", "a-of-3", "1of3", "-1-of-3", "0-of-0"} {
		_, ok := ParseName(bad)
		assert.False(t, ok, bad)
	}
}

func TestReadModelShape(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "config.json"), []byte(s), 0o644))
	}
	write(`{"num_hidden_layers": 12, "hidden_size": 768, "intermediate_size": 3072, "max_position_embeddings": 2048}`)
	s, err := ReadModelShape(dir)
	require.NoError(t, err)
	assert.Equal(t, ModelShape{Layers: 12, TokenCost: 84, MaxLen: 2048}, s) // Pythia-160M: 85M block parameters
	write(`{"num_layers": 24, "hidden_size": 2048}`)                        // GPT-Neo: intermediate_size null means 4h
	s, err = ReadModelShape(dir)
	require.NoError(t, err)
	assert.Equal(t, int64(24*(4*2048*2048+2*2048*8192)/1_000_000), s.TokenCost)
	write(`{"num_hidden_layers": 2}`)
	s, err = ReadModelShape(dir)
	require.NoError(t, err)
	assert.Equal(t, ModelShape{Layers: 2, TokenCost: 1}, s)
	write(`{"hidden_size": 8}`)
	_, err = ReadModelShape(dir)
	assert.ErrorContains(t, err, "no layer count")
	_, err = ReadModelShape(filepath.Join(dir, "nope"))
	assert.Error(t, err)
}
