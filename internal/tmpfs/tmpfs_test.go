package tmpfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFullAndReadOnly(t *testing.T) {
	fs := Mount(t, 64<<10)
	err := os.WriteFile(filepath.Join(fs.Dir, "big"), make([]byte, 1<<20), 0o644)
	assert.True(t, errors.Is(err, syscall.ENOSPC), "%v", err)
	require.NoError(t, os.Remove(filepath.Join(fs.Dir, "big")))
	require.NoError(t, os.WriteFile(filepath.Join(fs.Dir, "small"), []byte("x"), 0o644))
	fs.ReadOnly()
	err = os.WriteFile(filepath.Join(fs.Dir, "other"), []byte("x"), 0o644)
	assert.True(t, errors.Is(err, syscall.EROFS), "%v", err)
	fs.ReadWrite()
	require.NoError(t, os.WriteFile(filepath.Join(fs.Dir, "other"), []byte("x"), 0o644))
}
