package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/memscope/memscope/plugins/proto/memscope/plugin/v1"
)

// ---------------------------------------------------------------- host side

// taskClient is the host's Task: each call is one gRPC call to the plugin.
type taskClient struct {
	proc *Process
	rpc  pb.TaskClient
}

var _ Task = (*taskClient)(nil)

func (c *taskClient) Describe(ctx context.Context) (TaskInfo, error) {
	callCtx, cancel := c.proc.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.Describe(callCtx, &pb.Empty{})
	if err != nil {
		return TaskInfo{}, c.proc.callError(ctx, "Describe", err)
	}
	return fromTaskInfo(resp), nil
}

func (c *taskClient) Requests(ctx context.Context, opts TaskOptions) ([]Request, error) {
	callCtx, cancel := c.proc.callContext(ctx)
	defer cancel()
	stream, err := c.rpc.Requests(callCtx, toTaskOptions(opts))
	if err != nil {
		return nil, c.proc.callError(ctx, "Requests", err)
	}
	var (
		reqs    []Request
		started bool
		want    int
	)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, c.proc.callError(ctx, "Requests", err)
		}
		if !started {
			started = true
			want = int(msg.GetRequests().GetLen())
			if !msg.GetRequests().GetNil() {
				reqs = make([]Request, 0, capHint(msg.GetRequests().GetLen()))
			}
		}
		for _, p := range msg.GetValues() {
			reqs = append(reqs, fromRequest(p))
		}
	}
	if !started || len(reqs) != want {
		return nil, fmt.Errorf("%s: Requests: plugin sent %d of %d requests: protocol error", c.proc.name, len(reqs), want)
	}
	return reqs, nil
}

func (c *taskClient) Score(ctx context.Context, opts TaskOptions, reqs []Request, resps []Response) (Scores, error) {
	callCtx, cancel := c.proc.callContext(ctx)
	defer cancel()
	stream, err := c.rpc.Score(callCtx)
	if err != nil {
		return Scores{}, c.proc.callError(ctx, "Score", err)
	}
	err = stream.Send(&pb.ScoreIn{Msg: &pb.ScoreIn_Header{Header: &pb.ScoreHeader{
		Options:   toTaskOptions(opts),
		Requests:  listInfo(len(reqs), reqs == nil),
		Responses: listInfo(len(resps), resps == nil),
	}}})
	if err == nil && len(reqs) > 0 {
		err = forEachChunk(reqs, toRequest, chunkBytes, maxMessageBytes, func(items []*pb.Request) error {
			return stream.Send(&pb.ScoreIn{Msg: &pb.ScoreIn_Chunk{Chunk: &pb.ScoreChunk{Requests: items}}})
		})
	}
	if err == nil && len(resps) > 0 {
		err = forEachChunk(resps, toResponse, chunkBytes, maxMessageBytes, func(items []*pb.Response) error {
			return stream.Send(&pb.ScoreIn{Msg: &pb.ScoreIn_Chunk{Chunk: &pb.ScoreChunk{Responses: items}}})
		})
	}
	if err == nil {
		err = stream.CloseSend()
	}
	if err != nil && !errors.Is(err, io.EOF) {
		if _, isStatus := status.FromError(err); !isStatus {
			return Scores{}, fmt.Errorf("%s: Score: %w", c.proc.name, err)
		}
		return Scores{}, c.proc.callError(ctx, "Score", err)
	}

	var (
		scores                Scores
		started               bool
		wantDocs, wantMetrics int
	)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Scores{}, c.proc.callError(ctx, "Score", err)
		}
		if !started {
			started = true
			wantDocs, wantMetrics = int(msg.GetDocs().GetLen()), int(msg.GetMetrics().GetLen())
			if !msg.GetDocs().GetNil() {
				scores.Docs = make([]DocScore, 0, capHint(msg.GetDocs().GetLen()))
			}
			if !msg.GetMetrics().GetNil() {
				scores.Metrics = make([]MetricValue, 0, capHint(msg.GetMetrics().GetLen()))
			}
		}
		for _, p := range msg.GetDocValues() {
			scores.Docs = append(scores.Docs, fromDocScore(p))
		}
		for _, p := range msg.GetMetricValues() {
			scores.Metrics = append(scores.Metrics, fromMetricValue(p))
		}
	}
	if !started || len(scores.Docs) != wantDocs || len(scores.Metrics) != wantMetrics {
		return Scores{}, fmt.Errorf("%s: Score: plugin sent %d of %d doc scores and %d of %d metrics: protocol error",
			c.proc.name, len(scores.Docs), wantDocs, len(scores.Metrics), wantMetrics)
	}
	return scores, nil
}

// ---------------------------------------------------------------- plugin side

type taskServer struct {
	pb.UnimplementedTaskServer
	impl Task
}

func (s *taskServer) Describe(ctx context.Context, _ *pb.Empty) (*pb.TaskInfo, error) {
	info, err := s.impl.Describe(ctx)
	if err != nil {
		return nil, err
	}
	return toTaskInfo(info), nil
}

func (s *taskServer) Requests(opts *pb.TaskOptions, stream pb.Task_RequestsServer) error {
	reqs, err := s.impl.Requests(stream.Context(), fromTaskOptions(opts))
	if err != nil {
		return toStatus(err)
	}
	sentHeader := false
	return forEachChunk(reqs, toRequest, chunkBytes, maxMessageBytes, func(items []*pb.Request) error {
		ch := &pb.RequestsChunk{Values: items}
		if !sentHeader {
			ch.Requests = listInfo(len(reqs), reqs == nil)
			sentHeader = true
		}
		return stream.Send(ch)
	})
}

func (s *taskServer) Score(stream pb.Task_ScoreServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	header := first.GetHeader()
	if header == nil {
		return status.Error(codes.Internal, "protocol error: the call did not start with a header")
	}
	var (
		reqs  []Request
		resps []Response
	)
	if !header.GetRequests().GetNil() {
		reqs = make([]Request, 0, capHint(header.GetRequests().GetLen()))
	}
	if !header.GetResponses().GetNil() {
		resps = make([]Response, 0, capHint(header.GetResponses().GetLen()))
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
		for _, p := range chunk.GetRequests() {
			reqs = append(reqs, fromRequest(p))
		}
		for _, p := range chunk.GetResponses() {
			resps = append(resps, fromResponse(p))
		}
	}
	if int64(len(reqs)) != header.GetRequests().GetLen() || int64(len(resps)) != header.GetResponses().GetLen() {
		return status.Errorf(codes.Internal, "protocol error: got %d of %d requests and %d of %d responses",
			len(reqs), header.GetRequests().GetLen(), len(resps), header.GetResponses().GetLen())
	}

	scores, err := s.impl.Score(stream.Context(), fromTaskOptions(header.GetOptions()), reqs, resps)
	if err != nil {
		return toStatus(err)
	}
	// The first message carries both lists' headers; docs follow in chunks,
	// then the metrics.
	head := &pb.ScoreOut{
		Docs:    listInfo(len(scores.Docs), scores.Docs == nil),
		Metrics: listInfo(len(scores.Metrics), scores.Metrics == nil),
	}
	if err := stream.Send(head); err != nil {
		return err
	}
	if len(scores.Docs) > 0 {
		err = forEachChunk(scores.Docs, toDocScore, chunkBytes, maxMessageBytes, func(items []*pb.DocScore) error {
			return stream.Send(&pb.ScoreOut{DocValues: items})
		})
		if err != nil {
			return err
		}
	}
	if len(scores.Metrics) > 0 {
		return forEachChunk(scores.Metrics, toMetricValue, chunkBytes, maxMessageBytes, func(items []*pb.MetricValue) error {
			return stream.Send(&pb.ScoreOut{MetricValues: items})
		})
	}
	return nil
}
