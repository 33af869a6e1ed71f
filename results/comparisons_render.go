package results

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/memscope/memscope/results/paired"
)

// ComparisonFormats lists the formats RenderComparisons writes (and
// WriteComparisons' Arrow file).
var ComparisonFormats = []string{FormatText, FormatCSV, "json"}

// fmtP formats a p-value: three significant digits, "<1e-16" below
// float64's reach, "—" when undefined.
func fmtP(p float64) string {
	switch {
	case math.IsNaN(p):
		return "—"
	case p == 0:
		return "<1e-300"
	case p < 1e-4:
		return strconv.FormatFloat(p, 'e', 1, 64)
	}
	return strconv.FormatFloat(p, 'g', 3, 64)
}

// fmtSigned formats a difference with an explicit sign.
func fmtSigned(v float64, decimals int) string {
	if math.IsNaN(v) {
		return "—"
	}
	s := strconv.FormatFloat(v, 'f', decimals, 64)
	if !strings.HasPrefix(s, "-") {
		s = "+" + s
	}
	if strings.Trim(s, "+-0.") == "" {
		s = "+" + strings.TrimLeft(s, "+-")
	}
	return s
}

// diffDecimals picks decimals for a comparison's numbers from its size.
func diffDecimals(c Comparison) int {
	m := math.Max(math.Abs(c.MeanA), math.Abs(c.MeanB))
	switch {
	case m >= 1000:
		return 1
	case m >= 100:
		return 2
	}
	return 3
}

// SignificanceMark is the mark of a significant change in the leaderboard
// and the comparisons tables.
const SignificanceMark = "*"

// RenderComparisons writes comparisons as an aligned text table (one per
// model), CSV or JSON. holm makes the mark follow the Holm-adjusted
// p-values.
func RenderComparisons(w io.Writer, cs []Comparison, format string, holm bool) error {
	switch format {
	case FormatText:
		return renderComparisonsText(w, cs, holm)
	case FormatCSV:
		return renderComparisonsCSV(w, cs)
	case "json":
		return renderComparisonsJSON(w, cs)
	}
	return fmt.Errorf("unknown comparisons format %q (choose %s)", format, strings.Join(ComparisonFormats, ", "))
}

func renderComparisonsText(w io.Writer, cs []Comparison, holm bool) error {
	var b strings.Builder
	if len(cs) == 0 {
		b.WriteString("No comparisons: the run has no per-document scores of a configuration and its reference (memscope run scores the baseline in every run).\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	rule := "p < 0.05"
	if holm {
		rule = "Holm-adjusted p < 0.05 within each sweep"
	}
	fmt.Fprintf(&b, "Paired comparisons on the same documents: Δ = mean(intervention − reference), 95%% percentile bootstrap interval (%d resamples), "+
		"p from the exact McNemar test (0/1 metrics) or the paired bootstrap; %s marks %s.\n", paired.DefaultResamples, SignificanceMark, rule)
	var model string
	var t *textTable
	flush := func() error {
		if t == nil {
			return nil
		}
		err := t.writeText(&b, "  ")
		t = nil
		return err
	}
	for _, c := range cs {
		head := fmt.Sprintf("%s (%s, %s, %s) vs %s", c.Model, ShortHash(c.ModelHash), c.Backend, c.DType, c.Reference)
		if head != model {
			if err := flush(); err != nil {
				return err
			}
			model = head
			fmt.Fprintf(&b, "\n%s\n", head)
			t = &textTable{
				header: []string{"intervention", "task", "metric", "n", "reference", "value", "Δ", "95% interval", "p", "test", "p Holm", ""},
				right:  []bool{false, false, false, true, true, true, true, true, true, false, true, false},
			}
		}
		d := diffDecimals(c)
		mark := ""
		if c.Significant(holm) {
			mark = SignificanceMark
		}
		test := "bootstrap"
		if c.Test == paired.TestMcNemarExact {
			test = fmt.Sprintf("McNemar %d/%d", c.OnlyA, c.OnlyB)
		}
		t.add(c.Intervention.String(), c.Task, c.Metric, strconv.Itoa(c.N),
			strconv.FormatFloat(c.MeanA, 'f', d, 64), strconv.FormatFloat(c.MeanB, 'f', d, 64), fmtSigned(c.MeanDiff, d),
			"["+fmtSigned(c.CILow, d)+", "+fmtSigned(c.CIHigh, d)+"]", fmtP(c.P), test, fmtP(c.PHolm), mark)
	}
	if err := flush(); err != nil {
		return err
	}
	b.WriteString("\n  McNemar b/c: documents right only under the reference / only under the intervention.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func renderComparisonsCSV(w io.Writer, cs []Comparison) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{ColModel, ColModelHash, ColBackend, ColDType, ColIntervention, ColTask, ColReference, ColMetric, ColHigherIsBetter,
		ColN, ColReferenceMean, ColMean, ColMeanDiff, ColStderr, ColCILow, ColCIHigh, ColRelCILow, ColRelCIHigh, ColTest, ColPValue, ColPHolm,
		ColSignificant, ColSignificantHolm, ColNReferenceOnly, ColNInterventionOnly})
	opt := func(v int) string {
		if v < 0 {
			return ""
		}
		return strconv.Itoa(v)
	}
	for _, c := range cs {
		hib := ""
		if c.HigherIsBetter != nil {
			hib = strconv.FormatBool(*c.HigherIsBetter)
		}
		cw.Write([]string{c.Model, c.ModelHash, c.Backend, c.DType, c.Intervention.String(), c.Task, c.Reference.String(), c.Metric, hib,
			strconv.Itoa(c.N), csvNum(c.MeanA), csvNum(c.MeanB), csvNum(c.MeanDiff), csvNum(c.Stderr), csvNum(c.CILow), csvNum(c.CIHigh),
			csvNum(c.RelLow), csvNum(c.RelHigh), c.Test, csvNum(c.P), csvNum(c.PHolm), strconv.FormatBool(c.Significant(false)), strconv.FormatBool(c.Significant(true)),
			opt(c.OnlyA), opt(c.OnlyB)})
	}
	cw.Flush()
	return cw.Error()
}

// jsonComparison is one comparison in JSON; NaN becomes null.
type jsonComparison struct {
	Model             string   `json:"model"`
	ModelHash         string   `json:"model_hash"`
	Backend           string   `json:"backend"`
	DType             string   `json:"dtype"`
	Intervention      string   `json:"intervention"`
	Task              string   `json:"task"`
	Reference         string   `json:"reference"`
	Metric            string   `json:"metric"`
	HigherIsBetter    *bool    `json:"higher_is_better"`
	N                 int      `json:"n"`
	ReferenceMean     *float64 `json:"reference_mean"`
	Mean              *float64 `json:"mean"`
	MeanDiff          *float64 `json:"mean_diff"`
	Stderr            *float64 `json:"stderr"`
	CILow             *float64 `json:"ci_low"`
	CIHigh            *float64 `json:"ci_high"`
	RelCILow          *float64 `json:"rel_ci_low"`
	RelCIHigh         *float64 `json:"rel_ci_high"`
	Test              string   `json:"test"`
	PValue            *float64 `json:"p_value"`
	PHolm             *float64 `json:"p_holm"`
	Significant       bool     `json:"significant"`
	SignificantHolm   bool     `json:"significant_holm"`
	NReferenceOnly    *int     `json:"n_reference_only"`
	NInterventionOnly *int     `json:"n_intervention_only"`
}

func toJSONComparison(c Comparison) jsonComparison {
	count := func(v int) *int {
		if v < 0 {
			return nil
		}
		return &v
	}
	return jsonComparison{Model: c.Model, ModelHash: c.ModelHash, Backend: c.Backend, DType: c.DType, Intervention: c.Intervention.String(),
		Task: c.Task, Reference: c.Reference.String(), Metric: c.Metric, HigherIsBetter: c.HigherIsBetter, N: c.N,
		ReferenceMean: jnum(c.MeanA), Mean: jnum(c.MeanB), MeanDiff: jnum(c.MeanDiff), Stderr: jnum(c.Stderr),
		CILow: jnum(c.CILow), CIHigh: jnum(c.CIHigh), RelCILow: jnum(c.RelLow), RelCIHigh: jnum(c.RelHigh), Test: c.Test, PValue: jnum(c.P), PHolm: jnum(c.PHolm),
		Significant: c.Significant(false), SignificantHolm: c.Significant(true),
		NReferenceOnly: count(c.OnlyA), NInterventionOnly: count(c.OnlyB)}
}

func renderComparisonsJSON(w io.Writer, cs []Comparison) error {
	out := make([]jsonComparison, len(cs))
	for i, c := range cs {
		out[i] = toJSONComparison(c)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// ShortHash is the first 8 hex digits of a model hash ("sha256:28396ca1"),
// enough to tell weights apart at a glance; "" stays "".
func ShortHash(h string) string {
	const keep = len("sha256:") + 8
	if strings.HasPrefix(h, "sha256:") && len(h) > keep {
		return h[:keep]
	}
	return h
}
