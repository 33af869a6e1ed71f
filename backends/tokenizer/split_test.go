package tokenizer

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dlclark/regexp2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gpt2Pattern is the ByteLevel pre-tokenizer's regex, run by regexp2 (a
// backtracking engine with lookahead) as the reference for nextWord.
var gpt2Pattern = regexp2.MustCompile(`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, regexp2.None)

func regexpSplit(t testing.TB, s string) []string {
	var out []string
	m, err := gpt2Pattern.FindStringMatch(s)
	for ; m != nil && err == nil; m, err = gpt2Pattern.FindNextMatch(m) {
		out = append(out, m.String())
	}
	require.NoError(t, err)
	return out
}

func handSplit(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		j := nextWord(s, i)
		out = append(out, s[i:j])
		i = j
	}
	return out
}

func TestSplitKnownCases(t *testing.T) {
	for in, want := range map[string][]string{
		"":                      nil,
		"Hello world":           {"Hello", " world"},
		"Hello  world  ":        {"Hello", " ", " world", "  "},
		"I'm can't they'll":     {"I", "'m", " can", "'t", " they", "'ll"},
		"'s 'S 'RE ''s":         {"'s", " '", "S", " '", "RE", " ''", "s"},
		"a\n\nb":                {"a", "\n", "\n", "b"},
		"a \n b":                {"a", " \n", " b"},
		"x\t":                   {"x", "\t"},
		"3.14 +42":              {"3", ".", "14", " +", "42"},
		"naïve 日本語":             {"naïve", " 日本語"},
		"\u00a0non":             {"\u00a0", "non"},
		"  \u00a0non":           {"  ", "\u00a0", "non"},
		"Ⅻ ²":                   {"Ⅻ", " ²"},
		"a\xffb":                {"a", "\xff", "b"}, // an invalid byte is "other"
		"!\xff\xfe?":            {"!\xff\xfe?"},     // … and joins a run of others
		" \xe6\x97x":            {" \xe6\x97", "x"}, // a cut character: two invalid bytes
		"mixed\r\nnewlines\r\n": {"mixed", "\r", "\n", "newlines", "\r\n"},
	} {
		assert.Equal(t, want, handSplit(in), "%q", in)
	}
}

// TestSplitMatchesRegexpOnFixtures runs the reference regex on every text of
// the fixtures (edge cases and the five benchmarks' requests).
func TestSplitMatchesRegexpOnFixtures(t *testing.T) {
	n := 0
	for _, r := range loadTokref(t, "gpt2") {
		want := regexpSplit(t, r.Text)
		if got := handSplit(r.Text); !slices.Equal(got, want) {
			t.Fatalf("%q:\n got %q\nwant %q", clip(r.Text), got, want)
		}
		n += len(want)
	}
	t.Logf("%d pre-tokens identical", n)
}

// FuzzSplit compares the hand-written splitter with the regex on valid
// UTF-8 (regexp2 decodes invalid bytes to U+FFFD, which also is "other";
// see TestSplitInvalidUTF8 for those).
func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"Hello  world  ", "I'm can't won't they'll we've he'd it's", "'s 'S 'RE ''ll'",
		"\t tab\n\n\n  x", "a \u00a0\u2028\u3000b", "1,000.5 ³⁄₄ Ⅻ", "naïve café 日本語 😀🏽",
		"x\u0301\u0301 ", "' ' ''", " ' s", "\r\n\r\n ", "  ", " ", "'", "Ǆ ǅ ǆ ʰ ˀ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		got, want := handSplit(s), regexpSplit(t, s)
		if !slices.Equal(got, want) {
			t.Fatalf("%q:\n got %q\nwant %q", s, got, want)
		}
	})
}

// TestSplitRandomText feeds the splitter and the regex texts drawn from an
// alphabet of the characters the pattern treats specially, so that the
// comparison runs in every `go test` and not only under -fuzz.
func TestSplitRandomText(t *testing.T) {
	alphabet := []string{" ", " ", "  ", "\n", "\t", "\r", "\u00a0", "\u2028", "\u3000", "\u0085",
		"'", "s", "t", "re", "ve", "m", "ll", "d", "S", "a", "Z", "é", "日", "ǅ", "ʰ",
		"1", "9", "²", "Ⅻ", "½", ".", ",", "!", "😀", "\u0301", "-", "_", "\x1f", "\ufffd"}
	rng := newRand(1)
	for range 20000 {
		var sb strings.Builder
		for range rng.intn(12) {
			sb.WriteString(alphabet[rng.intn(len(alphabet))])
		}
		s := sb.String()
		if got, want := handSplit(s), regexpSplit(t, s); !slices.Equal(got, want) {
			t.Fatalf("%q:\n got %q\nwant %q", s, got, want)
		}
	}
}

// newRand is a tiny deterministic generator (splitmix64) for test inputs.
type rand64 struct{ s uint64 }

func newRand(seed uint64) *rand64 { return &rand64{seed} }

func (r *rand64) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (r *rand64) intn(n int) int { return int(r.next() % uint64(n)) }
