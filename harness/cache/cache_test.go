package cache

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/memscope/memscope/plugins"
)

var scope = Scope{ModelHash: "sha256:aa", Backend: "cpu", BackendVersion: "1", DType: "float32", Intervention: "none"}

func llReq(ctx, cont string) plugins.Request {
	return plugins.Request{Loglikelihood: &plugins.LoglikelihoodRequest{Context: ctx, Continuation: cont}}
}

func mustKey(t *testing.T, s Scope, r plugins.Request) Key {
	t.Helper()
	k, err := s.Key(r)
	require.NoError(t, err)
	return k
}

func TestKeyDependsOnScopeAndRequest(t *testing.T) {
	r := llReq("The cat", " sat")
	base := mustKey(t, scope, r)

	// Same scope and request: same key, whatever the doc and choice index.
	r2 := r
	r2.DocIndex, r2.Index = 7, 3
	assert.Equal(t, base, mustKey(t, scope, r2))

	variants := map[string]Scope{}
	s := scope
	s.ModelHash = "sha256:bb"
	variants["model"] = s
	s = scope
	s.Backend = "cuda"
	variants["backend"] = s
	s = scope
	s.BackendVersion = "2"
	variants["backend version"] = s
	s = scope
	s.DType = "bfloat16"
	variants["dtype"] = s
	s = scope
	s.Intervention = "attn-sc:3"
	variants["intervention"] = s
	s.Intervention = "attn-zero:3"
	variants["intervention kind"] = s
	seen := map[Key]string{base: "base"}
	for name, v := range variants {
		k := mustKey(t, v, r)
		prev, dup := seen[k]
		assert.False(t, dup, "%s collides with %s", name, prev)
		seen[k] = name
	}

	reqs := map[string]plugins.Request{
		"boundary moved":  llReq("The ca", "t sat"),
		"continuation":    llReq("The cat", " sits"),
		"rolling text":    {Rolling: &plugins.RollingRequest{Text: "The cat sat"}},
		"rolling ids":     {Rolling: &plugins.RollingRequest{IDs: []int32{1, 2, 3}}},
		"rolling ctx":     {Rolling: &plugins.RollingRequest{IDs: []int32{1, 2, 3}, ContextLen: 1}},
		"generate":        {Generate: &plugins.GenerateRequest{Prefix: []int32{1, 2, 3}, NewTokens: 4}},
		"generate n":      {Generate: &plugins.GenerateRequest{Prefix: []int32{1, 2, 3}, NewTokens: 5}},
		"generate ids":    {Generate: &plugins.GenerateRequest{Prefix: []int32{1, 2, 4}, NewTokens: 4}},
		"generate no eos": {Generate: &plugins.GenerateRequest{Prefix: []int32{1, 2, 3}, NewTokens: 4, SuppressEOS: true}},
	}
	for name, rq := range reqs {
		k := mustKey(t, scope, rq)
		prev, dup := seen[k]
		assert.False(t, dup, "%s collides with %s", name, prev)
		seen[k] = name
	}

	_, err := scope.Key(plugins.Request{})
	assert.ErrorContains(t, err, "exactly one")
	both := llReq("a", "b")
	both.Generate = &plugins.GenerateRequest{}
	_, err = scope.Key(both)
	assert.ErrorContains(t, err, "exactly one")
}

// sample is the deterministic response stored under key number i.
func sample(i int) plugins.Response {
	switch i % 3 {
	case 0:
		return plugins.Response{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: -float64(i) - 0.125, IsGreedy: i%2 == 0, ContextTokens: i, ContinuationTokens: i%5 + 1}}
	case 1:
		n := i%7 + 1
		ro := &plugins.RollingResult{LogLikelihood: -float64(i) * 1.5}
		for j := range n {
			ro.LogProbs = append(ro.LogProbs, -float32(i+j))
			ro.Entropies = append(ro.Entropies, float32(j)/3)
			ro.Greedy = append(ro.Greedy, j%2 == 1)
		}
		return plugins.Response{Rolling: ro}
	}
	g := &plugins.GenerateResult{}
	for j := range i%9 + 1 {
		g.IDs = append(g.IDs, int32(i*10+j))
		g.Entropies = append(g.Entropies, float32(j)*0.5)
	}
	return plugins.Response{Generate: g}
}

func sampleKey(i int) Key {
	k, _ := scope.Key(plugins.Request{Generate: &plugins.GenerateRequest{Prefix: []int32{int32(i)}, NewTokens: 1}})
	return k
}

func putRange(t testing.TB, s *Store, lo, hi int) {
	keys := make([]Key, 0, hi-lo)
	resps := make([]plugins.Response, 0, hi-lo)
	for i := lo; i < hi; i++ {
		keys = append(keys, sampleKey(i))
		resps = append(resps, sample(i))
	}
	require.NoError(t, s.Put(keys, resps))
}

// checkNoWrongData asserts that every entry Get returns equals what was
// stored; it returns how many keys hit.
func checkNoWrongData(t *testing.T, s *Store, n int) (hits int, err error) {
	t.Helper()
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = sampleKey(i)
	}
	got, err := s.Get(keys)
	if err != nil {
		return 0, err
	}
	for i, g := range got {
		if g != nil {
			hits++
			require.Equal(t, sample(i), *g, "entry %d", i)
		}
	}
	return hits, nil
}

func TestPutGetRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	putRange(t, s, 0, 60)

	special := []plugins.Response{
		{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: math.Inf(-1)}},
		{Rolling: &plugins.RollingResult{LogLikelihood: math.NaN(), LogProbs: []float32{float32(math.Inf(-1))}}},
		{Rolling: &plugins.RollingResult{}},
		{Generate: &plugins.GenerateResult{IDs: []int32{math.MaxInt32, math.MinInt32, -1}}},
		// where a forward pass went non-finite is kept with the answer
		{Loglikelihood: &plugins.LoglikelihoodResult{LogLikelihood: math.NaN(), NonFinite: "block 1 attention output at position 0"}},
		{Rolling: &plugins.RollingResult{LogProbs: []float32{1}, NonFinite: "logits at position 3"}},
		{Generate: &plugins.GenerateResult{IDs: []int32{0}, Entropies: []float32{float32(math.NaN())}, NonFinite: "embeddings at position 0"}},
	}
	var keys []Key
	for i := range special {
		keys = append(keys, mustKey(t, scope, llReq("special", strconv.Itoa(i))))
	}
	require.NoError(t, s.Put(keys, special))

	// A new Store (another run) sees everything.
	s2, err := Open(dir, Options{})
	require.NoError(t, err)
	hits, err := checkNoWrongData(t, s2, 80)
	require.NoError(t, err)
	assert.Equal(t, 60, hits)
	n, err := s2.Len()
	require.NoError(t, err)
	assert.Equal(t, 60+len(special), n)

	got, err := s2.Get(keys)
	require.NoError(t, err)
	assert.True(t, math.IsInf(got[0].Loglikelihood.LogLikelihood, -1))
	assert.True(t, math.IsNaN(got[1].Rolling.LogLikelihood))
	assert.True(t, math.IsInf(float64(got[1].Rolling.LogProbs[0]), -1))
	assert.Equal(t, special[2], *got[2])
	assert.Equal(t, special[3], *got[3])
	assert.Equal(t, "block 1 attention output at position 0", got[4].Loglikelihood.NonFinite)
	assert.Equal(t, special[5], *got[5])
	assert.Equal(t, "embeddings at position 0", got[6].Generate.NonFinite)

	// Overwriting an entry replaces it.
	require.NoError(t, s2.Put([]Key{sampleKey(0)}, []plugins.Response{sample(3)}))
	got, err = s2.Get([]Key{sampleKey(0)})
	require.NoError(t, err)
	assert.Equal(t, sample(3), *got[0])

	assert.ErrorContains(t, s2.Put([]Key{sampleKey(0)}, nil), "keys for")
	assert.ErrorContains(t, s2.Put([]Key{sampleKey(0)}, []plugins.Response{{}}), "exactly one")
}

func TestDecodeRejectsMalformedBodies(t *testing.T) {
	for i := range 30 {
		body, err := encodeResponse(sample(i))
		require.NoError(t, err)
		for cut := 0; cut < len(body); cut++ {
			_, _, err := decodeResponse(body[:cut])
			assert.Error(t, err, "sample %d cut at %d", i, cut)
		}
		_, _, err = decodeResponse(append(body, 0))
		assert.Error(t, err, "trailing byte")
	}
	// A checksum mismatch is a miss, not an error.
	k := sampleKey(1)
	body, _ := encodeResponse(sample(1))
	v := encodeValue(k, body)
	v[len(v)-1] ^= 1
	_, ok := decodeValue(k, v)
	assert.False(t, ok)
	_, ok = decodeValue(sampleKey(2), encodeValue(k, body))
	assert.False(t, ok, "value moved to another key")
}

func copyFile(t *testing.T, src, dst string) {
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, data, 0o644))
}

func TestTruncatedStoreRecovers(t *testing.T) {
	master := t.TempDir()
	s, err := Open(master, Options{})
	require.NoError(t, err)
	for i := 0; i < 400; i += 50 {
		putRange(t, s, i, i+50)
	}
	st, err := os.Stat(s.Path())
	require.NoError(t, err)
	size := st.Size()

	for _, cut := range []int64{0, 1, 100, 4096, 8192 + 17, size / 3, size / 2, size - 4096, size - 1} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, FileName)
			copyFile(t, s.Path(), p)
			require.NoError(t, os.Truncate(p, cut))
			var warned []string
			s2, err := Open(dir, Options{Warn: func(m string) { warned = append(warned, m) }})
			if err != nil {
				assert.Contains(t, err.Error(), "response cache")
				return
			}
			hits, err := checkNoWrongData(t, s2, 400)
			if err != nil {
				assert.Contains(t, err.Error(), "response cache")
				return
			}
			t.Logf("truncated to %d of %d bytes: %d of 400 entries served, warnings %q", cut, size, hits, warned)
			// Whatever happened, the store works afterwards.
			putRange(t, s2, 1000, 1010)
			got, err := s2.Get([]Key{sampleKey(1005)})
			require.NoError(t, err)
			require.NotNil(t, got[0])
			assert.Equal(t, sample(1005), *got[0])
			for _, w := range warned {
				assert.Contains(t, w, "moved it to")
			}
		})
	}
}

func TestCorruptedBytesNeverServeWrongData(t *testing.T) {
	master := t.TempDir()
	s, err := Open(master, Options{})
	require.NoError(t, err)
	putRange(t, s, 0, 300)
	data, err := os.ReadFile(s.Path())
	require.NoError(t, err)

	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	p := filepath.Join(dir, FileName)
	recovered, errs := 0, 0
	for trial := range 120 {
		corrupt := append([]byte(nil), data...)
		// Damage a run of bytes somewhere in the used part of the file.
		at := rng.IntN(len(corrupt))
		for j := 0; j < 1+rng.IntN(64) && at+j < len(corrupt); j++ {
			corrupt[at+j] ^= byte(1 + rng.IntN(255))
		}
		require.NoError(t, os.WriteFile(p, corrupt, 0o644))
		s2, err := Open(dir, Options{Warn: func(string) { recovered++ }})
		if err != nil {
			errs++
			continue
		}
		if _, err := checkNoWrongData(t, s2, 300); err != nil {
			errs++
		}
		_ = trial
	}
	t.Logf("120 corruptions: %d moved aside, %d errors, rest served only correct entries", recovered, errs)
}

// TestHelperWriter is not a test: the kill test runs the test binary as
// a child that writes chunks until it is killed.
func TestHelperWriter(t *testing.T) {
	dir := os.Getenv("MEMSCOPE_CACHE_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	start, _ := strconv.Atoi(os.Getenv("MEMSCOPE_CACHE_HELPER_START"))
	chunks, _ := strconv.Atoi(os.Getenv("MEMSCOPE_CACHE_HELPER_CHUNKS")) // 0: until killed
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	for c, i := 0, start; chunks == 0 || c < chunks; c, i = c+1, i+25 {
		// A run reads a chunk's keys before computing and writing them.
		keys := make([]Key, 25)
		for j := range keys {
			keys[j] = sampleKey(i + j)
		}
		_, err := s.Get(keys)
		require.NoError(t, err)
		putRange(t, s, i, i+25)
		if chunks > 0 {
			putRange(t, s, c*25, c*25+25) // the part every writer computes
		}
		fmt.Println(i + 25) // chunks committed so far
	}
}

// TestManyWritersLoseNothing is several shards of a run on one node, each
// its own process, sharing one cache folder: each writes its own entries
// and all write the same ones (identical answers, as two runs of one
// request give), reading between writes. Every entry must be there and
// right afterwards; nothing may be moved aside as damaged.
func TestManyWritersLoseNothing(t *testing.T) {
	dir := t.TempDir()
	const writers, chunks = 6, 30
	var cmds []*exec.Cmd
	for w := range writers {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MEMSCOPE_CACHE_HELPER_DIR="+dir,
			"MEMSCOPE_CACHE_HELPER_START="+strconv.Itoa(100_000*(w+1)), "MEMSCOPE_CACHE_HELPER_CHUNKS="+strconv.Itoa(chunks))
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
	}
	for w, cmd := range cmds {
		require.NoError(t, cmd.Wait(), "writer %d", w)
	}
	s, err := Open(dir, Options{Warn: func(m string) { t.Errorf("warning: %s", m) }})
	require.NoError(t, err)
	var keys []Key
	var want []plugins.Response
	for w := range writers + 1 { // the shared range, then each writer's own
		for i := range chunks * 25 {
			keys = append(keys, sampleKey(100_000*w+i))
			want = append(want, sample(100_000*w+i))
		}
	}
	got, err := s.Get(keys)
	require.NoError(t, err)
	missing := 0
	for i := range got {
		if got[i] == nil {
			missing++
			continue
		}
		require.Equal(t, want[i], *got[i], "entry %d", i)
	}
	assert.Zero(t, missing, "entries lost")
	n, err := s.Len()
	require.NoError(t, err)
	assert.Equal(t, (writers+1)*chunks*25, n)
	aside, err := filepath.Glob(filepath.Join(dir, "*.corrupt-*"))
	require.NoError(t, err)
	assert.Empty(t, aside, "a writer took the file for damaged")
}

// startWriter starts a child writing chunks of 25 entries from start and
// returns once it has committed its first chunk.
func startWriter(t *testing.T, dir string, start int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriter$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MEMSCOPE_CACHE_HELPER_DIR="+dir, "MEMSCOPE_CACHE_HELPER_START="+strconv.Itoa(start))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(out)
	require.True(t, sc.Scan(), "the writer committed nothing")
	go func() {
		for sc.Scan() { // keep the pipe drained
		}
	}()
	return cmd
}

func TestKilledWriterLeavesCommittedChunks(t *testing.T) {
	dir := t.TempDir()
	for round := range 3 {
		cmd := startWriter(t, dir, 0)
		time.Sleep(time.Duration(50+100*round) * time.Millisecond)
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()

		s, err := Open(dir, Options{})
		require.NoError(t, err)
		n, err := s.Len()
		require.NoError(t, err)
		require.Positive(t, n, "the writer committed nothing before the kill")
		// Chunks are transactions: entries [0, n) present, none after.
		hits, err := checkNoWrongData(t, s, n+200)
		require.NoError(t, err)
		assert.Equal(t, n, hits)
		assert.Zero(t, n%25, "a chunk was half stored")
	}
}

func TestTwoWritersAtOnce(t *testing.T) {
	dir := t.TempDir()
	// Two processes plus this one write distinct ranges at the same time.
	a := startWriter(t, dir, 0)
	b := startWriter(t, dir, 1_000_000)
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			for i := 0; i < 10; i++ {
				lo := 2_000_000 + g*1000 + i*10
				putRange(t, s, lo, lo+10)
			}
		})
	}
	wg.Wait()
	require.NoError(t, a.Process.Signal(syscall.SIGKILL))
	require.NoError(t, b.Process.Signal(syscall.SIGKILL))
	_ = a.Wait()
	_ = b.Wait()

	keys := []Key{}
	want := []plugins.Response{}
	for g := range 2 {
		for i := range 100 {
			keys = append(keys, sampleKey(2_000_000+g*1000+i))
			want = append(want, sample(2_000_000+g*1000+i))
		}
	}
	got, err := s.Get(keys)
	require.NoError(t, err)
	for i := range got {
		require.NotNil(t, got[i])
		assert.Equal(t, want[i], *got[i])
	}
	n, err := s.Len()
	require.NoError(t, err)
	assert.Greater(t, n, 200, "the child writers stored nothing")
	hits, err := checkNoWrongData(t, s, 100_000)
	require.NoError(t, err)
	assert.Positive(t, hits)
}

func TestUnopenableFileIsNotTakenForDamage(t *testing.T) {
	dir := t.TempDir()
	// A folder in the file's place fails to open like a read-only file
	// system or a full disk does: an error of the system, not of the
	// file's content, so nothing may be moved aside.
	require.NoError(t, os.Mkdir(filepath.Join(dir, FileName), 0o755))
	var warned []string
	_, err := Open(dir, Options{Warn: func(m string) { warned = append(warned, m) }})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "choose another --cache-dir, or run with --no-cache")
	assert.NotContains(t, err.Error(), "damaged")
	assert.Empty(t, warned)
	assert.DirExists(t, filepath.Join(dir, FileName))
	aside, err := filepath.Glob(filepath.Join(dir, "*.corrupt-*"))
	require.NoError(t, err)
	assert.Empty(t, aside, "moved aside")

	f := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	_, err = Open(filepath.Join(f, "sub"), Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "choose another --cache-dir, or run with --no-cache")
}
