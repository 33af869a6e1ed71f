package cpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The version keys cached answers: it names the numerics and the BLAS, and
// carries no build id (a rebuild must not invalidate a cache).
func TestVersionIsStableAcrossBuilds(t *testing.T) {
	want := NumericsVersion + "+purego"
	if usesCgoBLAS {
		want = NumericsVersion + "+openblas"
	}
	assert.Equal(t, want, Version())
}
