package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/text/unicode/norm"
)

const supportedModels = "memscope reads byte-level BPE tokenizers (GPT-2, GPT-Neo, GPT-NeoX/Pythia): " +
	"a tokenizer.json with a BPE model and a ByteLevel pre-tokenizer, or vocab.json + merges.txt"

// Load reads the tokenizer of a Hugging Face model folder: tokenizer.json if
// present, else GPT-2's vocab.json + merges.txt pair (as GPT-Neo checkpoints
// ship it; "<|endoftext|>" is then a special token).
func Load(modelDir string, opts ...Option) (*Tokenizer, error) {
	st, err := os.Stat(modelDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("load tokenizer: model folder %s does not exist", modelDir)
	}
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("load tokenizer: %s is not a folder (give a model folder, or use the tokenizer file directly)", modelDir)
	}
	tj := filepath.Join(modelDir, "tokenizer.json")
	if fileExists(tj) {
		return LoadFile(tj, opts...)
	}
	vj, mt := filepath.Join(modelDir, "vocab.json"), filepath.Join(modelDir, "merges.txt")
	if fileExists(vj) && fileExists(mt) {
		return loadPair(vj, mt, opts)
	}
	return nil, fmt.Errorf("load tokenizer: no tokenizer in %s: expected tokenizer.json, or vocab.json with merges.txt beside it", modelDir)
}

// LoadFile reads an explicit tokenizer file: an HF tokenizer.json, or a
// GPT-2 vocab.json whose merges.txt sits in the same folder.
func LoadFile(path string, opts ...Option) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer: %w", err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("load tokenizer %s: not valid JSON: %w", path, err)
	}
	// A tokenizer.json has a "model" section; a vocab.json may have a
	// token "model" too, but its value is an id.
	if m, ok := top["model"]; ok && !isNumber(m) {
		t, err := fromTokenizerJSON(data, newOptions(opts))
		if err != nil {
			return nil, fmt.Errorf("load tokenizer %s: %w", path, err)
		}
		t.source = path
		return t, nil
	}
	mt := filepath.Join(filepath.Dir(path), "merges.txt")
	if fileExists(mt) {
		return loadPair(path, mt, opts)
	}
	return nil, fmt.Errorf("load tokenizer %s: neither a tokenizer.json (it has no \"model\" section) nor a vocab.json with merges.txt beside it", path)
}

func newOptions(opts []Option) options {
	o := options{cacheSize: DefaultCacheSize}
	for _, f := range opts {
		f(&o)
	}
	return o
}

func fileExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// bpeSpec is everything a Tokenizer is built from, whichever file format
// it came in.
type bpeSpec struct {
	vocab        map[string]int32
	merges       [][2]string
	unkToken     *string
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool

	added            []AddedToken
	normalize        func(string) string
	addPrefixSpace   bool
	useRegex         bool
	byteLevelDecoder bool
}

// tokenizer.json, the parts memscope reads.
type tokenizerJSON struct {
	AddedTokens   []AddedToken    `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
	PostProcessor json.RawMessage `json:"post_processor"` // only adds special tokens or fixes offsets: ignored
	Truncation    json.RawMessage `json:"truncation"`     // ignored, as transformers does without truncation=True
	Padding       json.RawMessage `json:"padding"`        // ignored
}

type modelJSON struct {
	Type                    string           `json:"type"`
	Dropout                 *float64         `json:"dropout"`
	UnkToken                *string          `json:"unk_token"`
	ContinuingSubwordPrefix *string          `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string          `json:"end_of_word_suffix"`
	FuseUnk                 bool             `json:"fuse_unk"`
	ByteFallback            bool             `json:"byte_fallback"`
	IgnoreMerges            bool             `json:"ignore_merges"`
	Vocab                   map[string]int32 `json:"vocab"`
	Merges                  json.RawMessage  `json:"merges"`
}

type componentJSON struct {
	Type           string            `json:"type"`
	AddPrefixSpace *bool             `json:"add_prefix_space"`
	UseRegex       *bool             `json:"use_regex"`
	Normalizers    []json.RawMessage `json:"normalizers"`
	PreTokenizers  []json.RawMessage `json:"pretokenizers"`
	Decoders       []json.RawMessage `json:"decoders"`
}

func isNumber(raw json.RawMessage) bool {
	var n json.Number
	return json.Unmarshal(raw, &n) == nil
}

func isNull(raw json.RawMessage) bool {
	return len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func fromTokenizerJSON(data []byte, o options) (*Tokenizer, error) {
	var tj tokenizerJSON
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, fmt.Errorf("malformed tokenizer.json: %w", err)
	}
	var spec bpeSpec
	if err := parseModel(tj.Model, &spec); err != nil {
		return nil, err
	}
	var err error
	if spec.normalize, err = parseNormalizer(tj.Normalizer); err != nil {
		return nil, err
	}
	if err := parsePreTokenizer(tj.PreTokenizer, &spec); err != nil {
		return nil, err
	}
	if spec.byteLevelDecoder, err = parseDecoder(tj.Decoder); err != nil {
		return nil, err
	}
	spec.added = tj.AddedTokens
	return build(spec, o)
}

func parseModel(raw json.RawMessage, spec *bpeSpec) error {
	if isNull(raw) {
		return errors.New(`no "model" section; ` + supportedModels)
	}
	var head struct {
		Type   string          `json:"type"`
		Merges json.RawMessage `json:"merges"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("malformed \"model\" section: %w", err)
	}
	if head.Type == "" && head.Merges != nil { // files from before "type" was written
		head.Type = "BPE"
	}
	if head.Type != "BPE" {
		return fmt.Errorf("model type %q is not supported; %s", head.Type, supportedModels)
	}
	var m modelJSON
	if err := json.Unmarshal(raw, &m); err != nil {
		return fmt.Errorf("malformed BPE \"model\" section: %w", err)
	}
	if m.Dropout != nil && *m.Dropout > 0 {
		return fmt.Errorf("BPE dropout %g is not supported: it makes encoding random; set \"dropout\" to null", *m.Dropout)
	}
	if m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "" {
		return fmt.Errorf("BPE continuing_subword_prefix %q is not supported (byte-level BPE does not use it)", *m.ContinuingSubwordPrefix)
	}
	if m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "" {
		return fmt.Errorf("BPE end_of_word_suffix %q is not supported (byte-level BPE does not use it)", *m.EndOfWordSuffix)
	}
	if len(m.Vocab) == 0 {
		return errors.New(`BPE model has an empty or missing "vocab"`)
	}
	spec.vocab = m.Vocab
	spec.unkToken = m.UnkToken
	spec.fuseUnk = m.FuseUnk
	spec.byteFallback = m.ByteFallback
	spec.ignoreMerges = m.IgnoreMerges
	if isNull(m.Merges) {
		return errors.New(`BPE model has no "merges"`)
	}
	// Merges are "a b" strings (older files) or ["a", "b"] pairs.
	var asStrings []string
	if err := json.Unmarshal(m.Merges, &asStrings); err == nil {
		spec.merges = make([][2]string, len(asStrings))
		for i, s := range asStrings {
			a, b, ok := strings.Cut(s, " ")
			if !ok || a == "" || b == "" || strings.Contains(b, " ") {
				return fmt.Errorf("merge %d %q: want two tokens separated by one space", i, s)
			}
			spec.merges[i] = [2]string{a, b}
		}
		return nil
	}
	var asPairs [][]string
	if err := json.Unmarshal(m.Merges, &asPairs); err != nil {
		return errors.New(`BPE "merges" must be a list of "a b" strings or of ["a", "b"] pairs`)
	}
	spec.merges = make([][2]string, len(asPairs))
	for i, p := range asPairs {
		if len(p) != 2 {
			return fmt.Errorf("merge %d: want a pair of tokens, got %d", i, len(p))
		}
		spec.merges[i] = [2]string{p[0], p[1]}
	}
	return nil
}

func parseNormalizer(raw json.RawMessage) (func(string) string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("malformed \"normalizer\": %w", err)
	}
	switch c.Type {
	case "NFC":
		return normalizeWith(norm.NFC), nil
	case "NFD":
		return normalizeWith(norm.NFD), nil
	case "NFKC":
		return normalizeWith(norm.NFKC), nil
	case "NFKD":
		return normalizeWith(norm.NFKD), nil
	case "Sequence":
		var fs []func(string) string
		for _, sub := range c.Normalizers {
			f, err := parseNormalizer(sub)
			if err != nil {
				return nil, err
			}
			if f != nil {
				fs = append(fs, f)
			}
		}
		if len(fs) == 0 {
			return nil, nil
		}
		return func(s string) string {
			for _, f := range fs {
				s = f(s)
			}
			return s
		}, nil
	}
	return nil, fmt.Errorf("normalizer type %q is not supported (supported: NFC, NFD, NFKC, NFKD and a Sequence of them)", c.Type)
}

// normalizeWith applies a Unicode normalization form; ASCII text is in
// every form already. Bytes that are not valid UTF-8 pass through unchanged.
func normalizeWith(f norm.Form) func(string) string {
	return func(s string) string {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return f.String(s)
			}
		}
		return s
	}
}

func parsePreTokenizer(raw json.RawMessage, spec *bpeSpec) error {
	if isNull(raw) {
		return errors.New("no pre_tokenizer; " + supportedModels)
	}
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("malformed \"pre_tokenizer\": %w", err)
	}
	if c.Type == "Sequence" && len(c.PreTokenizers) == 1 {
		return parsePreTokenizer(c.PreTokenizers[0], spec)
	}
	if c.Type != "ByteLevel" {
		return fmt.Errorf("pre_tokenizer type %q is not supported (supported: ByteLevel)", c.Type)
	}
	// Defaults are HF's ByteLevel::default().
	spec.addPrefixSpace = c.AddPrefixSpace == nil || *c.AddPrefixSpace
	spec.useRegex = c.UseRegex == nil || *c.UseRegex
	return nil
}

func parseDecoder(raw json.RawMessage) (byteLevel bool, err error) {
	if isNull(raw) {
		return false, nil
	}
	var c componentJSON
	if err := json.Unmarshal(raw, &c); err != nil {
		return false, fmt.Errorf("malformed \"decoder\": %w", err)
	}
	if c.Type == "Sequence" && len(c.Decoders) == 1 {
		return parseDecoder(c.Decoders[0])
	}
	if c.Type != "ByteLevel" {
		return false, fmt.Errorf("decoder type %q is not supported (supported: ByteLevel)", c.Type)
	}
	return true, nil
}

// loadPair reads GPT-2's vocab.json + merges.txt, with the settings of
// transformers' GPT2Tokenizer: no normalizer, ByteLevel without a prefix
// space, and "<|endoftext|>" as special token.
func loadPair(vocabPath, mergesPath string, opts []Option) (*Tokenizer, error) {
	src := vocabPath + " + " + mergesPath
	wrap := func(err error) error { return fmt.Errorf("load tokenizer %s: %w", src, err) }
	data, err := os.ReadFile(vocabPath)
	if err != nil {
		return nil, wrap(err)
	}
	spec := bpeSpec{useRegex: true, byteLevelDecoder: true}
	if err := json.Unmarshal(data, &spec.vocab); err != nil {
		return nil, wrap(fmt.Errorf("%s is not a JSON object of token ids: %w", filepath.Base(vocabPath), err))
	}
	if len(spec.vocab) == 0 {
		return nil, wrap(fmt.Errorf("%s is empty", filepath.Base(vocabPath)))
	}
	if spec.merges, err = readMergesTxt(mergesPath); err != nil {
		return nil, wrap(err)
	}
	if id, ok := spec.vocab["<|endoftext|>"]; ok {
		spec.added = []AddedToken{{ID: id, Content: "<|endoftext|>", Special: true}}
	}
	t, err := build(spec, newOptions(opts))
	if err != nil {
		return nil, wrap(err)
	}
	t.source = src
	return t, nil
}

func readMergesTxt(path string) ([][2]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var merges [][2]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSuffix(sc.Text(), "\r")
		if s == "" || line == 1 && strings.HasPrefix(s, "#version") {
			continue
		}
		a, b, ok := strings.Cut(s, " ")
		if !ok || a == "" || b == "" || strings.Contains(b, " ") {
			return nil, fmt.Errorf("%s line %d %q: want two tokens separated by one space", filepath.Base(path), line, s)
		}
		merges = append(merges, [2]string{a, b})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return merges, nil
}

// build checks a spec and makes the Tokenizer's tables.
func build(spec bpeSpec, o options) (*Tokenizer, error) {
	t := &Tokenizer{
		vocab:            spec.vocab,
		unkID:            -1,
		fuseUnk:          spec.fuseUnk,
		byteFallback:     spec.byteFallback,
		ignoreMerges:     spec.ignoreMerges,
		normalize:        spec.normalize,
		addPrefixSpace:   spec.addPrefixSpace,
		useRegex:         spec.useRegex,
		byteLevelDecoder: spec.byteLevelDecoder,
		addedByContent:   make(map[string]int32, len(spec.added)),
		cache:            newWordCache(o.cacheSize),
	}
	maxID := int32(-1)
	byID := make(map[int32]string, len(spec.vocab))
	for tok, id := range spec.vocab {
		if id < 0 {
			return nil, fmt.Errorf("vocab token %q has negative id %d", tok, id)
		}
		if other, dup := byID[id]; dup {
			a, b := min(tok, other), max(tok, other)
			return nil, fmt.Errorf("vocab gives id %d to both %q and %q", id, a, b)
		}
		byID[id] = tok
		maxID = max(maxID, id)
	}
	if spec.unkToken != nil {
		id, ok := spec.vocab[*spec.unkToken]
		if !ok {
			return nil, fmt.Errorf("unk_token %q is not in the vocab", *spec.unkToken)
		}
		t.unkID = id
	}
	t.merges = make(map[uint64]uint64, len(spec.merges))
	for rank, m := range spec.merges {
		a, okA := spec.vocab[m[0]]
		b, okB := spec.vocab[m[1]]
		if !okA || !okB {
			return nil, fmt.Errorf("merge %d (%q %q) uses a token missing from the vocab", rank, m[0], m[1])
		}
		id, ok := spec.vocab[m[0]+m[1]]
		if !ok {
			return nil, fmt.Errorf("merge %d (%q %q) makes %q, which is missing from the vocab", rank, m[0], m[1], m[0]+m[1])
		}
		t.merges[pairKey(a, b)] = uint64(rank)<<32 | uint64(uint32(id)) // a repeated pair keeps its last rank, as HF
	}
	for b := range 256 {
		t.byteID[b] = -1
		if id, ok := spec.vocab[string(byteChar[b])]; ok {
			t.byteID[b] = id
		}
	}

	// Added tokens: HF gives an added token the model's id when its content
	// is in the vocab, else the id the file states.
	var rawToks, normToks []AddedToken
	var rawPats, normPats []string
	for _, at := range spec.added {
		if at.Content == "" {
			continue
		}
		if id, ok := spec.vocab[at.Content]; ok {
			at.ID = id
		}
		if at.ID < 0 {
			return nil, fmt.Errorf("added token %q has negative id %d", at.Content, at.ID)
		}
		maxID = max(maxID, at.ID)
		t.addedByContent[at.Content] = at.ID
		t.added = append(t.added, at)
		if at.Normalized {
			pat := at.Content
			if t.normalize != nil {
				pat = t.normalize(pat)
			}
			normToks, normPats = append(normToks, at), append(normPats, pat)
		} else {
			rawToks, rawPats = append(rawToks, at), append(rawPats, at.Content)
		}
	}
	t.rawAdded = newAddedMatcher(rawToks, rawPats)
	t.normAdded = newAddedMatcher(normToks, normPats)

	n := int(maxID) + 1
	t.tokens = make([]string, n)
	t.hasToken = make([]bool, n)
	t.special = make([]bool, n)
	t.decoded = make([]string, n)
	for id, tok := range byID {
		t.tokens[id], t.hasToken[id] = tok, true
	}
	for _, at := range spec.added {
		if at.Content == "" {
			continue
		}
		id := t.addedByContent[at.Content]
		t.tokens[id], t.hasToken[id] = at.Content, true
		t.special[id] = t.special[id] || at.Special
	}
	for id, tok := range t.tokens {
		if t.hasToken[id] {
			t.decoded[id] = byteLevelDecode(tok)
		}
	}
	return t, nil
}
