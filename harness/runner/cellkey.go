package runner

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/memscope/memscope/harness/cache"
	"github.com/memscope/memscope/harness/plan"
	"github.com/memscope/memscope/intervention"
	"github.com/memscope/memscope/plugins"
)

// taskConfigHash identifies a task's configuration: name, version,
// options (defaults filled in), limit, documents and seed.
func taskConfigHash(info plugins.TaskInfo, opts plugins.TaskOptions) string {
	eff := map[string]string{}
	for _, o := range info.Options {
		eff[o.Name] = o.Default
	}
	for k, v := range opts.Options {
		eff[k] = v
	}
	keys := make([]string, 0, len(eff))
	for k := range eff {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	fmt.Fprintf(h, "task\x00%s\x00version\x00%s\x00limit\x00%d\x00docs\x00%s\x00seed\x00%d\x00", info.Name, info.Version, opts.Limit, plan.FormatDocRanges(opts.Docs), opts.Seed)
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%s\x00", k, eff[k])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// requestsDigest hashes a task's requests (with their doc and request
// indices), so a finished cell is reused only for the very same requests.
func requestsDigest(reqs []plugins.Request) (string, error) {
	var zero cache.Scope
	h := sha256.New()
	var b [16]byte
	for i, rq := range reqs {
		k, err := zero.Key(rq)
		if err != nil {
			return "", fmt.Errorf("request %d (doc %d): %w", i, rq.DocIndex, err)
		}
		h.Write(k[:])
		binary.LittleEndian.PutUint64(b[:8], uint64(rq.DocIndex))
		binary.LittleEndian.PutUint64(b[8:], uint64(rq.Index))
		h.Write(b[:])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cellKey identifies a cell's result: what computed it and on what.
func cellKey(mr *modelRun, iv intervention.Intervention, t *preparedTask) string {
	h := sha256.New()
	for _, s := range []string{"memscope-cell-key-v1", mr.hash, mr.caps.Name, mr.caps.Version, mr.info.DType, iv.String(),
		t.info.Name, t.info.Version, t.confHash, t.digest} {
		fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}
