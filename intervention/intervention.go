// Package intervention names what a backend changes in a model's forward pass
// and parses the spec strings users write for it (`none`, `attn-sc:3`,
// `attn-sc:1,3`, `attn-sc:20-23`, `attn-sc:all`, `attn-sc:each`,
// `attn-zero:2`).
//
// An Intervention is a kind plus a set of blocks; the empty set is the
// baseline. A Spec is what the user wrote: it may still say "all" or "each",
// which only mean something once the model's layer count is known
// (Spec.Resolve).
package intervention

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Kind is the public name of an intervention kind; it is stored in results.
type Kind string

const (
	// None is the baseline: the model runs unchanged.
	None Kind = "none"
	// AttnShortCircuit makes the attention matrix of the chosen blocks the
	// identity: each position attends only to itself, so the block adds
	// W_O·W_V·LN1(x_t) (biases included) for each token (the paper's bypass).
	AttnShortCircuit Kind = "attn-short-circuit"
	// AttnZero replaces the attention branch output (bias included) of the
	// chosen blocks by zeros.
	AttnZero Kind = "attn-zero"
)

// Kinds lists every kind a spec may name, baseline first.
var Kinds = []Kind{None, AttnShortCircuit, AttnZero}

// short names accepted in specs, mapped to kinds.
var specNames = map[string]Kind{
	"none":               None,
	"attn-sc":            AttnShortCircuit,
	"attn-short-circuit": AttnShortCircuit,
	"attn-zero":          AttnZero,
}

// shortName is the canonical spec prefix of each kind.
var shortName = map[Kind]string{
	None:             "none",
	AttnShortCircuit: "attn-sc",
	AttnZero:         "attn-zero",
}

// Intervention is one concrete change to the forward pass.
// The zero value is the baseline.
type Intervention struct {
	Kind   Kind  // None (or "") for the baseline
	Blocks []int // sorted, unique, 0-based block indices; empty for the baseline
}

// Baseline returns the unchanged model.
func Baseline() Intervention { return Intervention{Kind: None} }

// IsBaseline reports whether the intervention changes nothing.
func (iv Intervention) IsBaseline() bool {
	return iv.Kind == None || iv.Kind == "" || len(iv.Blocks) == 0
}

// Has reports whether block b is touched by the intervention.
func (iv Intervention) Has(b int) bool {
	if iv.IsBaseline() {
		return false
	}
	i := sort.SearchInts(iv.Blocks, b)
	return i < len(iv.Blocks) && iv.Blocks[i] == b
}

// String returns the canonical spec: "none", "attn-sc:3", "attn-sc:1,3",
// "attn-zero:0-3". Parse(iv.String()) gives iv back.
func (iv Intervention) String() string {
	if iv.IsBaseline() {
		return "none"
	}
	return shortName[iv.Kind] + ":" + formatBlocks(iv.Blocks)
}

// BlocksString renders the blocks compactly ("1,3", "20-23"); "" for none.
func (iv Intervention) BlocksString() string {
	if iv.IsBaseline() {
		return ""
	}
	return formatBlocks(iv.Blocks)
}

// Validate checks the intervention against a model with numLayers blocks.
func (iv Intervention) Validate(numLayers int) error {
	if iv.IsBaseline() {
		return nil
	}
	if _, ok := shortName[iv.Kind]; !ok {
		return fmt.Errorf("intervention kind %q is not supported (use one of %s)", iv.Kind, kindList())
	}
	for _, b := range iv.Blocks {
		if b < 0 || b >= numLayers {
			return fmt.Errorf("intervention %s: block %d does not exist (the model has blocks 0-%d)", iv, b, numLayers-1)
		}
	}
	return nil
}

// Spec is a parsed spec string before the layer count is known.
type Spec struct {
	Kind   Kind
	Blocks []int // explicit blocks; nil when All or Each
	All    bool  // every block at once ("attn-sc:all")
	Each   bool  // one intervention per block ("attn-sc:each"): a sweep
}

// String gives the spec back in canonical form.
func (s Spec) String() string {
	switch {
	case s.Kind == None:
		return "none"
	case s.All:
		return shortName[s.Kind] + ":all"
	case s.Each:
		return shortName[s.Kind] + ":each"
	}
	return Intervention{Kind: s.Kind, Blocks: s.Blocks}.String()
}

// Parse reads one spec string. "each" is accepted; callers that need a
// single intervention (forward, generate) reject Spec.Each themselves.
func Parse(spec string) (Spec, error) {
	s := strings.TrimSpace(spec)
	if s == "" {
		return Spec{}, fmt.Errorf("empty intervention spec (write none, attn-sc:3, attn-sc:1,3, attn-sc:20-23, attn-sc:all, attn-sc:each or attn-zero:2)")
	}
	name, arg, hasArg := strings.Cut(s, ":")
	kind, ok := specNames[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return Spec{}, fmt.Errorf("intervention spec %q: unknown kind %q (use none, attn-sc or attn-zero)", spec, name)
	}
	if kind == None {
		if hasArg {
			return Spec{}, fmt.Errorf("intervention spec %q: none takes no blocks", spec)
		}
		return Spec{Kind: None}, nil
	}
	arg = strings.TrimSpace(arg)
	if !hasArg || arg == "" {
		return Spec{}, fmt.Errorf("intervention spec %q: say which blocks, e.g. %s:3, %s:1,3, %s:20-23, %s:all or %s:each",
			spec, name, name, name, name, name)
	}
	switch strings.ToLower(arg) {
	case "all":
		return Spec{Kind: kind, All: true}, nil
	case "each":
		return Spec{Kind: kind, Each: true}, nil
	}
	blocks, err := parseBlocks(arg)
	if err != nil {
		return Spec{}, fmt.Errorf("intervention spec %q: %w", spec, err)
	}
	return Spec{Kind: kind, Blocks: blocks}, nil
}

// Resolve turns the spec into concrete interventions for a model with
// numLayers blocks: one for a plain spec or "all", numLayers for "each".
// Blocks outside the model are an error.
func (s Spec) Resolve(numLayers int) ([]Intervention, error) {
	if numLayers <= 0 {
		return nil, fmt.Errorf("intervention spec %s: model has no blocks", s)
	}
	switch {
	case s.Kind == None:
		return []Intervention{Baseline()}, nil
	case s.Each:
		out := make([]Intervention, numLayers)
		for b := range numLayers {
			out[b] = Intervention{Kind: s.Kind, Blocks: []int{b}}
		}
		return out, nil
	case s.All:
		blocks := make([]int, numLayers)
		for b := range blocks {
			blocks[b] = b
		}
		return []Intervention{{Kind: s.Kind, Blocks: blocks}}, nil
	}
	iv := Intervention{Kind: s.Kind, Blocks: s.Blocks}
	if err := iv.Validate(numLayers); err != nil {
		return nil, err
	}
	return []Intervention{iv}, nil
}

// ParseOne parses a spec that must name exactly one intervention (no
// "each") and resolves it for a model with numLayers blocks.
func ParseOne(spec string, numLayers int) (Intervention, error) {
	s, err := Parse(spec)
	if err != nil {
		return Intervention{}, err
	}
	if s.Each {
		return Intervention{}, fmt.Errorf("intervention spec %q: \"each\" is a sweep and only works with memscope run; name blocks here, e.g. %s:3", spec, shortName[s.Kind])
	}
	ivs, err := s.Resolve(numLayers)
	if err != nil {
		return Intervention{}, err
	}
	return ivs[0], nil
}

// New builds an intervention from a kind and blocks, sorting and
// de-duplicating the blocks.
func New(kind Kind, blocks ...int) Intervention {
	if kind == None || kind == "" || len(blocks) == 0 {
		return Baseline()
	}
	bs := append([]int(nil), blocks...)
	sort.Ints(bs)
	out := bs[:0]
	for i, b := range bs {
		if i == 0 || b != bs[i-1] {
			out = append(out, b)
		}
	}
	return Intervention{Kind: kind, Blocks: out}
}

func parseBlocks(arg string) ([]int, error) {
	var blocks []int
	for _, part := range strings.Split(arg, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := parseBlock(lo)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = parseBlock(hi); err != nil {
				return nil, err
			}
			if b < a {
				return nil, fmt.Errorf("block range %q runs backwards", part)
			}
		}
		for k := a; k <= b; k++ {
			blocks = append(blocks, k)
		}
	}
	iv := New(AttnShortCircuit, blocks...)
	return iv.Blocks, nil
}

// MaxBlock bounds block numbers in specs: far past any model, and small
// enough that a range of them ("0-9223372036854775807" looped forever)
// stays a small list.
const MaxBlock = 1<<16 - 1

func parseBlock(s string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil && !errors.Is(err, strconv.ErrRange) || n < 0 {
		return 0, fmt.Errorf("%q is not a block number (blocks are 0-based integers)", s)
	}
	if err != nil || n > MaxBlock {
		return 0, fmt.Errorf("block %s is past any model (block numbers go up to %d)", s, MaxBlock)
	}
	return n, nil
}

func formatBlocks(blocks []int) string {
	var parts []string
	for i := 0; i < len(blocks); {
		j := i
		for j+1 < len(blocks) && blocks[j+1] == blocks[j]+1 {
			j++
		}
		switch {
		case j == i:
			parts = append(parts, strconv.Itoa(blocks[i]))
		case j == i+1:
			parts = append(parts, strconv.Itoa(blocks[i]), strconv.Itoa(blocks[j]))
		default:
			parts = append(parts, strconv.Itoa(blocks[i])+"-"+strconv.Itoa(blocks[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// Attention is what a block's attention branch computes under an
// intervention. Engines ask AttentionAt for each block instead of testing
// kinds themselves, so a new kind that changes attention is added here
// once, not in every engine.
type Attention int

const (
	// AttentionNormal is the model's own causal attention.
	AttentionNormal Attention = iota
	// AttentionIdentity is the short-circuit: the attention matrix is the
	// identity, so each position's output is W_O·v_t + b_O (its own value
	// vector, projected).
	AttentionIdentity
	// AttentionZero drops the branch: its output, bias included, is zero
	// (the residual stream skips attention; layer norms and MLP still run).
	AttentionZero
)

func (a Attention) String() string {
	switch a {
	case AttentionNormal:
		return "normal"
	case AttentionIdentity:
		return "identity"
	case AttentionZero:
		return "zero"
	}
	return fmt.Sprintf("Attention(%d)", int(a))
}

// AttentionAt says what the attention of block b computes under iv.
//
// Kinds that change other parts of a block (an MLP bypass, single heads)
// get their own question beside this one (MLPAt, HeadsAt), answered for
// every kind, so an engine that asks all of them applies any intervention
// it claims to support. An engine lists the kinds it supports (today
// AttentionKinds) and refuses the rest.
func (iv Intervention) AttentionAt(b int) Attention {
	if !iv.Has(b) {
		return AttentionNormal
	}
	switch iv.Kind {
	case AttnShortCircuit:
		return AttentionIdentity
	case AttnZero:
		return AttentionZero
	}
	return AttentionNormal
}

// AttentionKinds are the kinds that AttentionAt answers: every kind an
// engine that implements the three Attention modes can apply.
var AttentionKinds = []Kind{AttnShortCircuit, AttnZero}
