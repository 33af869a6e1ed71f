package plugins_test

import (
	"context"
	"testing"

	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// BenchmarkStartKill measures a plugin's start (handshake, Identify) and
// graceful stop.
func BenchmarkStartKill(b *testing.B) {
	for b.Loop() {
		_, p, err := plugins.StartBackend(fakeBackendBin, plugins.StartOptions{})
		if err != nil {
			b.Fatal(err)
		}
		p.Kill()
	}
}

// BenchmarkLoglikelihoodCall measures the per-call overhead of a small
// batch (64 requests) over the wire.
func BenchmarkLoglikelihoodCall(b *testing.B) {
	remote, p, err := plugins.StartBackend(fakeBackendBin, plugins.StartOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Kill()
	reqs := make([]plugins.LoglikelihoodRequest, 64)
	for i := range reqs {
		reqs[i] = plugins.LoglikelihoodRequest{Context: "Question: which is heavier? Answer:", Continuation: " the iron ball"}
	}
	for b.Loop() {
		if _, err := remote.Loglikelihood(context.Background(), intervention.Baseline(), reqs, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRollingIDsThroughput moves one 1M-id rolling request (~5 MB)
// to the plugin and ~9 MB of per-token results back.
func BenchmarkRollingIDsThroughput(b *testing.B) {
	remote, p, err := plugins.StartBackend(fakeBackendBin, plugins.StartOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Kill()
	ids := make([]int32, 1<<20)
	for i := range ids {
		ids[i] = int32(i * 7919)
	}
	reqs := []plugins.RollingRequest{{IDs: ids}}
	b.SetBytes(int64(len(ids)) * 4)
	for b.Loop() {
		if _, err := remote.LoglikelihoodRolling(context.Background(), intervention.Baseline(), reqs, nil); err != nil {
			b.Fatal(err)
		}
	}
}
