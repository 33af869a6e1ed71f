// Package taskkit holds what memscope's task plugins share: option parsing
// and validation, document selection, data loading with file:line errors,
// multiple-choice request building and scoring (lm-evaluation-harness v0.4
// rules), token-matrix loading, and the statistics (means, standard errors,
// seeded bootstrap) the tasks report.
//
// Each task is its own plugin under tasks/<name>/; this package is the
// library they import.
package taskkit
