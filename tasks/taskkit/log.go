package taskkit

import (
	"fmt"
	"os"
)

// Logf writes one informational line to stderr, which go-plugin forwards to
// the harness's log.
func Logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
}
