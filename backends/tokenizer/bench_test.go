package tokenizer

import (
	"encoding/json"
	"testing"
)

// BenchmarkEncodeLambada encodes 500 LAMBADA passages (testdata) and
// reports tokens/s:
//   - warm: the BPE word cache already holds the passages' words;
//   - cold: the cache is emptied before each pass over the passages (words
//     repeated within the 500 passages still hit);
//   - nocache: no cache at all, every word is merged;
//   - serial runs Encode in one goroutine, batch runs EncodeBatch on all
//     cores (GOMAXPROCS).
//
// go test -run '^$' -bench EncodeLambada -count 5 ./backends/tokenizer/
func BenchmarkEncodeLambada(b *testing.B) {
	var passages []string
	for _, line := range readGzipLines(b, "lambada_500.jsonl.gz") {
		var doc struct{ Text string }
		if err := json.Unmarshal(line, &doc); err != nil {
			b.Fatal(err)
		}
		passages = append(passages, doc.Text)
	}
	nbytes := 0
	for _, p := range passages {
		nbytes += len(p)
	}
	for _, name := range []string{"neox", "gpt2"} {
		cached := testTokenizer(b, name)
		uncached, err := LoadFile(cached.Source(), CacheSize(0))
		if err != nil {
			b.Fatal(err)
		}
		ntokens := 0
		for _, ids := range cached.EncodeBatch(passages) {
			ntokens += len(ids)
		}
		report := func(b *testing.B) {
			b.ReportMetric(float64(ntokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		}
		serial := func(tok *Tokenizer) func(b *testing.B) {
			return func(b *testing.B) {
				b.SetBytes(int64(nbytes))
				for b.Loop() {
					for _, p := range passages {
						tok.Encode(p)
					}
				}
				report(b)
			}
		}
		batch := func(tok *Tokenizer) func(b *testing.B) {
			return func(b *testing.B) {
				b.SetBytes(int64(nbytes))
				for b.Loop() {
					tok.EncodeBatch(passages)
				}
				report(b)
			}
		}
		b.Run(name+"/warm/serial", serial(cached))
		b.Run(name+"/warm/batch", batch(cached))
		b.Run(name+"/cold/serial", func(b *testing.B) {
			b.SetBytes(int64(nbytes))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cached.cache.reset()
				b.StartTimer()
				for _, p := range passages {
					cached.Encode(p)
				}
			}
			report(b)
		})
		b.Run(name+"/cold/batch", func(b *testing.B) {
			b.SetBytes(int64(nbytes))
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				cached.cache.reset()
				b.StartTimer()
				cached.EncodeBatch(passages)
			}
			report(b)
		})
		b.Run(name+"/nocache/serial", serial(uncached))
		b.Run(name+"/nocache/batch", batch(uncached))
	}
}
