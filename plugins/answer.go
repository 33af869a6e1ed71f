package plugins

import (
	"context"
	"fmt"

	"github.com/memscope/memscope/intervention"
)

// Answer sends reqs to b under iv, one backend call per request kind
// present (in RequestKinds order; a task's requests are normally all of
// one kind), and returns one Response per request, in order. progress (nil
// for none) gets the number of requests answered so far, counting the
// finished part of the running call: a backend reports progress in its own
// items (the lm backends count rolling windows, so one long text moves),
// so each call's done/total is scaled to its share of the requests.
func Answer(ctx context.Context, b Backend, iv intervention.Intervention, reqs []Request, progress func(requests float64)) ([]Response, error) {
	byKind := map[RequestKind][]int{}
	for i, r := range reqs {
		if err := r.CheckKind(); err != nil {
			return nil, fmt.Errorf("request %d (doc %d): %w", i, r.DocIndex, err)
		}
		byKind[r.Kind()] = append(byKind[r.Kind()], i)
	}
	resps := make([]Response, len(reqs))
	offset := 0
	for _, k := range RequestKinds {
		idx := byKind[k]
		if len(idx) == 0 {
			continue
		}
		base, n := offset, len(idx)
		offset += n
		var prog Progress
		if progress != nil {
			prog = func(done, total int) {
				if total > 0 {
					progress(float64(base) + float64(n)*float64(min(done, total))/float64(total))
				}
			}
		}
		var err error
		switch k {
		case KindLoglikelihood:
			err = answerKind(ctx, iv, reqs, idx, resps, prog, b.Loglikelihood,
				func(r Request) LoglikelihoodRequest { return *r.Loglikelihood },
				func(a LoglikelihoodResult) Response { return Response{Loglikelihood: &a} })
		case KindLoglikelihoodRolling:
			err = answerKind(ctx, iv, reqs, idx, resps, prog, b.LoglikelihoodRolling,
				func(r Request) RollingRequest { return *r.Rolling },
				func(a RollingResult) Response { return Response{Rolling: &a} })
		case KindGenerateTokens:
			err = answerKind(ctx, iv, reqs, idx, resps, prog, b.GenerateTokens,
				func(r Request) GenerateRequest { return *r.Generate },
				func(a GenerateResult) Response { return Response{Generate: &a} })
		}
		if err != nil {
			return nil, err
		}
	}
	return resps, nil
}

// answerKind makes one backend call for the requests reqs[idx], all of one
// kind, and puts the answers into resps at the same positions.
func answerKind[Q, A any](ctx context.Context, iv intervention.Intervention, reqs []Request, idx []int, resps []Response, prog Progress,
	call func(context.Context, intervention.Intervention, []Q, Progress) ([]A, error), get func(Request) Q, wrap func(A) Response) error {
	in := make([]Q, len(idx))
	for j, i := range idx {
		in[j] = get(reqs[i])
	}
	out, err := call(ctx, iv, in, prog)
	if err != nil {
		return err
	}
	if len(out) != len(in) {
		return fmt.Errorf("backend answered %d of %d %s requests", len(out), len(in), reqs[idx[0]].Kind())
	}
	for j, i := range idx {
		resps[i] = wrap(out[j])
	}
	return nil
}
