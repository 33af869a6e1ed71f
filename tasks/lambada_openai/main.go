// Command memscope-task-lambada_openai is memscope's lambada_openai task plugin (lm-evaluation-harness v0.4 rules).
package main

import "github.com/memscope/memscope/plugins"

func main() {
	plugins.ServeTask(task{})
}
