package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/results/resultstest"
)

func TestResultsDiffCommand(t *testing.T) {
	root := t.TempDir()
	a, b, c := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")
	require.NoError(t, resultstest.Write(a, "run-a", resultstest.DefaultModels[:1], resultstest.DefaultTasks))
	require.NoError(t, resultstest.Write(b, "run-b", resultstest.DefaultModels[:1], resultstest.DefaultTasks))
	require.NoError(t, resultstest.Write(c, "run-c", resultstest.DefaultModels[1:], resultstest.DefaultTasks))

	out, err := runResults(t, "diff", a, b)
	require.NoError(t, err)
	assert.Contains(t, out, "same tables")

	out, err = runResults(t, "diff", a, c, "--max", "3")
	require.ErrorIs(t, err, errRunsDiffer)
	assert.False(t, isUsage(err), "different runs exit 1, not 2")
	assert.Contains(t, out, "metrics.arrow row 0")
	assert.Contains(t, out, "column model:")
	assert.Equal(t, 3, strings.Count(out, "\n"))

	_, err = runResults(t, "diff", a)
	assert.True(t, isUsage(err))
	_, err = runResults(t, "diff", a, filepath.Join(root, "none"))
	require.Error(t, err)
	assert.False(t, errors.Is(err, errRunsDiffer))
}
