// Package shard splits a run plan into parts that run as separate
// processes — the tasks of a Slurm job array or of a Kubernetes Indexed
// Job — and says which part a process runs.
//
// The split is by estimated work (tokens forwarded through the model,
// generation steps included), not by cell count: cells differ by 10× in
// cost. Its unit is a task's documents on one model under every
// intervention of the plan (a cell group): a part holds whole document
// ranges of a group, for all of its interventions, so a large group is
// split by document ranges and a small one stays whole. The split is a
// pure function of the plan, computed in integers, so every part of an
// array job computes the same split on any machine.
package shard

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Spec says which part of a plan a run computes: part Index (0-based) of
// Count. The zero Spec is the whole plan.
type Spec struct {
	Index, Count int
}

// Sharded reports whether s is a part of a plan rather than all of it.
func (s Spec) Sharded() bool { return s.Count > 0 }

// String is the part's name, "1-of-3" (its folder under OUT/shards).
func (s Spec) String() string {
	if !s.Sharded() {
		return "all"
	}
	return fmt.Sprintf("%d-of-%d", s.Index, s.Count)
}

// FolderName is the folder under --out that holds the parts' run folders.
const FolderName = "shards"

// Dir is the part's run folder under the shared --out.
func (s Spec) Dir(out string) string {
	return filepath.Join(out, FolderName, s.String())
}

// ParseName reads a part's name as String writes it ("1-of-3").
func ParseName(name string) (Spec, bool) {
	i, n, ok := strings.Cut(name, "-of-")
	if !ok {
		return Spec{}, false
	}
	a, err1 := strconv.Atoi(i)
	b, err2 := strconv.Atoi(n)
	if err1 != nil || err2 != nil || b < 1 || a < 0 || a >= b || strconv.Itoa(a) != i || strconv.Itoa(b) != n {
		return Spec{}, false
	}
	return Spec{Index: a, Count: b}, true
}

// Environment variables that --shard auto reads.
const (
	EnvSlurmID    = "SLURM_ARRAY_TASK_ID"
	EnvSlurmCount = "SLURM_ARRAY_TASK_COUNT"
	EnvSlurmMin   = "SLURM_ARRAY_TASK_MIN"
	EnvSlurmMax   = "SLURM_ARRAY_TASK_MAX"
	EnvSlurmStep  = "SLURM_ARRAY_TASK_STEP"
	// EnvK8sIndex is set by Kubernetes in each pod of an Indexed Job.
	EnvK8sIndex = "JOB_COMPLETION_INDEX"
	// EnvCount gives the number of parts where the scheduler does not
	// (a Kubernetes Indexed Job: set it to the Job's completions).
	EnvCount = "MEMSCOPE_SHARD_COUNT"
)

// Parse reads --shard: "I/N" (0-based part I of N) or "auto", which takes
// I and N from the scheduler's environment (see FromEnv); count is
// --shard-count (0: not given). "" is the whole plan.
func Parse(flag string, count int, getenv func(string) string) (Spec, error) {
	flag = strings.TrimSpace(flag)
	if count < 0 {
		return Spec{}, fmt.Errorf("--shard-count %d: give the number of parts (the Indexed Job's completions)", count)
	}
	switch {
	case flag == "":
		if count > 0 {
			return Spec{}, fmt.Errorf("--shard-count goes with --shard auto")
		}
		return Spec{}, nil
	case flag == "auto":
		return FromEnv(count, getenv)
	}
	if count > 0 {
		return Spec{}, fmt.Errorf("--shard %s names its count; --shard-count goes with --shard auto", flag)
	}
	i, n, ok := strings.Cut(flag, "/")
	a, err1 := strconv.Atoi(strings.TrimSpace(i))
	b, err2 := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err1 != nil || err2 != nil {
		return Spec{}, fmt.Errorf("--shard %q: write I/N (part I of N, 0-based, e.g. --shard 0/4), or auto inside a Slurm array or Kubernetes Indexed Job", flag)
	}
	return check(Spec{Index: a, Count: b}, "--shard "+flag)
}

func check(s Spec, what string) (Spec, error) {
	if s.Count < 1 {
		return Spec{}, fmt.Errorf("%s: the number of parts must be at least 1", what)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return Spec{}, fmt.Errorf("%s: part %d is not one of 0..%d (parts are numbered from 0)", what, s.Index, s.Count-1)
	}
	return s, nil
}

// FromEnv takes the part from a Slurm job array (SLURM_ARRAY_TASK_ID, with
// SLURM_ARRAY_TASK_COUNT or MIN/MAX; the array must be one contiguous
// range, with a step if any, e.g. --array=0-7 or --array=1-8) or from a
// Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with the count from count
// or MEMSCOPE_SHARD_COUNT).
func FromEnv(count int, getenv func(string) string) (Spec, error) {
	if id := strings.TrimSpace(getenv(EnvSlurmID)); id != "" {
		return fromSlurm(id, count, getenv)
	}
	if idx := strings.TrimSpace(getenv(EnvK8sIndex)); idx != "" {
		i, err := strconv.Atoi(idx)
		if err != nil {
			return Spec{}, fmt.Errorf("--shard auto: %s=%q is not a number", EnvK8sIndex, idx)
		}
		if count == 0 {
			v := strings.TrimSpace(getenv(EnvCount))
			if v == "" {
				return Spec{}, fmt.Errorf("--shard auto: %s=%d says which part this is, but not how many there are: give --shard-count N or set %s to the Job's completions", EnvK8sIndex, i, EnvCount)
			}
			if count, err = strconv.Atoi(v); err != nil {
				return Spec{}, fmt.Errorf("--shard auto: %s=%q is not a number", EnvCount, v)
			}
		}
		return check(Spec{Index: i, Count: count}, fmt.Sprintf("--shard auto (%s=%d, %d parts)", EnvK8sIndex, i, count))
	}
	return Spec{}, fmt.Errorf("--shard auto: neither %s (a Slurm job array: sbatch --array=0-N) nor %s (a Kubernetes Indexed Job) is set; outside a scheduler give --shard I/N", EnvSlurmID, EnvK8sIndex)
}

func fromSlurm(id string, count int, getenv func(string) string) (Spec, error) {
	num := func(name string) (int, bool, error) {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, false, fmt.Errorf("--shard auto: %s=%q is not a number", name, v)
		}
		return n, true, nil
	}
	taskID, err := strconv.Atoi(id)
	if err != nil {
		return Spec{}, fmt.Errorf("--shard auto: %s=%q is not a number", EnvSlurmID, id)
	}
	lo, haveMin, err := num(EnvSlurmMin)
	if err != nil {
		return Spec{}, err
	}
	hi, haveMax, err := num(EnvSlurmMax)
	if err != nil {
		return Spec{}, err
	}
	n, haveCount, err := num(EnvSlurmCount)
	if err != nil {
		return Spec{}, err
	}
	step, haveStep, err := num(EnvSlurmStep)
	if err != nil {
		return Spec{}, err
	}
	if !haveStep || step < 1 {
		step = 1
	}
	if !haveMin {
		if !haveCount {
			return Spec{}, fmt.Errorf("--shard auto: %s is set but neither %s nor %s/%s: is this an array job (sbatch --array=0-N)?", EnvSlurmID, EnvSlurmCount, EnvSlurmMin, EnvSlurmMax)
		}
		lo = 0
	}
	span := 0
	if haveMin && haveMax {
		span = (hi-lo)/step + 1
	}
	if !haveCount {
		if span == 0 {
			return Spec{}, fmt.Errorf("--shard auto: %s is set without %s or %s: is this an array job (sbatch --array=0-N)?", EnvSlurmMin, EnvSlurmCount, EnvSlurmMax)
		}
		n = span
	}
	what := fmt.Sprintf("--shard auto (Slurm array task %d of %d", taskID, n)
	if haveMin {
		what += fmt.Sprintf(", ids %d-%d", lo, hi)
		if step > 1 {
			what += fmt.Sprintf(":%d", step)
		}
	}
	what += ")"
	if span != 0 && span != n || (taskID-lo)%step != 0 {
		return Spec{}, fmt.Errorf("%s: the array is not one contiguous range of ids; submit it as --array=0-%d (a %%limit is fine)", what, n-1)
	}
	if count > 0 && count != n {
		return Spec{}, fmt.Errorf("%s: --shard-count %d disagrees with the array's %d tasks", what, count, n)
	}
	return check(Spec{Index: (taskID - lo) / step, Count: n}, what)
}
