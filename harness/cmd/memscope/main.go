// Command memscope finds where a language model keeps what it memorized:
// it short-circuits the attention of chosen blocks and measures how much
// memorized text the model still reproduces and how well it still does on
// zero-shot benchmarks.
//
// Each subcommand lives in its own file and registers itself on rootCmd in
// an init function.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

var rootCmd = &cobra.Command{
	Use:   "memscope",
	Short: "Locate memorization in language models by short-circuiting attention block by block",
	Long: `memscope loads GPT-NeoX (Pythia) and GPT-Neo checkpoints in Hugging Face format,
bypasses ("short-circuits") the attention of chosen transformer blocks, and measures,
block by block, how much memorized training text the model still reproduces and how
well it still does on zero-shot benchmarks.`,
	SilenceUsage:  true,
	SilenceErrors: true,
	Version:       version,
}

// usageError marks errors caused by how the command was called; they exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// interruptedError is a command stopped by Ctrl-C or SIGTERM; it exits
// 130, as a shell reports a command ended by SIGINT, so scripts can tell
// an interruption (re-run to resume) from a failure.
type interruptedError struct{ err error }

func (e interruptedError) Error() string { return e.err.Error() }
func (e interruptedError) Unwrap() error { return e.err }

// exitInterrupted is the exit status of an interrupted command.
const exitInterrupted = 130

// usagef reports a bad flag or argument.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func main() {
	rootCmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "memscope:", err)
		var ue usageError
		var ie interruptedError
		switch {
		case errors.As(err, &ue):
			os.Exit(2)
		case errors.As(err, &ie):
			os.Exit(exitInterrupted)
		}
		os.Exit(1)
	}
}
