package results_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/resultstest"
)

// FuzzReadTables: a run directory with any bytes in place of one of its
// tables (a damaged disk, a file from elsewhere) reads or fails with an
// error naming the file; never a panic.
func FuzzReadTables(f *testing.F) {
	src := f.TempDir()
	small := []resultstest.Model{{Name: "m", Blocks: 2, Strength: 0.9, Ability: 0.8, MemPeak: 1}}
	if err := resultstest.Write(src, "seed", small, resultstest.DefaultTasks[:2]); err != nil {
		f.Fatal(err)
	}
	files := map[string][]byte{}
	for i, table := range results.Tables {
		name, _ := results.TableFile(table)
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			f.Fatal(err)
		}
		files[name] = b
		f.Add(uint8(i), b)
		f.Add(uint8(i), b[:len(b)/2])
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		table := results.Tables[int(which)%len(results.Tables)]
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Skip(err)
			}
		}
		name, _ := results.TableFile(table)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Skip(err)
		}
		_, _ = results.ReadInfo(dir)
		_, _ = results.Read(dir)
		_ = results.CheckTables(dir)
		if run, err := results.ReadMetrics(dir); err == nil {
			_, _ = results.BuildLeaderboard([]*results.Run{run}, results.LeaderboardOptions{})
		}
	})
}
