package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/memscope/memscope/intervention"
	pb "github.com/memscope/memscope/plugins/proto/memscope/plugin/v1"
)

type batchClientStream = grpc.BidiStreamingClient[pb.BatchIn, pb.BatchOut]
type batchServerStream = grpc.BidiStreamingServer[pb.BatchIn, pb.BatchOut]

// ---------------------------------------------------------------- host side

// backendClient is the host's Backend: each call is one gRPC call to the
// plugin process.
type backendClient struct {
	proc *Process
	rpc  pb.BackendClient
}

var (
	_ Backend   = (*backendClient)(nil)
	_ Inspector = (*backendClient)(nil)
)

func (c *backendClient) Capabilities(ctx context.Context) (Capabilities, error) {
	callCtx, cancel := c.proc.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.Capabilities(callCtx, &pb.Empty{})
	if err != nil {
		return Capabilities{}, c.proc.callError(ctx, "Capabilities", err)
	}
	return fromCapabilities(resp), nil
}

func (c *backendClient) Load(ctx context.Context, req LoadRequest) (ModelInfo, error) {
	callCtx, cancel := c.proc.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.Load(callCtx, toLoadRequest(req))
	if err != nil {
		return ModelInfo{}, c.proc.callError(ctx, "Load", err)
	}
	return fromModelInfo(resp), nil
}

// Inspect calls the plugin's Inspect; a plugin without one answers
// Unimplemented, which becomes ErrNotSupported.
func (c *backendClient) Inspect(ctx context.Context, req LoadRequest) (ModelInfo, error) {
	callCtx, cancel := c.proc.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.Inspect(callCtx, toLoadRequest(req))
	if status.Code(err) == codes.Unimplemented {
		return ModelInfo{}, fmt.Errorf("%s: Inspect: %w", c.proc.name, ErrNotSupported)
	}
	if err != nil {
		return ModelInfo{}, c.proc.callError(ctx, "Inspect", err)
	}
	return fromModelInfo(resp), nil
}

func (c *backendClient) Loglikelihood(ctx context.Context, iv intervention.Intervention, reqs []LoglikelihoodRequest, progress Progress) ([]LoglikelihoodResult, error) {
	return callBatch(ctx, c.proc, "Loglikelihood", c.rpc.Loglikelihood, iv, reqs, progress,
		toLLRequest, func(ch *pb.RequestChunk, v []*pb.LoglikelihoodRequest) { ch.Loglikelihood = v },
		(*pb.ResultChunk).GetLoglikelihood, fromLLResult)
}

func (c *backendClient) LoglikelihoodRolling(ctx context.Context, iv intervention.Intervention, reqs []RollingRequest, progress Progress) ([]RollingResult, error) {
	return callBatch(ctx, c.proc, "LoglikelihoodRolling", c.rpc.LoglikelihoodRolling, iv, reqs, progress,
		toRollingRequest, func(ch *pb.RequestChunk, v []*pb.RollingRequest) { ch.Rolling = v },
		(*pb.ResultChunk).GetRolling, fromRollingResult)
}

func (c *backendClient) GenerateTokens(ctx context.Context, iv intervention.Intervention, reqs []GenerateRequest, progress Progress) ([]GenerateResult, error) {
	return callBatch(ctx, c.proc, "GenerateTokens", c.rpc.GenerateTokens, iv, reqs, progress,
		toGenerateRequest, func(ch *pb.RequestChunk, v []*pb.GenerateRequest) { ch.Generate = v },
		(*pb.ResultChunk).GetGenerate, fromGenerateResult)
}

// callBatch runs one of the streamed batch calls: header, request chunks,
// then progress reports and result chunks back (see plugin.proto).
func callBatch[Req, Res any, PReq proto.Message, PRes any](
	ctx context.Context, proc *Process, method string,
	open func(context.Context, ...grpc.CallOption) (batchClientStream, error),
	iv intervention.Intervention, reqs []Req, progress Progress,
	toReq func(Req) PReq, setReqs func(*pb.RequestChunk, []PReq),
	resultsOf func(*pb.ResultChunk) []PRes, fromRes func(PRes) Res,
) ([]Res, error) {
	callCtx, cancel := proc.callContext(ctx)
	defer cancel()
	stream, err := open(callCtx)
	if err != nil {
		return nil, proc.callError(ctx, method, err)
	}

	// Send everything; an io.EOF from Send means the plugin ended the call
	// early, and the receive loop below gets its reason.
	err = stream.Send(&pb.BatchIn{Msg: &pb.BatchIn_Header{Header: &pb.BatchHeader{
		Intervention: toIntervention(iv),
		Requests:     listInfo(len(reqs), reqs == nil),
	}}})
	if err == nil {
		err = forEachChunk(reqs, toReq, chunkBytes, maxMessageBytes, func(items []PReq) error {
			ch := &pb.RequestChunk{}
			setReqs(ch, items)
			return stream.Send(&pb.BatchIn{Msg: &pb.BatchIn_Chunk{Chunk: ch}})
		})
	}
	if err == nil {
		err = stream.CloseSend()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		if _, isStatus := status.FromError(err); !isStatus {
			return nil, fmt.Errorf("%s: %s: %w", proc.name, method, err) // our own (e.g. an item too big)
		}
		return nil, proc.callError(ctx, method, err)
	}

	var (
		results []Res
		started bool
		want    int
		seen    progressSeen
	)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, proc.callError(ctx, method, err)
		}
		switch m := msg.Msg.(type) {
		case *pb.BatchOut_Progress:
			seen.report(m.Progress, progress)
		case *pb.BatchOut_Chunk:
			if !started {
				started = true
				info := m.Chunk.GetResults()
				want = int(info.GetLen())
				if !info.GetNil() {
					results = make([]Res, 0, capHint(info.GetLen()))
				}
			}
			for _, p := range resultsOf(m.Chunk) {
				results = append(results, fromRes(p))
			}
		}
	}
	if !started || len(results) != want {
		return nil, fmt.Errorf("%s: %s: plugin sent %d of %d results: protocol error", proc.name, method, len(results), want)
	}
	if len(results) != len(reqs) {
		return nil, fmt.Errorf("%s: %s: backend returned %d results for %d requests", proc.name, method, len(results), len(reqs))
	}
	seen.finish(len(results), progress)
	return results, nil
}

// progressSeen passes a plugin's progress reports on to the caller's
// Progress, never going back, and reports completion once at the end.
type progressSeen struct {
	last int
	any  bool // a report was passed on
}

func (s *progressSeen) report(p *pb.Progress, progress Progress) {
	if d := int(p.GetDone()); progress != nil && (!s.any || d > s.last) {
		s.last, s.any = d, true
		progress(d, int(p.GetTotal()))
	}
}

func (s *progressSeen) finish(n int, progress Progress) {
	if progress != nil && (!s.any || s.last < n) {
		progress(n, n)
	}
}

// ---------------------------------------------------------------- plugin side

// backendServer serves a Backend implementation inside the plugin process.
type backendServer struct {
	pb.UnimplementedBackendServer
	impl Backend
}

func (s *backendServer) Capabilities(ctx context.Context, _ *pb.Empty) (*pb.BackendCapabilities, error) {
	c, err := s.impl.Capabilities(ctx)
	if err != nil {
		return nil, err
	}
	return toCapabilities(c), nil
}

func (s *backendServer) Load(ctx context.Context, req *pb.LoadRequest) (*pb.ModelInfo, error) {
	m, err := s.impl.Load(ctx, fromLoadRequest(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return toModelInfo(m), nil
}

func (s *backendServer) Inspect(ctx context.Context, req *pb.LoadRequest) (*pb.ModelInfo, error) {
	in, ok := s.impl.(Inspector)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this backend cannot inspect a model without loading it")
	}
	m, err := in.Inspect(ctx, fromLoadRequest(req))
	if errors.Is(err, ErrNotSupported) {
		return nil, status.Error(codes.Unimplemented, err.Error())
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return toModelInfo(m), nil
}

func (s *backendServer) Loglikelihood(stream batchServerStream) error {
	return serveBatch(stream, (*pb.RequestChunk).GetLoglikelihood, fromLLRequest, s.impl.Loglikelihood,
		toLLResult, func(ch *pb.ResultChunk, v []*pb.LoglikelihoodResult) { ch.Loglikelihood = v })
}

func (s *backendServer) LoglikelihoodRolling(stream batchServerStream) error {
	return serveBatch(stream, (*pb.RequestChunk).GetRolling, fromRollingRequest, s.impl.LoglikelihoodRolling,
		toRollingResult, func(ch *pb.ResultChunk, v []*pb.RollingResult) { ch.Rolling = v })
}

func (s *backendServer) GenerateTokens(stream batchServerStream) error {
	return serveBatch(stream, (*pb.RequestChunk).GetGenerate, fromGenerateRequest, s.impl.GenerateTokens,
		toGenerateResult, func(ch *pb.ResultChunk, v []*pb.GenerateResult) { ch.Generate = v })
}

func serveBatch[Req, Res any, PReq any, PRes proto.Message](
	stream batchServerStream,
	reqsOf func(*pb.RequestChunk) []PReq, fromReq func(PReq) Req,
	call func(context.Context, intervention.Intervention, []Req, Progress) ([]Res, error),
	toRes func(Res) PRes, setResults func(*pb.ResultChunk, []PRes),
) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	header := first.GetHeader()
	if header == nil {
		return status.Error(codes.Internal, "protocol error: the call did not start with a header")
	}
	var reqs []Req
	if !header.GetRequests().GetNil() {
		reqs = make([]Req, 0, capHint(header.GetRequests().GetLen()))
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		chunk := msg.GetChunk()
		if chunk == nil {
			return status.Error(codes.Internal, "protocol error: a second header")
		}
		for _, p := range reqsOf(chunk) {
			reqs = append(reqs, fromReq(p))
		}
	}
	if want := header.GetRequests().GetLen(); int64(len(reqs)) != want {
		return status.Errorf(codes.Internal, "protocol error: got %d of %d requests", len(reqs), want)
	}

	pump := startProgressPump(func(done, total int) error {
		return stream.Send(&pb.BatchOut{Msg: &pb.BatchOut_Progress{Progress: &pb.Progress{Done: int64(done), Total: int64(total)}}})
	})
	results, err := call(stream.Context(), fromIntervention(header.GetIntervention()), reqs, pump.report)
	pump.close()
	if err != nil {
		return toStatus(err)
	}
	if len(results) != len(reqs) {
		return fmt.Errorf("backend returned %d results for %d requests (it must return one per request, in order)", len(results), len(reqs))
	}
	sentHeader := false
	return forEachChunk(results, toRes, chunkBytes, maxMessageBytes, func(items []PRes) error {
		ch := &pb.ResultChunk{}
		if !sentHeader {
			ch.Results = listInfo(len(results), results == nil)
			sentHeader = true
		}
		setResults(ch, items)
		return stream.Send(&pb.BatchOut{Msg: &pb.BatchOut_Chunk{Chunk: ch}})
	})
}
