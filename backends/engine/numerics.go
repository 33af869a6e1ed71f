package engine

import (
	"fmt"
	"math"
	"strings"
)

// Non-finite values (NaN, ±Inf): the policy every engine follows.
//
//  1. No float input crashes an engine, hangs it or makes it index out of
//     range: weights, activations and logits may hold NaN, ±Inf or values
//     that overflow (3e38) anywhere.
//  2. Weights are checked when a model loads (CountNonFinite on each
//     tensor). A tensor holding NaN or ±Inf is refused with its name and
//     counts (NonFiniteWeightsError) unless the load request allows it;
//     then the engine loads it and rule 4 tells where it shows.
//  3. Row statistics of logits (argmax, log Z, entropy) are defined for
//     every row as RowStats does: argmax is numpy's (the first NaN if the
//     row has one, else the lowest index of the maximum, +Inf included),
//     which is also what the task side uses; log Z is NaN when the row holds
//     a NaN, +Inf when it holds +Inf, -Inf when every value is -Inf, else
//     the log-sum-exp of its finite values (-Inf entries weigh nothing); the
//     entropy is NaN whenever log Z is not finite. So a log-probability is
//     NaN where the distribution is undefined, never a silent 0.
//  4. A forward pass that produces NaN or ±Inf reports, for each sequence
//     that went non-finite, where it first did (NonFinite: the block and
//     part — embeddings, attention, mlp, residual stream, final layer norm,
//     logits — and the
//     token position) in TokenScores.NonFinite or Generation.NonFinite; its
//     numbers are returned as computed (NaN stays NaN). The backend passes
//     the place on with each response, and the runner warns about every
//     cell whose answers went non-finite.

// NonFinite says where a sequence's forward pass first produced a NaN or
// an infinity.
type NonFinite struct {
	// Block is the transformer block (0-based); -1 for the embeddings and
	// the number of blocks for the final layer norm and the logits.
	Block int
	// Part is PartEmbeddings, PartAttention, PartMLP, PartFinalNorm or
	// PartLogits.
	Part string
	// Position is the token position of the first non-finite row.
	Position int
}

// Parts of a forward pass, for NonFinite.Part.
const (
	PartEmbeddings = "embeddings"
	PartAttention  = "attention"
	PartMLP        = "mlp"
	PartResidual   = "residual stream"
	PartFinalNorm  = "final layer norm"
	PartLogits     = "logits"
)

func (n NonFinite) String() string {
	switch n.Part {
	case PartAttention, PartMLP, PartResidual:
		return fmt.Sprintf("block %d %s output at position %d", n.Block, n.Part, n.Position)
	}
	return fmt.Sprintf("%s at position %d", n.Part, n.Position)
}

// FiniteCount counts the non-finite values of a tensor.
type FiniteCount struct {
	NaN, PosInf, NegInf int
	First               int // index of the first non-finite value; -1 when none
	Len                 int
}

// Bad is the number of non-finite values.
func (c FiniteCount) Bad() int { return c.NaN + c.PosInf + c.NegInf }

func (c FiniteCount) String() string {
	var parts []string
	for _, p := range []struct {
		n    int
		name string
	}{{c.NaN, "NaN"}, {c.PosInf, "+Inf"}, {c.NegInf, "-Inf"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.name))
		}
	}
	return fmt.Sprintf("%s of %d values, the first at index %d", strings.Join(parts, ", "), c.Len, c.First)
}

// CountNonFinite counts NaN and infinite values in x.
func CountNonFinite(x []float32) FiniteCount {
	c := FiniteCount{First: -1, Len: len(x)}
	for i, v := range x {
		if v-v == 0 { // finite: NaN and ±Inf give NaN
			continue
		}
		switch {
		case v != v:
			c.NaN++
		case v > 0:
			c.PosInf++
		default:
			c.NegInf++
		}
		if c.First < 0 {
			c.First = i
		}
	}
	return c
}

// NonFiniteTensor names a weight tensor holding non-finite values.
type NonFiniteTensor struct {
	Name  string
	Count FiniteCount
}

// NonFiniteWeightsError refuses a model whose weights hold NaN or ±Inf.
type NonFiniteWeightsError struct {
	Tensors []NonFiniteTensor
}

func (e *NonFiniteWeightsError) Error() string {
	var b strings.Builder
	if len(e.Tensors) == 1 {
		b.WriteString("1 weight tensor holds")
	} else {
		fmt.Fprintf(&b, "%d weight tensors hold", len(e.Tensors))
	}
	b.WriteString(" NaN or infinite values (a diverged or damaged checkpoint): ")
	for i, t := range e.Tensors {
		if i == 3 {
			fmt.Fprintf(&b, "; and %d more", len(e.Tensors)-3)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s (%s)", t.Name, t.Count)
	}
	b.WriteString(". To evaluate it anyway (its scores are NaN where those values reach them), pass --allow-nonfinite-weights")
	return b.String()
}

// RowStats is the reference definition of a logits row's statistics
// (rule 3 above): numpy's argmax, log Z = log Σ exp(z) and the entropy in
// nats of softmax(z), computed in float64. Engines compute finite rows
// their own way and must agree with it on every row.
func RowStats(z []float32) (argmax int, logZ, entropy float64) {
	argmax = Argmax(z)
	if len(z) == 0 {
		return 0, math.Inf(-1), math.NaN()
	}
	m := z[argmax]
	switch {
	case m != m:
		return argmax, math.NaN(), math.NaN()
	case math.IsInf(float64(m), 1):
		return argmax, math.Inf(1), math.NaN()
	case math.IsInf(float64(m), -1):
		return argmax, math.Inf(-1), math.NaN()
	}
	var s, t float64
	for _, v := range z {
		if math.IsInf(float64(v), -1) {
			continue
		}
		d := float64(v) - float64(m)
		e := math.Exp(d)
		s += e
		t += e * d
	}
	ls := math.Log(s)
	return argmax, float64(m) + ls, ls - t/s
}

// Argmax is numpy's argmax of a float32 row: the index of the first NaN
// if there is one, else the lowest index of the maximum (0 for an empty
// row).
func Argmax(z []float32) int {
	best := 0
	for i, v := range z {
		if v != v {
			return i
		}
		if v > z[best] {
			best = i
		}
	}
	return best
}
