package provenance

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestGitCommit(t *testing.T) {
	assert.Equal(t, "abc123", GitCommit("abc123"))
	assert.NotEmpty(t, GitCommit("")) // the VCS stamp, or "unknown" under -buildvcs=false
}

func TestMachine(t *testing.T) {
	m := Machine()
	assert.True(t, strings.HasPrefix(m, runtime.GOOS+"/"+runtime.GOARCH+", "), m)
	assert.True(t, strings.HasSuffix(m, " cores"), m)
}
