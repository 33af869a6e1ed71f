package results_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/results"
	"github.com/memscope/memscope/results/resultstest"
)

func TestLeaderboardGolden(t *testing.T) {
	root := t.TempDir()
	models := slices.Clone(resultstest.DefaultModels)
	models[0].Sets = [][]int{{4, 5}} // a set of blocks bypassed together: a row of its own
	require.NoError(t, resultstest.Write(filepath.Join(root, "sweep"), "run-1", models, resultstest.DefaultTasks))
	lb, err := results.LoadLeaderboard([]string{root}, results.LeaderboardOptions{})
	require.NoError(t, err)
	for _, f := range []struct{ format, file string }{
		{"text", "leaderboard.txt.golden"},
		{"markdown", "leaderboard.md.golden"},
		{"csv", "leaderboard.csv.golden"},
		{"json", "leaderboard.json.golden"},
	} {
		var buf bytes.Buffer
		require.NoError(t, lb.Render(&buf, f.format))
		golden(t, f.file, buf.Bytes())
	}
	var buf bytes.Buffer
	assert.EqualError(t, lb.Render(&buf, "html"), `unknown leaderboard format "html" (choose text, markdown, csv, json)`)
}

func TestLeaderboardPicksBlocks(t *testing.T) {
	run := &results.Run{Dir: "x"}
	for _, c := range resultstest.Cells(resultstest.DefaultModels, resultstest.DefaultTasks) {
		run.Metrics = append(run.Metrics, c.Metrics...)
	}
	run.Info.RunID = "r"
	lb, err := results.BuildLeaderboard([]*results.Run{run}, results.LeaderboardOptions{})
	require.NoError(t, err)
	require.Len(t, lb.Models, 2)
	byName := map[string]results.ModelBoard{}
	for _, m := range lb.Models {
		byName[m.Model] = m
	}
	py, neo := byName["pythia-tiny"], byName["gptneo-tiny"]
	assert.Equal(t, "pythia-tiny", lb.Models[0].Model, "ranked by memorization removed at the best block")
	assert.Equal(t, []int{0, 1, 2, 3, 4, 5}, py.Blocks)
	require.NotNil(t, py.Headline)
	assert.Equal(t, "exact_match", py.Headline.Metric)
	assert.Equal(t, 5, py.Blocks[py.Best])
	assert.Equal(t, 4, neo.Blocks[neo.Best])

	// Memorization change of block 5 on pythia: (0.0675 - 0.45) / 0.45.
	em := py.Headline
	assert.InDelta(t, (em.Configs[5].Value-em.Baseline.Value)/em.Baseline.Value, py.Tradeoffs[5].MemorizationChange, 1e-12)
	// Ability change: the mean of the main metrics' changes, NLL's sign flipped.
	var sum float64
	var tasks []string
	for _, s := range py.Ability {
		tasks = append(tasks, s.Task+"/"+s.Metric)
		c := (s.Configs[5].Value - s.Baseline.Value) / s.Baseline.Value
		if !s.HigherIsBetter {
			c = -c
		}
		sum += c
	}
	assert.Equal(t, []string{"heldout_perplexity/nll", "lambada_openai/acc", "piqa/acc"}, tasks, "language tasks first, then reasoning; acc and nll are the main metrics")
	assert.InDelta(t, sum/3, py.Tradeoffs[5].AbilityChange, 1e-12)
	assert.Less(t, py.Tradeoffs[0].AbilityChange, -0.3, "block 0 costs much ability")

	// completion_entropy rising means less memorization.
	for _, s := range py.Memorization {
		assert.Equal(t, s.Metric != "completion_entropy", s.LessMemorizedWhenLower, s.Metric)
	}

	// A tight budget leaves no best block: the model ranks last.
	lb, err = results.BuildLeaderboard([]*results.Run{run}, results.LeaderboardOptions{MaxAbilityLoss: 0.001})
	require.NoError(t, err)
	for _, m := range lb.Models {
		assert.Equal(t, -1, m.Best)
	}
}

func TestLeaderboardMergesRunsAndNotesProblems(t *testing.T) {
	cells := resultstest.Cells(resultstest.DefaultModels[:1], resultstest.DefaultTasks)
	old := &results.Run{Info: results.RunInfo{RunID: "old", Finished: time.Unix(100, 0)}}
	newer := &results.Run{Info: results.RunInfo{RunID: "new", Finished: time.Unix(200, 0)}}
	for _, c := range cells {
		old.Metrics = append(old.Metrics, c.Metrics...)
		if c.Cell.Intervention.Has(2) { // the newer run re-measured block 2
			for _, m := range c.Metrics {
				m.Value += 0.001
				newer.Metrics = append(newer.Metrics, m)
			}
		}
	}
	// Scores of other interventions are left out, with a note.
	multi := cells[0].Metrics[0]
	multi.Intervention = intervention.New(intervention.AttnZero, 1, 2)
	newer.Metrics = append(newer.Metrics, multi)
	// A model without a baseline.
	lone := cells[len(cells)-1].Metrics[0]
	lone.Model, lone.ModelHash = "no-baseline", "sha256:0123456789abcdef"
	newer.Metrics = append(newer.Metrics, lone)

	lb, err := results.BuildLeaderboard([]*results.Run{newer, old}, results.LeaderboardOptions{})
	require.NoError(t, err)
	var py results.ModelBoard
	for _, m := range lb.Models {
		if m.Model == "pythia-tiny" {
			py = m
		}
	}
	assert.ElementsMatch(t, []string{"old", "new"}, py.RunIDs)
	assert.Equal(t, "new", py.Headline.Configs[2].RunID, "the newer run wins")
	assert.Equal(t, "old", py.Headline.Configs[3].RunID)
	require.Len(t, lb.Notes, 3)
	assert.Contains(t, lb.Notes[0], "more than one run")
	assert.Contains(t, lb.Notes[1], "other interventions")
	assert.Contains(t, lb.Notes[2], "no-baseline: no baseline")
	nb := lb.Models[len(lb.Models)-1]
	assert.Equal(t, "no-baseline", nb.Model)
	assert.True(t, math.IsNaN(nb.Tradeoffs[0].AbilityChange))

	var buf bytes.Buffer
	require.NoError(t, lb.Render(&buf, "text"))
	assert.Contains(t, buf.String(), "Notes")
	buf.Reset()
	require.NoError(t, lb.Render(&buf, "json"))
	var decoded map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &decoded), "NaN becomes null, so the JSON is valid")
}

func TestLeaderboardSameModelTwoBackends(t *testing.T) {
	run := &results.Run{Info: results.RunInfo{RunID: "r"}}
	for _, c := range resultstest.Cells(resultstest.DefaultModels[:1], resultstest.DefaultTasks[:1]) {
		for _, m := range c.Metrics {
			run.Metrics = append(run.Metrics, m)
			m.Backend = "cuda:0"
			run.Metrics = append(run.Metrics, m)
		}
	}
	lb, err := results.BuildLeaderboard([]*results.Run{run}, results.LeaderboardOptions{})
	require.NoError(t, err)
	require.Len(t, lb.Models, 2)
	assert.ElementsMatch(t, []string{"pythia-tiny [cpu float32]", "pythia-tiny [cuda:0 float32]"}, []string{lb.Models[0].Label, lb.Models[1].Label})
}

func TestAbilityMetric(t *testing.T) {
	assert.Equal(t, "acc", results.AbilityMetric([]string{"perplexity", "acc"}))
	assert.Equal(t, "nll", results.AbilityMetric([]string{"perplexity", "nll"}))
	assert.Equal(t, "perplexity", results.AbilityMetric([]string{"perplexity"}))
	assert.Equal(t, "f1", results.AbilityMetric([]string{"f1", "em"}))
	assert.True(t, results.IsMemorizationTask("memorization", "language"))
	assert.True(t, results.IsMemorizationTask("canaries", "memorization"))
	assert.False(t, results.IsMemorizationTask("piqa", "reasoning"))
}

func TestLoadLeaderboardNoRuns(t *testing.T) {
	dir := t.TempDir()
	_, err := results.LoadLeaderboard([]string{dir}, results.LeaderboardOptions{})
	assert.EqualError(t, err, "no memscope results in "+dir+" (expected metrics.arrow; run memscope run --out "+dir+" first)")
}

func TestLeaderboardCoreMemorizationAndKindDetection(t *testing.T) {
	build := func(extras ...string) (*results.Run, *results.Leaderboard) {
		run := &results.Run{Info: results.RunInfo{RunID: "zero"}}
		for _, c := range resultstest.Cells(resultstest.DefaultModels[:1], resultstest.DefaultTasks[:2]) {
			for _, m := range c.Metrics {
				if !m.Intervention.IsBaseline() {
					m.Intervention = intervention.New(intervention.AttnZero, m.Intervention.Blocks...)
				}
				run.Metrics = append(run.Metrics, m)
				if m.Task == "memorization" && m.Metric == "exact_match" {
					for _, extra := range extras {
						e := m
						e.Metric = extra
						run.Metrics = append(run.Metrics, e)
					}
				}
			}
		}
		lb, err := results.BuildLeaderboard([]*results.Run{run}, results.LeaderboardOptions{})
		require.NoError(t, err)
		return run, lb
	}
	names := func(series []results.Series, withTask bool) []string {
		var out []string
		for _, s := range series {
			if withTask {
				out = append(out, s.Task+"/"+s.Metric+"/"+s.Role)
			} else {
				out = append(out, s.Metric)
			}
		}
		return out
	}

	// A few exact-match groups are shown beside the core metrics.
	run, lb := build("extracted", "exact_match[kind=control]", "exact_match[kind=planted]")
	assert.Equal(t, intervention.AttnZero, results.DetectKind([]*results.Run{run}))
	assert.Equal(t, intervention.AttnZero, lb.Kind)
	m := lb.Models[0]
	assert.Equal(t, []string{"exact_match", "token_accuracy", "completion_entropy", "exact_match[kind=control]", "exact_match[kind=planted]"}, names(m.Memorization, false))
	assert.Equal(t, []string{"heldout_perplexity/perplexity/other", "memorization/extracted/memorization"}, names(m.Other, true),
		"language tasks first; counts of memorization are not core")

	// Many groups stay out of the text table.
	var many []string
	for _, d := range []int{1, 2, 4, 8, 16} {
		many = append(many, fmt.Sprintf("exact_match[duplicates=%d]", d))
	}
	_, lbMany := build(many...)
	assert.Equal(t, []string{"exact_match", "token_accuracy", "completion_entropy"}, names(lbMany.Models[0].Memorization, false))
	assert.Len(t, lbMany.Models[0].Other, 6)
	assert.Len(t, m.Blocks, 6)

	paths, err := results.Plot(run, t.TempDir(), results.LeaderboardOptions{})
	require.NoError(t, err, "figures work for attn-zero sweeps too")
	assert.NotEmpty(t, paths)
}

// A run without a memorization task says why there is no block ranking
// instead of printing tables of dashes.
func TestLeaderboardWithoutMemorization(t *testing.T) {
	run := &results.Run{Dir: "x"}
	for _, c := range resultstest.Cells(resultstest.DefaultModels[:1], resultstest.DefaultTasks[1:]) {
		run.Metrics = append(run.Metrics, c.Metrics...)
	}
	run.Info.RunID = "r"
	lb, err := results.BuildLeaderboard([]*results.Run{run}, results.LeaderboardOptions{})
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, lb.Render(&buf, "text"))
	out := buf.String()
	assert.Contains(t, out, "No memorization task in these runs, so no block ranking")
	assert.NotContains(t, out, "memorization Δ")
	assert.NotContains(t, out, "Memorization (memorization task)")
	assert.Contains(t, out, "Ability: each task's main metric")
	assert.Contains(t, out, "piqa acc")
}

// Scores merged from runs that ran a task differently, or measured other
// weights under the same model name, carry a note saying so.
func TestLeaderboardNotesMixedRuns(t *testing.T) {
	cells := resultstest.Cells(resultstest.DefaultModels[:1], resultstest.DefaultTasks)
	build := func(newConf map[string]string, newHash string) []string {
		old := &results.Run{Info: results.RunInfo{RunID: "old", Finished: time.Unix(100, 0), TaskConfigHashes: map[string]string{"piqa": "p1", "memorization": "m1"}}}
		newer := &results.Run{Info: results.RunInfo{RunID: "new", Finished: time.Unix(200, 0), TaskConfigHashes: newConf}}
		for _, c := range cells {
			for _, m := range c.Metrics {
				if c.Cell.Intervention.Has(2) && (m.Task == "piqa" || m.Task == "memorization") {
					if newHash != "" {
						m.ModelHash = newHash
					}
					newer.Metrics = append(newer.Metrics, m)
				} else {
					old.Metrics = append(old.Metrics, m)
				}
			}
		}
		lb, err := results.BuildLeaderboard([]*results.Run{old, newer}, results.LeaderboardOptions{})
		require.NoError(t, err)
		return lb.Notes
	}
	assert.Empty(t, build(map[string]string{"piqa": "p1", "memorization": "m1"}, ""), "same settings, same weights")
	notes := build(map[string]string{"piqa": "p2", "memorization": "m1"}, "")
	require.Len(t, notes, 1)
	assert.Equal(t, "pythia-tiny: piqa comes from runs new and old, which ran it with different settings (--limit, --docs, data or options); its changes compare unlike sets", notes[0])
	notes = build(map[string]string{"piqa": "p1", "memorization": "m1"}, "sha256:fedcba9876543210")
	require.Len(t, notes, 2)
	assert.Equal(t, "pythia-tiny: different weights were measured under this name (sha256:pythia-t, sha256:fedcba98); they are ranked as separate rows, labelled by hash: give the folders different names (or --model NAME=DIR) to tell them apart", notes[0])
	assert.Equal(t, "pythia-tiny sha256:fedcba98: no baseline (intervention none) was measured, so changes cannot be computed", notes[1])
}

// One set of weights run under two names, in two folders, is one row: the
// names and sources are listed, the short hash shown in every format.
func TestLeaderboardMergesSameWeights(t *testing.T) {
	root := t.TempDir()
	for i, name := range []string{"memorizer", "model"} {
		models := []resultstest.Model{resultstest.DefaultModels[0]}
		models[0].Name = name
		dir := filepath.Join(root, name)
		info := resultstest.Info(fmt.Sprintf("run-%d", i))
		info.Finished = info.Finished.Add(time.Duration(i) * time.Hour)
		src := results.ModelSource{Name: name, Source: "embedded", Dir: "/cache/memorizer"}
		if i == 1 {
			src = results.ModelSource{Name: name, Source: "folder", Dir: "/work/fixtures/model"}
		}
		info.Extra[results.ExtraModels] = results.EncodeModelSources([]results.ModelSource{src})
		w, err := results.Create(dir, info)
		require.NoError(t, err)
		for _, c := range resultstest.Cells(models, resultstest.DefaultTasks) {
			c.Cell.ModelHash = "sha256:28396ca1a51f3e9d"
			for k := range c.Metrics {
				c.Metrics[k].Cell = c.Cell
			}
			for k := range c.Docs {
				c.Docs[k].Cell = c.Cell
			}
			for k := range c.Requests {
				c.Requests[k].Cell = c.Cell
			}
			require.NoError(t, w.Add(c))
		}
		require.NoError(t, w.Close())
	}
	lb, err := results.LoadLeaderboard([]string{root}, results.LeaderboardOptions{})
	require.NoError(t, err)
	require.Len(t, lb.Models, 1, "same weights, backend and dtype: one row")
	m := lb.Models[0]
	assert.Equal(t, "memorizer = model", m.Label)
	assert.Equal(t, []string{"memorizer", "model"}, m.Names)
	assert.Equal(t, []string{"embedded", "folder /work/fixtures/model"}, m.Sources)
	assert.Contains(t, lb.Notes, "memorizer and model are one set of weights (sha256:28396ca1): ranked as one row")
	for _, format := range results.LeaderboardFormats {
		var buf bytes.Buffer
		require.NoError(t, lb.Render(&buf, format))
		assert.Contains(t, buf.String(), "sha256:28396ca1", format)
	}
	var buf bytes.Buffer
	require.NoError(t, lb.Render(&buf, "text"))
	assert.Contains(t, buf.String(), "memorizer = model (sha256:28396ca1, cpu, float32; embedded; folder /work/fixtures/model; runs run-0, run-1)")
}
