package runner

import (
	"fmt"
	"math"
	"strings"

	"github.com/memscope/memscope/harness/plan"
	"github.com/memscope/memscope/plugins"
)

func (r *run) label(c plan.Cell) string {
	if len(r.cfg.Models) > 1 {
		return c.Model + " · " + c.Intervention.String() + " · " + c.Task
	}
	return c.Intervention.String() + " · " + c.Task
}

// metricSummary renders a cell's metrics for its progress line.
func metricSummary(s plugins.Scores) string {
	parts := make([]string, 0, len(s.Metrics))
	for _, m := range s.Metrics {
		parts = append(parts, fmt.Sprintf("%s=%s", m.Name, formatValue(m.Value)))
	}
	if len(parts) == 0 {
		return "no metrics"
	}
	return strings.Join(parts, " ")
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v == math.Trunc(v) && math.Abs(v) >= 2 && math.Abs(v) < 1e9:
		return fmt.Sprintf("%.0f", v) // counts ("extracted=86")
	case v != 0 && (math.Abs(v) >= 1e4 || math.Abs(v) < 1e-3):
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.4f", v)
}
