package results

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// FiguresDir is the folder of a run directory that memscope run draws its
// figures into.
const FiguresDir = "figures"

// tempName matches internal/atomicfile's temporary files (".NAME.tmp-123"),
// which a process killed mid-write leaves behind.
var tempName = regexp.MustCompile(`^\..+\.tmp-[0-9]+$`)

// isLeftover says whether a file name in a run directory is a killed
// writer's: a Writer's spool or staged table, or an atomic write's
// temporary file.
func isLeftover(name string) bool {
	if tempName.MatchString(name) {
		return true
	}
	if !strings.HasPrefix(name, hiddenPrefix) {
		return false
	}
	return strings.HasSuffix(name, ".spool") || strings.HasSuffix(name, ".staged")
}

// RemoveLeftovers removes what writers killed mid-run (kill -9, a power
// cut) left in the run directory dir, its figures folder, and the scratch
// folder given to WithScratchDir (every such file there; "" for none):
// spools, staged tables and half-written temporary files. Call it only
// while no other process writes into dir (memscope run holds the folder's
// run lock). It returns the removed paths; a folder that does not exist
// is not an error.
func RemoveLeftovers(dir, scratch string) ([]string, error) {
	var removed []string
	var errs []error
	sweep := func(folder string, match func(string) bool) {
		entries, err := os.ReadDir(folder)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !match(e.Name()) {
				continue
			}
			p := filepath.Join(folder, e.Name())
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, p)
		}
	}
	sweep(dir, isLeftover)
	sweep(filepath.Join(dir, FiguresDir), tempName.MatchString)
	if scratch != "" {
		sweep(scratch, func(name string) bool { return isLeftover(name) || strings.HasPrefix(name, hiddenPrefix) })
	}
	return removed, errors.Join(errs...)
}
