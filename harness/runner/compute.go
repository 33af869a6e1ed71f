package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/memscope/memscope/harness/cache"
	"github.com/memscope/memscope/harness/plan"
	"github.com/memscope/memscope/harness/progress"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// computeCell answers the cell's requests (cache first, then the backend
// chunk by chunk), scores them and saves the finished cell. The bool says
// that the cache answered every request.
func (r *run) computeCell(ctx context.Context, mr *modelRun, c plan.Cell, t *preparedTask, key string) (*savedCell, bool, error) {
	start := time.Now()
	fail := func(plugin string, err error) (*savedCell, bool, error) {
		return nil, false, &CellError{Cell: c, Plugin: plugin, Err: err}
	}
	n := len(t.reqs)
	resps := make([]plugins.Response, n)
	have := make([]bool, n)
	scope := cache.Scope{ModelHash: mr.hash, Backend: r.cfg.Backend, BackendVersion: mr.caps.Version, DType: mr.info.DType, Intervention: c.Intervention.String()}
	var keys []cache.Key
	cached := 0
	if r.deps.Cache != nil {
		var err error
		if keys, err = scope.Keys(t.reqs); err != nil {
			return fail(t.proc.Name(), err)
		}
		got, err := r.deps.Cache.Get(keys)
		if err != nil {
			return fail("", err)
		}
		for i, g := range got {
			if g != nil && g.Kind() == t.reqs[i].Kind() {
				resps[i], have[i] = *g, true
				cached++
			}
		}
	}
	var bar *progress.Cell
	if d := r.deps.Display; d != nil {
		bar = d.StartCell(r.label(c), n, cached)
	}
	ok := false
	defer func() {
		if !ok && bar != nil {
			bar.Fail()
		}
	}()
	if cached > 0 {
		r.log.Debug("answers from the cache", "cell", c.String(), "cached", cached, "of", n)
	}

	answered := cached
	for _, ch := range chunks(t.reqs, r.cfg.ChunkSize) {
		var miss []int
		for i := ch.lo; i < ch.hi; i++ {
			if !have[i] {
				miss = append(miss, i)
			}
		}
		if len(miss) == 0 {
			continue
		}
		base := answered
		progressFn := func(done float64) {
			if bar != nil {
				bar.ProgressFraction(float64(base) + done)
			}
		}
		if err := r.callBackend(ctx, mr, c.Intervention, t.reqs, miss, resps, progressFn); err != nil {
			return fail(mr.proc.Name(), err)
		}
		if r.deps.Cache != nil {
			ks := make([]cache.Key, len(miss))
			rs := make([]plugins.Response, len(miss))
			for j, i := range miss {
				ks[j], rs[j] = keys[i], resps[i]
			}
			if err := r.deps.Cache.Put(ks, rs); err != nil {
				return fail("", err)
			}
		}
		for _, i := range miss {
			have[i] = true
		}
		answered += len(miss)
		if bar != nil {
			bar.Progress(answered)
		}
	}

	scores, err := t.task.Score(ctx, t.opts, t.reqs, resps)
	if err != nil {
		return fail(t.proc.Name(), fmt.Errorf("score: %w", err))
	}
	saved, err := normalize(&savedCell{Key: key, Cell: c.String(), Responses: resps, Scores: scores, Elapsed: time.Since(start)})
	if err != nil {
		return fail("", err)
	}
	if err := r.resume.save(saved); err != nil {
		return fail("", fmt.Errorf("keep finished cell: %w", err))
	}
	ok = true
	if bar != nil {
		bar.Done(metricSummary(saved.Scores))
	}
	return saved, cached == n, nil
}

// rescore scores a finished cell's saved answers again. The answers are
// reused because the requests are the same (the cell key covers them), but
// a task's scores may also depend on data that makes no request — labels,
// gold answers, group_by fields — which can change between runs under the
// same file name; scoring is cheap next to the backend, so a resumed cell
// always shows what the current data says.
func (r *run) rescore(ctx context.Context, c plan.Cell, t *preparedTask, saved *savedCell) (*savedCell, error) {
	scores, err := t.task.Score(ctx, t.opts, t.reqs, saved.Responses)
	if err != nil {
		return nil, &CellError{Cell: c, Plugin: t.proc.Name(), Err: fmt.Errorf("score: %w", err)}
	}
	out, err := normalize(&savedCell{Key: saved.Key, Cell: saved.Cell, Responses: saved.Responses, Scores: scores, Elapsed: saved.Elapsed})
	if err != nil {
		return nil, &CellError{Cell: c, Err: err}
	}
	return out, nil
}

type span struct{ lo, hi int }

// chunks splits requests into runs of about size requests, cut only
// between documents (a document's choices share a context the backend
// may reuse). The cuts depend only on the requests, so a resumed run sends
// the backend the same chunks as an uninterrupted one.
func chunks(reqs []plugins.Request, size int) []span {
	var out []span
	lo := 0
	for i := 1; i <= len(reqs); i++ {
		if i == len(reqs) || (i-lo >= size && reqs[i].DocIndex != reqs[i-1].DocIndex) {
			out = append(out, span{lo, i})
			lo = i
		}
	}
	return out
}

// callBackend answers reqs[idx] into resps (plugins.Answer: one backend
// call per request kind). progress gets the number of requests answered,
// with the finished part of running ones.
func (r *run) callBackend(ctx context.Context, mr *modelRun, iv intervention.Intervention, reqs []plugins.Request, idx []int, resps []plugins.Response, progress func(requests float64)) error {
	in := make([]plugins.Request, len(idx))
	for j, i := range idx {
		in[j] = reqs[i]
	}
	out, err := plugins.Answer(ctx, mr.backend, iv, in, progress)
	if err != nil {
		return err
	}
	for j, i := range idx {
		resps[i] = out[j]
	}
	return nil
}
