package plugins

import (
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/memscope/memscope/intervention"
	pb "github.com/memscope/memscope/plugins/proto/memscope/plugin/v1"
)

// wire marshals and unmarshals m, as a trip through gRPC does.
func wire[M proto.Message](t *testing.T, m M, fresh M) M {
	t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	require.NoError(t, proto.Unmarshal(b, fresh))
	return fresh
}

func TestConvertersKeepNilEmptyAndBits(t *testing.T) {
	nanPayload := math.Float64frombits(0x7ff8dead_beef0001)
	rr := RollingResult{LogLikelihood: nanPayload, LogProbs: []float32{math.Float32frombits(0x7fc00001), float32(math.Inf(-1))}, Entropies: []float32{}, Greedy: nil}
	got := fromRollingResult(wire(t, toRollingResult(rr), &pb.RollingResult{}))
	assert.Equal(t, math.Float64bits(nanPayload), math.Float64bits(got.LogLikelihood))
	assert.Equal(t, uint32(0x7fc00001), math.Float32bits(got.LogProbs[0]))
	assert.NotNil(t, got.Entropies)
	assert.Empty(t, got.Entropies)
	assert.Nil(t, got.Greedy)

	for _, iv := range []intervention.Intervention{{}, {Kind: "x", Blocks: []int{}}, {Kind: "y", Blocks: []int{-3, 1 << 50}}} {
		back := fromIntervention(wire(t, toIntervention(iv), &pb.Intervention{}))
		assert.Equal(t, iv, back)
		assert.Equal(t, iv.Blocks == nil, back.Blocks == nil)
	}

	d := DocScore{Gold: -1, Prediction: -1, ChoiceLogLikelihoods: []float64{}, Metrics: map[string]float64{}}
	back := fromDocScore(wire(t, toDocScore(d), &pb.DocScore{}))
	assert.NotNil(t, back.ChoiceLogLikelihoods)
	assert.NotNil(t, back.Metrics)
	assert.Equal(t, -1, back.Gold)
	back = fromDocScore(wire(t, toDocScore(DocScore{}), &pb.DocScore{}))
	assert.Nil(t, back.ChoiceLogLikelihoods)
	assert.Nil(t, back.Metrics)

	o := TaskOptions{Docs: []DocRange{}, Options: nil}
	bo := fromTaskOptions(wire(t, toTaskOptions(o), &pb.TaskOptions{}))
	assert.NotNil(t, bo.Docs)
	assert.Nil(t, bo.Options)

	// Invalid UTF-8 in data text survives (proto3 strings would reject it).
	req := Request{Loglikelihood: &LoglikelihoodRequest{Context: "\xff\xfe", Continuation: "\x80"}, Rolling: &RollingRequest{Text: "\xc3"}}
	br := fromRequest(wire(t, toRequest(req), &pb.Request{}))
	assert.Equal(t, req, br)
	assert.Nil(t, br.Generate)
}

func TestForEachChunk(t *testing.T) {
	conv := func(n int) *pb.Int32List { return &pb.Int32List{Values: make([]int32, n)} }
	collect := func(items []int, target, limit int) ([][]int, error) {
		var chunks [][]int
		err := forEachChunk(items, conv, target, limit, func(ps []*pb.Int32List) error {
			var c []int
			for _, p := range ps {
				c = append(c, len(p.Values))
			}
			chunks = append(chunks, c)
			return nil
		})
		return chunks, err
	}

	// No items: one empty chunk, so the header still goes out.
	chunks, err := collect(nil, 1000, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, [][]int{nil}, chunks)

	// Items of ~100 bytes with a 1000-byte target: about 9 per chunk, in order.
	items := make([]int, 100)
	for i := range items {
		items[i] = 50 // 50 zero varints + framing ≈ 52 bytes + 8 overhead
	}
	chunks, err = collect(items, 1000, 1<<20)
	require.NoError(t, err)
	total := 0
	for _, c := range chunks {
		assert.NotEmpty(t, c)
		assert.LessOrEqual(t, len(c)*60, 1000+60)
		total += len(c)
	}
	assert.Equal(t, 100, total)
	assert.Greater(t, len(chunks), 5)

	// An item bigger than the target travels alone.
	chunks, err = collect([]int{10, 5000, 10}, 1000, 1<<20)
	require.NoError(t, err)
	assert.Equal(t, [][]int{{10}, {5000}, {10}}, chunks)

	// An item over the message limit is an error that names it.
	_, err = collect([]int{1, 200 << 10}, 1000, 128<<10)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "item 1 is")
	assert.Contains(t, err.Error(), "split it")

	// emit's error stops the walk.
	boom := errors.New("boom")
	calls := 0
	err = forEachChunk(items, conv, 100, 1<<20, func([]*pb.Int32List) error { calls++; return boom })
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 1, calls)
}

func TestProgressPumpCoalescesAndFlushes(t *testing.T) {
	var mu sync.Mutex
	var sent [][2]int
	block := make(chan struct{})
	pump := startProgressPump(func(done, total int) error {
		<-block // a slow stream: reports pile up meanwhile
		mu.Lock()
		sent = append(sent, [2]int{done, total})
		mu.Unlock()
		return nil
	})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i <= 1000; i += 4 {
				pump.report(i, 1000)
			}
		}()
	}
	wg.Wait()
	close(block)
	pump.close()
	pump.report(2000, 1000) // after close: ignored

	require.NotEmpty(t, sent)
	assert.Less(t, len(sent), 1000, "reports must be coalesced")
	for i := 1; i < len(sent); i++ {
		assert.Greater(t, sent[i][0], sent[i-1][0], "done must only grow: %v", sent)
	}
	assert.Equal(t, [2]int{1000, 1000}, sent[len(sent)-1], "the last report is flushed")
}

func TestStderrTail(t *testing.T) {
	tail := newStderrTail()
	_, _ = tail.Write([]byte(`{"@level":"info","@message":"loading","@timestamp":"x","dir":"/m"}`))
	_, _ = tail.Write([]byte("\n"))
	assert.Equal(t, "info: loading dir=/m", tail.summary())
	for _, l := range []string{"a", "b", "c", "d"} {
		_, _ = tail.Write([]byte(l + "\n"))
	}
	assert.Equal(t, "b | c | d", tail.summary())
	_, _ = tail.Write([]byte("panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\t/x.go:3\n"))
	assert.Equal(t, "panic: boom at main.main (x.go:3)", tail.summary())

	// A fault in C code: the signal, where it hit, the first frames
	// outside the runtime; not the register dump at the end.
	segv := newStderrTail()
	_, _ = segv.Write([]byte(`SIGSEGV: segmentation violation
PC=0x7f3a1c2b3c4d m=5 sigcode=1 addr=0x7f3a00000000
signal arrived during cgo execution

goroutine 34 gp=0xc000603a40 m=5 mp=0xc000580008 [syscall]:
runtime.cgocall(0x8b2f40, 0xc0001b1e18)
	/usr/lib/go/src/runtime/cgocall.go:167 +0x4b fp=0xc0001b1df0 sp=0xc0001b1db8 pc=0x40a7cb
github.com/memscope/memscope/backends/cpu._Cfunc_ms_row_stats_avx2(0x7f3a00000000, 0x180, 0xc0001b1ea8, 0xc0001b1ea0, 0xc0001b1e98)
	_cgo_gotypes.go:301 +0x45 fp=0xc0001b1e18 sp=0xc0001b1df0 pc=0x8a1c45
github.com/memscope/memscope/backends/cpu.logitStats(...)
	/src/backends/cpu/kernels_cgo.go:321
github.com/memscope/memscope/backends/cpu.(*Model).unembedRows.func1(0x0, 0x4)
	/src/backends/cpu/score.go:177 +0x1a5 fp=0xc0001b1f30 sp=0xc0001b1e18 pc=0x8a5c25
github.com/memscope/memscope/backends/cpu.(*Model).parallel.func1()
	/src/backends/cpu/forward.go:399 +0x4e

goroutine 1 gp=0xc000002380 m=nil [chan receive]:
main.main()
	/src/main.go:10

rax    0x0
rip    0x8b2f6d
cs     0x33
fs     0x0
gs     0x0
`))
	assert.Equal(t, "SIGSEGV: segmentation violation (PC=0x7f3a1c2b3c4d m=5 sigcode=1 addr=0x7f3a00000000; signal arrived during cgo execution)"+
		" at cpu._Cfunc_ms_row_stats_avx2 (_cgo_gotypes.go:301) ← cpu.logitStats (kernels_cgo.go:321) ← cpu.(*Model).unembedRows.func1 (score.go:177)", segv.summary())

	// A nil dereference in Go: the panic and its signal line.
	nilp := newStderrTail()
	_, _ = nilp.Write([]byte("panic: runtime error: invalid memory address or nil pointer dereference\n" +
		"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4b6]\n\ngoroutine 1 [running]:\nmain.f(...)\n\t/x/main.go:7\nmain.main()\n\t/x/main.go:3 +0x1d\n"))
	assert.Equal(t, "panic: runtime error: invalid memory address or nil pointer dereference ([signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4b6]) at main.f (main.go:7) ← main.main (main.go:3)", nilp.summary())

	for _, line := range []string{"SIGBUS: bus error", "SIGABRT: abort", "fatal error: runtime: out of memory"} {
		assert.True(t, isCrashHeader(line), line)
	}
	for _, line := range []string{"SIG: x", "SIGNAL processing: done", "Sigsegv: x", "info: SIGSEGV: x"} {
		assert.False(t, isCrashHeader(line), line)
	}

	long := newStderrTail()
	_, _ = long.Write(make([]byte, 10000))
	_, _ = long.Write([]byte("\n"))
	assert.LessOrEqual(t, len(long.summary()), tailLineMax)
}

func TestDisplayName(t *testing.T) {
	assert.Equal(t, "backend cpu", displayName(KindBackend, "/x/bin/memscope-backend-cpu"))
	assert.Equal(t, "task piqa", displayName(KindTask, "memscope-task-piqa"))
	assert.Equal(t, "backend mybin", displayName(KindBackend, "./mybin"))
}
