package main

import (
	"github.com/spf13/cobra"

	"github.com/memscope/memscope/results"
)

func newSchemaCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "List the columns of every results table: Arrow type, nullability, meaning, and the format version",
		Long: `schema describes the tables memscope run writes (metrics.arrow, docs.arrow,
requests.arrow): each column's name, Arrow type, whether it may be null and
what it means, the schema metadata every table carries, and the results
format version, which readers check. --format markdown prints the document
kept in docs/results-schema.md; --format json is for programs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := resultsOneOf("format", format, []string{results.SchemaText, results.SchemaMarkdown, results.SchemaJSON}); err != nil {
				return err
			}
			return results.RenderSchema(cmd.OutOrStdout(), format)
		},
	}
	cmd.Flags().StringVar(&format, "format", results.SchemaText, "output `FORMAT`: text, markdown (docs/results-schema.md) or json")
	return cmd
}
