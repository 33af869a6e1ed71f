package plan

import (
	"slices"
	"testing"

	"github.com/memscope/memscope/intervention"
)

// FuzzFlags: the run's flag parsers (--interventions, --docs, --tasks,
// --task-opt) take any text without a panic or a runaway loop, and what
// they accept prints back to the same thing.
func FuzzFlags(f *testing.F) {
	for _, s := range []string{"attn-sc:each", "attn-sc:1,3;attn-zero:20-23", "none attn-sc:all", "attn-sc:0-9223372036854775807",
		"60-119", "0-9,20,30-39", "9223372036854775807", "memorization.prefix_len=32", "piqa,arc_easy"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if specs, err := ParseInterventions([]string{s}); err == nil {
			for _, sp := range specs {
				again, err := intervention.Parse(sp.String())
				if err != nil || again.String() != sp.String() {
					t.Fatalf("spec %q prints as %q, which reads back as %q (%v)", s, sp.String(), again.String(), err)
				}
			}
			_, _ = Expand(specs, 12)
		}
		if docs, err := ParseDocRanges(s); err == nil {
			again, err := ParseDocRanges(FormatDocRanges(docs))
			if err != nil || !slices.Equal(again, docs) {
				t.Fatalf("--docs %q: %v prints as %q, reads back as %v (%v)", s, docs, FormatDocRanges(docs), again, err)
			}
		}
		if tasks, err := ParseTasks([]string{s}); err == nil {
			_, _ = ParseTaskOptions([]string{s, "x.y=z"}, tasks)
		}
		_, _ = ParseTaskOptions([]string{s}, []string{"memorization", "piqa"})
	})
}
