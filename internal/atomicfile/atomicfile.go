// Package atomicfile writes files so that readers see either the old
// content or the complete new content, never a half-written file: data
// goes to a temporary file in the same directory, is synced, and is then
// renamed over the target.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write creates path by calling fill with a writer on a temporary file in
// the same directory. If fill or any step fails, the temporary file is
// removed and path is left as it was.
//
// A symbolic link is followed: the file it points to is replaced, the
// link stays. A path that is not a regular file (/dev/stdout, a named
// pipe, a terminal) cannot be replaced by a rename and must not be: it is
// written in place, without the atomicity.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	target, special, err := resolve(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if special {
		return writeInPlace(path, fill)
	}
	dir := filepath.Dir(target)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = fill(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// resolve follows symbolic links to the file a rename should replace, and
// reports whether path exists as something other than a regular file.
func resolve(path string) (target string, special bool, err error) {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Nothing there, or a dangling link: replace what path names.
		if real, lerr := filepath.EvalSymlinks(filepath.Dir(path)); lerr == nil {
			return filepath.Join(real, filepath.Base(path)), false, nil
		}
		return path, false, nil
	case err != nil:
		return "", false, err
	case st.IsDir():
		return "", false, fmt.Errorf("is a directory")
	case !st.Mode().IsRegular():
		return path, true, nil
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", false, err
	}
	return real, false, nil
}

// writeInPlace writes into an existing non-regular file (a device, a pipe).
func writeInPlace(path string, fill func(w io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFile is Write for data already in memory.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
