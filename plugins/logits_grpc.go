package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/memscope/memscope/intervention"
	pb "github.com/memscope/memscope/plugins/proto/memscope/plugin/v1"
)

// logitsChunkValues is how many floats one LogitsChunk carries (about
// chunkBytes encoded).
const logitsChunkValues = chunkBytes / 4

// Logits asks the plugin for raw logits: one request message, then
// progress reports and chunks of the flattened array back.
func (c *backendClient) Logits(ctx context.Context, iv intervention.Intervention, ids [][]int32, progress Progress) ([]float32, error) {
	const method = "Logits"
	callCtx, cancel := c.proc.callContext(ctx)
	defer cancel()
	req := &pb.LogitsRequest{Intervention: toIntervention(iv), Ids: make([]*pb.Int32List, len(ids))}
	for i, s := range ids {
		req.Ids[i] = toInt32List(s)
	}
	stream, err := c.rpc.Logits(callCtx, req)
	if err != nil {
		return nil, c.logitsError(ctx, err)
	}
	var (
		out   []float32
		shape []int
		want  = -1
		seen  progressSeen
	)
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, c.logitsError(ctx, err)
		}
		switch m := msg.Msg.(type) {
		case *pb.LogitsOut_Progress:
			seen.report(m.Progress, progress)
		case *pb.LogitsOut_Chunk:
			if want < 0 {
				shape = fromInt64List(m.Chunk.GetShape())
				if len(shape) != 3 || shape[0] != len(ids) || shape[0] > 0 && shape[1] != len(ids[0]) || shape[2] < 0 {
					return nil, fmt.Errorf("%s: %s: plugin sent logits of shape %v for %d sequences: protocol error", c.proc.name, method, shape, len(ids))
				}
				want = shape[0] * shape[1] * shape[2]
				out = make([]float32, 0, want)
			}
			out = append(out, fromFloatList(m.Chunk.GetValues())...)
			if len(out) > want {
				return nil, fmt.Errorf("%s: %s: plugin sent more than the %d logits of shape %v: protocol error", c.proc.name, method, want, shape)
			}
		}
	}
	if want < 0 {
		return nil, fmt.Errorf("%s: %s: plugin sent no logits: protocol error", c.proc.name, method)
	}
	if len(out) != want {
		return nil, fmt.Errorf("%s: %s: plugin sent %d of %d logits: protocol error", c.proc.name, method, len(out), want)
	}
	seen.finish(len(ids), progress)
	return out, nil
}

// logitsError says when a plugin predates the Logits call.
func (c *backendClient) logitsError(ctx context.Context, err error) error {
	if status.Code(err) == codes.Unimplemented {
		return fmt.Errorf("%s: backend does not serve raw logits (built before memscope forward used plugins?): rebuild it (go tool task build)", c.proc.name)
	}
	return c.proc.callError(ctx, "Logits", err)
}

// Logits serves the call: the shape and then the values in chunks.
func (s *backendServer) Logits(req *pb.LogitsRequest, stream pb.Backend_LogitsServer) error {
	ids := make([][]int32, len(req.GetIds()))
	for i, l := range req.GetIds() {
		ids[i] = fromInt32List(l)
	}
	pump := startProgressPump(func(done, total int) error {
		return stream.Send(&pb.LogitsOut{Msg: &pb.LogitsOut_Progress{Progress: &pb.Progress{Done: int64(done), Total: int64(total)}}})
	})
	logits, err := s.impl.Logits(stream.Context(), fromIntervention(req.GetIntervention()), ids, pump.report)
	pump.close()
	if err != nil {
		return toStatus(err)
	}
	T := 0
	if len(ids) > 0 {
		T = len(ids[0])
	}
	V := 0
	if len(ids) > 0 && T > 0 {
		V = len(logits) / (len(ids) * T)
	}
	if len(logits) != len(ids)*T*V {
		return fmt.Errorf("backend returned %d logits for %d sequences of %d tokens (want a multiple of %d)", len(logits), len(ids), T, len(ids)*T)
	}
	first := true
	for chunk := range slices.Chunk(logits, logitsChunkValues) {
		ch := &pb.LogitsChunk{Values: toFloatList(chunk)}
		if first {
			ch.Shape = toInt64List([]int{len(ids), T, V})
			first = false
		}
		if err := stream.Send(&pb.LogitsOut{Msg: &pb.LogitsOut_Chunk{Chunk: ch}}); err != nil {
			return err
		}
	}
	if first { // no values at all: still say the shape
		return stream.Send(&pb.LogitsOut{Msg: &pb.LogitsOut_Chunk{Chunk: &pb.LogitsChunk{Shape: toInt64List([]int{len(ids), T, V})}}})
	}
	return nil
}
